import type { Breach } from '../analysis/limits.js';
import { UserError } from '../errors.js';
import {
  explainGitHubFailure,
  GitHubError,
  githubClient,
  repoFromEnv,
  serverUrl,
  type Octokit,
  type Repository,
} from '../github/client.js';
import { runLogUrl } from '../github/deployments.js';
import type { ActionIO } from '../io.js';
import type { ProcessRunner } from '../process.js';
import { formatMs, formatPercent } from '../summary.js';
import type { TimelinePoint } from '../deploy/engine.js';
import { promotionChart } from '../deploy/summary.js';
import { Git } from '../git.js';
import { rollbackBranchName, shaProblem } from './names.js';
import { defaultBranch, openOrUpdatePullRequest, type RollbackPullRequest } from './pull-request.js';
import { buildRevertBranch, NothingToRevert, type RevertBranch } from './revert.js';

export type { RollbackPullRequest } from './pull-request.js';

/**
 * The rollback pull request could not be opened (or updated). What did happen is kept: the
 * branch, when it was pushed, and the pull request, when one exists — the outputs still say them.
 */
export class RollbackPullRequestError extends UserError {
  constructor(
    message: string,
    title: string,
    /** Pushed to origin, when it was. */
    readonly branch?: string,
    readonly pullRequest?: { url: string; number: number },
  ) {
    super(message, title === 'GitHub API' ? 'Rollback pull request not opened' : title);
    this.name = 'RollbackPullRequestError';
  }

  /** The same failure, said another way (the caller adds where traffic is). */
  reworded(message: string): RollbackPullRequestError {
    return new RollbackPullRequestError(message, this.title, this.branch, this.pullRequest);
  }
}

/** Any failure of the pull request as a RollbackPullRequestError, keeping what was done. */
function keeping(error: unknown, branch?: string, pullRequest?: { url: string; number: number }): unknown {
  if (error instanceof RollbackPullRequestError || !(error instanceof UserError)) return error;
  if (error instanceof NothingToRevert) return error;
  return new RollbackPullRequestError(error.message, error.title, branch, pullRequest);
}
export { NothingToRevert, RevertConflictError } from './revert.js';

type Env = Readonly<Record<string, string | undefined>>;

/** Where the last good commit came from, in the order they are asked. */
export type GoodSource = 'deploy state' | 'GitHub deployments' | 'good-sha';

export interface RollbackPullRequestRequest {
  io: ActionIO;
  runner: ProcessRunner;
  signal?: AbortSignal;
  /** The checkout to build the branch in. */
  cwd: string;
  environment: string;
  token: string;
  /** The commit that broke, and what it was deployed as. */
  bad: { sha: string; version?: string };
  /** Commits the deploy state knows served well, newest first. */
  knownGood: string[];
  goodSha?: string;
  baseBranch?: string;
  labels: string[];
  draft: boolean;
  /** Why traffic went back, for the body. */
  reason: string;
  breach?: Breach;
  /** The colour users are on now, and its share. */
  servedBy: string;
  /**
   * Traffic was frozen instead of rolled back (a contract-phase migration was applied): the split
   * held, e.g. "blue 75% / green 25%", and the new colour's share of it.
   */
  frozen?: { from: string; to: string; weights: string; share: number };
  timeline: TimelinePoint[];
}

export interface RollbackPullRequestResult extends RollbackPullRequest {
  good: string;
  goodSource: GoodSource;
  bad: string;
  reverted: RevertBranch['commits'];
}

/**
 * After traffic is safe: a pull request reverting every commit after the last good one, so the
 * repository stops asking to deploy what just failed. Throws a UserError saying what to do when it
 * cannot; the caller reports it without touching traffic.
 */
