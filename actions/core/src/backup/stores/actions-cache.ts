import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { Readable } from 'node:stream';
import * as cache from '@actions/cache';
import { InputError, UserError } from '../../errors.js';
import {
  explainGitHubFailure,
  githubClient,
  repoFromEnv,
  type Octokit,
  type Repository,
} from '../../github/client.js';
import type { BackupStore } from '../store.js';
import { createLocalStore, idProblem } from './local.js';

/**
 * `actions-cache` — each backup is ONE GitHub Actions cache entry, keyed `switchyard-backup-<id>`.
 *
 * Cache entries cannot be changed once saved, so parts are staged in a folder under `tempDir`
 * (RUNNER_TEMP) and writeManifest saves the whole folder, manifest included, as one entry: until
 * that save is finalized no entry exists, which is the store's "manifest last" guarantee. Reading
 * a backup restores its entry into the same folder, once per store. A mark (`verified`) is an entry
 * of its own, `switchyard-backup-<id>+verified+<time>`; the newest one wins.
 *
 * This is a convenience, not durable storage:
 * - GitHub evicts a cache entry that has not been restored for 7 days, and evicts the oldest
 *   entries once the repository's caches pass its size limit (10 GB by default) — other caches of
 *   the repository (npm, build outputs…) compete for the same space.
 * - A run can restore only entries saved on its own branch or the default branch; list() shows
 *   every branch's.
 * - The cache version the toolkit checks is made from the staged folder's absolute path and the
 *   compression (zstd or gzip), so a backup restores on runners with the same RUNNER_TEMP path and
 *   tools — all GitHub-hosted runners of one operating system.
 *
 * Saving and restoring go through @actions/cache and the job's ACTIONS_RUNTIME_TOKEN (the runner
 * gives it to JavaScript actions, not to `run:` steps). Listing and removing need the REST API,
 * hence `github-token` (`actions: read` to list, `actions: write` to prune).
 */
export function createActionsCacheStore(options: RunnerStoreOptions): BackupStore & { notes: string } {
  return new ActionsCacheStore(options);
}

/** Shown with the backup's report: what a user should know before relying on this store. */
export const ACTIONS_CACHE_NOTES =
  'Backups in the Actions cache are a best-effort convenience, not durable storage: GitHub evicts an entry ' +
  'not restored for 7 days, and the oldest entries once the repository passes its cache size limit (10 GB ' +
  'by default, shared with every other cache of the repository). A run restores only entries of its own ' +
  'branch or the default branch. Keep backups you cannot lose in a `local:` store on durable disk.';

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

class ActionsCacheStore implements BackupStore {
  readonly location = 'actions-cache';
  readonly notes = ACTIONS_CACHE_NOTES;
  private readonly staging: Staging;
  private readonly marks: string;

  constructor(private readonly options: RunnerStoreOptions) {
    this.staging = new Staging(path.join(options.tempDir, 'switchyard-actions-cache'), this.location, (id) =>
      this.restore(id),
    );
    this.marks = path.join(options.tempDir, 'switchyard-actions-cache-marks');
  }

  /**
   * False when an entry holds `id` (with a token: on any branch; without: one this run could
   * restore). Not atomic across runs — but the service is: of two runs saving the same key, the
   * second one's writeManifest fails.
   */
  async reserve(id: string): Promise<boolean> {
    checkId(id);
    if (this.staging.holds(id)) return false;
    const key = `${BACKUP_PREFIX}${id}`;
    const taken = this.options.token
      ? (await this.listEntries(key, `check whether backup ${id} exists`)).some((entry) => entry.key === key)
      : (await this.run(this.staging.root, () =>
          cache.restoreCache([this.staging.folder(id)], key, [], { lookupOnly: true }),
        )) === key;
    return !taken && this.staging.claim(id);
  }

  writePart(id: string, name: string, data: Readable): Promise<void> {
    return this.staging.writePart(id, name, data);
  }

  readPart(id: string, name: string): Promise<Readable> {
    return this.staging.readPart(id, name);
  }

  async writeManifest(id: string, manifest: string): Promise<void> {
    await this.staging.writeManifest(id, manifest, async (folder) => {
      await this.save([folder], `${BACKUP_PREFIX}${id}`, this.staging.root, `backup ${id}`);
    });
  }

  readManifest(id: string): Promise<string | undefined> {
    return this.staging.readManifest(id);
  }

  async writeMark(id: string, mark: 'verified', text: string): Promise<void> {
    if ((await this.readManifest(id)) === undefined)
      throw new UserError(`backup ${id} is not in ${this.location}`, 'Backup store');
    const file = this.markFile(id, mark);
    await writeFresh(file, text);
    await this.save(
      [file],
      `${BACKUP_PREFIX}${id}+${mark}+${Date.now()}`,
      this.marks,
      `the ${mark} mark of backup ${id}`,
    );
  }

  async readMark(id: string, mark: 'verified'): Promise<string | undefined> {
    const file = this.markFile(id, mark);
    await fs.rm(file, { force: true });
    const prefix = `${BACKUP_PREFIX}${id}+${mark}+`;
    // No key is exactly the prefix: the service answers with the newest entry starting with it.
    const matched = await this.run(this.marks, () => cache.restoreCache([file], prefix, [prefix]));
    if (!matched?.startsWith(prefix)) return undefined;
    return fs.readFile(file, 'utf8').catch(() => undefined);
  }

