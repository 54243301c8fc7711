import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { InputError, UserError } from '../../errors.js';
import { githubClient, repoFromEnv, type Octokit, type Repository } from '../../github/client.js';
import { createLocalStore, idProblem } from './local.js';
import { makeDirectory } from '../../atomic-write.js';

/**
 * What the runner-backed stores (actions-cache, artifact) share: their options, the staging folder
 * backups pass through on their way up and down, the job environment the toolkits read, and the
 * REST API for what the toolkits cannot do (list, remove).
 */
export interface RunnerStoreOptions {
  /** `github-token`: the REST API lists and removes backups (and finds other runs' artifacts). */
  token?: string;
  /** The job's environment: ACTIONS_RUNTIME_TOKEN, ACTIONS_RESULTS_URL, GITHUB_REPOSITORY… */
  env: Readonly<Record<string, string | undefined>>;
  /** Where backups are staged on their way up and down, e.g. RUNNER_TEMP. */
  tempDir: string;
  log?: (line: string) => void;
}

/** Every cache key and artifact name of a backup starts with it; marks add `+<mark>+<time>`. */
export const BACKUP_PREFIX = 'switchyard-backup-';

/**
 * The local folder a runner-backed store keeps backups in on their way: parts are written here and
 * uploaded in one piece with the manifest; a backup written elsewhere is downloaded here, once per
 * store, before it is read. A folder this store did not write or download is never trusted: it may
 * be what an interrupted run left behind.
 */
export class Staging {
  private readonly local;
  /**
   * Ids this store wrote, or is writing (their folders are the truth, nothing to download), each
   * with the emptying of its folder that came first — parts may be written side by side.
   */
  private readonly written = new Map<string, Promise<void>>();
  private readonly fetched = new Map<string, Promise<boolean>>();

  constructor(
    readonly root: string,
    private readonly location: string,
    /** Downloads backup `id` into folder(id); false when the store does not have it. */
    private readonly download: (id: string) => Promise<boolean>,
  ) {
    this.local = createLocalStore(root);
  }

  folder(id: string): string {
    checkId(id);
    return path.join(this.root, id);
  }

  /** Whether this store is writing (or wrote) backup `id`. */
  holds(id: string): boolean {
    return this.written.has(id);
  }

  /** Takes `id` for a backup this store is about to write; false when it already holds it. */
  async claim(id: string): Promise<boolean> {
    if (this.holds(id)) return false;
    await this.startWriting(id);
    return true;
  }

  async writePart(id: string, name: string, data: Readable): Promise<void> {
    await this.startWriting(id);
    await this.relabel(this.local.writePart(id, name, data));
  }

  async readPart(id: string, name: string): Promise<Readable> {
    if (!(await this.available(id)))
      throw new UserError(`backup ${id} is not in ${this.location}`, 'Backup store');
    return this.relabel(this.local.readPart(id, name));
  }

  /** Stages the manifest, then `upload`s the folder; a failed upload takes the manifest back out. */
  async writeManifest(
    id: string,
    manifest: string,
    upload: (folder: string) => Promise<void>,
  ): Promise<void> {
    await this.startWriting(id);
    await this.relabel(this.local.writeManifest(id, manifest));
    try {
      await upload(this.folder(id));
    } catch (error) {
      await fs.rm(path.join(this.folder(id), 'manifest.json'), { force: true });
      throw error;
    }
  }

  async readManifest(id: string): Promise<string | undefined> {
    if (!(await this.available(id))) return undefined;
    return this.relabel(this.local.readManifest(id));
  }

  /** The files of backup `id`'s folder (parts and manifest), for an upload. */
  async files(id: string): Promise<string[]> {
    const folder = this.folder(id);
    const names = await fs.readdir(folder);
    return names.filter((name) => !name.startsWith('.')).map((name) => path.join(folder, name));
  }

  async forget(id: string): Promise<void> {
    this.written.delete(id);
    this.fetched.delete(id);
    await fs.rm(this.folder(id), { recursive: true, force: true });
  }

  private startWriting(id: string): Promise<void> {
    let emptied = this.written.get(id);
    if (!emptied) {
      const folder = this.folder(id);
      this.fetched.delete(id);
      emptied = fs.rm(folder, { recursive: true, force: true });
      this.written.set(id, emptied);
    }
    return emptied;
  }

