/**
 * A local stand-in for the services a job's toolkit talks to: the results service's cache and
 * artifact APIs (twirp, JSON over HTTP POST at ACTIONS_RESULTS_URL, authorized by the job's
 * ACTIONS_RUNTIME_TOKEN) and the blob storage their signed URLs point to (Azure Blob Storage's
 * protocol: PUT a blob whole, or PUT blocks then the block list; GET with ranges; HEAD).
 *
 * It is as strict as the real services where a client could get it wrong: every call needs a
 * runtime token it issued, twirp bodies may hold only the fields of the method's protobuf message
 * (proto field names, with their JSON types), artifact calls must name the token's own run, a
 * signed URL works only for its blob and its permissions, a block list may name only staged blocks,
 * and a finalize must state the size (and digest) of what was uploaded. Each breach is recorded in
 * `violations` and answered as the service would (twirp error JSON, or Azure's XML error).
 *
 * What was stored is visible through the REST API: cache entries and artifacts live in the state
 * of the GitHub API fake (github-api.ts), which lists, deletes and downloads them.
 */
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { Artifact, GitHubApi } from './github-api.js';

const CACHE_SERVICE = 'github.actions.results.api.v1.CacheService';
const ARTIFACT_SERVICE = 'github.actions.results.api.v1.ArtifactService';
const ACCOUNT = 'fakeactionsresults';
const DEFAULT_BRANCH = 'refs/heads/main';

/** One job of a workflow run, as its runtime token says. */
export interface Job {
  /** GITHUB_RUN_ID: what the REST API calls the run. */
  runId: number;
  /** e.g. "refs/heads/main": the cache scope it writes to. */
  ref: string;
  runBackendId: string;
  jobBackendId: string;
}

export interface TwirpCall {
  /** e.g. "CacheService/CreateCacheEntry" */
  method: string;
  body: unknown;
  status: number;
}

export interface BlobRequest {
  method: string;
  /** "cache/…" or "artifacts/…" */
  blob: string;
  /** put-blob | put-block | put-block-list | get | head */
  operation: string;
  /** The Range asked for, if any. */
  range?: string;
  /** Bytes received (PUT) or sent (GET). */
  bytes: number;
  status: number;
}

export interface ActionsServices {
  /** ACTIONS_RESULTS_URL */
  url: string;
  calls: TwirpCall[];
  blobRequests: BlobRequest[];
  /** Every way a request broke the services' protocol. */
  violations: string[];
  /** The variables the runner gives a JavaScript action in a new job of workflow run `runId`. */
  jobEnv(run: { runId: number; ref?: string }): Record<string, string>;
  stop(): Promise<void>;
}

// ---------------------------------------------------------------------------------------------
// Twirp methods: the fields of each request message, as protobuf's JSON mapping writes them.

type FieldType = 'string' | 'int32' | 'int64' | 'timestamp' | 'strings' | 'object';
interface Method {
  fields: Record<string, FieldType>;
  required: string[];
}

const RUN_FIELDS = { workflow_run_backend_id: 'string', workflow_job_run_backend_id: 'string' } as const;
const RUN_REQUIRED = ['workflow_run_backend_id', 'workflow_job_run_backend_id'];

