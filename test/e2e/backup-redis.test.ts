// The backup action run as the GitHub runner runs it (dist/index.js, INPUT_* variables, GITHUB_OUTPUT
// and the step summary) against real Redis servers, from a user's side: a 200k-key round trip of all
// six types with TTLs, a damaged part, Redis killed mid-backup, the restore modes and their safety
// backup, the deploy state kept out of backups, and a restore into another, password-protected Redis.
import { createHash } from 'node:crypto';
import {
  createReadStream,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createGunzip } from 'node:zlib';
import type { ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Redis } from 'ioredis';
import { readPart } from '../../actions/core/src/backup/sources/record-file.js';
import { buildDataset } from '../../bench/redis-backup.js';
import { annotations, runLikeTheRunner, type RunnerResult } from '../../scripts/run-action.js';
import { startRedis, type RunningServer } from '../../scripts/servers/index.js';
import { whileRunning } from '../support/while-running.js';

type Server = RunningServer & { url: string };

// Spaces, a slash, an @ and a % in the password: it must survive URL encoding and stay masked.
const TARGET_PASSWORD = 'tgt p@ss/w0rd%';

let main: Server;
let secured: Server;
let scratch: string;
let workspace: string;
const clients: Redis[] = [];

beforeAll(async () => {
  [main, secured] = await Promise.all([startRedis(), startRedis({ password: TARGET_PASSWORD })]);
  scratch = mkdtempSync(join(tmpdir(), 'switchyard-backup-redis-e2e-'));
  // The job's working directory: the default store and any relative path would land here.
  workspace = join(scratch, 'workspace');
  mkdirSync(workspace);
});

afterAll(async () => {
  // Disconnecting a client that has ended already arms a timer that keeps jest alive.
  for (const each of clients) if (each.status !== 'end') each.disconnect();
  await Promise.all([main?.stop(), secured?.stop()]);
  if (scratch) rmSync(scratch, { recursive: true, force: true });
});

function client(url: string): Redis {
  const created = new Redis(url);
  clients.push(created);
  return created;
}

/** A store folder of its own for each test, so that `list` and "nothing was added" mean something. */
function storeDir(name: string): string {
  return join(scratch, 'stores', name);
}

interface ActionRun extends RunnerResult {
  errors: string[];
}

/** One step `uses: …/actions/backup` with these inputs and a `local:` store. */
async function backupStep(
  store: string,
  inputs: Record<string, string>,
  options: { onLine?: (line: string) => void; onSpawn?: (child: ChildProcess) => void } = {},
): Promise<ActionRun> {
  const result = await runLikeTheRunner(
    'backup',
    { store: `local:${store}`, ...inputs },
    {},
    { cwd: workspace, ...options },
  );
  return { ...result, errors: annotations(result.stdout) };
}

function expectNoStackTrace(run: ActionRun): void {
  expect(`${run.stdout}\n${run.stderr}`).not.toMatch(/^\s+at .+:\d+:\d+\)?$/m);
  expect(run.stdout).not.toContain('Unexpected error');
}

/** Every file under `dir`, as paths relative to it, sorted. */
function filesUnder(dir: string): string[] {
  let entries: string[];
  try {
    entries = readdirSync(dir, { recursive: true, encoding: 'utf8' });
  } catch {
    return [];
  }
  return entries.filter((entry) => statSync(join(dir, entry)).isFile()).sort();
}

const sha256 = (text: string | Buffer) => createHash('sha256').update(text).digest('hex');

const KINDS = ['string', 'hash', 'list', 'set', 'zset', 'stream'] as const;

/** buildDataset's key names: "<prefix><type>:<n>", the type chosen by n % 6; every 4th has a TTL. */
const datasetKey = (n: number, prefix = 'data:') => `${prefix}${KINDS[n % 6]}:${n}`;

/** The manifest's record counts for `keys` keys made by buildDataset. */
function builtCounts(keys: number): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const kind of [...KINDS].sort()) counts[`keys:${kind}`] = 0;
  for (let n = 0; n < keys; n++) counts[`keys:${KINDS[n % 6]}`]! += 1;
  return counts;
}

