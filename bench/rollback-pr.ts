// The rollback branch: switchyard's buildRevertBranch (checks, fetch of a shallow checkout, a
// worktree, one revert per commit, the tree proof, a lease push read back) against the bare git
// commands a person would type for the same branch, in the same run on identical checkouts.
// Prints medians and the ratio. BENCH_RUNS (default 5) runs per size, interleaved.
import { execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { systemRunner } from '../actions/core/src/process.js';
import { Git } from '../actions/core/src/git.js';
import { buildRevertBranch } from '../actions/core/src/rollback-pr/revert.js';
import { makeOrigin, type Origin } from '../test/support/git-repos.js';
import { median, printTable } from './table.js';

const RUNS = Number(process.env.BENCH_RUNS ?? 5);
const SIZES = [5, 50];
const FILES = 2000;

function history(origin: Origin, commits: number): { good: string; bad: string } {
  const files: Record<string, string> = {};
  for (let i = 0; i < FILES; i++) files[`src/module-${i}.txt`] = `module ${i}\n`.repeat(20);
  const good = origin.work.commit('good release', files);
  let bad = good;
  for (let i = 0; i < commits; i++) {
    bad = origin.work.commit(`change ${i}`, {
      [`src/module-${(i * 37) % FILES}.txt`]: `changed by ${i}\n`,
      [`new/file-${i}.txt`]: `${i}\n`,
    });
  }
  origin.work.git('push', '-q', 'origin', 'main');
  return { good, bad };
}

/** A runner's checkout: shallow, as actions/checkout makes it. */
function checkout(origin: Origin): string {
  return origin.clone({ depth: 1 }).dir;
}

function bareCommands(dir: string, good: string, bad: string, branch: string): void {
  const git = (...args: string[]) => execFileSync('git', args, { cwd: dir, stdio: 'pipe' });
  const tree = mkdtempSync(join(tmpdir(), 'switchyard-bench-tree-'));
  git('fetch', '-q', '--unshallow', 'origin', '+refs/heads/main:refs/remotes/origin/main');
  git('worktree', 'add', '-q', '--detach', tree, 'origin/main');
  const commits = execFileSync('git', ['rev-list', '--first-parent', `${good}..${bad}`], { cwd: dir })
    .toString()
    .trim()
    .split('\n');
  for (const commit of commits)
    execFileSync('git', ['revert', '--no-edit', commit], { cwd: tree, stdio: 'pipe' });
  execFileSync('git', ['push', '-q', '--force', 'origin', `HEAD:refs/heads/${branch}`], {
    cwd: tree,
    stdio: 'pipe',
  });
  git('worktree', 'remove', '--force', tree);
}

export async function rollbackPrBench(): Promise<void> {
  const rows: string[][] = [];
  for (const size of SIZES) {
    const origin = makeOrigin();
    try {
      const { good, bad } = history(origin, size);
      const ours: number[] = [];
      const bare: number[] = [];
      for (let run = 0; run < RUNS; run++) {
        const branch = `switchyard/rollback-bench-${run}`;
        const a = checkout(origin);
        let started = performance.now();
        await buildRevertBranch(new Git(systemRunner, a, process.env), { base: 'main', good, bad, branch });
        ours.push(performance.now() - started);
        const b = checkout(origin);
        started = performance.now();
        bareCommands(b, good, bad, `${branch}-bare`);
        bare.push(performance.now() - started);
        if (origin.tree(branch) !== origin.tree(`${branch}-bare`)) throw new Error('the two branches differ');
      }
      const [o, b] = [median(ours), median(bare)];
      rows.push([
        `${size} commits, ${FILES} files`,
        `${o.toFixed(0)} ms`,
        `${b.toFixed(0)} ms`,
        `${(o / b).toFixed(2)}×`,
      ]);
    } finally {
      origin.remove();
    }
  }
  printTable(
    `rollback branch: buildRevertBranch vs bare git (median of ${RUNS}, shallow checkouts, local origin)`,
    ['history', 'switchyard', 'bare git commands', 'ratio'],
    rows,
  );
}

if (import.meta.url === `file://${process.argv[1]}`) await rollbackPrBench();