export async function openRollbackPullRequest(
  request: RollbackPullRequestRequest,
): Promise<RollbackPullRequestResult> {
  const { io } = request;
  const env = io.env;
  if (!request.token) {
    throw new UserError(
      'rollback-pr is true but github-token is empty: pass `github-token: ${{ github.token }}` (or an App or personal token, so the pull request runs its checks)',
      'Rollback pull request not opened',
    );
  }
  const badProblem = shaProblem(request.bad.sha);
  if (badProblem) {
    throw new UserError(
      `the bad commit is not known (GITHUB_SHA: ${badProblem}); run in GitHub Actions, or set GITHUB_SHA to the commit that failed`,
      'Rollback pull request not opened',
    );
  }
  const badSha = request.bad.sha.toLowerCase();
  const branch = rollbackBranchName(request.environment, badSha);
  const repository = repoFromEnv(env, 'open the rollback pull request in');
  const octokit = githubClient(request.token, env, { log: (line) => io.debug(line) });
  const base = request.baseBranch || (await defaultBranch(octokit, repository));
  const candidates = await goodCandidates(octokit, repository, request);
  io.info(
    `rollback pull request: reverting ${base} from ${badSha.slice(0, 7)} back to the last good commit ` +
      `(${candidates.map((c) => `${c.sha.slice(0, 7)} from the ${c.source}`).join(', then ')}) on ${branch}`,
  );
  const git = new Git(request.runner, request.cwd, env, {
    log: (line) => io.debug(line),
    signal: request.signal,
    title: 'Rollback pull request not opened',
  });
  let known: { url: string; number: number } | undefined;
  const built = await buildRevertBranch(git, {
    base,
    good: candidates.map((c) => c.sha),
    bad: badSha,
    branch,
    tempDir: env.RUNNER_TEMP || undefined,
  }).catch((error: unknown) => {
    throw keeping(error);
  });
  const good = built.good;
  const goodSource = candidates.find((c) => good.startsWith(c.sha.toLowerCase()))?.source ?? 'good-sha';
  io.info(`last good commit: ${good.slice(0, 7)} (from the ${goodSource})`);
  io.info(
    built.unchanged
      ? `${branch} on origin already holds these reverts (${built.head.slice(0, 7)}): not pushed again`
      : `pushed ${branch} (${built.head.slice(0, 7)}): ${built.commits.length} commit${built.commits.length === 1 ? '' : 's'} reverted` +
          (built.baseMovedOn
            ? `; ${base} has moved on since ${built.bad.slice(0, 7)}, and its later commits stay`
            : ''),
  );
  const pull = await openOrUpdatePullRequest({
    onFound: (found) => (known = found),
    octokit,
    ...repository,
    branch,
    base,
    title: `Roll back ${request.environment} to ${good.slice(0, 7)}`,
    body: io.secrets.redact(renderBody(request, built, goodSource, repository, env)),
    labels: request.labels,
    draft: request.draft,
    log: (line) => io.info(line),
  }).catch((error: unknown) => {
    throw keeping(error, branch, known);
  });
  if (pull.labelProblem) io.warning(`the rollback pull request has no labels: ${pull.labelProblem}`);
  return { ...pull, good, goodSource, bad: built.bad, reverted: built.commits };
}

/**
 * Candidates for the last good commit, in order: what the deploy state knows served well (never
 * the bad commit itself), then GitHub deployments of the environment that succeeded, newest
 * first, then `good-sha`. The revert takes the first the bad commit was built on.
 */
async function goodCandidates(
  octokit: Octokit,
  repository: Repository,
  request: RollbackPullRequestRequest,
): Promise<{ sha: string; source: GoodSource }[]> {
  const bad = request.bad.sha.toLowerCase();
  const differs = (sha: string) => !bad.startsWith(sha.toLowerCase()) && !sha.toLowerCase().startsWith(bad);
  const found: { sha: string; source: GoodSource }[] = request.knownGood
    .filter(differs)
    .map((sha) => ({ sha: sha.toLowerCase(), source: 'deploy state' }));
  try {
    for (const sha of await successfulDeployments(octokit, repository, request.environment, differs))
      found.push({ sha: sha.toLowerCase(), source: 'GitHub deployments' });
  } catch (error) {
    // Reading deployments is a help, not a need: good-sha may still say it.
    if (!(error instanceof GitHubError)) throw error;
    request.io.warning(`could not read GitHub deployments to find the last good commit: ${error.message}`);
  }
  if (request.goodSha && differs(request.goodSha))
    found.push({ sha: request.goodSha.toLowerCase(), source: 'good-sha' });
  const unique = found.filter((each, index) => found.findIndex((other) => other.sha === each.sha) === index);
  if (unique.length > 0) return unique;
  throw new UserError(
    `no last good commit is known for ${request.environment}: the deploy state has no earlier promotion with a commit, ` +
      `GitHub has no successful deployment of it, and good-sha is ${request.goodSha ? 'the bad commit itself' : 'empty'}. ` +
      'Set good-sha to the commit to go back to.',
    'Rollback pull request not opened',
  );
}

/** How many of the environment's newest deployments are searched for one that succeeded. */
const DEPLOYMENTS_SEARCHED = 30;
/** Enough candidates to step over a hotfix deployed from another branch. */
const SUCCESSES_KEPT = 3;

