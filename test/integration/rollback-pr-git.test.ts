import { afterEach, describe, expect, it } from '@jest/globals';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { systemRunner } from '../../actions/core/src/process.js';
import { Git } from '../../actions/core/src/git.js';
import { buildRevertBranch, RevertConflictError } from '../../actions/core/src/rollback-pr/revert.js';
import { git, makeOrigin, type Origin } from '../support/git-repos.js';

const BRANCH = 'switchyard/rollback-production-abc1234';
let origin: Origin;
afterEach(() => origin?.remove());

/** What a runner's checkout of `sha` looks like: actions/checkout's default depth of 1. */
function checkout(sha: string) {
  const clone = origin.clone({ depth: 1 });
  clone.git('fetch', '-q', '--depth', '1', 'origin', sha);
  clone.git('checkout', '-q', '--detach', sha);
  return clone;
}

const build = (cwd: string, good: string, bad: string, base = 'main') =>
  buildRevertBranch(new Git(systemRunner, cwd, process.env), { base, good, bad, branch: BRANCH });

describe('the rollback branch, built with real git', () => {
  it('reverts every commit after the good one, newest first, and gives back the good tree', async () => {
    origin = makeOrigin();
    const good = origin.work.commit('v1: the good release', { 'app.txt': 'v1\n' });
    const c1 = origin.work.commit('v2: new greeting', { 'app.txt': 'v2\n', 'greeting.txt': 'hello\n' });
    const bad = origin.work.commit('v3: faster cache', { 'cache.txt': 'on\n', 'README.md': null });
    origin.work.git('push', '-q', 'origin', 'main');
    const runner = checkout(bad);
    runner.git('config', 'user.name', 'Release Bot');
    runner.git('config', 'user.email', 'release-bot@example.com');
    const statusBefore = runner.git('status', '--porcelain');

    const built = await build(runner.dir, good, bad.slice(0, 10));

    expect(built.commits.map((c) => c.sha)).toEqual([bad, c1]);
    expect(built.commits.map((c) => c.subject)).toEqual(['v3: faster cache', 'v2: new greeting']);
    expect(built.baseMovedOn).toBe(false);
    expect(origin.branch(BRANCH)).toBe(built.head);
    expect(origin.tree(BRANCH)).toBe(origin.tree(good));
    // One revert commit per reverted commit, on top of the base's tip.
    expect(git(origin.bare, 'rev-list', '--count', `main..${BRANCH}`)).toBe('2');
    // The checkout's own identity signs the reverts.
    expect(git(origin.bare, 'log', '-1', '--format=%an', BRANCH)).toBe('Release Bot');
    // The workspace's checkout is left as it was: same commit, nothing changed, no worktree left.
    expect(runner.git('rev-parse', 'HEAD')).toBe(bad);
    expect(runner.git('status', '--porcelain')).toBe(statusBefore);
    expect(runner.git('worktree', 'list').split('\n')).toHaveLength(1);
  });

  it('reverts a merged branch once, through its merge commit against the first parent', async () => {
    origin = makeOrigin();
    const good = origin.work.commit('v1', { 'app.txt': 'v1\n' });
    origin.work.git('checkout', '-q', '-b', 'feature');
    origin.work.commit('feature: part 1', { 'feature.txt': 'one\n' });
    origin.work.commit('feature: part 2', { 'feature.txt': 'one\ntwo\n', 'app.txt': 'v1 with feature\n' });
    origin.work.git('checkout', '-q', 'main');
    origin.work.commit('hotfix on main', { 'hotfix.txt': 'fixed\n' });
    origin.work.git('merge', '-q', '--no-ff', '-m', 'Merge feature', 'feature');
    const bad = origin.work.git('rev-parse', 'HEAD');
    origin.work.git('push', '-q', 'origin', 'main');

    const built = await build(checkout(bad).dir, good, bad);

    expect(built.commits.map((c) => [c.subject, c.merge])).toEqual([
      ['Merge feature', true],
      ['hotfix on main', false],
    ]);
    expect(origin.tree(BRANCH)).toBe(origin.tree(good));
  });

  it('keeps the commits the base branch gained after the bad one', async () => {
    origin = makeOrigin();
    const good = origin.work.commit('v1', { 'app.txt': 'v1\n' });
    const bad = origin.work.commit('v2: breaks', { 'app.txt': 'v2\n' });
    origin.work.commit('docs: unrelated', { 'docs.txt': 'later\n' });
    origin.work.git('push', '-q', 'origin', 'main');

    const built = await build(checkout(bad).dir, good, bad);

    expect(built.baseMovedOn).toBe(true);
    expect(built.commits.map((c) => c.sha)).toEqual([bad]);
    const show = (path: string) => git(origin.bare, 'show', `${BRANCH}:${path}`);
    expect(show('app.txt')).toBe('v1');
    expect(show('docs.txt')).toBe('later');
  });

  it('pushes nothing when a revert conflicts, and says which paths and what to run', async () => {
    origin = makeOrigin();
    const good = origin.work.commit('v1', { 'app.txt': 'v1\n' });
    const bad = origin.work.commit('v2', { 'app.txt': 'v2\n' });
    origin.work.commit('v2.1: builds on v2', { 'app.txt': 'v2.1\n' });
    origin.work.git('push', '-q', 'origin', 'main');
    const runner = checkout(bad);

    const error = await build(runner.dir, good, bad).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(RevertConflictError);
    const conflict = error as RevertConflictError;
    expect(conflict.paths).toEqual(['app.txt']);
    expect(conflict.message).toContain('conflicts in app.txt');
    expect(conflict.message).toContain(`git revert --no-edit ${bad}`);
    expect(conflict.message).toContain(`git switch -c ${BRANCH} origin/main`);
    expect(origin.branch(BRANCH)).toBeUndefined();
    expect(runner.git('worktree', 'list').split('\n')).toHaveLength(1);
  });

  it('is idempotent: the same bad commit on the same base keeps the pushed branch; a moved base replaces it', async () => {
    origin = makeOrigin();
    const good = origin.work.commit('v1', { 'app.txt': 'v1\n' });
    const bad = origin.work.commit('v2', { 'app.txt': 'v2\n' });
    origin.work.git('push', '-q', 'origin', 'main');
    const runner = checkout(bad);

    const first = await build(runner.dir, good, bad);
    const second = await build(runner.dir, good, bad);
    expect(second.unchanged).toBe(true);
    expect(second.head).toBe(first.head);
    expect(origin.branch(BRANCH)).toBe(first.head);

    origin.work.commit('docs', { 'docs.txt': 'new\n' });
    origin.work.git('push', '-q', 'origin', 'main');
    const third = await build(runner.dir, good, bad);
    expect(third.unchanged).toBe(false);
    expect(third.head).not.toBe(first.head);
    expect(origin.branch(BRANCH)).toBe(third.head);
    expect(git(origin.bare, 'show', `${BRANCH}:docs.txt`)).toBe('new');
  });

  it('skips a commit the base branch already undid, and refuses when nothing is left to revert', async () => {
    origin = makeOrigin();
    const good = origin.work.commit('v1', { 'app.txt': 'v1\n' });
    const bad = origin.work.commit('v2', { 'app.txt': 'v2\n' });
    origin.work.git('revert', '--no-edit', bad);
    origin.work.git('push', '-q', 'origin', 'main');

    await expect(build(checkout(bad).dir, good, bad)).rejects.toThrow(
      `main already undoes every commit after ${good.slice(0, 7)}: there is nothing to revert`,
    );
    expect(origin.branch(BRANCH)).toBeUndefined();
  });

  it.each([
    ['the good commit is the bad one', (c: Commits) => [c.bad, c.bad], 'is the bad commit itself'],
    ['the good commit comes after the bad one', (c: Commits) => [c.later, c.bad], 'is not an ancestor'],
    ['the bad commit is not on the base branch', (c: Commits) => [c.good, c.side], 'is not on main'],
    [
      'a commit that does not exist',
      (c: Commits) => [c.good, 'f'.repeat(40)],
      'is not a commit of this repository',
    ],
  ])('refuses when %s, pushing nothing', async (_, pick, message) => {
    origin = makeOrigin();
    const good = origin.work.commit('v1', { 'app.txt': 'v1\n' });
    const bad = origin.work.commit('v2', { 'app.txt': 'v2\n' });
    const later = origin.work.commit('v3', { 'app.txt': 'v3\n' });
    origin.work.git('checkout', '-q', '-b', 'side', good);
    const side = origin.work.commit('side', { 'side.txt': 'x\n' });
    origin.work.git('push', '-q', 'origin', 'main', 'side');
    const [g, b] = pick({ good, bad, later, side }) as [string, string];

    await expect(build(checkout(later).dir, g, b)).rejects.toThrow(message);
    expect(origin.branch(BRANCH)).toBeUndefined();
  });

  it('names what is missing when the workspace is not a checkout', async () => {
    const empty = mkdtempSync(join(tmpdir(), 'switchyard-not-git-'));
    try {
      await expect(build(empty, 'a'.repeat(40), 'b'.repeat(40))).rejects.toThrow(
        'is not a git checkout, and the rollback pull request is built with git: run actions/checkout before this step',
      );
    } finally {
      rmSync(empty, { recursive: true, force: true });
    }
  });

  it('signs the reverts as the Actions bot when the checkout has no identity', async () => {
    origin = makeOrigin();
    const good = origin.work.commit('v1', { 'app.txt': 'v1\n' });
    const bad = origin.work.commit('v2', { 'app.txt': 'v2\n' });
    origin.work.git('push', '-q', 'origin', 'main');
    const runner = checkout(bad);
    // A fresh runner: no identity in the environment, none in any config git reads.
    const home = mkdtempSync(join(tmpdir(), 'switchyard-home-'));
    const env = { PATH: process.env.PATH, HOME: home, GIT_CONFIG_NOSYSTEM: '1' };
    try {
      await buildRevertBranch(new Git(systemRunner, runner.dir, env), {
        base: 'main',
        good,
        bad,
        branch: BRANCH,
      });
    } finally {
      rmSync(home, { recursive: true, force: true });
    }
    expect(git(origin.bare, 'log', '-1', '--format=%an <%ae>', BRANCH)).toBe(
      'github-actions[bot] <41898282+github-actions[bot]@users.noreply.github.com>',
    );
    expect(readFileSync(join(runner.dir, 'app.txt'), 'utf8')).toBe('v2\n');
  });
});