  private available(id: string): Promise<boolean> {
    if (this.written.has(id)) return Promise.resolve(true);
    let fetching = this.fetched.get(id);
    if (!fetching) {
      const folder = this.folder(id);
      fetching = fs
        .rm(folder, { recursive: true, force: true })
        .then(() => this.download(id))
        .catch((error: unknown) => {
          this.fetched.delete(id);
          throw error;
        });
      this.fetched.set(id, fetching);
    }
    return fetching;
  }

  /** The local store's messages name the staging folder; the user chose this store, not that folder. */
  private async relabel<T>(work: Promise<T>): Promise<T> {
    try {
      return await work;
    } catch (error) {
      if (!(error instanceof UserError) || error instanceof InputError) throw error;
      throw new UserError(error.message.replaceAll(this.local.location, this.location), error.title);
    }
  }
}

export function checkId(id: string): void {
  const problem = idProblem(id);
  if (problem) throw new InputError('id', problem);
}

/** A REST client for the job's repository; without a token, a UserError saying why one is needed. */
export function restApi(
  options: RunnerStoreOptions,
  location: string,
  doing: string,
): { octokit: Octokit; repository: Repository } {
  if (!options.token) throw tokenNeeded(location, doing);
  return {
    octokit: githubClient(options.token, options.env, { log: options.log }),
    repository: repoFromEnv(options.env),
  };
}

export function tokenNeeded(location: string, doing: string): UserError {
  return new UserError(
    `store ${location} needs \`github-token\` to ${doing}: listing, pruning and \`id: latest\` go through ` +
      "GitHub's REST API. Pass `github-token: ${{ github.token }}` and give the job `permissions: actions: write` " +
      '(`actions: read` is enough without prune).',
    'Backup store',
  );
}

/**
 * The variables @actions/cache and @actions/artifact read from process.env: they take no options
 * for them. (GITHUB_API_URL is read once, when @actions/github is first imported.)
 */
const RUNNER_VARIABLES = [
  'ACTIONS_RUNTIME_TOKEN',
  'ACTIONS_RESULTS_URL',
  'ACTIONS_CACHE_URL',
  'ACTIONS_CACHE_SERVICE_V2',
  'ACTIONS_CACHE_MODE',
  'ACTIONS_ARTIFACT_UPLOAD_CONCURRENCY',
  'ACTIONS_ARTIFACT_UPLOAD_TIMEOUT_MS',
  'CACHE_UPLOAD_CONCURRENCY',
  'CACHE_UPLOAD_CHUNK_SIZE',
  'SEGMENT_DOWNLOAD_TIMEOUT_MINS',
  'GITHUB_SERVER_URL',
  'GITHUB_RETENTION_DAYS',
  'GITHUB_WORKSPACE',
  'RUNNER_TEMP',
];

let toolkitQueue: Promise<unknown> = Promise.resolve();

/**
 * Runs `work` with process.env holding the job's variables (the core passes its environment in;
 * the toolkit only reads process.env), restoring them after. Calls take turns, so two stores never
 * see each other's variables.
 */
export function withRunnerEnvironment<T>(
  env: Readonly<Record<string, string | undefined>>,
  overrides: Record<string, string>,
  work: () => Promise<T>,
): Promise<T> {
  const turn = async (): Promise<T> => {
    const saved = RUNNER_VARIABLES.map((name) => [name, process.env[name]] as const);
    const wanted: Record<string, string | undefined> = { ...env, ...overrides };
    const apply = (name: string, value: string | undefined) => {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    };
    for (const name of RUNNER_VARIABLES) apply(name, wanted[name]);
    try {
      return await work();
    } finally {
      for (const [name, value] of saved) apply(name, value);
    }
  };
  const result = toolkitQueue.then(turn, turn);
  toolkitQueue = result.catch(() => undefined);
  return result;
}

/** Writes a small file whole, in a folder of its own that holds nothing else. */
export async function writeFresh(file: string, text: string): Promise<void> {
  await fs.rm(path.dirname(file), { recursive: true, force: true });
  await makeDirectory(path.dirname(file));
  await fs.writeFile(file, text, { encoding: 'utf8', mode: 0o600 });
}
