/**
 * Third-party actions cannot be downloaded here, so each one a workflow uses has a named local
 * stand-in that does the same job on this machine. The table is the whole list: a workflow using
 * an action missing from it is refused before anything runs, rather than rehearsed without it.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, cpSync, existsSync, mkdirSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { basename, dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface StandInContext {
  /** The step's `with:`, evaluated. */
  with: Record<string, string>;
  /** The step's environment (GITHUB_*, RUNNER_*, env:). */
  env: Record<string, string>;
  workspace: string;
  runnerTemp: string;
  /** The run's artifacts, shared by its jobs (upload-artifact / download-artifact). */
  artifacts: string;
  /** The bare repository standing in for the GitHub repository (actions/checkout). */
  origin?: string;
  github: { sha: string; ref: string; repository: string };
  log(line: string): void;
  /** What GITHUB_PATH does: later steps find executables there. */
  addPath(dir: string): void;
}

export interface StandIn {
  /** What it does instead of the real action, shown in the log. */
  description: string;
  /** Its outputs; throwing fails the step with the message as an ::error::. */
  run(context: StandInContext): Promise<Record<string, string>> | Record<string, string>;
}

/** `owner/name` of a `uses:` value, lower-cased (GitHub's names are case-insensitive). */
export function actionName(uses: string): string {
  return (uses.split('@')[0] ?? '').split('/').slice(0, 2).join('/').toLowerCase();
}

function git(cwd: string, ...args: string[]): string {
  return execFileSync('git', args, {
    cwd,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, LC_ALL: 'C' },
  }).trim();
}

/** A path the workflow gave, inside the workspace (as the real actions insist). */
function inWorkspace(context: StandInContext, path: string, input: string): string {
  const full = resolve(context.workspace, path);
  if (full !== context.workspace && !full.startsWith(context.workspace + sep))
    throw new Error(`${input} "${path}" is outside the workspace`);
  return full;
}

/**
 * actions/checkout: what the real one runs — init, fetch the commit (shallow unless fetch-depth
 * is 0), check it out on the branch of github.ref — from the local bare origin, which stays
 * `origin` so a later `git push origin` reaches it.
 */