async function successfulDeployments(
  octokit: Octokit,
  repository: Repository,
  environment: string,
  differs: (sha: string) => boolean,
): Promise<string[]> {
  const successes: string[] = [];
  const reading = (action: string) => ({ action, permission: 'deployments: read', repository });
  let deployments;
  try {
    ({ data: deployments } = await octokit.rest.repos.listDeployments({
      ...repository,
      environment,
      per_page: DEPLOYMENTS_SEARCHED,
    }));
  } catch (error) {
    throw explainGitHubFailure(error, reading(`list the deployments of environment "${environment}"`));
  }
  for (const deployment of deployments) {
    if (!differs(deployment.sha)) continue;
    let statuses;
    try {
      ({ data: statuses } = await octokit.rest.repos.listDeploymentStatuses({
        ...repository,
        deployment_id: deployment.id,
        per_page: 100,
      }));
    } catch (error) {
      throw explainGitHubFailure(error, reading(`read the statuses of deployment ${deployment.id}`));
    }
    // A success later marked inactive was still good: a newer deployment replaced it.
    if (statuses.some((status) => status.state === 'success')) successes.push(deployment.sha);
    if (successes.length >= SUCCESSES_KEPT) break;
  }
  return successes;
}

function commitLink(env: Env, repository: Repository, sha: string): string {
  return `[\`${sha.slice(0, 7)}\`](${serverUrl(env)}/${repository.owner}/${repository.repo}/commit/${sha})`;
}

function describeBreach(breach: Breach): string {
  const value = (n: number) =>
    breach.limit === 'max-error-rate'
      ? formatPercent(n)
      : breach.limit === 'max-p95'
        ? formatMs(n)
        : String(n);
  return `\`${breach.limit}\` breached on ${breach.scope}: **${value(breach.actual)}** (limit ${value(breach.threshold)}), ${formatMs(breach.at)} into the step`;
}

function renderBody(
  request: RollbackPullRequestRequest,
  built: RevertBranch,
  goodSource: GoodSource,
  repository: Repository,
  env: Env,
): string {
  const link = (sha: string) => commitLink(env, repository, sha);
  const run = runLogUrl(env);
  const chart = promotionChart(request.timeline);
  const frozen = request.frozen;
  const lines = [
    frozen
      ? `switchyard **froze** traffic on **${request.environment}** instead of rolling it back: it stays at ${frozen.weights}, ` +
        `with ${frozen.share}% on the new build (${frozen.to}). A contract-phase migration was applied, and the old code on ${frozen.from} ` +
        'would break on the new schema, so moving users back to it would not make them safe.'
      : `switchyard rolled **${request.environment}** back, and traffic is safe: ${request.servedBy}.`,
    '',
    `**Why:** ${request.reason}`,
    ...(request.breach ? ['', `**Breached:** ${describeBreach(request.breach)}.`] : []),
    '',
    '| | Commit |',
    '|---|---|',
    `| Last good (from the ${goodSource}) | ${link(built.good)} |`,
    `| Bad${request.bad.version ? ` (${request.bad.version.replaceAll('|', '\\|')})` : ''} | ${link(built.bad)} |`,
    '',
    `This branch reverts ${built.commits.length === 1 ? 'the commit' : `the ${built.commits.length} commits`} after the last good one on \`${built.baseSha.slice(0, 7)}\` of the base branch, newest first:`,
    '',
    ...built.commits.map(
      (c) =>
        `- ${link(c.sha)} ${c.subject.replaceAll('\n', ' ')}${c.merge ? ' (a merge: reverted against its first parent)' : ''}${c.alreadyUndone ? ' — already undone on the base branch' : ''}`,
    ),
    '',
    built.baseMovedOn
      ? `The base branch has commits after the bad one; they are kept, so the files differ from ${link(built.good)} by those commits.`
      : `The base branch has nothing after the bad commit, so merging this gives back exactly the files of ${link(built.good)}.`,
    ...(chart ? ['', '### The promotion', '', chart] : []),
    ...(run ? ['', `[The workflow run that ${frozen ? 'froze traffic' : 'rolled back'}](${run})`] : []),
    '',
    ...(frozen
      ? [
          '### Merging this alone does not make the old code safe',
          '',
          'These reverts undo the code, not the schema: the database keeps the contract-phase migration, and the reverted ' +
            'code is the old code, which breaks on it the same way. Either:',
          '',
          `- **Fix forward** (usually right): push a fix on top of the bad commit and deploy it: \`deploy stage\` installs it over ${frozen.to}, ` +
            `which keeps its ${frozen.share}%, and \`deploy promote\` resumes ${frozen.to} from there, forward only (rollback and shift refuse while traffic is frozen). Then close this pull request.`,
          '- **Or go back for real:** restore the database from the backup taken before the migration, run `deploy rollback` with ' +
            '`force-rollback: true`, then merge this pull request, so the next deploy ships the old code onto the old schema.',
        ]
      : [
          '### To re-deploy',
          '',
          '- **Merge this pull request** to make the base branch what was good again; the next deploy of it ships the good code.',
          '- **Or fix forward:** push a fix on top of the bad commit and deploy it; then close this pull request.',
        ]),
    '',
    `<sub>Opened by switchyard. A rollback of the same commit updates this pull request instead of opening another.</sub>`,
  ];
  return lines.join('\n');
}
