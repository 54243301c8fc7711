import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { ArtifactNotFoundError, DefaultArtifactClient } from '@actions/artifact';
import { messageOf, UserError } from '../../errors.js';
import { explainGitHubFailure } from '../../github/client.js';
import type { BackupStore } from '../store.js';
import {
  BACKUP_PREFIX,
  Staging,
  checkId,
  restApi,
  tokenNeeded,
  withRunnerEnvironment,
  writeFresh,
  type RunnerStoreOptions,
} from './runner.js';
import { idProblem } from './local.js';

/**
 * `artifact` — each backup is ONE workflow artifact named `switchyard-backup-<id>`, holding the
 * parts and manifest.json as files, kept for `retentionDays` (the repository's setting when
 * omitted; GitHub caps it at that setting too).
 *
 * Parts are staged in a folder under `tempDir` (RUNNER_TEMP); writeManifest uploads the whole
 * folder as one artifact. An artifact exists only once its upload is finalized, so a backup
 * interrupted before or during writeManifest leaves nothing behind. A mark (`verified`) is an
 * artifact of its own, `switchyard-backup-<id>+verified+<time>`; the newest one wins.
 *
 * Uploading goes through @actions/artifact and the job's ACTIONS_RUNTIME_TOKEN, which sees only
 * the current workflow run. Everything across runs — list, prune, `id: latest`, reading a backup
 * another run made — goes through the REST API, hence `github-token` (`actions: read`, and
 * `actions: write` to prune). Artifacts expire: a backup outlives its retention only if copied
 * elsewhere.
 */
export function createArtifactStore(
  options: RunnerStoreOptions & { retentionDays?: number },
): BackupStore & { notes: string } {
  const days = options.retentionDays;
  if (days !== undefined && !(Number.isInteger(days) && days >= 1 && days <= 400))
    throw new UserError(
      `artifact retention is ${days} days; use a whole number of days from 1 to 90 (up to 400 in private repositories, as the repository's settings allow)`,
      'Backup store',
    );
  return new ArtifactStore(options, days);
}

/** An artifact as the REST API lists it, reduced to what the store uses. */
interface ListedArtifact {
  id: number;
  name: string;
  expired: boolean;
  created_at: string | null;
  workflow_run?: { id?: number } | null;
}

class ArtifactStore implements BackupStore {
  readonly location: string;
  readonly notes: string;
  private readonly staging: Staging;
  private readonly marks: string;
  private readonly client = new DefaultArtifactClient();

  constructor(
    private readonly options: RunnerStoreOptions,
    private readonly retentionDays: number | undefined,
  ) {
    this.location =
      retentionDays === undefined
        ? "artifact (the repository's retention)"
        : `artifact (retention ${retentionDays} day${retentionDays === 1 ? '' : 's'})`;
    this.notes =
      `Backups are workflow artifacts, deleted by GitHub when their retention ends ` +
      `(${retentionDays === undefined ? "the repository's artifact retention setting" : `${retentionDays} days`}); ` +
      'they count against the account’s Actions storage.';
    this.staging = new Staging(path.join(options.tempDir, 'switchyard-artifact'), this.location, (id) =>
      this.download(`${BACKUP_PREFIX}${id}`, this.staging.folder(id), `read backup ${id}`),
    );
    this.marks = path.join(options.tempDir, 'switchyard-artifact-marks');
  }

  /**
   * False when an artifact holds `id` (with a token: from any run; without: from this run). Not
   * atomic across runs: artifact names are unique only within a run, so two runs may both upload
   * one, and readers take the newest.
   */
  async reserve(id: string): Promise<boolean> {
    checkId(id);
    if (this.staging.holds(id)) return false;
    const name = `${BACKUP_PREFIX}${id}`;
    const doing = `check whether backup ${id} exists`;
    const taken = this.options.token
      ? (await this.listArtifacts(doing, name)).some((each) => each.name === name && !each.expired)
      : await this.run(() => this.client.getArtifact(name)).then(
          () => true,
          (error: unknown) => {
            if (error instanceof ArtifactNotFoundError) return false;
            throw new UserError(`could not ${doing}: ${messageOf(error)}`, 'Backup store');
          },
        );
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
      await this.upload(`${BACKUP_PREFIX}${id}`, await this.staging.files(id), folder, `backup ${id}`);
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
    await this.upload(
      `${BACKUP_PREFIX}${id}+${mark}+${Date.now()}`,
      [file],
      path.dirname(file),
      `the ${mark} mark of backup ${id}`,
    );
  }

  /** Entries are immutable here: a newer, empty mark stands for none (readMark reads only the newest). */
  async removeMark(id: string, mark: 'verified'): Promise<void> {
    await this.writeMark(id, mark, '');
  }

  async readMark(id: string, mark: 'verified'): Promise<string | undefined> {
    const file = this.markFile(id, mark);
    const prefix = `${BACKUP_PREFIX}${id}+${mark}+`;
    let newest: string | undefined;
    if (this.options.token) {
      newest = newestFirst(
        (await this.listArtifacts(`read the ${mark} mark of backup ${id}`)).filter(
          (each) => each.name.startsWith(prefix) && !each.expired,
        ),
      )[0]?.name;
    } else {
      // Without a token only this run's artifacts can be seen.
      const { artifacts } = await this.run(() => this.client.listArtifacts());
      newest = artifacts.filter((each) => each.name.startsWith(prefix)).sort((a, b) => b.id - a.id)[0]?.name;
    }
    if (!newest) return undefined;
    await fs.rm(path.dirname(file), { recursive: true, force: true });
    if (!(await this.download(newest, path.dirname(file), `read the ${mark} mark of backup ${id}`)))
      return undefined;
    const text = await fs.readFile(file, 'utf8').catch(() => undefined);
    return text || undefined;
  }