const checkout: StandIn = {
  description: 'a clone of the local bare origin',
  run(context) {
    const { origin, github } = context;
    if (!origin) throw new Error('actions/checkout needs an origin: give the rehearsal a bare repository');
    const repository = context.with.repository || github.repository;
    if (repository.toLowerCase() !== github.repository.toLowerCase())
      throw new Error(`only the workflow's own repository can be checked out here, not ${repository}`);
    const dir = inWorkspace(context, context.with.path || '.', 'path');
    mkdirSync(dir, { recursive: true });
    const depth = Number(context.with['fetch-depth'] || '1');
    if (!Number.isInteger(depth) || depth < 0)
      throw new Error(`fetch-depth "${context.with['fetch-depth']}"`);
    const ref = context.with.ref || github.ref;
    const branch = ref.replace(/^refs\/heads\//, '');
    // With no ref input the commit is github.sha; a branch or sha ref is resolved on the origin.
    const sha = context.with.ref
      ? git(origin, 'rev-parse', '--verify', `${context.with.ref}^{commit}`)
      : github.sha;
    git(dir, 'init', '-q');
    // file:// so --depth is honoured (a plain path makes git copy the whole object store).
    git(dir, 'remote', 'add', 'origin', `file://${origin}`);
    if (depth === 0) {
      git(dir, 'fetch', '-q', '--prune', '--tags', 'origin', '+refs/heads/*:refs/remotes/origin/*');
    } else {
      const target = /^[0-9a-f]{40}$/.test(branch)
        ? 'refs/remotes/origin/HEAD'
        : `refs/remotes/origin/${branch}`;
      git(dir, 'fetch', '-q', '--no-tags', `--depth=${depth}`, 'origin', `+${sha}:${target}`);
    }
    if (/^[0-9a-f]{40}$/.test(branch)) git(dir, 'checkout', '-q', '--force', sha);
    else git(dir, 'checkout', '-q', '--force', '-B', branch, sha);
    context.log(
      `checked out ${sha.slice(0, 7)} (${depth === 0 ? 'full history' : `depth ${depth}`}) into ${dir}`,
    );
    return { ref, commit: sha };
  },
};

/** grafana/setup-k6-action: puts our k6 stand-in (scripts/workflow/k6.js) on PATH. */
const setupK6: StandIn = {
  description: 'k6 on PATH: scripts/workflow/k6.js, real HTTP requests to SWITCHYARD_SERVERS',
  run(context) {
    const bin = join(context.runnerTemp, 'k6-bin');
    mkdirSync(bin, { recursive: true });
    const script = join(dirname(fileURLToPath(import.meta.url)), 'k6.js');
    const k6 = join(bin, 'k6');
    writeFileSync(k6, `#!/bin/sh\nexec ${JSON.stringify(process.execPath)} ${JSON.stringify(script)} "$@"\n`);
    chmodSync(k6, 0o755);
    context.addPath(bin);
    return {};
  },
};

/** The files a `path:` input names (one per line, globs not rehearsed), and their common root. */
function uploadPaths(context: StandInContext): { root: string; files: string[] } {
  const lines = (context.with.path ?? '').split('\n').map((line) => line.trim());
  const paths = lines.filter((line) => line && !line.startsWith('!'));
  if (paths.length === 0) throw new Error('upload-artifact: path is required');
  for (const path of paths)
    if (/[*?[]/.test(path))
      throw new Error(`upload-artifact: glob "${path}" is not rehearsed; name the files`);
  const found = paths
    .map((path) => (isAbsolute(path) ? path : resolve(context.workspace, path)))
    .filter((path) => existsSync(path));
  const walk = (path: string): string[] =>
    statSync(path).isDirectory() ? readdirSync(path).flatMap((name) => walk(join(path, name))) : [path];
  const files = found.flatMap(walk);
  // As upload-artifact does: paths are kept relative to the deepest directory holding them all.
  const dirs = found.map((path) => (statSync(path).isDirectory() ? path : dirname(path)));
  let root = dirs[0] ?? context.workspace;
  for (const dir of dirs) while (dir !== root && !dir.startsWith(root + sep)) root = dirname(root);
  return { root, files };
}

const uploadArtifact: StandIn = {
  description: "a copy into the run's artifacts directory",
  run(context): Record<string, string> {
    const name = context.with.name || 'artifact';
    const target = join(context.artifacts, name);
    const { root, files } = uploadPaths(context);
    if (files.length === 0) {
      const mode = context.with['if-no-files-found'] || 'warn';
      const message = `No files were found with the provided path: ${context.with.path}. No artifacts will be uploaded.`;
      if (mode === 'error') throw new Error(message);
      if (mode === 'warn') context.log(`::warning::${message}`);
      return {};
    }
    if (existsSync(target) && context.with.overwrite !== 'true')
      throw new Error(`an artifact named "${name}" already exists in this run (overwrite: true replaces it)`);
    for (const file of files) {
      const to = join(target, relative(root, file));
      mkdirSync(dirname(to), { recursive: true });
      cpSync(file, to);
    }
    context.log(`uploaded ${files.length} file(s) as artifact "${name}"`);
    return {
      'artifact-id': String(readdirSync(context.artifacts).length),
      'artifact-url': `file://${target}`,
    };
  },
};

const downloadArtifact: StandIn = {
  description: "a copy from the run's artifacts directory",
  run(context) {
    // Relative to the workspace, or anywhere (runner.temp, say), as the real one allows.
    const path = resolve(context.workspace, context.with.path || '.');
    const names = context.with.name
      ? [context.with.name]
      : existsSync(context.artifacts)
        ? readdirSync(context.artifacts)
        : [];
    for (const name of names) {
      const from = join(context.artifacts, name);
      if (!existsSync(from)) throw new Error(`Artifact not found for name: ${name}`);
      // One named artifact lands in path itself; all of them, each in path/<name>.
      const to =
        context.with.name || context.with['merge-multiple'] === 'true' ? path : join(path, basename(from));
      mkdirSync(to, { recursive: true });
      cpSync(from, to, { recursive: true });
    }
    context.log(`downloaded ${names.length} artifact(s) into ${path}`);
    return { 'download-path': path };
  },
};

export const STAND_INS: Record<string, StandIn> = {
  'actions/checkout': checkout,
  'grafana/setup-k6-action': setupK6,
  'actions/upload-artifact': uploadArtifact,
  'actions/download-artifact': downloadArtifact,
};