const METHODS: Record<string, Method> = {
  [`${CACHE_SERVICE}/CreateCacheEntry`]: {
    fields: { metadata: 'object', key: 'string', version: 'string' },
    required: ['key', 'version'],
  },
  [`${CACHE_SERVICE}/FinalizeCacheEntryUpload`]: {
    fields: { metadata: 'object', key: 'string', size_bytes: 'int64', version: 'string' },
    required: ['key', 'version', 'size_bytes'],
  },
  [`${CACHE_SERVICE}/GetCacheEntryDownloadURL`]: {
    fields: { metadata: 'object', key: 'string', restore_keys: 'strings', version: 'string' },
    required: ['key', 'version'],
  },
  [`${ARTIFACT_SERVICE}/CreateArtifact`]: {
    fields: { ...RUN_FIELDS, name: 'string', expires_at: 'timestamp', version: 'int32', mime_type: 'string' },
    required: [...RUN_REQUIRED, 'name', 'version'],
  },
  [`${ARTIFACT_SERVICE}/FinalizeArtifact`]: {
    fields: { ...RUN_FIELDS, name: 'string', size: 'int64', hash: 'string' },
    required: [...RUN_REQUIRED, 'name', 'size'],
  },
  [`${ARTIFACT_SERVICE}/ListArtifacts`]: {
    fields: { ...RUN_FIELDS, name_filter: 'string', id_filter: 'int64' },
    required: RUN_REQUIRED,
  },
  [`${ARTIFACT_SERVICE}/GetSignedArtifactURL`]: {
    fields: { ...RUN_FIELDS, name: 'string' },
    required: [...RUN_REQUIRED, 'name'],
  },
  [`${ARTIFACT_SERVICE}/DeleteArtifact`]: {
    fields: { ...RUN_FIELDS, name: 'string' },
    required: [...RUN_REQUIRED, 'name'],
  },
};

function typeProblem(type: FieldType, value: unknown): string | undefined {
  const ok = {
    string: () => typeof value === 'string',
    int32: () => Number.isInteger(value),
    // protobuf's JSON writes 64-bit integers as decimal strings
    int64: () => typeof value === 'string' && /^-?\d+$/.test(value),
    timestamp: () =>
      typeof value === 'string' &&
      /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/.test(value) &&
      !Number.isNaN(Date.parse(value)),
    strings: () => Array.isArray(value) && value.every((each) => typeof each === 'string'),
    object: () => typeof value === 'object' && value !== null && !Array.isArray(value),
  }[type]();
  return ok ? undefined : `must be ${type}, found ${JSON.stringify(value)?.slice(0, 80)}`;
}

// ---------------------------------------------------------------------------------------------
// Blob storage

/** A blob's content and staged blocks live in files: backups are tens of megabytes. */
interface Blob {
  /** The committed content, once there is some. */
  content?: Stored;
  contentType?: string;
  blocks: Map<string, Stored>;
  etag?: string;
  modified?: Date;
}

interface Stored {
  file: string;
  size: number;
}

interface Signature {
  blob: string;
  permissions: string;
  expires: number;
}

class TwirpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

function readBody(request: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => resolve(Buffer.concat(chunks)));
    request.on('error', reject);
  });
}

const base64url = (value: string | Buffer) => Buffer.from(value).toString('base64url');

async function sha256Of(file: string): Promise<string> {
  const hash = createHash('sha256');
  await pipeline(createReadStream(file), hash);
  return hash.digest('hex');
}
const iso = (time: number | Date) => new Date(time).toISOString();