  async list(): Promise<string[]> {
    const ids = (await this.listArtifacts('list backups'))
      .filter((each) => each.name.startsWith(BACKUP_PREFIX) && !each.expired)
      .map((each) => each.name.slice(BACKUP_PREFIX.length))
      .filter((id) => !id.includes('+') && !idProblem(id));
    return [...new Set(ids)];
  }

  async remove(id: string): Promise<void> {
    checkId(id);
    const name = `${BACKUP_PREFIX}${id}`;
    const { octokit, repository } = restApi(this.options, this.location, `remove backup ${id}`);
    const artifacts = (await this.listArtifacts(`remove backup ${id}`)).filter(
      (each) => each.name === name || each.name.startsWith(`${name}+`),
    );
    for (const artifact of artifacts) {
      try {
        await octokit.rest.actions.deleteArtifact({ ...repository, artifact_id: artifact.id });
      } catch (error) {
        // Gone already (expired, or another prune got there first): that is what we wanted.
        if ((error as { status?: number }).status === 404) continue;
        throw explainGitHubFailure(error, {
          action: `delete the artifact ${artifact.name}`,
          permission: 'actions: write',
          repository,
        });
      }
    }
    await this.staging.forget(id);
    await fs.rm(path.join(this.marks, id), { recursive: true, force: true });
  }

  private async upload(name: string, files: string[], root: string, what: string): Promise<void> {
    try {
      await this.run(() =>
        this.client.uploadArtifact(name, files, root, {
          ...(this.retentionDays === undefined ? {} : { retentionDays: this.retentionDays }),
        }),
      );
    } catch (error) {
      if (error instanceof UserError) throw error;
      throw new UserError(
        `could not upload ${what} as the artifact "${name}": ${messageOf(error)}`,
        'Backup store',
      );
    }
  }

  /**
   * Downloads the newest artifact called `name` into `folder`; false when there is none. With a
   * token it may come from any run of the repository, without one only from this run.
   */
  private async download(name: string, folder: string, doing: string): Promise<boolean> {
    const { token } = this.options;
    try {
      if (token) {
        const { repository } = restApi(this.options, this.location, doing);
        const found = newestFirst(
          (await this.listArtifacts(doing, name)).filter(
            (each) => each.name === name && !each.expired && each.workflow_run?.id !== undefined,
          ),
        )[0];
        if (!found) return false;
        await this.run(
          () =>
            this.client.downloadArtifact(found.id, {
              path: folder,
              findBy: {
                token,
                workflowRunId: found.workflow_run!.id!,
                repositoryOwner: repository.owner,
                repositoryName: repository.repo,
              },
            }),
          false,
        );
        return true;
      }
      const found = await this.run(() => this.client.getArtifact(name)).catch((error: unknown) => {
        if (error instanceof ArtifactNotFoundError) return undefined;
        throw error;
      });
      // Another run may have it: only the REST API could tell.
      if (!found) throw tokenNeeded(this.location, `${doing}, which this workflow run did not upload`);
      await this.run(() => this.client.downloadArtifact(found.artifact.id, { path: folder }));
      return true;
    } catch (error) {
      if (error instanceof UserError) throw error;
      throw new UserError(
        `could not ${doing} from the artifact "${name}": ${messageOf(error)}`,
        'Backup store',
      );
    }
  }

  /** The repository's artifacts (all of them, or those called `name`), through the REST API. */
  private async listArtifacts(doing: string, name?: string): Promise<ListedArtifact[]> {
    const { octokit, repository } = restApi(this.options, this.location, doing);
    try {
      return await octokit.paginate(octokit.rest.actions.listArtifactsForRepo, {
        ...repository,
        ...(name === undefined ? {} : { name }),
        per_page: 100,
      });
    } catch (error) {
      throw explainGitHubFailure(error, {
        action: 'list the workflow artifacts',
        permission: 'actions: read',
        repository,
      });
    }
  }

  /** Runs a toolkit call with the job's environment; only a download by REST needs no runtime token. */
  private run<T>(work: () => Promise<T>, needsRuntime = true): Promise<T> {
    const { env, tempDir } = this.options;
    if (needsRuntime && !(env.ACTIONS_RUNTIME_TOKEN && env.ACTIONS_RESULTS_URL))
      throw new UserError(
        'store artifact works only inside a GitHub Actions job: ACTIONS_RUNTIME_TOKEN and ACTIONS_RESULTS_URL ' +
          'are not set. The runner gives them to JavaScript actions such as switchyard/backup, not to `run:` ' +
          'steps; elsewhere use a `local:` store.',
        'Backup store',
      );
    return withRunnerEnvironment(env, { RUNNER_TEMP: tempDir }, work);
  }

  private markFile(id: string, mark: string): string {
    checkId(id);
    return path.join(this.marks, id, `${mark}.json`);
  }
}

function newestFirst(artifacts: ListedArtifact[]): ListedArtifact[] {
  return [...artifacts].sort((a, b) => b.id - a.id);
}
