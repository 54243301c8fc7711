// The actions-cache and artifact backup stores, through the real @actions/cache and
// @actions/artifact toolkits, against local fakes of what a job talks to: the results service
// (twirp) and blob storage (test/support/actions-services.ts), and the REST API
// (test/support/github-api.ts). Each "run" is a new store with a new runtime token and an emptied
// RUNNER_TEMP, as on a fresh runner, so what it reads came over the wire.
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import type { BackupStore } from '../../actions/core/src/backup/store.js';
import type { RunnerStoreOptions } from '../../actions/core/src/backup/stores/runner.js';
import { InputError, UserError } from '../../actions/core/src/errors.js';
import { startActionsServices, type ActionsServices } from '../support/actions-services.js';
import { startGitHubApi, type GitHubApi } from '../support/github-api.js';

const TOKEN = 'ghs_s3cretT0kenNeverPrinted';
const REPOSITORY = 'octo-org/shop';
/** Bigger than the artifact toolkit's 8 MiB upload blocks, so its upload goes in several. */
const BIG = randomBytes(20 * 1024 * 1024 + 12_345);
const SMALL = Buffer.from('-- schema\nCREATE TABLE orders (id bigint primary key);\n');
const MANIFEST = JSON.stringify({ id: 'placeholder', parts: ['db.dump', 'schema.sql'] });

type Factory = (options: RunnerStoreOptions) => BackupStore;

let github: GitHubApi;
let services: ActionsServices;
let tmp: string;
let runnerTemp: string;
let runId = 1000;
const factories: Record<string, Factory> = {};
const savedApiUrl = process.env.GITHUB_API_URL;

beforeAll(async () => {
  github = await startGitHubApi();
  services = await startActionsServices({ github, repository: REPOSITORY });
  tmp = await mkdtemp(path.join(os.tmpdir(), 'switchyard-runner-stores-'));
  runnerTemp = path.join(tmp, 'runner-temp');
  // @actions/github reads GITHUB_API_URL once, when first imported; the artifact toolkit's
  // cross-run download uses that client. On a runner the variable is set before anything loads.
  process.env.GITHUB_API_URL = github.url;
  const cache = await import('../../actions/core/src/backup/stores/actions-cache.js');
  const artifact = await import('../../actions/core/src/backup/stores/artifact.js');
  factories['actions-cache'] = (options) => cache.createActionsCacheStore(options);
  factories.artifact = (options) => artifact.createArtifactStore({ ...options, retentionDays: 30 });
});

afterAll(async () => {
  await services?.stop();
  await github?.stop();
  if (tmp) await rm(tmp, { recursive: true, force: true });
  if (savedApiUrl === undefined) delete process.env.GITHUB_API_URL;
  else process.env.GITHUB_API_URL = savedApiUrl;
});

afterEach(() => {
  // Whatever a test did, the toolkits must have spoken both services' protocols correctly.
  expect(services.violations).toEqual([]);
  expect(github.violations).toEqual([]);
});

const sha = (data: Buffer) => createHash('sha256').update(data).digest('hex');

