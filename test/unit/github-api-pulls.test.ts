import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { githubClient, type Octokit } from '../../actions/core/src/github/client.js';
import { startGitHubApi, type GitHubApi } from '../support/github-api.js';

const OWNER = 'octo-org';
const REPO = 'shop';
const repo = { owner: OWNER, repo: REPO };

/** Git without the machine's configuration (signing, hooks, default branch) getting in. */
const GIT_ENV = {
  ...process.env,
  GIT_CONFIG_GLOBAL: '/dev/null',
  GIT_CONFIG_NOSYSTEM: '1',
  GIT_AUTHOR_NAME: 'switchyard-test',
  GIT_AUTHOR_EMAIL: 'test@example.com',
  GIT_COMMITTER_NAME: 'switchyard-test',
  GIT_COMMITTER_EMAIL: 'test@example.com',
};

function git(cwd: string, ...args: string[]): string {
  return execFileSync('git', args, {
    cwd,
    env: GIT_ENV,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  }).trim();
}

/** What Octokit throws for an HTTP error: the status and GitHub's JSON. */
async function refusal(request: Promise<unknown>): Promise<{ status: number; data: unknown }> {
  try {
    await request;
  } catch (caught) {
    const failure = caught as { status: number; response?: { data: unknown } };
    return { status: failure.status, data: failure.response?.data };
  }
  throw new Error('the request succeeded');
}

