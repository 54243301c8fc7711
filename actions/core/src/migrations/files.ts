import { realpath } from 'node:fs/promises';
import path from 'node:path';
import { glob } from 'tinyglobby';
import { InputError, UserError } from '../errors.js';
import { Git } from '../git.js';
import type { ProcessRunner } from '../process.js';

/**
 * Migrations that undo others: they never run during a deploy, and are all drops by nature —
 * golang-migrate's `*.down.sql`, Diesel's `down.sql` and Flyway's undo `U<version>__*.sql`. Only
 * those names: `V12__tear_down.sql` is an up migration like any other.
 */
const DOWN_MIGRATION = /^down\.sql$|\.down\.sql$|^U\d[\d._]*__/;

/** One collator for every comparison: building one per call costs more than the compare. */
const NUMERIC = new Intl.Collator('en', { numeric: true, sensitivity: 'variant' });

/** Migration order: file names compared with their numbers as numbers (V2__ before V10__), then the path. */
export function migrationOrder(a: string, b: string): number {
  return NUMERIC.compare(path.posix.basename(a), path.posix.basename(b)) || NUMERIC.compare(a, b);
}

export interface MigrationFiles {
  /** Relative to the workspace, `/`-separated, in migration order. */
  files: string[];
  /** Down migrations left out. */
  down: string[];
}

/**
 * The files the globs select, in migration order. A file that resolves (through a link) outside
 * the workspace is refused: the lint must read what the deploy will run, nothing else.
 */
export async function findMigrations(patterns: readonly string[], cwd: string): Promise<MigrationFiles> {
  const found = await glob([...patterns], {
    cwd,
    onlyFiles: true,
    // Links are followed, then each file's real path must be inside the workspace.
    followSymbolicLinks: true,
    expandDirectories: false,
    dot: true,
  });
  const root = await realpath(cwd);
  const files: string[] = [];
  const down: string[] = [];
  for (const file of found.sort(migrationOrder)) {
    const real = await realpath(path.join(cwd, file));
    if (real !== root && !real.startsWith(root + path.sep))
      throw new InputError(
        'migrations',
        `${file} resolves to ${real}, outside the workspace; migrations must live in it`,
      );
    (DOWN_MIGRATION.test(path.posix.basename(file)) ? down : files).push(file);
  }
  if (files.length === 0) {
    const folders = await glob([...patterns], { cwd, onlyDirectories: true, expandDirectories: false });
    if (folders.length > 0) {
      throw new InputError(
        'migrations',
        `names the folder ${folders[0]}, not files: give a glob of the files in it, e.g. ${folders[0]?.replace(/\/$/, '')}/*.sql`,
      );
    }
    throw new InputError(
      'migrations',
      `matches no migration file under ${cwd} (${patterns.join(', ')})${down.length ? `: only down migrations (${down.length})` : ''}; ` +
        'give the globs of your migration files, e.g. db/migrations/*.sql',
    );
  }
  return { files, down };
}

export interface Baseline {
  ref: string;
  commit: string;
  /** Migration files (of the globs) that existed at the baseline. */
  present: Set<string>;
  /** Files added or changed since (committed or not, untracked included). */
  changed: Set<string>;
}

/**
 * What the baseline ref says: which files were there, and which changed since — so a pull request
 * is checked for what it adds, not for the history it inherits.
 */
export async function readBaseline(
  ref: string,
  cwd: string,
  runner: ProcessRunner,
  env: Readonly<Record<string, string | undefined>>,
): Promise<Baseline> {
  const git = new Git(runner, cwd, env, { title: 'validate-migration baseline' });
  const inside = await git.attempt(['rev-parse', '--is-inside-work-tree']);
  if (inside.exitCode !== 0 || inside.stdout.trim() !== 'true') {
    throw new InputError(
      'baseline',
      `needs a git checkout, and ${cwd} is not one: check the repository out (actions/checkout with fetch-depth: 0), or leave baseline empty to check every file`,
    );
  }
  const commit = await git.commit(ref);
  if (!commit) {
    const shallow = (await git.attempt(['rev-parse', '--is-shallow-repository'])).stdout.trim() === 'true';
    throw new InputError(
      'baseline',
      `"${ref}" is not a commit of the checkout in ${cwd}` +
        (shallow ? ' (it is shallow: check out with `fetch-depth: 0`, or fetch the ref first)' : '') +
        '; give a branch, tag or commit id that exists, e.g. origin/main',
    );
  }
  const lines = (text: string) => text.split('\0').filter(Boolean);
  const present = lines(await git.run(['ls-tree', '-r', '-z', '--full-tree', '--name-only', commit, '--']));
  const changed = [
    ...lines(await git.run(['diff', '--name-only', '-z', '--no-renames', commit, '--'])),
    ...lines(await git.run(['ls-files', '--others', '--exclude-standard', '--full-name', '-z', '--'])),
  ];
  // Every list above names files from the repository's top; the workspace may be a folder of it.
  const top = await git.run(['rev-parse', '--show-prefix']);
  const relative = (file: string) => (top && file.startsWith(top) ? file.slice(top.length) : file);
  return {
    ref,
    commit,
    present: new Set(present.map(relative)),
    changed: new Set(changed.map(relative)),
  };
}

/** A file that cannot be read is the user's to fix: its name and the reason, not a stack. */
export function unreadable(file: string, error: unknown): UserError {
  return new UserError(`cannot read ${file}: ${(error as Error).message}`, 'validate-migration');
}
