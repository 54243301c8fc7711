import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { UserError } from '../errors.js';
import { outputTail, succeeded } from '../process.js';
import type { Git } from '../git.js';

const TITLE = 'Rollback pull request not opened';

/** One commit of the first-parent chain good..bad, as reverted. */
export interface RevertedCommit {
  sha: string;
  subject: string;
  /** A merge commit, reverted once against its first parent (`-m 1`). */
  merge: boolean;
  /** Its revert changed nothing: the base branch already undoes it. */
  alreadyUndone?: boolean;
}

export interface RevertBranch {
  branch: string;
  /** The commit pushed as the branch's tip. */
  head: string;
  /** The base branch's tip the reverts were made on. */
  baseSha: string;
  good: string;
  bad: string;
  /** Newest first, as reverted. */
  commits: RevertedCommit[];
  /** The base branch had commits after the bad one; they stay. */
  baseMovedOn: boolean;
  /** The branch on origin already held these reverts on this base: nothing was pushed. */
  unchanged: boolean;
}

export interface RevertRequest {
  /** The branch to revert on, e.g. main. */
  base: string;
  /**
   * The last good commit, or candidates for it in order of preference: the first that the bad
   * commit was built on is taken (a hotfix branched elsewhere cannot be "every commit after").
   */
  good: string | readonly string[];
  bad: string;
  branch: string;
  /** Where the temporary worktree goes (RUNNER_TEMP on a runner). */
  tempDir?: string;
}

/**
 * The base branch already undoes the bad range (an earlier rollback pull request was merged, or
 * someone reverted by hand): nothing to open, and nothing wrong.
 */
export class NothingToRevert extends UserError {
  constructor(message: string) {
    super(message, 'Nothing to revert');
    this.name = 'NothingToRevert';
  }
}

/** A revert that conflicts: no branch is pushed, and the message says what to run by hand. */
export class RevertConflictError extends UserError {
  constructor(
    readonly commit: RevertedCommit,
    readonly paths: string[],
    manual: string,
  ) {
    super(
      `reverting ${commit.sha.slice(0, 7)} ("${commit.subject}") conflicts in ${paths.join(', ')}, ` +
        `so no rollback pull request was opened (a half-reverted branch would not build what was good). ` +
        `Traffic is unaffected. To revert by hand:\n${manual}`,
      'Rollback pull request: revert conflicts',
    );
    this.name = 'RevertConflictError';
  }
}

/**
 * Builds the rollback branch: from the base branch's tip on origin, `git revert` of every commit
 * of the first-parent chain good..bad, newest first — a merged branch once, through its merge
 * commit — then a push with --force-with-lease. The work happens in a temporary worktree, so the
 * workspace's own checkout is left exactly as it was, whatever happens.
 */
export async function buildRevertBranch(git: Git, request: RevertRequest): Promise<RevertBranch> {
  const { base, branch } = request;
  await checkRepository(git);
  const baseRef = `refs/remotes/origin/${base}`;
  await fetchBase(git, base, baseRef);
  const bad = await resolveCommit(git, request.bad, 'the bad commit (GITHUB_SHA)');
  const good = await chooseGood(git, typeof request.good === 'string' ? [request.good] : request.good, bad);
  const baseSha = (await git.commit(baseRef)) as string;
  if (!(await git.holds(['merge-base', '--is-ancestor', bad, baseSha]))) {
    throw new UserError(
      `the bad commit ${bad.slice(0, 7)} is not on ${base} (origin's tip ${baseSha.slice(0, 7)}), so there is nothing on ${base} to revert; ` +
        `set base-branch to the branch it was deployed from`,
      TITLE,
    );
  }
  const commits = await chain(git, good, bad);
  await git.ensureIdentity();
  const dir = await mkdtemp(join(request.tempDir ?? tmpdir(), 'switchyard-rollback-'));
  const tree = git.at(dir);
  try {
    await git.run(
      ['worktree', 'add', '--detach', '--quiet', dir, baseSha],
      'make a worktree of the base branch',
    );
    for (const commit of commits) await revertOne(tree, commit, { base, good, bad, branch, commits });
    if (commits.every((commit) => commit.alreadyUndone)) {
      throw new NothingToRevert(
        `${base} already undoes every commit after ${good.slice(0, 7)}: there is nothing to revert`,
      );
    }
    const head = await tree.run(['rev-parse', 'HEAD']);
    const baseMovedOn = baseSha !== bad;
    // Proof, not hope: with nothing after the bad commit, the branch must build exactly what was good.
    if (!baseMovedOn) {
      const [built, wanted] = await Promise.all([
        tree.run(['rev-parse', 'HEAD^{tree}']),
        tree.run(['rev-parse', `${good}^{tree}`]),
      ]);
      if (built !== wanted) {
        throw new UserError(
          `the reverts on ${branch} do not give back ${good.slice(0, 7)}'s files (tree ${built.slice(0, 7)}, expected ${wanted.slice(0, 7)}); not pushing it`,
          TITLE,
        );
      }
    }
    const unchanged = await pushBranch(tree, branch, head, baseSha, commits);
    return {
      branch,
      head: unchanged ?? head,
      baseSha,
      good,
      bad,
      commits,
      baseMovedOn,
      unchanged: !!unchanged,
    };
  } finally {
    await git.attempt(['worktree', 'remove', '--force', dir]);
    await rm(dir, { recursive: true, force: true });
    await git.attempt(['worktree', 'prune']);
  }
}