describe('pull requests on the fake GitHub API, against a real origin', () => {
  let dir: string;
  /** The bare repository standing in for github.com/octo-org/shop. */
  let origin: string;
  /** A clone that pushes branches to it. */
  let work: string;
  let api: GitHubApi;
  let octokit: Octokit;

  /** Commits a file on a new branch off main and pushes it; answers the branch's commit. */
  async function pushBranch(branch: string, content = branch): Promise<string> {
    git(work, 'checkout', '--quiet', '-B', branch, 'main');
    await writeFile(join(work, 'rollback.txt'), `${content}\n`);
    git(work, 'commit', '--quiet', '--all', '--message', `Roll back: ${content}`);
    git(work, 'push', '--quiet', '--force', 'origin', branch);
    return git(work, 'rev-parse', 'HEAD');
  }

  const main = () => git(origin, 'rev-parse', 'refs/heads/main');

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'switchyard-pulls-'));
    origin = join(dir, 'origin.git');
    work = join(dir, 'work');
    git(dir, 'init', '--quiet', '--bare', '--initial-branch=main', origin);
    git(dir, 'clone', '--quiet', origin, work);
    git(work, 'checkout', '--quiet', '-b', 'main');
    await writeFile(join(work, 'rollback.txt'), 'nothing yet\n');
    git(work, 'add', 'rollback.txt');
    git(work, 'commit', '--quiet', '--message', 'Initial commit');
    git(work, 'push', '--quiet', 'origin', 'main');
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  beforeEach(async () => {
    api = await startGitHubApi({ origin });
    octokit = githubClient('ghs_test', { GITHUB_API_URL: api.url });
  });
  afterEach(() => api.stop());

  it('opens a rollback pull request into the default branch, finds it by owner:head, updates and labels it', async () => {
    const headSha = await pushBranch('switchyard/rollback-1');
    const { data: repository } = await octokit.rest.repos.get(repo);
    expect(repository).toMatchObject({
      default_branch: 'main',
      full_name: 'octo-org/shop',
      html_url: 'https://github.com/octo-org/shop',
      owner: { login: OWNER },
    });

    const created = await octokit.rest.pulls.create({
      ...repo,
      title: 'Roll back shop to 1.3.0',
      head: 'switchyard/rollback-1',
      base: repository.default_branch,
      body: 'Production failed its health checks.',
      draft: false,
      maintainer_can_modify: false,
    });
    expect(created.status).toBe(201);
    expect(created.data).toMatchObject({
      number: 1,
      state: 'open',
      html_url: 'https://github.com/octo-org/shop/pull/1',
      head: { ref: 'switchyard/rollback-1', label: 'octo-org:switchyard/rollback-1', sha: headSha },
      base: { ref: 'main', sha: main() },
      commits: 1,
      changed_files: 1,
    });

    // Finding the pull request again on the next run: by "owner:branch", as GitHub needs it.
    const found = await octokit.rest.pulls.list({
      ...repo,
      head: `${OWNER}:switchyard/rollback-1`,
      base: 'main',
    });
    expect(found.data.map((each) => each.number)).toEqual([1]);
    // As on GitHub, a list leaves out what is computed per pull request: get it for those.
    expect(found.data[0]).not.toHaveProperty('mergeable');
    const other = await octokit.rest.pulls.list({ ...repo, head: `${OWNER}:switchyard/rollback-2` });
    expect(other.data).toEqual([]);

    await octokit.rest.pulls.update({
      ...repo,
      pull_number: 1,
      title: 'Roll back shop to 1.2.9',
      body: 'Again.',
    });
    const { data: updated } = await octokit.rest.pulls.get({ ...repo, pull_number: 1 });
    expect(updated).toMatchObject({ title: 'Roll back shop to 1.2.9', body: 'Again.', state: 'open' });

    // Labels the repository lacks are created; a label already there (any case) is not doubled.
    const labelled = await octokit.rest.issues.addLabels({ ...repo, issue_number: 1, labels: ['rollback'] });
    expect(labelled.data.map((each) => each.name)).toEqual(['rollback']);
    const again = await octokit.rest.issues.addLabels({ ...repo, issue_number: 1, labels: ['Rollback'] });
    expect(again.data.map((each) => each.name)).toEqual(['rollback']);
    // The object form names them too.
    const named = await octokit.rest.issues.addLabels({
      ...repo,
      issue_number: 1,
      labels: [{ name: 'production' }],
    });
    expect(named.data.map((each) => each.name)).toEqual(['rollback', 'production']);
    expect(api.state.labels.map((each) => [each.name, each.color])).toEqual([
      ['rollback', 'ededed'],
      ['production', 'ededed'],
    ]);

    const comment = await octokit.rest.issues.createComment({
      ...repo,
      issue_number: 1,
      body: 'Deploy 42 failed.',
    });
    expect(comment.status).toBe(201);
    expect(comment.data.html_url).toMatch(
      /^https:\/\/github\.com\/octo-org\/shop\/pull\/1#issuecomment-\d+$/,
    );
    expect(api.state.comments.map((each) => each.body)).toEqual(['Deploy 42 failed.']);
    const { data: commented } = await octokit.rest.pulls.get({ ...repo, pull_number: 1 });
    expect(commented.labels.map((each) => each.name)).toEqual(['rollback', 'production']);
    expect(commented.comments).toBe(1);

    expect(api.violations).toEqual([]);
  });

  it('answers a second pull request for the same head and base with GitHub’s 422, until the first is closed', async () => {
    await pushBranch('switchyard/rollback-dup');
    const open = { ...repo, title: 'Roll back', head: 'switchyard/rollback-dup', base: 'main' };
    await octokit.rest.pulls.create(open);

    expect(await refusal(octokit.rest.pulls.create(open))).toEqual({
      status: 422,
      data: expect.objectContaining({
        message: 'Validation Failed',
        errors: [
          {
            resource: 'PullRequest',
            code: 'custom',
            message: 'A pull request already exists for octo-org:switchyard/rollback-dup.',
          },
        ],
      }),
    });
    // With the owner spelled out it is the same head.
    expect(
      (await refusal(octokit.rest.pulls.create({ ...open, head: `${OWNER}:${open.head}` }))).status,
    ).toBe(422);

    await octokit.rest.pulls.update({ ...repo, pull_number: 1, state: 'closed' });
    const reopened = await octokit.rest.pulls.create(open);
    expect(reopened.data.number).toBe(2);
    // A closed pull request cannot come back while another is open for the same branches.
    expect(
      await refusal(octokit.rest.pulls.update({ ...repo, pull_number: 1, state: 'open' })),
    ).toMatchObject({
      status: 422,
      data: { errors: [{ message: 'A pull request already exists for octo-org:switchyard/rollback-dup.' }] },
    });
    const closed = await octokit.rest.pulls.list({ ...repo, state: 'closed' });
    expect(closed.data.map((each) => each.number)).toEqual([1]);

    // Numbers are per repository.
    const elsewhere = await octokit.rest.pulls.create({ ...open, repo: 'billing' });
    expect(elsewhere.data).toMatchObject({
      number: 1,
      html_url: 'https://github.com/octo-org/billing/pull/1',
    });
    expect(api.violations).toEqual([]);
  });

  it('refuses a head branch the origin lacks, and one with no commits beyond base, as GitHub does', async () => {
    const base = { ...repo, title: 'Roll back', base: 'main' };
    expect(await refusal(octokit.rest.pulls.create({ ...base, head: 'switchyard/never-pushed' }))).toEqual({
      status: 422,
      data: expect.objectContaining({
        message: 'Validation Failed',
        errors: [{ resource: 'PullRequest', field: 'head', code: 'invalid' }],
      }),
    });
    expect(
      (await refusal(octokit.rest.pulls.create({ ...base, head: 'switchyard/x', base: 'no-such-base' })))
        .data,
    ).toMatchObject({ errors: [{ field: 'head' }, { field: 'base', code: 'invalid' }] });

    expect((await refusal(octokit.rest.pulls.create({ ...base, head: 'main' }))).data).toMatchObject({
      errors: [{ resource: 'PullRequest', code: 'custom', message: 'No commits between main and main' }],
    });
    // A branch pushed at main's commit (a rollback whose change is already there) has nothing to pull.
    git(work, 'push', '--quiet', '--force', 'origin', 'main:refs/heads/switchyard/at-main');
    expect(
      (await refusal(octokit.rest.pulls.create({ ...base, head: 'switchyard/at-main' }))).data,
    ).toMatchObject({
      errors: [{ code: 'custom', message: 'No commits between main and switchyard/at-main' }],
    });
    expect(api.state.pulls).toEqual([]);
    expect(api.violations).toEqual([]);
  });

  it('shows a force-push to the head branch, and closes the pull request when the branch is deleted', async () => {
    await pushBranch('switchyard/rollback-moving', 'first try');
    await octokit.rest.pulls.create({
      ...repo,
      title: 'Roll back',
      head: 'switchyard/rollback-moving',
      base: 'main',
    });

    const pushed = await pushBranch('switchyard/rollback-moving', 'second try');
    const { data: moved } = await octokit.rest.pulls.get({ ...repo, pull_number: 1 });
    expect(moved.head.sha).toBe(pushed);
    const listed = await octokit.rest.pulls.list(repo);
    expect(listed.data.map((each) => each.head.sha)).toEqual([pushed]);

    git(work, 'push', '--quiet', 'origin', '--delete', 'switchyard/rollback-moving');
    const { data: gone } = await octokit.rest.pulls.get({ ...repo, pull_number: 1 });
    expect(gone).toMatchObject({ state: 'closed', head: { sha: pushed } });
    expect(gone.closed_at).not.toBeNull();
    expect((await octokit.rest.pulls.list(repo)).data).toEqual([]);
    expect(
      (await refusal(octokit.rest.pulls.update({ ...repo, pull_number: 1, state: 'open' }))).data,
    ).toMatchObject({
      errors: [
        {
          field: 'state',
          code: 'custom',
          message: 'state cannot be changed. The switchyard/rollback-moving branch has been deleted.',
        },
      ],
    });
    expect(api.violations).toEqual([]);
  });

  it('ignores a head filter without the owner, as GitHub does, and pages the list for paginate', async () => {
    for (const branch of ['switchyard/rollback-a', 'switchyard/rollback-b', 'switchyard/rollback-c']) {
      await pushBranch(branch);
      await octokit.rest.pulls.create({ ...repo, title: branch, head: branch, base: 'main' });
    }
    // Newest first, GitHub's default order.
    const bare = await octokit.rest.pulls.list({ ...repo, head: 'switchyard/rollback-a' });
    expect(bare.data.map((each) => each.number)).toEqual([3, 2, 1]);

    const all = await octokit.paginate(octokit.rest.pulls.list, { ...repo, per_page: 2 });
    expect(all.map((each) => each.head.ref)).toEqual([
      'switchyard/rollback-c',
      'switchyard/rollback-b',
      'switchyard/rollback-a',
    ]);
    expect(api.requests.filter((each) => each.operationId === 'pulls/list')).toHaveLength(3);
    expect(api.violations).toEqual([]);
  });

  it('flags a request body that breaks GitHub’s schema, answers 422 and opens nothing', async () => {
    await pushBranch('switchyard/rollback-bad');
    const response = await refusal(
      octokit.rest.pulls.create({
        ...repo,
        title: 'Roll back',
        head: 'switchyard/rollback-bad',
        base: 'main',
        draft: 'yes' as unknown as boolean,
      }),
    );
    expect(response.status).toBe(422);
    expect(api.violations).toEqual([
      'POST /repos/{owner}/{repo}/pulls (pulls/create): body/draft must be boolean, found "yes"',
    ]);
    expect(api.state.pulls).toEqual([]);
  });
});

describe('pull requests on the fake GitHub API, without an origin', () => {
  let api: GitHubApi;
  let octokit: Octokit;
  beforeAll(async () => {
    api = await startGitHubApi();
    octokit = githubClient('ghs_test', { GITHUB_API_URL: api.url });
  });
  afterAll(() => api.stop());

  it('answers the default branch the state names', async () => {
    api.state.defaultBranch = 'trunk';
    const { data } = await octokit.rest.repos.get(repo);
    expect(data.default_branch).toBe('trunk');
    api.state.defaultBranch = 'main';
    expect(api.violations).toEqual([]);
  });

  it('takes branches from state.refs, and still refuses head = base', async () => {
    const sha = 'b6f7a1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8';
    api.state.refs.set('switchyard/rollback', sha);
    const { data } = await octokit.rest.pulls.create({
      ...repo,
      title: 'Roll back',
      head: 'switchyard/rollback',
      base: 'main',
    });
    expect(data.head.sha).toBe(sha);
    expect(data.base.sha).toBe(api.state.refs.get('main'));
    expect(
      (await refusal(octokit.rest.pulls.create({ ...repo, title: 'x', head: 'main', base: 'main' }))).status,
    ).toBe(422);
    expect(api.violations).toEqual([]);
  });
});