async function digest(redis: Redis): Promise<string> {
  return (await redis.call('DEBUG', 'DIGEST')) as string;
}

/** Each key's DEBUG DIGEST-VALUE: equal means equal values, whichever server or database. */
async function valueDigests(redis: Redis): Promise<Record<string, string>> {
  const keys = (await redis.keys('*')).sort();
  if (keys.length === 0) return {};
  const digests = (await redis.call('DEBUG', 'DIGEST-VALUE', ...keys)) as string[];
  return Object.fromEntries(keys.map((key, i) => [key, digests[i] as string]));
}

async function pttls(redis: Redis, keys: string[]): Promise<Map<string, number>> {
  const pipeline = redis.pipeline();
  for (const key of keys) pipeline.pttl(key);
  const replies = (await pipeline.exec()) ?? [];
  return new Map(keys.map((key, i) => [key, replies[i]?.[1] as number]));
}

/** The TTLs a stored (gzip) part holds for some keys: what the backup read, to the millisecond. */
async function storedTtls(partFile: string, keys: string[]): Promise<Map<string, number>> {
  const wanted = new Set(keys);
  const found = new Map<string, number>();
  for await (const item of readPart(createReadStream(partFile).pipe(createGunzip()))) {
    if (item.kind !== 'keys') continue;
    for (const record of item.keys) {
      const key = record.key.toString();
      if (wanted.has(key)) found.set(key, record.ttlMs);
    }
  }
  return found;
}

function readManifest(store: string, id: string): { text: string; json: Manifest } {
  const text = readFileSync(join(store, id, 'manifest.json'), 'utf8');
  return { text, json: JSON.parse(text) as Manifest };
}

interface Manifest {
  id: string;
  safetyFor?: string;
  sizeBytes: number;
  parts: {
    name: string;
    source: string;
    exclude: string[];
    bytes: number;
    sha256: string;
    records: Record<string, number>;
    facts: Record<string, string | number>;
  }[];
}

interface Report {
  id?: string;
  safetyBackup?: string;
  restoredInto?: string;
  counts?: { part: string; group: string; expected: number; found: number }[];
  backups?: { id: string }[];
}

const reportOf = (run: ActionRun) => JSON.parse(run.report ?? '{}') as Report;

const partOf = (server: Server, db: number) => `redis-127.0.0.1-${server.port}-db${db}.redis.gz`;
const sourceOf = (server: Server, db: number) => `redis://127.0.0.1:${server.port}/${db}`;