interface Commits {
  good: string;
  bad: string;
  later: string;
  side: string;
}

describe('the rollback branch: candidates and other people’s commits', () => {
  it('takes the first good candidate the bad commit was built on, stepping over a hotfix from elsewhere', async () => {
    origin = makeOrigin();
    const good = origin.work.commit('v1', { 'app.txt': 'v1\n' });
    const bad = origin.work.commit('v2', { 'app.txt': 'v2\n' });
    origin.work.git('checkout', '-q', '-b', 'hotfix', good);
    const hotfix = origin.work.commit('hotfix on v1', { 'fix.txt': 'x\n' });
    origin.work.git('push', '-q', 'origin', 'main', 'hotfix');

    const built = await buildRevertBranch(new Git(systemRunner, checkout(bad).dir, process.env), {
      base: 'main',
      good: [hotfix, good],
      bad,
      branch: BRANCH,
    });

    expect(built.good).toBe(good);
    expect(origin.tree(BRANCH)).toBe(origin.tree(good));
  });

  it('never replaces commits someone pushed onto the rollback branch', async () => {
    origin = makeOrigin();
    const good = origin.work.commit('v1', { 'app.txt': 'v1\n' });
    const bad = origin.work.commit('v2', { 'app.txt': 'v2\n' });
    origin.work.git('push', '-q', 'origin', 'main');
    const runner = checkout(bad);
    await build(runner.dir, good, bad);
    // A person fixes forward on the rollback branch.
    const person = origin.clone();
    person.git('checkout', '-q', BRANCH);
    const theirs = person.commit('human: keep the new cart', { 'cart.txt': 'kept\n' });
    person.git('push', '-q', 'origin', BRANCH);
    origin.work.commit('docs', { 'docs.txt': 'moved on\n' });
    origin.work.git('push', '-q', 'origin', 'main');

    await expect(build(runner.dir, good, bad)).rejects.toThrow(
      `has commits switchyard did not make (${theirs.slice(0, 7)}): not replacing them`,
    );
    expect(origin.branch(BRANCH)).toBe(theirs);
  });
});