async function checkRepository(git: Git): Promise<void> {
  const inside = await git.attempt(['rev-parse', '--is-inside-work-tree']);
  if (!succeeded(inside) || inside.stdout.trim() !== 'true') {
    throw new UserError(
      `${git.cwd} is not a git checkout, and the rollback pull request is built with git: run actions/checkout before this step`,
      TITLE,
    );
  }
  const origin = await git.attempt(['remote', 'get-url', 'origin']);
  if (!succeeded(origin)) {
    throw new UserError(
      `the checkout in ${git.cwd} has no remote "origin" to push the rollback branch to: check out with actions/checkout`,
      TITLE,
    );
  }
}

/**
 * The base branch's tip, with its history: actions/checkout fetches one commit by default, and the
 * reverts need every commit back to the good one.
 */
async function fetchBase(git: Git, base: string, baseRef: string): Promise<void> {
  const shallow = (await git.run(['rev-parse', '--is-shallow-repository'])) === 'true';
  const args = ['fetch', '--no-tags', '--quiet', ...(shallow ? ['--unshallow'] : []), 'origin'];
  const result = await git.attempt([...args, `+refs/heads/${base}:${baseRef}`]);
  if (!succeeded(result)) {
    throw new UserError(
      `could not fetch ${base} from origin (is base-branch right, and may this job read the repository?):\n${outputTail(result, 6)}`,
      TITLE,
    );
  }
}

/**
 * The first candidate the bad commit was built on. The others are said in the error when none is:
 * "every commit after the good one" needs the good one in the bad one's history.
 */
async function chooseGood(git: Git, candidates: readonly string[], bad: string): Promise<string> {
  const refused: string[] = [];
  for (const candidate of candidates) {
    const found = await git.commit(candidate);
    if (!found) {
      const fetched = await resolveCommit(git, candidate, 'the last good commit').catch(() => undefined);
      if (!fetched) {
        refused.push(
          `${candidate.slice(0, 12)} is not in this repository${/^[0-9a-f]{40}/i.test(candidate) ? '' : ' (give its full 40-character id, so it can be fetched)'}`,
        );
        continue;
      }
    }
    const sha = (found ?? (await git.commit(candidate))) as string;
    if (sha === bad) refused.push(`${sha.slice(0, 7)} is the bad commit itself`);
    else if (!(await git.holds(['merge-base', '--is-ancestor', sha, bad])))
      refused.push(`${sha.slice(0, 7)} is not an ancestor of the bad commit ${bad.slice(0, 7)}`);
    else return sha;
  }
  throw new UserError(
    `no last good commit the bad commit ${bad.slice(0, 7)} was built on: ${refused.join('; ')}. ` +
      'Set good-sha to a commit in its history (the last release that worked).',
    TITLE,
  );
}

/** A commit id as given (abbreviated or not) to a full one, fetching it when the checkout lacks it. */
async function resolveCommit(git: Git, sha: string, what: string): Promise<string> {
  const found = await git.commit(sha);
  if (found) return found;
  // Only a full id can be fetched by itself; GitHub serves any commit reachable from a ref.
  if (/^[0-9a-f]{40}([0-9a-f]{24})?$/i.test(sha)) {
    const fetched = await git.attempt(['fetch', '--no-tags', '--quiet', 'origin', sha]);
    if (succeeded(fetched)) {
      const now = await git.commit(sha);
      if (now) return now;
    }
  }
  throw new UserError(
    /^[0-9a-f]{40}([0-9a-f]{24})?$/i.test(sha)
      ? `${what} ${sha} is not a commit of this repository (nor of origin)`
      : `${what} ${sha} is not in this checkout, and an abbreviated id cannot be fetched: give the full 40-character commit id`,
    TITLE,
  );
}

/** The first-parent chain good..bad, newest first, with each commit's subject and merge-ness. */
async function chain(git: Git, good: string, bad: string): Promise<RevertedCommit[]> {
  const out = await git.run(['log', '--first-parent', '--format=%H %P%x09%s', `${good}..${bad}`, '--']);
  return out
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const [ids = '', subject = ''] = line.split('\t');
      const [sha = '', ...parents] = ids.trim().split(' ');
      return { sha, subject, merge: parents.length > 1 };
    });
}

interface RevertContext {
  base: string;
  good: string;
  bad: string;
  branch: string;
  commits: RevertedCommit[];
}