async function bytesOf(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** A new job of a new workflow run, on a fresh runner: an empty RUNNER_TEMP at the same path. */
async function newRun(
  kind: string,
  options: { token?: string | undefined; ref?: string; env?: Record<string, string | undefined> } = {},
) {
  await rm(runnerTemp, { recursive: true, force: true });
  await mkdir(runnerTemp, { recursive: true });
  const env = {
    ...services.jobEnv({ runId: ++runId, ...(options.ref ? { ref: options.ref } : {}) }),
    ...options.env,
  };
  const token = 'token' in options ? options.token : TOKEN;
  return factories[kind]!({ ...(token === undefined ? {} : { token }), env, tempDir: runnerTemp });
}

async function writeBackup(store: BackupStore, id: string): Promise<void> {
  await store.writePart(id, 'db.dump', Readable.from([BIG.subarray(0, 5_000_000), BIG.subarray(5_000_000)]));
  await store.writePart(id, 'schema.sql', Readable.from([SMALL]));
  await store.writeManifest(id, MANIFEST.replace('placeholder', id));
}

const since = <T>(list: T[], start: number) => list.slice(start);

describe.each(['actions-cache', 'artifact'])('the %s store', (kind) => {
  it('reads a backup written in an earlier run back byte for byte', async () => {
    const id = `${kind}-20250101T000000Z`;
    const first = await newRun(kind);
    expect(first.location).toBe(kind === 'artifact' ? 'artifact (retention 30 days)' : 'actions-cache');
    const uploadsFrom = services.blobRequests.length;
    await writeBackup(first, id);
    const uploads = since(services.blobRequests, uploadsFrom);
    if (kind === 'artifact') {
      // The zip went up in 8 MiB blocks, then one block list.
      expect(uploads.filter((each) => each.operation === 'put-block').length).toBeGreaterThanOrEqual(3);
      expect(uploads.filter((each) => each.operation === 'put-block-list')).toHaveLength(1);
    } else {
      // The toolkit sends archives up to 128 MiB in one PUT.
      expect(uploads.map((each) => each.operation)).toEqual(['put-blob']);
    }

    const second = await newRun(kind);
    const downloadsFrom = services.blobRequests.length;
    expect(await second.readManifest(id)).toBe(MANIFEST.replace('placeholder', id));
    expect(sha(await bytesOf(await second.readPart(id, 'db.dump')))).toBe(sha(BIG));
    expect((await bytesOf(await second.readPart(id, 'schema.sql'))).toString()).toBe(SMALL.toString());
    // The second run read it from the service, once, not from a leftover folder.
    const downloads = since(services.blobRequests, downloadsFrom).filter((each) => each.method === 'GET');
    expect(downloads).toHaveLength(1);
    expect(downloads[0]!.bytes).toBeGreaterThan(BIG.length * 0.9);
    expect(await second.list()).toContain(id);
  });

  it('has no backup whose manifest was never written', async () => {
    const id = `${kind}-interrupted`;
    const first = await newRun(kind);
    await first.writePart(id, 'db.dump', Readable.from([SMALL]));
    expect(await first.readManifest(id)).toBeUndefined();

    const second = await newRun(kind);
    expect(await second.readManifest(id)).toBeUndefined();
    await expect(second.readPart(id, 'db.dump')).rejects.toThrow(`backup ${id} is not in ${second.location}`);
    expect(await second.list()).not.toContain(id);
  });

  it('reserves an id only when no backup holds it', async () => {
    const id = `${kind}-reserved`;
    const first = await newRun(kind);
    expect(await first.reserve(id)).toBe(true);
    expect(await first.reserve(id)).toBe(false); // this run holds it now
    await writeBackup(first, id);

    const second = await newRun(kind);
    expect(await second.reserve(id)).toBe(false);
    if (kind === 'actions-cache') {
      // Without a token the cache service itself says whether the key is taken.
      const blind = await newRun(kind, { token: undefined });
      expect(await blind.reserve(id)).toBe(false);
    }
    // An interrupted backup leaves nothing behind: its id is free again.
    await second.writePart(`${kind}-abandoned`, 'db.dump', Readable.from([SMALL]));
    const third = await newRun(kind);
    expect(await third.reserve(`${kind}-abandoned`)).toBe(true);
  });

  it('lists the backups of earlier runs and removes one with its marks', async () => {
    const kept = `${kind}-kept`;
    const removed = `${kind}-removed`;
    const first = await newRun(kind);
    await writeBackup(first, kept);
    await writeBackup(first, removed);
    await first.writeMark(removed, 'verified', '{"verified":"first"}');

    const second = await newRun(kind);
    expect(await second.list()).toEqual(expect.arrayContaining([kept, removed]));
    // Marks are no backups of their own.
    expect((await second.list()).filter((each) => each.includes('verified'))).toEqual([]);
    await second.remove(removed);
    await second.remove(removed); // already gone: nothing to do

    const third = await newRun(kind);
    const listed = await third.list();
    expect(listed).toContain(kept);
    expect(listed).not.toContain(removed);
    expect(await third.readManifest(removed)).toBeUndefined();
    expect(await third.readMark(removed, 'verified')).toBeUndefined();
    expect(await third.readManifest(kept)).toBe(MANIFEST.replace('placeholder', kept));
  });

  it('keeps the newest mark of a backup, for later runs', async () => {
    const id = `${kind}-marked`;
    const first = await newRun(kind);
    await writeBackup(first, id);
    expect(await first.readMark(id, 'verified')).toBeUndefined();
    await first.writeMark(id, 'verified', '{"verified":"once"}');

    const second = await newRun(kind);
    expect(await second.readMark(id, 'verified')).toBe('{"verified":"once"}');
    await second.writeMark(id, 'verified', '{"verified":"twice"}');

    const third = await newRun(kind);
    expect(await third.readMark(id, 'verified')).toBe('{"verified":"twice"}');
    await expect(third.writeMark(`${kind}-never-written`, 'verified', '{}')).rejects.toThrow(
      `backup ${kind}-never-written is not in ${third.location}`,
    );
  });

  it('says github-token is needed to list and remove without one', async () => {
    const store = await newRun(kind, { token: undefined });
    const list = store.list();
    await expect(list).rejects.toBeInstanceOf(UserError);
    await expect(list).rejects.toThrow(
      /needs `github-token` to list backups: listing, pruning and `id: latest`/,
    );
    await expect(store.remove('some-backup')).rejects.toThrow(
      /needs `github-token` to remove backup some-backup/,
    );
  });

  it('refuses an id that is not a plain name, as the id input', async () => {
    const store = await newRun(kind);
    const attempts = [
      store.writePart('../escape', 'db.dump', Readable.from([SMALL])),
      store.writeManifest('a/b', MANIFEST),
      store.readManifest('..'),
      store.readPart('with,comma', 'db.dump'),
      store.remove(''),
      store.reserve('a b'),
      store.writeMark('-dash', 'verified', '{}'),
    ];
    for (const attempt of attempts) {
      await expect(attempt).rejects.toBeInstanceOf(InputError);
      await expect(attempt).rejects.toMatchObject({ input: 'id' });
    }
  });

  it('explains that it works only inside a job when the runtime variables are missing', async () => {
    const store = await newRun(kind, { env: { ACTIONS_RUNTIME_TOKEN: undefined } });
    await store.writePart('outside-a-job', 'db.dump', Readable.from([SMALL]));
    await expect(store.writeManifest('outside-a-job', MANIFEST)).rejects.toThrow(
      /works only inside a GitHub Actions job: ACTIONS_RUNTIME_TOKEN and ACTIONS_RESULTS_URL are not set/,
    );
    // The backup does not exist, not even in this store's own staging.
    expect(await store.readManifest('outside-a-job')).toBeUndefined();
  });
});

describe('the actions-cache store', () => {
  it('sends an archive over 128 MiB in blocks, and gets it back whole', async () => {
    // Random bytes do not compress: the archive stays above the toolkit's 128 MiB single-PUT limit.
    const hash = createHash('sha256');
    async function* chunks() {
      for (let i = 0; i < 130; i++) {
        const chunk = randomBytes(1024 * 1024);
        hash.update(chunk);
        yield chunk;
      }
    }
    const first = await newRun('actions-cache');
    const from = services.blobRequests.length;
    await first.writePart('cache-large', 'db.dump', Readable.from(chunks()));
    await first.writeManifest('cache-large', MANIFEST);
    const operations = since(services.blobRequests, from).map((each) => each.operation);
    expect(operations.filter((each) => each === 'put-block').length).toBeGreaterThanOrEqual(3);
    expect(operations.filter((each) => each === 'put-block-list')).toHaveLength(1);
    expect(operations).not.toContain('put-blob');

    const second = await newRun('actions-cache');
    const back = createHash('sha256');
    for await (const chunk of await second.readPart('cache-large', 'db.dump')) back.update(chunk as Buffer);
    expect(back.digest('hex')).toBe(hash.digest('hex'));
  });

  it('refuses to save over a backup of the same id', async () => {
    const first = await newRun('actions-cache');
    await writeBackup(first, 'cache-twice');
    const second = await newRun('actions-cache');
    await second.writePart('cache-twice', 'db.dump', Readable.from([SMALL]));
    await expect(second.writeManifest('cache-twice', MANIFEST)).rejects.toThrow(
      /could not save backup cache-twice in the Actions cache as "switchyard-backup-cache-twice".*may exist already/,
    );
    const third = await newRun('actions-cache');
    expect(sha(await bytesOf(await third.readPart('cache-twice', 'db.dump')))).toBe(sha(BIG));
  });

  it("restores a feature branch's backup on that branch, and says why not on another", async () => {
    const feature = await newRun('actions-cache', { ref: 'refs/heads/feature' });
    await feature.writePart('cache-on-feature', 'schema.sql', Readable.from([SMALL]));
    await feature.writeManifest('cache-on-feature', MANIFEST);

    const other = await newRun('actions-cache', { ref: 'refs/heads/other' });
    expect(await other.list()).toContain('cache-on-feature');
    await expect(other.readManifest('cache-on-feature')).rejects.toThrow(
      /backup cache-on-feature is in the Actions cache \(saved on refs\/heads\/feature\) but this run could not restore it/,
    );
    // Without a token it cannot tell, and the backup is simply not there for this run.
    const blind = await newRun('actions-cache', { ref: 'refs/heads/other', token: undefined });
    expect(await blind.readManifest('cache-on-feature')).toBeUndefined();

    const again = await newRun('actions-cache', { ref: 'refs/heads/feature' });
    expect(await again.readManifest('cache-on-feature')).toBe(MANIFEST);
  });
});

describe('the artifact store', () => {
  it('keeps the artifact for the retention asked for', async () => {
    const store = await newRun('artifact');
    const before = Date.now();
    await writeBackup(store, 'artifact-retention');
    const stored = github.state.artifacts.find(
      (each) => each.artifact.name === 'switchyard-backup-artifact-retention',
    );
    const expires = Date.parse(stored!.artifact.expires_at!);
    expect(expires).toBeGreaterThanOrEqual(before + 30 * 86_400_000 - 1000);
    expect(expires).toBeLessThanOrEqual(Date.now() + 30 * 86_400_000 + 1000);
  });

  it("reads this run's backups without a token, and asks for one for other runs'", async () => {
    const writer = await newRun('artifact', { token: undefined });
    await writeBackup(writer, 'artifact-same-run');
    // A later step of the same job: same runtime token, staging left as it was.
    const env = services.jobEnv({ runId: ++runId });
    const later = factories.artifact!({ env, tempDir: path.join(tmp, 'later-step') });
    await writeBackup(later, 'artifact-this-run');
    const reader = factories.artifact!({ env, tempDir: path.join(tmp, 'reader-step') });
    const callsFrom = services.calls.length;
    expect(await reader.readManifest('artifact-this-run')).toBe(
      MANIFEST.replace('placeholder', 'artifact-this-run'),
    );
    expect(sha(await bytesOf(await reader.readPart('artifact-this-run', 'db.dump')))).toBe(sha(BIG));
    // Found by name among this run's artifacts, looked up again by id, then downloaded.
    expect(since(services.calls, callsFrom).map((each) => each.method)).toEqual([
      'ArtifactService/ListArtifacts',
      'ArtifactService/ListArtifacts',
      'ArtifactService/GetSignedArtifactURL',
    ]);

    expect(await reader.reserve('artifact-this-run')).toBe(false);
    expect(await reader.reserve('artifact-not-yet')).toBe(true);

    await expect(reader.readManifest('artifact-same-run')).rejects.toThrow(
      /needs `github-token` to read backup artifact-same-run, which this workflow run did not upload/,
    );
  });

  it('refuses a retention GitHub does not offer', async () => {
    const { createArtifactStore } = await import('../../actions/core/src/backup/stores/artifact.js');
    expect(() => createArtifactStore({ env: {}, tempDir: tmp, retentionDays: 0 })).toThrow(
      /artifact retention is 0 days; use a whole number of days from 1 to 90/,
    );
  });
});

describe('the fake Actions services', () => {
  it('record what the real services would refuse', async () => {
    const env = services.jobEnv({ runId: ++runId });
    const twirp = (method: string, body: unknown, headers: Record<string, string>) =>
      fetch(`${services.url}/twirp/github.actions.results.api.v1.${method}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...headers },
        body: JSON.stringify(body),
      });
    const auth = { authorization: `Bearer ${env.ACTIONS_RUNTIME_TOKEN}` };

    expect((await twirp('CacheService/CreateCacheEntry', { key: 'k', version: 'v' }, {})).status).toBe(401);
    expect((await twirp('CacheService/DeleteCacheEntry', { key: 'k' }, auth)).status).toBe(404);
    const misspelt = await twirp('CacheService/CreateCacheEntry', { key: 'k', versoin: 'v' }, auth);
    expect(misspelt.status).toBe(400);
    expect(await misspelt.json()).toMatchObject({ code: 'invalid_argument' });
    const otherRun = await twirp(
      'ArtifactService/ListArtifacts',
      { workflow_run_backend_id: 'not-mine', workflow_job_run_backend_id: 'not-mine' },
      auth,
    );
    expect(otherRun.status).toBe(403);
    const created = (await (
      await twirp('CacheService/CreateCacheEntry', { key: 'fake-check', version: 'v1' }, auth)
    ).json()) as { signed_upload_url: string };
    const upload = new URL(created.signed_upload_url);
    expect((await fetch(upload, { method: 'GET' })).status).toBe(403); // a write-only URL
    upload.searchParams.set('sig', 'forged');
    expect(
      (await fetch(upload, { method: 'PUT', body: 'x', headers: { 'x-ms-blob-type': 'BlockBlob' } })).status,
    ).toBe(403);

    const found = services.violations.splice(0);
    expect(found).toEqual([
      expect.stringMatching(/CreateCacheEntry: no Authorization "Bearer <ACTIONS_RUNTIME_TOKEN>"/),
      expect.stringMatching(/DeleteCacheEntry: no such twirp method/),
      expect.stringMatching(/field "versoin" is not in the request message/),
      expect.stringMatching(/field "version" is missing/),
      expect.stringMatching(/ListArtifacts: workflow_run_backend_id is not the runtime token's run/),
      expect.stringMatching(/GET blob cache\/.*: the signed URL does not allow GET/),
      expect.stringMatching(/PUT blob cache\/.*: the URL is not a signed URL the service issued/),
    ]);
  });
});