export async function startActionsServices(options: {
  github: GitHubApi;
  /** "owner/name": the repository every job belongs to. */
  repository: string;
}): Promise<ActionsServices> {
  const { github, repository } = options;
  const calls: TwirpCall[] = [];
  const blobRequests: BlobRequest[] = [];
  const violations: string[] = [];
  const jobs = new Map<string, Job>();
  const blobs = new Map<string, Blob>();
  const signatures = new Map<string, Signature>();
  /** Cache uploads begun and not yet finalized, by key, version and scope. */
  const pendingCaches = new Map<string, { blob: string }>();
  /** Where each finalized cache entry's archive is, by entry id. */
  const cacheBlobs = new Map<number, string>();
  /** Artifact uploads begun and not yet finalized, by run and name. */
  const pendingArtifacts = new Map<string, { job: Job; blob: string; expiresAt?: string }>();
  /** Which job uploaded each finalized artifact, and where its zip is, by artifact id. */
  const artifactOrigins = new Map<number, { job: Job; blob: string }>();
  const folder = await mkdtemp(path.join(os.tmpdir(), 'switchyard-actions-services-'));
  let url = '';

  /** Streams a request's body into a file of its own. */
  async function receive(request: IncomingMessage): Promise<Stored & { md5: string }> {
    const file = path.join(folder, randomUUID());
    const md5 = createHash('md5');
    let size = 0;
    request.on('data', (chunk: Buffer) => {
      size += chunk.length;
      md5.update(chunk);
    });
    await pipeline(request, createWriteStream(file));
    return { file, size, md5: md5.digest('base64') };
  }

  async function concatenate(parts: Stored[]): Promise<Stored> {
    const file = path.join(folder, randomUUID());
    const out = createWriteStream(file);
    for (const part of parts) await pipeline(createReadStream(part.file), out, { end: false });
    await new Promise<void>((resolve, reject) =>
      out.end((error?: Error | null) => (error ? reject(error) : resolve())),
    );
    return { file, size: parts.reduce((sum, part) => sum + part.size, 0) };
  }

  const sign = (blob: string, permissions: string, ttlMs: number): string => {
    const sig = randomBytes(24).toString('base64');
    const expires = Date.now() + ttlMs;
    signatures.set(sig, { blob, permissions, expires });
    const query = new URLSearchParams({ sv: '2023-11-03', sr: 'b', sp: permissions, se: iso(expires), sig });
    return `${url}/${ACCOUNT}/${blob}?${query.toString()}`;
  };

  // --- twirp ----------------------------------------------------------------------------------

  const cacheKey = (key: string, version: string, scope: string) => JSON.stringify([key, version, scope]);
  const artifactKey = (job: Job, name: string) => JSON.stringify([job.runBackendId, name]);
  const cachesOfRepository = () => github.state.caches.filter((each) => each.repository === repository);
  const artifactsOfRun = (job: Job) =>
    github.state.artifacts.filter(
      (each) =>
        each.repository === repository &&
        artifactOrigins.get(each.artifact.id)?.job.runBackendId === job.runBackendId,
    );

  const handlers: Record<string, (job: Job, body: Record<string, unknown>) => unknown> = {
    [`${CACHE_SERVICE}/CreateCacheEntry`]: (job, body) => {
      const key = String(body.key);
      const version = String(body.version);
      const taken =
        pendingCaches.has(cacheKey(key, version, job.ref)) ||
        cachesOfRepository().some(
          (each) => each.entry.key === key && each.entry.version === version && each.entry.ref === job.ref,
        );
      if (taken)
        throw new TwirpError(
          409,
          'already_exists',
          'cache entry with the same key, version, and scope already exists',
        );
      const blob = `cache/${randomUUID()}`;
      blobs.set(blob, { blocks: new Map() });
      pendingCaches.set(cacheKey(key, version, job.ref), { blob });
      return { ok: true, signed_upload_url: sign(blob, 'cw', 3_600_000) };
    },

    [`${CACHE_SERVICE}/FinalizeCacheEntryUpload`]: (job, body) => {
      const key = String(body.key);
      const version = String(body.version);
      const pending = pendingCaches.get(cacheKey(key, version, job.ref));
      if (!pending) {
        violations.push(`FinalizeCacheEntryUpload: no upload of "${key}" (version ${version}) was created`);
        throw new TwirpError(404, 'not_found', 'cache entry not found');
      }
      const data = blobs.get(pending.blob)?.content;
      if (!data) {
        violations.push(`FinalizeCacheEntryUpload: "${key}" was finalized before its archive was uploaded`);
        throw new TwirpError(400, 'failed_precondition', 'cache archive not uploaded');
      }
      if (body.size_bytes !== String(data.size))
        violations.push(
          `FinalizeCacheEntryUpload: size_bytes is ${String(body.size_bytes)}, uploaded ${data.size}`,
        );
      pendingCaches.delete(cacheKey(key, version, job.ref));
      const id = github.state.nextId++;
      const now = iso(Date.now());
      github.state.caches.push({
        repository,
        entry: {
          id,
          ref: job.ref,
          key,
          version,
          created_at: now,
          last_accessed_at: now,
          size_in_bytes: data.size,
        },
      });
      cacheBlobs.set(id, pending.blob);
      return { ok: true, entry_id: String(id) };
    },

    [`${CACHE_SERVICE}/GetCacheEntryDownloadURL`]: (job, body) => {
      // A job reads its own branch's entries, then the default branch's; key first, then the
      // restore keys as prefixes, newest first; the version must always match.
      const scopes = [job.ref, DEFAULT_BRANCH];
      const version = String(body.version);
      const readable = cachesOfRepository()
        .filter((each) => each.entry.version === version && scopes.includes(each.entry.ref ?? ''))
        .sort(
          (a, b) =>
            scopes.indexOf(a.entry.ref ?? '') - scopes.indexOf(b.entry.ref ?? '') ||
            (b.entry.id ?? 0) - (a.entry.id ?? 0),
        );
      const restoreKeys = (body.restore_keys as string[] | undefined) ?? [];
      const found =
        readable.find((each) => each.entry.key === body.key) ??
        restoreKeys
          .map((prefix) => readable.find((each) => each.entry.key?.startsWith(prefix)))
          .find((each) => each !== undefined);
      if (!found) return { ok: false };
      found.entry.last_accessed_at = iso(Date.now());
      return {
        ok: true,
        signed_download_url: sign(cacheBlobs.get(found.entry.id!)!, 'r', 600_000),
        matched_key: found.entry.key,
      };
    },

    [`${ARTIFACT_SERVICE}/CreateArtifact`]: (job, body) => {
      ownJob(job, body, 'CreateArtifact');
      const name = String(body.name);
      if (/["':<>|*?\r\n\\/]/.test(name))
        violations.push(`CreateArtifact: artifact name ${JSON.stringify(name)} has a forbidden character`);
      if (typeof body.version !== 'number' || body.version < 4)
        violations.push(
          `CreateArtifact: version ${String(body.version)}; the results service needs 4 or more`,
        );
      if (typeof body.expires_at === 'string' && Date.parse(body.expires_at) <= Date.now())
        violations.push(`CreateArtifact: expires_at ${body.expires_at} is in the past`);
      if (
        pendingArtifacts.has(artifactKey(job, name)) ||
        artifactsOfRun(job).some((each) => each.artifact.name === name)
      )
        throw new TwirpError(
          409,
          'already_exists',
          `an artifact with this name already exists on the workflow run`,
        );
      const blob = `artifacts/${randomUUID()}.zip`;
      blobs.set(blob, { blocks: new Map() });
      pendingArtifacts.set(artifactKey(job, name), {
        job,
        blob,
        ...(typeof body.expires_at === 'string' ? { expiresAt: body.expires_at } : {}),
      });
      return { ok: true, signed_upload_url: sign(blob, 'cw', 3_600_000) };
    },

    [`${ARTIFACT_SERVICE}/FinalizeArtifact`]: async (job, body) => {
      ownJob(job, body, 'FinalizeArtifact');
      const name = String(body.name);
      const pending = pendingArtifacts.get(artifactKey(job, name));
      if (!pending) {
        violations.push(`FinalizeArtifact: no upload of artifact "${name}" was created in this run`);
        throw new TwirpError(404, 'not_found', 'artifact not found');
      }
      const stored = blobs.get(pending.blob);
      if (!stored?.content) {
        violations.push(`FinalizeArtifact: "${name}" was finalized before its zip was uploaded`);
        throw new TwirpError(400, 'failed_precondition', 'artifact not uploaded');
      }
      const digest = `sha256:${await sha256Of(stored.content.file)}`;
      if (body.size !== String(stored.content.size))
        violations.push(
          `FinalizeArtifact: size is ${String(body.size)}, uploaded ${stored.content.size} bytes`,
        );
      if (body.hash !== undefined && body.hash !== digest)
        violations.push(`FinalizeArtifact: hash is ${String(body.hash)}, the upload's is ${digest}`);
      if (stored.contentType !== 'application/zip')
        violations.push(
          `FinalizeArtifact: the zip was stored as ${String(stored.contentType)}, not application/zip`,
        );
      pendingArtifacts.delete(artifactKey(job, name));
      const id = github.state.nextId++;
      const now = iso(Date.now());
      const api = `${github.url}/repos/${repository}/actions/artifacts/${id}`;
      const artifact: Artifact = {
        id,
        node_id: base64url(`Artifact${id}`),
        name,
        size_in_bytes: stored.content.size,
        url: api,
        archive_download_url: `${api}/zip`,
        expired: false,
        created_at: now,
        updated_at: now,
        expires_at: pending.expiresAt ?? iso(Date.now() + 90 * 86_400_000),
        digest,
        workflow_run: {
          id: job.runId,
          repository_id: 1,
          head_repository_id: 1,
          head_branch: job.ref.replace(/^refs\/heads\//, ''),
          head_sha: createHash('sha1').update(job.ref).digest('hex'),
        },
      };
      github.state.artifacts.push({ repository, artifact, archiveUrl: sign(pending.blob, 'r', 86_400_000) });
      artifactOrigins.set(id, { job, blob: pending.blob });
      return { ok: true, artifact_id: String(id) };
    },

    [`${ARTIFACT_SERVICE}/ListArtifacts`]: (job, body) => {
      ownRun(job, body, 'ListArtifacts');
      const artifacts = artifactsOfRun(job)
        .map((each) => each.artifact)
        .filter(
          (each) =>
            (body.name_filter === undefined || each.name === body.name_filter) &&
            (body.id_filter === undefined || String(each.id) === body.id_filter),
        )
        .map((each) => ({
          workflow_run_backend_id: job.runBackendId,
          workflow_job_run_backend_id: artifactOrigins.get(each.id)!.job.jobBackendId,
          database_id: String(each.id),
          name: each.name,
          size: String(each.size_in_bytes),
          created_at: each.created_at,
          ...(each.digest ? { digest: each.digest } : {}),
        }));
      return { artifacts };
    },

    [`${ARTIFACT_SERVICE}/GetSignedArtifactURL`]: (job, body) => {
      ownRun(job, body, 'GetSignedArtifactURL');
      const found = artifactsOfRun(job).find((each) => each.artifact.name === body.name);
      if (!found) throw new TwirpError(404, 'not_found', 'artifact not found');
      return { signed_url: sign(artifactOrigins.get(found.artifact.id)!.blob, 'r', 600_000) };
    },

    [`${ARTIFACT_SERVICE}/DeleteArtifact`]: (job, body) => {
      ownRun(job, body, 'DeleteArtifact');
      const found = artifactsOfRun(job).find((each) => each.artifact.name === body.name);
      if (!found) throw new TwirpError(404, 'not_found', 'artifact not found');
      github.state.artifacts.splice(github.state.artifacts.indexOf(found), 1);
      return { ok: true, artifact_id: String(found.artifact.id) };
    },
  };

  /** The artifact service lets a job act only within its own run (and upload only as itself). */
  function ownRun(job: Job, body: Record<string, unknown>, method: string): void {
    if (body.workflow_run_backend_id !== job.runBackendId) {
      violations.push(`${method}: workflow_run_backend_id is not the runtime token's run`);
      throw new TwirpError(403, 'permission_denied', 'the token is not scoped to this workflow run');
    }
  }
  function ownJob(job: Job, body: Record<string, unknown>, method: string): void {
    ownRun(job, body, method);
    if (body.workflow_job_run_backend_id !== job.jobBackendId) {
      violations.push(`${method}: workflow_job_run_backend_id is not the runtime token's job`);
      throw new TwirpError(403, 'permission_denied', 'the token is not scoped to this job');
    }
  }

  async function twirp(request: IncomingMessage, response: ServerResponse, path: string): Promise<void> {
    const body = await readBody(request);
    const name = path.replace(/^\/twirp\//, '');
    const short = name.replace(/^github\.actions\.results\.api\.v1\./, '');
    const call: TwirpCall = { method: short, body: undefined, status: 0 };
    calls.push(call);
    const answer = (status: number, payload: unknown) => {
      call.status = status;
      response.writeHead(status, { 'content-type': 'application/json' });
      response.end(JSON.stringify(payload));
    };
    const fail = (error: TwirpError) => answer(error.status, { code: error.code, msg: error.message });
    try {
      const method = METHODS[name];
      if (request.method !== 'POST' || !method) {
        violations.push(`${request.method} ${path}: no such twirp method`);
        throw new TwirpError(404, 'bad_route', `no handler for path "${path}"`);
      }
      const token = /^Bearer (\S+)$/.exec(request.headers.authorization ?? '')?.[1];
      const job = token === undefined ? undefined : jobs.get(token);
      if (!job) {
        violations.push(`${short}: no Authorization "Bearer <ACTIONS_RUNTIME_TOKEN>" this service issued`);
        throw new TwirpError(401, 'unauthenticated', 'invalid or missing runtime token');
      }
      if (request.headers['content-type'] !== 'application/json') {
        violations.push(
          `${short}: Content-Type is ${String(request.headers['content-type'])}, not application/json`,
        );
        throw new TwirpError(400, 'malformed', 'unexpected Content-Type');
      }
      let parsed: unknown;
      try {
        parsed = JSON.parse(body.toString('utf8'));
      } catch {
        violations.push(`${short}: the body is not JSON`);
        throw new TwirpError(400, 'malformed', 'the body is not JSON');
      }
      call.body = parsed;
      if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
        violations.push(`${short}: the body is not a JSON object`);
        throw new TwirpError(400, 'malformed', 'the body is not a JSON object');
      }
      const fields = parsed as Record<string, unknown>;
      const problems = [
        ...Object.entries(fields).map(([field, value]) => {
          const type = method.fields[field];
          if (!type) return `field "${field}" is not in the request message`;
          const problem = typeProblem(type, value);
          return problem && `field "${field}" ${problem}`;
        }),
        ...method.required.map((field) =>
          fields[field] === undefined || fields[field] === '' ? `field "${field}" is missing` : undefined,
        ),
      ].filter((each): each is string => each !== undefined);
      if (problems.length > 0) {
        violations.push(...problems.map((problem) => `${short}: ${problem}`));
        throw new TwirpError(400, 'invalid_argument', problems.join('; '));
      }
      answer(200, await handlers[name]!(job, fields));
    } catch (error) {
      if (error instanceof TwirpError) fail(error);
      else {
        violations.push(`${short}: the fake crashed: ${String(error)}`);
        fail(new TwirpError(500, 'internal', String(error)));
      }
    }
  }

  // --- blob storage -----------------------------------------------------------------------------

  async function blobRequest(request: IncomingMessage, response: ServerResponse, target: URL): Promise<void> {
    const method = request.method ?? 'GET';
    const blobName = decodeURIComponent(target.pathname.slice(`/${ACCOUNT}/`.length));
    const comp = target.searchParams.get('comp');
    const operation =
      method === 'PUT'
        ? comp === 'block'
          ? 'put-block'
          : comp === 'blocklist'
            ? 'put-block-list'
            : comp === null
              ? 'put-blob'
              : `put-${comp}`
        : method.toLowerCase();
    const range = (request.headers['x-ms-range'] ?? request.headers.range) as string | undefined;
    const received = method === 'PUT' ? await receive(request) : (await readBody(request), undefined);
    const recorded: BlobRequest = {
      method,
      blob: blobName,
      operation,
      bytes: received?.size ?? 0,
      status: 0,
      ...(range ? { range } : {}),
    };
    blobRequests.push(recorded);
    const label = `${method} blob ${blobName} (${operation})`;
    const reply = (status: number, headers: Record<string, string | number> = {}, payload?: string) => {
      recorded.status = status;
      response.writeHead(status, {
        'x-ms-request-id': randomUUID(),
        'x-ms-version': '2023-11-03',
        ...headers,
      });
      response.end(method === 'HEAD' ? undefined : payload);
    };
    const refuse = async (status: number, code: string, message: string) => {
      violations.push(`${label}: ${message}`);
      if (received) await rm(received.file, { force: true });
      const xml = `<?xml version="1.0" encoding="utf-8"?><Error><Code>${code}</Code><Message>${message}</Message></Error>`;
      reply(status, { 'content-type': 'application/xml', 'x-ms-error-code': code }, xml);
    };

    const signature = signatures.get(target.searchParams.get('sig') ?? '');
    if (!signature || signature.blob !== blobName)
      return refuse(
        403,
        'AuthenticationFailed',
        'the URL is not a signed URL the service issued for this blob',
      );
    if (signature.expires < Date.now())
      return refuse(403, 'AuthenticationFailed', 'the signed URL has expired');
    const needs = method === 'PUT' ? 'w' : 'r';
    if (!signature.permissions.includes(needs))
      return refuse(403, 'AuthorizationPermissionMismatch', `the signed URL does not allow ${method}`);
    const blob = blobs.get(blobName);
    if (!blob) return refuse(404, 'BlobNotFound', 'no such blob');
    const declared = request.headers['content-length'];
    if (received && declared !== undefined && Number(declared) !== received.size)
      return refuse(400, 'InvalidHeaderValue', `Content-Length ${declared} but ${received.size} bytes came`);

    const commit = async (content: Stored, contentType: string | undefined) => {
      const replaced = [blob.content, ...blob.blocks.values()].filter((each) => each && each !== content);
      await Promise.all(replaced.map((each) => rm(each!.file, { force: true })));
      blob.content = content;
      blob.contentType = contentType;
      blob.blocks.clear();
      blob.etag = `"0x${randomBytes(8).toString('hex').toUpperCase()}"`;
      blob.modified = new Date();
      reply(201, {
        etag: blob.etag,
        'last-modified': blob.modified.toUTCString(),
        'x-ms-request-server-encrypted': 'true',
      });
    };
    const contentType = () =>
      (request.headers['x-ms-blob-content-type'] as string | undefined) ?? request.headers['content-type'];

    if (operation === 'put-blob') {
      if (request.headers['x-ms-blob-type'] !== 'BlockBlob')
        return refuse(400, 'MissingRequiredHeader', 'a blob PUT needs x-ms-blob-type: BlockBlob');
      return commit(received!, contentType());
    }
    if (operation === 'put-block') {
      const id = target.searchParams.get('blockid') ?? '';
      if (!/^[A-Za-z0-9+/]+={0,2}$/.test(id) || Buffer.from(id, 'base64').length > 64)
        return refuse(
          400,
          'InvalidQueryParameterValue',
          `blockid ${JSON.stringify(id)} is not base64 of up to 64 bytes`,
        );
      const other = blob.blocks.keys().next().value;
      if (other !== undefined && other.length !== id.length)
        return refuse(400, 'InvalidBlobOrBlock', 'the block ids of a blob must all have the same length');
      const earlier = blob.blocks.get(id);
      if (earlier) await rm(earlier.file, { force: true });
      blob.blocks.set(id, received!);
      return reply(201, { 'content-md5': received!.md5 });
    }
    if (operation === 'put-block-list') {
      const xml = await readFile(received!.file, 'utf8');
      await rm(received!.file, { force: true });
      const ids = [...xml.matchAll(/<(Latest|Uncommitted|Committed)>([^<]*)<\/\1>/g)].map(
        (match) => match[2]!,
      );
      if (!/^(<\?xml[^>]*>)?\s*<BlockList>/.test(xml) || ids.length === 0)
        return refuse(400, 'InvalidXmlDocument', 'the block list is not <BlockList> with block ids');
      const missing = ids.filter((id) => !blob.blocks.has(id));
      if (missing.length > 0)
        return refuse(400, 'InvalidBlockList', `blocks never staged: ${missing.join(', ')}`);
      return commit(await concatenate(ids.map((id) => blob.blocks.get(id)!)), contentType());
    }
    if (method === 'GET' || method === 'HEAD') {
      const content = blob.content;
      if (!content) return refuse(404, 'BlobNotFound', 'the blob was never committed');
      const headers: Record<string, string | number> = {
        'content-type': blob.contentType ?? 'application/octet-stream',
        etag: blob.etag!,
        'last-modified': blob.modified!.toUTCString(),
        'accept-ranges': 'bytes',
        'x-ms-blob-type': 'BlockBlob',
      };
      let [start, end] = [0, content.size - 1];
      let status = 200;
      if (range) {
        const match = /^bytes=(\d+)-(\d*)$/.exec(range);
        start = Number(match?.[1]);
        end = match?.[2] ? Math.min(Number(match[2]), content.size - 1) : content.size - 1;
        if (!match || start > end)
          return refuse(416, 'InvalidRange', `range ${range} of ${content.size} bytes`);
        headers['content-range'] = `bytes ${start}-${end}/${content.size}`;
        status = 206;
      }
      headers['content-length'] = end - start + 1;
      recorded.status = status;
      response.writeHead(status, {
        'x-ms-request-id': randomUUID(),
        'x-ms-version': '2023-11-03',
        ...headers,
      });
      if (method === 'HEAD' || content.size === 0) return void response.end();
      recorded.bytes = end - start + 1;
      await pipeline(createReadStream(content.file, { start, end }), response);
      return;
    }
    return refuse(400, 'UnsupportedHttpVerb', `the fake does not implement ${operation}`);
  }

  const server = createServer((request, response) => {
    const target = new URL(request.url ?? '/', url);
    const handled = target.pathname.startsWith('/twirp/')
      ? twirp(request, response, target.pathname)
      : target.pathname.startsWith(`/${ACCOUNT}/`)
        ? blobRequest(request, response, target)
        : (async () => {
            await readBody(request);
            violations.push(`${request.method} ${target.pathname}: neither a twirp method nor a blob`);
            response.writeHead(404).end();
          })();
    handled.catch((error: unknown) => {
      violations.push(`${request.method} ${target.pathname}: the fake crashed: ${String(error)}`);
      if (!response.headersSent) response.writeHead(500);
      response.end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  return {
    url,
    calls,
    blobRequests,
    violations,
    jobEnv({ runId, ref = DEFAULT_BRANCH }) {
      const job: Job = { runId, ref, runBackendId: randomUUID(), jobBackendId: randomUUID() };
      // Shaped like the runner's token (the toolkit reads the run and job from its `scp` claim);
      // nobody here checks the signature.
      const token = [
        base64url(JSON.stringify({ typ: 'JWT', alg: 'RS256', x5t: base64url(randomBytes(20)) })),
        base64url(
          JSON.stringify({
            scp: `Actions.ExampleScope Actions.Results:${job.runBackendId}:${job.jobBackendId}`,
            ac: JSON.stringify([
              { Scope: ref, Permission: 3 },
              ...(ref === DEFAULT_BRANCH ? [] : [{ Scope: DEFAULT_BRANCH, Permission: 1 }]),
            ]),
            iss: 'vstoken.actions.githubusercontent.com',
            exp: Math.floor(Date.now() / 1000) + 6 * 3600,
          }),
        ),
        base64url(randomBytes(64)),
      ].join('.');
      jobs.set(token, job);
      return {
        ACTIONS_RUNTIME_TOKEN: token,
        ACTIONS_RESULTS_URL: `${url}/`,
        ACTIONS_CACHE_URL: `${url}/`,
        ACTIONS_CACHE_SERVICE_V2: 'True',
        GITHUB_SERVER_URL: 'https://github.com',
        GITHUB_API_URL: github.url,
        GITHUB_REPOSITORY: repository,
        GITHUB_RUN_ID: String(runId),
        GITHUB_REF: ref,
        GITHUB_RETENTION_DAYS: '90',
      };
    },
    stop: async () => {
      await new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((closed) => (closed ? reject(closed) : resolve()));
      });
      await rm(folder, { recursive: true, force: true });
    },
  };
}