async function revertOne(tree: Git, commit: RevertedCommit, context: RevertContext): Promise<void> {
  const args = ['revert', '--no-edit', ...(commit.merge ? ['-m', '1'] : []), commit.sha];
  const result = await tree.attempt(args);
  if (succeeded(result)) return;
  const conflicted = (await tree.run(['diff', '--name-only', '--diff-filter=U'])).split('\n').filter(Boolean);
  if (conflicted.length > 0) {
    await tree.attempt(['revert', '--abort']);
    throw new RevertConflictError(commit, conflicted, manualCommands(context));
  }
  const status = await tree.run(['status', '--porcelain']);
  if (status === '') {
    // Nothing to undo: the base branch already reverted this commit (by hand, or an earlier PR).
    await tree.attempt(['revert', '--skip']);
    commit.alreadyUndone = true;
    return;
  }
  await tree.attempt(['revert', '--abort']);
  throw new UserError(`git revert of ${commit.sha.slice(0, 7)} failed:\n${outputTail(result, 8)}`, TITLE);
}

/** What a person runs to make the same branch by hand, resolving the conflicts as they go. */
function manualCommands({ base, branch, commits }: RevertContext): string {
  return [
    `  git fetch origin ${base}`,
    `  git switch -c ${branch} origin/${base}`,
    ...commits.map((c) => `  git revert --no-edit ${c.merge ? '-m 1 ' : ''}${c.sha}   # ${c.subject}`),
    `  git push --force-with-lease origin ${branch}`,
  ].join('\n');
}

/**
 * Pushes HEAD as the rollback branch with a lease on what origin had, and proves origin now has
 * it. Returns origin's tip instead, without pushing, when that already holds the same files on
 * the same base: a second rollback of the same commit keeps the reviewed commits.
 */
async function pushBranch(
  tree: Git,
  branch: string,
  head: string,
  baseSha: string,
  ours: readonly RevertedCommit[],
): Promise<string | undefined> {
  const ref = `refs/heads/${branch}`;
  const remote = (await tree.run(['ls-remote', '--heads', 'origin', ref])).split(/\s/)[0] ?? '';
  if (remote) {
    await tree.attempt(['fetch', '--no-tags', '--quiet', 'origin', `+${ref}:refs/switchyard/previous`]);
    try {
      const theirs = await othersCommits(tree, 'refs/switchyard/previous', baseSha, ours);
      if (theirs.length > 0) {
        throw new UserError(
          `${branch} on origin has commits switchyard did not make (${theirs.map((c) => c.slice(0, 7)).join(', ')}): ` +
            'not replacing them. Merge or close its pull request and delete the branch, then roll back again to have it rebuilt.',
          TITLE,
        );
      }
      const sameTree =
        (await tree.run(['rev-parse', `${remote}^{tree}`])) ===
          (await tree.run(['rev-parse', 'HEAD^{tree}'])) &&
        (await tree.holds(['merge-base', '--is-ancestor', baseSha, remote]));
      if (sameTree) return remote;
    } finally {
      await tree.attempt(['update-ref', '-d', 'refs/switchyard/previous']);
    }
  }
  const pushed = await tree.attempt([
    'push',
    '--quiet',
    `--force-with-lease=${ref}:${remote}`,
    'origin',
    `HEAD:${ref}`,
  ]);
  if (!succeeded(pushed)) {
    const workflows = (
      await tree.run(['diff', '--name-only', baseSha, 'HEAD', '--', '.github/workflows'])
    ).trim();
    throw new UserError(
      `could not push ${branch} to origin:\n${outputTail(pushed, 6)}\n` +
        (workflows
          ? `The reverts change workflow files (${workflows.split('\n').join(', ')}), which GitHub refuses from GITHUB_TOKEN: ` +
            'pass a token with the workflows permission (a fine-grained PAT: Workflows read and write) as github-token and to actions/checkout.'
          : 'May this job write to the repository? It needs `permissions: contents: write` (and a checkout with persisted credentials).'),
      TITLE,
    );
  }
  const now = (await tree.run(['ls-remote', '--heads', 'origin', ref])).split(/\s/)[0];
  if (now !== head) {
    throw new UserError(
      `origin's ${branch} is ${now || 'missing'} after the push, not ${head.slice(0, 7)}`,
      TITLE,
    );
  }
  return undefined;
}

/**
 * Commits on the branch that are neither the base's nor reverts switchyard makes of this range:
 * a person's fix pushed onto the rollback branch, which a rebuild must not throw away.
 */
async function othersCommits(
  tree: Git,
  branchRef: string,
  baseSha: string,
  ours: readonly RevertedCommit[],
): Promise<string[]> {
  const reverted = new Set(ours.map((c) => c.sha));
  const log = await tree.run(['log', '--format=%H%x00%B%x01', branchRef, '--not', baseSha, '--']);
  return log
    .split('\x01')
    .map((entry) => entry.trim())
    .filter(Boolean)
    .filter((entry) => {
      const [sha = '', body = ''] = entry.split('\0');
      const of = /This reverts commit ([0-9a-f]{40})/.exec(body)?.[1];
      return !(body.startsWith('Revert "') && of && reverted.has(of)) && sha !== '';
    })
    .map((entry) => entry.split('\0')[0] as string);
}