  async list(): Promise<string[]> {
    const entries = await this.listEntries(BACKUP_PREFIX, 'list backups');
    const ids = entries
      .map((entry) => entry.key?.slice(BACKUP_PREFIX.length) ?? '')
      .filter((id) => !id.includes('+') && !idProblem(id));
    return [...new Set(ids)];
  }

  async remove(id: string): Promise<void> {
    checkId(id);
    const key = `${BACKUP_PREFIX}${id}`;
    const { octokit, repository } = this.api(`remove backup ${id}`);
    const entries = (await this.listEntries(key, `remove backup ${id}`, { octokit, repository })).filter(
      (entry) => entry.key === key || entry.key?.startsWith(`${key}+`),
    );
    for (const entry of entries) {
      if (entry.id === undefined) continue;
      try {
        await octokit.rest.actions.deleteActionsCacheById({ ...repository, cache_id: entry.id });
      } catch (error) {
        // Gone already (evicted, or another prune got there first): that is what we wanted.
        if ((error as { status?: number }).status === 404) continue;
        throw explainGitHubFailure(error, {
          action: `delete the Actions cache entry ${entry.key ?? entry.id}`,
          permission: 'actions: write',
          repository,
        });
      }
    }
    await this.staging.forget(id);
    await fs.rm(path.join(this.marks, id), { recursive: true, force: true });
  }

  /** Restores backup `id` into the staging folder; false when no entry has it. */
  private async restore(id: string): Promise<boolean> {
    const key = `${BACKUP_PREFIX}${id}`;
    const matched = await this.run(this.staging.root, () =>
      cache.restoreCache([this.staging.folder(id)], key),
    );
    if (matched === key) return true;
    // The toolkit reports a failed download as a miss (with a warning). With a token we can tell
    // a backup that is not there from one this run cannot get.
    if (!this.options.token) return false;
    const saved = (await this.listEntries(key, `read backup ${id}`)).filter((entry) => entry.key === key);
    if (saved.length === 0) return false;
    const refs = [...new Set(saved.map((entry) => entry.ref))].join(', ');
    throw new UserError(
      `backup ${id} is in the Actions cache (saved on ${refs}) but this run could not restore it. A run ` +
        'restores only entries of its own branch and the default branch, saved on a runner with the same ' +
        'RUNNER_TEMP path and compression tool (zstd or gzip); otherwise the download failed (see the log above).',
      'Backup store',
    );
  }

  private async save(paths: string[], key: string, workspace: string, what: string): Promise<void> {
    const saved = await this.run(workspace, () => cache.saveCache(paths, key));
    // The toolkit logs why a save failed and answers -1; it throws only on bad input.
    if (saved === -1)
      throw new UserError(
        `could not save ${what} in the Actions cache as "${key}" (the toolkit's log above says why): an entry with ` +
          'this key may exist already (entries cannot be replaced), the job may not be allowed to write ' +
          'to the cache, or the cache service failed.',
        'Backup store',
      );
  }

  /** Runs a toolkit call with the job's environment; the toolkit's tar works relative to `workspace`. */
  private run<T>(workspace: string, work: () => Promise<T>): Promise<T> {
    const { env, tempDir } = this.options;
    if (!env.ACTIONS_RUNTIME_TOKEN || !(env.ACTIONS_RESULTS_URL || env.ACTIONS_CACHE_URL))
      throw new UserError(
        'store actions-cache works only inside a GitHub Actions job: ACTIONS_RUNTIME_TOKEN and ' +
          'ACTIONS_RESULTS_URL are not set. The runner gives them to JavaScript actions such as ' +
          'switchyard/backup, not to `run:` steps; elsewhere use a `local:` store.',
        'Backup store',
      );
    return withRunnerEnvironment(env, { RUNNER_TEMP: tempDir, GITHUB_WORKSPACE: workspace }, async () => {
      await fs.mkdir(workspace, { recursive: true });
      return work();
    });
  }

  private async listEntries(prefix: string, doing: string, api = this.api(doing)) {
    const { octokit, repository } = api;
    try {
      return await octokit.paginate(octokit.rest.actions.getActionsCacheList, {
        ...repository,
        key: prefix,
        per_page: 100,
      });
    } catch (error) {
      throw explainGitHubFailure(error, {
        action: 'list the Actions cache entries',
        permission: 'actions: read',
        repository,
      });
    }
  }

  private api(doing: string): { octokit: Octokit; repository: Repository } {
    return restApi(this.options, this.location, doing);
  }

  private markFile(id: string, mark: string): string {
    checkId(id);
    return path.join(this.marks, id, `${mark}.json`);
  }
}

// ---------------------------------------------------------------------------------------------
// What the runner-backed stores (actions-cache, artifact) share

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
  await fs.mkdir(path.dirname(file), { recursive: true });
  await fs.writeFile(file, text, { encoding: 'utf8', mode: 0o600 });
}
