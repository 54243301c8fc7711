import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { Readable } from 'node:stream';
import * as cache from '@actions/cache';
import { UserError } from '../../errors.js';
import { explainGitHubFailure, type Octokit, type Repository } from '../../github/client.js';
import type { BackupStore } from '../store.js';
import { idProblem } from './local.js';
import {
  BACKUP_PREFIX,
  Staging,
  checkId,
  restApi,
  withRunnerEnvironment,
  writeFresh,
  type RunnerStoreOptions,
} from './runner.js';
import { makeDirectory } from '../../atomic-write.js';

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

  /** Entries are immutable here: a newer, empty mark stands for none (readMark reads only the newest). */
  async removeMark(id: string, mark: 'verified'): Promise<void> {
    await this.writeMark(id, mark, '');
  }

  async readMark(id: string, mark: 'verified'): Promise<string | undefined> {
    const file = this.markFile(id, mark);
    await fs.rm(file, { force: true });
    const prefix = `${BACKUP_PREFIX}${id}+${mark}+`;
    // No key is exactly the prefix: the service answers with the newest entry starting with it.
    const matched = await this.run(this.marks, () => cache.restoreCache([file], prefix, [prefix]));
    if (!matched?.startsWith(prefix)) return undefined;
    const text = await fs.readFile(file, 'utf8').catch(() => undefined);
    return text || undefined;
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
      await makeDirectory(workspace);
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