describe('backup action with Redis, run as the GitHub runner runs it', () => {
  it('200k keys of all six types with TTLs: backup → FLUSHALL → restore gives the same DEBUG DIGEST and TTLs', async () => {
    const KEYS = 200_000;
    const store = storeDir('acceptance');
    const db0 = client(`${main.url}/0`);
    await buildDataset(db0, { keys: KEYS });
    const before = await digest(db0);
    // Multiples of 4 have a TTL (100–200 s), the others none.
    const volatile = Array.from({ length: 200 }, (_, i) => datasetKey(i * 996));
    const lasting = Array.from({ length: 50 }, (_, i) => datasetKey(i * 996 + 1));
    const part = partOf(main, 0);

    const readAt = performance.now();
    const ttlBefore = await pttls(db0, volatile);
    // The part's line is logged once its last key has been read.
    let partWrittenAt = 0;
    const backup = await backupStep(
      store,
      { sources: sourceOf(main, 0) },
      {
        onLine: (line) => {
          if (line.startsWith(`${part}: `)) partWrittenAt = performance.now();
        },
      },
    );
    expect(backup.errors).toEqual([]);
    expect(backup.exitCode).toBe(0);
    expect(partWrittenAt).toBeGreaterThan(0);

    const id = backup.outputs['backup-id'] ?? '';
    expect(id).toMatch(/^\d{8}-\d{6}$/);
    expect(filesUnder(join(store, id))).toEqual([part, 'manifest.json'].sort());
    const { text, json: manifest } = readManifest(store, id);
    expect(backup.outputs.sha256).toBe(sha256(text));
    expect(JSON.parse(backup.outputs.manifest ?? '')).toEqual(manifest);
    const partBytes = statSync(join(store, id, part)).size;
    expect(backup.outputs['size-bytes']).toBe(String(partBytes));
    expect(manifest.parts).toHaveLength(1);
    const [stored] = manifest.parts;
    expect(stored?.name).toBe(part);
    expect(stored?.source).toBe(sourceOf(main, 0));
    expect(stored?.bytes).toBe(partBytes);
    expect(stored?.sha256).toBe(sha256(readFileSync(join(store, id, part))));
    expect(stored?.records).toEqual(builtCounts(KEYS));
    expect(stored?.facts).toMatchObject({ keys: KEYS, vanished: 0, db: 0 });
    const recordsCell = Object.entries(builtCounts(KEYS))
      .map(([group, n]) => `${group}: ${n.toLocaleString('en-US')}`)
      .join('<br>');
    const row = backup.summary.split('\n').find((line) => line.startsWith(`| ${part} |`));
    expect(row).toContain(`| ${sourceOf(main, 0)} | ${recordsCell} |`);
    expect(row).toContain(`| ${stored?.sha256.slice(0, 12)}… |`);

    await db0.flushall();
    expect(await db0.dbsize()).toBe(0);

    // Keys are restored only after the target was checked and no safety backup was needed.
    let restoringAt = 0;
    const restore = await backupStep(
      store,
      { command: 'restore', id },
      {
        onLine: (line) => {
          if (line.startsWith('No safety backup needed')) restoringAt = performance.now();
        },
      },
    );
    const ttlAfter = await pttls(db0, volatile);
    const checkedAt = performance.now();
    expect(restore.errors).toEqual([]);
    expect(restore.exitCode).toBe(0);
    expect(restoringAt).toBeGreaterThan(0);
    expect(restore.outputs['backup-id']).toBe(id);
    expect(restore.outputs.sha256).toBe(sha256(text));

    expect(await digest(db0)).toBe(before);
    expect([...(await pttls(db0, lasting)).values()]).toEqual(lasting.map(() => -1));

    // A TTL is the time left when the backup read the key, counted again from the restore: the
    // backup may take away only the time between our reading and its part's line, the restore only
    // the time between its line and our reading (±1 ms of rounding). The backup's window is safe as
    // measured (a line arrives after it was written); the first keys are restored right after the
    // restore's line, so it gets 100 ms for that line to reach us. The part itself says what TTL
    // the backup read, so each of the two steps is measured on its own.
    const backupWindow = partWrittenAt - readAt;
    const restoreWindow = checkedAt - restoringAt + 100;
    const kept = await storedTtls(join(store, id, part), volatile);
    expect(kept.size).toBe(volatile.length);
    for (const key of volatile) {
      const [was, backedUp, now] = [
        ttlBefore.get(key) ?? NaN,
        kept.get(key) ?? NaN,
        ttlAfter.get(key) ?? NaN,
      ];
      expect(was).toBeGreaterThan(90_000);
      expect(was - backedUp).toBeGreaterThanOrEqual(-1);
      expect(was - backedUp).toBeLessThanOrEqual(backupWindow + 1);
      expect(backedUp - now).toBeGreaterThanOrEqual(-1);
      expect(backedUp - now).toBeLessThanOrEqual(restoreWindow + 1);
    }
  });

  it('one byte flipped in the stored part: verify and restore fail naming the part; the target is untouched', async () => {
    const store = storeDir('damaged');
    const db2 = client(`${main.url}/2`);
    await buildDataset(db2, { keys: 5_000, prefix: 'd2:' });
    const backup = await backupStep(store, { sources: sourceOf(main, 2), id: 'to-be-damaged' });
    expect(backup.exitCode).toBe(0);
    const part = partOf(main, 2);
    const file = join(store, 'to-be-damaged', part);
    const bytes = readFileSync(file);
    const middle = Math.floor(bytes.length / 2);
    bytes.writeUInt8(bytes.readUInt8(middle) ^ 0x01, middle);
    writeFileSync(file, bytes);

    // Data that a replace would overwrite (and bring back what was deleted).
    await db2.set('d2:string:0', 'changed after the backup');
    await db2.del('d2:hash:1');
    await db2.set('d2:added', 'after the backup');
    const server = await digest(db2);
    const storeBefore = filesUnder(store);

    const verify = await backupStep(store, { command: 'verify', id: 'to-be-damaged' });
    expect(verify.exitCode).toBe(1);
    expect(verify.errors).toHaveLength(1);
    expect(verify.errors[0]).toMatch(
      new RegExp(`^Part ${part.replace(/\./g, '\\.')} of backup to-be-damaged is damaged`),
    );
    expectNoStackTrace(verify);
    // Not marked verified.
    expect(filesUnder(store)).toEqual(storeBefore);

    const restore = await backupStep(store, { command: 'restore', id: 'to-be-damaged', mode: 'replace' });
    expect(restore.exitCode).toBe(1);
    expect(restore.errors).toHaveLength(1);
    expect(restore.errors[0]).toContain(`Part ${part} of backup to-be-damaged is damaged`);
    expect(restore.errors[0]).toContain('Nothing was restored');
    expectNoStackTrace(restore);
    expect(await digest(db2)).toBe(server);
    // No safety backup either: the checksums are checked before anything else.
    expect(filesUnder(store)).toEqual(storeBefore);
  });

  it('Redis killed mid-backup: exit 1 with one clear error, no manifest anywhere, and list does not show it', async () => {
    const doomed = await startRedis();
    try {
      const admin = client(doomed.url);
      await admin.call('DEBUG', 'POPULATE', '500000', 'key', '100');
      const pid = Number(/process_id:(\d+)/.exec(await admin.info('server'))?.[1]);
      expect(pid).toBeGreaterThan(0);
      admin.disconnect();
      const store = storeDir('killed');
      const part = partOf(doomed, 0);

      // A complete backup first, so that `list` has one to show beside the one that never completes.
      const complete = await backupStep(store, {
        sources: sourceOf(doomed, 0),
        include: 'key:1',
        id: 'complete',
      });
      expect(complete.exitCode).toBe(0);

      const running = backupStep(store, { sources: sourceOf(doomed, 0), id: 'interrupted' });
      const folder = join(store, 'interrupted');
      const temporary = await whileRunning('a temporary part file with data in it', running, () =>
        // The part's own temporary file: the owner record is written through one too, briefly.
        filesUnder(folder).find(
          (name) =>
            name.startsWith(`.${part}.`) && name.endsWith('.tmp') && statSync(join(folder, name)).size > 0,
        ),
      );
      process.kill(pid, 'SIGKILL');
      const killedAt = performance.now();
      const failed = await running;
      const exitedAfterMs = performance.now() - killedAt;

      expect(temporary).toMatch(new RegExp(`^\\.${part.replace(/\./g, '\\.')}\\.[0-9a-f]+\\.tmp$`));
      expect(failed.exitCode).toBe(1);
      expect(exitedAfterMs).toBeLessThan(10_000);
      expect(failed.errors).toHaveLength(1);
      expect(failed.errors[0]).toMatch(
        new RegExp(
          `^Backup of ${sourceOf(doomed, 0)} failed after [\\d,]+ keys: the connection to ${sourceOf(doomed, 0)} ` +
            `was lost \\(.+\\)\\. .*Backup interrupted was not completed: no manifest was written and its parts were removed\\.$`,
        ),
      );
      expectNoStackTrace(failed);
      expect(failed.outputs['backup-id'] ?? '').toBe('');
      // The interrupted backup left nothing behind: not its manifest, not its part, not its folder.
      expect(filesUnder(store)).toEqual(['complete/manifest.json', `complete/${part}`]);

      const list = await backupStep(store, { command: 'list' });
      expect(list.exitCode).toBe(0);
      expect(list.errors).toEqual([]);
      expect(list.outputs['backup-id']).toBe('complete');
      expect(reportOf(list).backups?.map((backup) => backup.id)).toEqual(['complete']);
      expect(list.stdout).toContain(`1 backup in local:${store}`);
      expect(list.summary).toMatch(/^\| complete \|/m);
      expect(`${list.stdout}${list.summary}`).not.toContain('interrupted');
    } finally {
      await doomed.stop();
    }
  });

  it('restore over existing keys in fail-if-exists mode: one error naming the input mode and the fix; nothing changes', async () => {
    const store = storeDir('fail-if-exists');
    const db3 = client(`${main.url}/3`);
    await buildDataset(db3, { keys: 3_000, prefix: 'd3:' });
    const backup = await backupStep(store, { sources: sourceOf(main, 3), id: 'before-change' });
    expect(backup.exitCode).toBe(0);
    await db3.set('d3:string:0', 'changed after the backup');
    await db3.del('d3:list:2');
    const server = await digest(db3);
    const storeBefore = filesUnder(store);

    const restore = await backupStep(store, { command: 'restore', id: 'before-change' });
    expect(restore.exitCode).toBe(1);
    expect(restore.errors).toHaveLength(1);
    // The annotation's title names the input too (the runner shows it above the message).
    expect(restore.stdout).toMatch(/^::error title=Invalid input%3A mode::/m);
    const [error] = restore.errors;
    expect(error).toMatch(
      /^Input "mode": Cannot restore part .* in fail-if-exists mode: 2,999 of its keys already exist there/,
    );
    expect(error).toContain('Nothing was changed.');
    expect(error).toContain(
      'choose mode "replace" to overwrite them or "merge" to keep them and restore the rest',
    );
    expectNoStackTrace(restore);
    expect(await digest(db3)).toBe(server);
    expect(filesUnder(store)).toEqual(storeBefore);
  });

  it('mode replace over changed data takes a safety backup first, and that backup restores the changed data', async () => {
    const store = storeDir('replace');
    const db4 = client(`${main.url}/4`);
    await buildDataset(db4, { keys: 3_000, prefix: 'd4:' });
    const original = await valueDigests(db4);
    const backup = await backupStep(store, { sources: sourceOf(main, 4), id: 'before-deploy' });
    expect(backup.exitCode).toBe(0);

    // What a bad deploy did: values changed, a TTL dropped, a key added (a replace deletes nothing).
    await db4.set('d4:string:0', 'written by the bad deploy');
    await db4.hset('d4:hash:1', 'field1', 'written by the bad deploy');
    await db4.persist('d4:zset:4');
    await db4.set('d4:added', 'by the bad deploy');
    const changed = await digest(db4);

    const restore = await backupStep(store, { command: 'restore', id: 'before-deploy', mode: 'replace' });
    expect(restore.errors).toEqual([]);
    expect(restore.exitCode).toBe(0);
    const safety = reportOf(restore).safetyBackup ?? '';
    expect(safety).toMatch(/^safety-\d{8}-\d{6}-before-before-deploy$/);
    expect(restore.stdout).toContain(`Taking a safety backup of the target first: ${safety}`);
    expect(restore.summary).toContain(`What it overwrote is in the safety backup \`${safety}\``);
    expect(readManifest(store, safety).json).toMatchObject({ id: safety, safetyFor: 'before-deploy' });

    const restored = await valueDigests(db4);
    expect(restored).toEqual({ ...original, 'd4:added': restored['d4:added'] });
    expect(await db4.pttl('d4:zset:4')).toBeGreaterThan(0);

    // A safety backup is never "latest".
    const verify = await backupStep(store, { command: 'verify' });
    expect(verify.exitCode).toBe(0);
    expect(verify.outputs['backup-id']).toBe('before-deploy');

    const undo = await backupStep(store, { command: 'restore', id: safety, mode: 'replace' });
    expect(undo.errors).toEqual([]);
    expect(undo.exitCode).toBe(0);
    expect(await digest(db4)).toBe(changed);
    expect(await db4.get('d4:string:0')).toBe('written by the bad deploy');
  });

  it('leaves the deploy state (switchyard:*) out of the backup, and a replace restore leaves it as it is', async () => {
    const store = storeDir('deploy-state');
    const db7 = client(`${main.url}/7`);
    await buildDataset(db7, { keys: 2_000, prefix: 'd7:' });
    // What `deploy` with state: redis://… keeps there.
    await db7.set('switchyard:default:state', JSON.stringify({ active: 'blue', version: 'v1' }));
    await db7.set('switchyard:default:lock', JSON.stringify({ owner: 'run-1' }), 'PX', 600_000);
    await db7.set('switchyard:default:lock:holder', JSON.stringify({ owner: 'run-1' }));

    const backup = await backupStep(store, { sources: sourceOf(main, 7), id: 'with-deploy-state' });
    expect(backup.exitCode).toBe(0);
    const [part] = readManifest(store, 'with-deploy-state').json.parts;
    expect(part?.records).toEqual(builtCounts(2_000));
    expect(part?.facts).toMatchObject({ keys: 2_000 });
    expect(part?.exclude).toEqual(['switchyard:*']);

    // A later deploy: a new state, its own lock; and the data changed.
    await db7.set('switchyard:default:state', JSON.stringify({ active: 'green', version: 'v2' }));
    await db7.set('switchyard:default:lock', JSON.stringify({ owner: 'run-2' }), 'PX', 600_000);
    await db7.set('switchyard:default:lock:holder', JSON.stringify({ owner: 'run-2' }));
    const value = await db7.get('d7:string:6');
    await db7.set('d7:string:6', 'changed');
    const stateKeys = [
      'switchyard:default:state',
      'switchyard:default:lock',
      'switchyard:default:lock:holder',
    ];
    const state = await db7.mget(...stateKeys);
    const lockReadAt = performance.now();
    const lockTtl = await db7.pttl('switchyard:default:lock');

    const restore = await backupStep(store, { command: 'restore', id: 'with-deploy-state', mode: 'replace' });
    const lockTtlNow = await db7.pttl('switchyard:default:lock');
    const elapsed = performance.now() - lockReadAt;
    expect(restore.errors).toEqual([]);
    expect(restore.exitCode).toBe(0);
    expect(await db7.get('d7:string:6')).toBe(value);
    expect(await db7.mget(...stateKeys)).toEqual(state);
    // The lock's expiry was not touched either: it lost just the time that passed.
    expect(lockTtl - lockTtlNow).toBeGreaterThanOrEqual(-1);
    expect(lockTtl - lockTtlNow).toBeLessThanOrEqual(elapsed + 1);
    expect(await db7.pttl('switchyard:default:state')).toBe(-1);
  });

  it('restores into another, password-protected Redis given as target, with every count matching', async () => {
    const KEYS = 20_000;
    const store = storeDir('target');
    const db5 = client(`${main.url}/5`);
    await buildDataset(db5, { keys: KEYS, prefix: 't:' });
    const backup = await backupStep(store, { sources: sourceOf(main, 5) });
    expect(backup.exitCode).toBe(0);
    const id = backup.outputs['backup-id'] ?? '';
    const server = await digest(db5);

    const target = `${secured.url}/5`;
    expect(target).toContain(encodeURIComponent(TARGET_PASSWORD));
    const restore = await backupStep(store, { command: 'restore', id, target });
    expect(restore.errors).toEqual([]);
    expect(restore.exitCode).toBe(0);

    const report = reportOf(restore);
    expect(report.restoredInto).toBe(`redis://:***@127.0.0.1:${secured.port}/5`);
    const records = readManifest(store, id).json.parts[0]?.records ?? {};
    expect(records).toEqual(builtCounts(KEYS));
    expect(report.counts?.map(({ group, expected, found }) => [group, expected, found])).toEqual(
      Object.entries(records).map(([group, n]) => [group, n, n]),
    );
    const restored = client(target);
    expect(await valueDigests(restored)).toEqual(await valueDigests(db5));
    const volatile = [datasetKey(0, 't:'), datasetKey(4, 't:'), datasetKey(KEYS - 4, 't:')];
    for (const ttl of (await pttls(restored, volatile)).values()) expect(ttl).toBeGreaterThan(90_000);
    // The source was only read.
    expect(await digest(db5)).toBe(server);

    const said = [
      restore.stdout,
      restore.stderr,
      restore.summary,
      restore.report ?? '',
      JSON.stringify(restore.outputs),
    ];
    for (const text of said) {
      expect(text).not.toContain(TARGET_PASSWORD);
      expect(text).not.toContain(encodeURIComponent(TARGET_PASSWORD));
    }
  });
});
