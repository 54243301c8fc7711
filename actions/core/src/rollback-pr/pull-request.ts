import { explainGitHubFailure, type GitHubCall, type Octokit, type Repository } from '../github/client.js';

/** The rollback pull request as GitHub has it after this run. */
export interface RollbackPullRequest {
  url: string;
  number: number;
  branch: string;
  /** Opened by this run (false: an open one for the same branch was updated). */
  created: boolean;
  draft: boolean;
  /** Labels that could not be added (no `issues: write`), with GitHub's words. */
  labelProblem?: string;
}

export interface PullRequestRequest extends Repository {
  octokit: Octokit;
  branch: string;
  base: string;
  title: string;
  body: string;
  labels: string[];
  draft: boolean;
  log: (line: string) => void;
  /** Told the pull request as soon as one is known, so a later failure can still name it. */
  onFound?: (pull: { url: string; number: number }) => void;
}

const call = (repository: Repository, action: string, permission = 'pull-requests: write'): GitHubCall => ({
  action,
  permission,
  repository,
  hints:
    permission === 'pull-requests: write'
      ? {
          403:
            'Also allow GitHub Actions to create pull requests: Settings → Actions → General → Workflow permissions → ' +
            '"Allow GitHub Actions to create and approve pull requests" (or use a GitHub App or personal access token as github-token).',
        }
      : undefined,
});

/** The repository's default branch, for a rollback pull request without `base-branch`. */
export async function defaultBranch(octokit: Octokit, repository: Repository): Promise<string> {
  try {
    const { data } = await octokit.rest.repos.get({ owner: repository.owner, repo: repository.repo });
    return data.default_branch;
  } catch (error) {
    throw explainGitHubFailure(error, call(repository, 'read the default branch', 'contents: read'));
  }
}

/**
 * Opens the rollback pull request, or updates the open one whose head is the same branch: one
 * bad commit, one branch, one pull request, however many times the rollback runs.
 */
export async function openOrUpdatePullRequest(request: PullRequestRequest): Promise<RollbackPullRequest> {
  const { octokit, owner, repo, branch, base, title, body, log } = request;
  const repository = { owner, repo };
  const existing = await findOpen(request);
  if (existing) request.onFound?.(existing);
  let pull: { html_url: string; number: number; draft?: boolean };
  let created = false;
  if (existing) {
    try {
      ({ data: pull } = await octokit.rest.pulls.update({
        owner,
        repo,
        pull_number: existing.number,
        title,
        body,
        base,
      }));
    } catch (error) {
      throw explainGitHubFailure(error, call(repository, `update rollback pull request #${existing.number}`));
    }
    log(`updated the rollback pull request #${pull.number}: ${pull.html_url}`);
  } else {
    try {
      ({ data: pull } = await octokit.rest.pulls.create({
        owner,
        repo,
        head: branch,
        base,
        title,
        body,
        draft: request.draft,
        maintainer_can_modify: true,
      }));
      created = true;
    } catch (error) {
      // Another run opened it between our look and our create: it is the one to update.
      const raced = isAlreadyExists(error) ? await findOpen(request) : undefined;
      if (raced === undefined)
        throw explainGitHubFailure(
          error,
          call(repository, `open a pull request from ${branch} into ${base}`),
        );
      return openOrUpdatePullRequest(request);
    }
    log(`opened the rollback pull request #${pull.number}: ${pull.html_url}`);
  }
  const result: RollbackPullRequest = {
    url: pull.html_url,
    number: pull.number,
    branch,
    created,
    draft: pull.draft ?? request.draft,
  };
  if (request.labels.length > 0) {
    try {
      await octokit.rest.issues.addLabels({ owner, repo, issue_number: pull.number, labels: request.labels });
    } catch (error) {
      // A pull request without its label is still the pull request: say so, do not fail over it.
      result.labelProblem = explainGitHubFailure(
        error,
        call(repository, `label pull request #${pull.number}`, 'issues: write'),
      ).message;
    }
  }
  return result;
}

/** The number of the open pull request from `branch`, if there is one. */
async function findOpen(request: PullRequestRequest): Promise<{ number: number; url: string } | undefined> {
  const { octokit, owner, repo, branch } = request;
  try {
    const { data } = await octokit.rest.pulls.list({
      owner,
      repo,
      head: `${owner}:${branch}`,
      state: 'open',
      per_page: 10,
    });
    const found = data.find((pull) => pull.head.ref === branch);
    return found && { number: found.number, url: found.html_url };
  } catch (error) {
    throw explainGitHubFailure(
      error,
      call({ owner, repo }, `look for an open pull request from ${branch}`, 'pull-requests: read'),
    );
  }
}

function isAlreadyExists(error: unknown): boolean {
  const data =
    (error as { status?: number; response?: { data?: { errors?: { message?: string }[] } } }) ?? {};
  return (
    data.status === 422 &&
    (data.response?.data?.errors ?? []).some((each) => /already exists/i.test(each.message ?? ''))
  );
}
