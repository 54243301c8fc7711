/**
 * Real git repositories for tests: a bare "origin" (what GitHub would hold) and clones of it,
 * with commits made from file contents. Every command is real git; nothing is faked.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

const IDENTITY = {
  GIT_AUTHOR_NAME: 'Test Author',
  GIT_AUTHOR_EMAIL: 'author@example.com',
  GIT_COMMITTER_NAME: 'Test Author',
  GIT_COMMITTER_EMAIL: 'author@example.com',
};

export function git(cwd: string, ...args: string[]): string {
  return execFileSync('git', args, {
    cwd,
    env: { ...process.env, ...IDENTITY, GIT_CONFIG_NOSYSTEM: '1', LC_ALL: 'C' },
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  }).trim();
}

export interface Clone {
  dir: string;
  /** Writes the files (a null content deletes one), commits them, returns the commit id. */
  commit(message: string, files: Record<string, string | null>): string;
  git(...args: string[]): string;
}

export interface Origin {
  /** The bare repository: the remote clones push to. */
  bare: string;
  /** A working clone, on main, for making history. */
  work: Clone;
  /** Another clone of origin (a runner's checkout). `depth` makes it shallow, as actions/checkout does. */
  clone(options?: { depth?: number; ref?: string }): Clone;
  /** The tree id of a commit or ref in origin. */
  tree(ref: string): string;
  /** The commit a branch of origin points at, or undefined. */
  branch(name: string): string | undefined;
  remove(): void;
}

function cloneAt(dir: string): Clone {
  return {
    dir,
    git: (...args) => git(dir, ...args),
    commit(message, files) {
      for (const [path, content] of Object.entries(files)) {
        const file = join(dir, path);
        if (content === null) {
          git(dir, 'rm', '-q', '--', path);
          continue;
        }
        mkdirSync(dirname(file), { recursive: true });
        writeFileSync(file, content);
        git(dir, 'add', '--', path);
      }
      git(dir, 'commit', '-q', '--allow-empty', '-m', message);
      return git(dir, 'rev-parse', 'HEAD');
    },
  };
}

/** An origin with one commit on main (README.md), cloned once for making history. */
export function makeOrigin(): Origin {
  const root = mkdtempSync(join(tmpdir(), 'switchyard-git-'));
  const bare = join(root, 'origin.git');
  git(root, 'init', '-q', '--bare', '--initial-branch=main', bare);
  const workDir = join(root, 'work');
  git(root, 'clone', '-q', bare, workDir);
  const work = cloneAt(workDir);
  work.git('checkout', '-q', '-b', 'main');
  work.commit('initial commit', { 'README.md': '# shop\n' });
  work.git('push', '-q', 'origin', 'main');
  let clones = 0;
  return {
    bare,
    work,
    clone({ depth, ref } = {}) {
      const dir = join(root, `clone-${++clones}`);
      // file:// so --depth is honoured, as it is for a checkout from GitHub.
      git(root, 'clone', '-q', ...(depth ? ['--depth', String(depth)] : []), `file://${bare}`, dir);
      if (ref) git(dir, 'checkout', '-q', ref);
      return cloneAt(dir);
    },
    tree: (ref) => git(bare, 'rev-parse', `${ref}^{tree}`),
    branch(name) {
      try {
        return git(bare, 'rev-parse', '--verify', '--quiet', `refs/heads/${name}`);
      } catch {
        return undefined;
      }
    },
    remove: () => rmSync(root, { recursive: true, force: true }),
  };
}
