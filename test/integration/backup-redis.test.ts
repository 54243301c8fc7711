// The Redis backup source against real Redis servers: a 200k-key round trip of all six types
// (DEBUG DIGEST equal, TTLs kept), database indexes, include/exclude with Redis's glob rules,
// fail-if-exists / merge / replace, damaged parts, a server killed mid-backup, Redis Cluster
// refused, and the pipelined fallback for a user without Lua scripting.
import { Readable, Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Redis } from 'ioredis';
import { UserError } from '../../actions/core/src/errors.js';
import type {
  BackupSource,
  PartSummary,
  RestoreContext,
  RestoreMode,
  SourceContext,
} from '../../actions/core/src/backup/source.js';
import {
  createRedisSource,
  redisGlob,
  type RedisSourceOptions,
} from '../../actions/core/src/backup/sources/redis.js';
import { readPart } from '../../actions/core/src/backup/sources/record-file.js';
import { buildDataset } from '../../bench/redis-backup.js';
import { freePort, startRedis, type RunningServer } from '../../scripts/servers/index.js';

type Server = RunningServer & { url: string };

let main: Server;
let other: Server;
const clients: Redis[] = [];
const sources: BackupSource[] = [];

beforeAll(async () => {
  [main, other] = await Promise.all([startRedis(), startRedis()]);
});

afterAll(async () => {
  await Promise.all(sources.map((source) => source.close()));
  for (const client of clients) client.disconnect();
  await Promise.all([main?.stop(), other?.stop()]);
});

function client(url: string): Redis {
  const created = new Redis(url);
  clients.push(created);
  return created;
}

function redisSource(url: string, options?: RedisSourceOptions): BackupSource {
  const source = createRedisSource(new URL(url), options);
  sources.push(source);
  return source;
}

function context(overrides: Partial<SourceContext> = {}): SourceContext & { logs: string[] } {
  const logs: string[] = [];
  return { include: [], exclude: [], log: (line) => logs.push(line), logs, ...overrides };
}

function restoring(
  mode: RestoreMode,
  overrides: Partial<RestoreContext> = {},
): RestoreContext & { logs: string[] } {
  return { ...context(), mode, ...overrides };
}

/** Backs up into memory: the part's bytes and the summary. */
async function backup(
  source: BackupSource,
  ctx: SourceContext = context(),
): Promise<{ part: Buffer; summary: PartSummary }> {
  const chunks: Buffer[] = [];
  const out = new Writable({
    write(chunk: Buffer, _encoding, done) {
      chunks.push(chunk);
      done();
    },
  });
  const summary = await source.backup(out, ctx);
  return { part: Buffer.concat(chunks), summary };
}

/** Re-reads a part in 64 KiB chunks, as a store would stream it. */
function opener(part: Buffer): () => Readable {
  return () =>
    Readable.from(
      (function* () {
        for (let at = 0; at < part.length; at += 65_536) yield part.subarray(at, at + 65_536);
      })(),
    );
}

async function rejection(promise: Promise<unknown>): Promise<UserError> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(UserError);
    return error as UserError;
  }
  throw new Error('expected a UserError');
}

async function sortedKeys(redis: Redis): Promise<string[]> {
  return (await redis.keys('*')).sort();
}

/** Value digests of every key (DEBUG DIGEST-VALUE): equal means equal values, whatever the database. */
async function valueDigests(redis: Redis): Promise<Record<string, string>> {
  const keys = await sortedKeys(redis);
  if (keys.length === 0) return {};
  const digests = (await redis.call('DEBUG', 'DIGEST-VALUE', ...keys)) as string[];
  return Object.fromEntries(keys.map((key, i) => [key, digests[i] as string]));
}

const KINDS = ['string', 'hash', 'list', 'set', 'zset', 'stream'];
/** The names buildDataset gives: "<prefix><type>:<n>", the type chosen by n % 6; every 4th has a TTL. */
const datasetKey = (n: number, prefix = 'data:') => `${prefix}${KINDS[n % 6]}:${n}`;

describe('Redis backup source', () => {
  it('round-trips 200k keys of all six types: DEBUG DIGEST equal after FLUSHALL and restore, TTLs kept', async () => {
    const admin = client(main.url);
    await buildDataset(admin, { keys: 200_000 });
    const digest = await admin.call('DEBUG', 'DIGEST');
    const withTtl = Array.from({ length: 120 }, (_, i) => datasetKey(i * 1664)); // multiples of 4
    const withoutTtl = Array.from({ length: 30 }, (_, i) => datasetKey(i * 1664 + 1));
    const source = redisSource(main.url);

    const backupStarted = performance.now();
    const before = await pttls(admin, withTtl);
    const { part, summary } = await backup(source);
    const backupMs = performance.now() - backupStarted;

    // n % 6 is 0 or 1 for one key more than the others: 200,000 = 6 × 33,333 + 2.
    expect(summary.records).toEqual({
      'keys:hash': 33_334,
      'keys:list': 33_333,
      'keys:set': 33_333,
      'keys:stream': 33_333,
      'keys:string': 33_334,
      'keys:zset': 33_333,
    });
    expect(summary.facts).toMatchObject({
      keys: 200_000,
      vanished: 0,
      db: 0,
      format: 'switchyard-redis-part v1',
    });
    expect(summary.facts.redis_version).toMatch(/^\d+\.\d+\.\d+$/);

    await admin.flushall();
    const restoreStarted = performance.now();
    await source.checkTarget(opener(part), restoring('fail-if-exists'));
    const restored = await source.restore(opener(part), restoring('fail-if-exists'));
    const after = await pttls(admin, withTtl);
    const restoreMs = performance.now() - restoreStarted;

    expect(await admin.call('DEBUG', 'DIGEST')).toBe(digest);
    expect(restored.records).toEqual(summary.records);
    expect(restored.facts).toMatchObject({ restored: 200_000, already_present: 0, mode: 'fail-if-exists' });
    expect(await source.count(context())).toEqual(summary.records);

    // A TTL is the time left when the backup read the key, counted again from the restore: each
    // step can only take away the time that step took (±1 ms of rounding).
    const recorded = await recordedTtls(part, withTtl);
    for (const key of withTtl) {
      const [was, kept, now] = [before.get(key) ?? NaN, recorded.get(key) ?? NaN, after.get(key) ?? NaN];
      expect(was).toBeGreaterThan(50_000);
      expect(was - kept).toBeGreaterThanOrEqual(-1);
      expect(was - kept).toBeLessThanOrEqual(backupMs + 1);
      expect(kept - now).toBeGreaterThanOrEqual(-1);
      expect(kept - now).toBeLessThanOrEqual(restoreMs + 1);
    }
    expect([...(await pttls(admin, withoutTtl)).values()]).toEqual(withoutTtl.map(() => -1));
  });

  it('backs up the database of the URL path and restores into another server and database', async () => {
    const db3 = client(`${main.url}/3`);
    await db3.flushdb();
    await buildDataset(db3, { keys: 3_000, prefix: 'db3:' });
    const source = redisSource(`${main.url}/3`, { progressEveryMs: 0 });
    expect(source.partName).toBe(`redis-127.0.0.1-${main.port}-db3`);

    const ctx = context();
    const { part, summary } = await backup(source, ctx);
    expect(summary.facts).toMatchObject({ keys: 3_000, db: 3 });
    expect(ctx.logs.at(-1)).toMatch(
      new RegExp(
        `^Redis backup of redis://127\\.0\\.0\\.1:${main.port}/3: 3,000 keys, [\\d.]+ MB \\([\\d,]+ keys/s, [\\d.]+ MB/s\\)$`,
      ),
    );

    const target = `${other.url}/5`;
    const db5 = client(target);
    await db5.flushdb();
    await source.checkTarget(opener(part), restoring('fail-if-exists', { target }));
    const restored = await source.restore(opener(part), restoring('fail-if-exists', { target }));
    expect(restored.facts).toMatchObject({ restored: 3_000, db: 5, target });
    expect(await valueDigests(db5)).toEqual(await valueDigests(db3));
    // A restore context names the target: count() then reads the target (to confirm a restore).
    expect(await source.count(restoring('replace', { target }))).toEqual(summary.records);
    expect(await client(other.url).dbsize()).toBe(0);
  });

  it('takes only the keys of the include patterns, less the exclude patterns, and counts each pattern', async () => {
    const db7 = client(`${main.url}/7`);
    await db7.flushdb();
    const pipeline = db7.pipeline();
    for (let i = 1; i <= 100; i++) pipeline.set(`user:${i}`, `u${i}`);
    for (let i = 1; i <= 50; i++) pipeline.hset(`session:${i}`, 'user', i);
    for (let i = 1; i <= 20; i++) pipeline.hset(`session:tmp:${i}`, 'user', i);
    for (let i = 1; i <= 30; i++) pipeline.set(`cache:${i}`, 'c', 'EX', 600);
    await pipeline.exec();
    const source = redisSource(`${main.url}/7`);
    const selection = { include: ['user:*', 'session:*'], exclude: ['session:tmp:*'] };

    const { part, summary } = await backup(source, context(selection));
    expect(summary.records).toEqual({
      'keys:hash': 50,
      'keys:string': 100,
      'pattern:user:*': 100,
      'pattern:session:*': 50,
    });
    expect(summary.facts).toMatchObject({ keys: 150, excluded: 50 });
    expect(await source.count(context(selection))).toEqual(summary.records);

    const target = `${other.url}/7`;
    const restoredDb = client(target);
    await restoredDb.flushdb();
    await source.restore(opener(part), restoring('fail-if-exists', { target }));
    const expected = (await sortedKeys(db7)).filter((key) => /^(user:|session:\d)/.test(key));
    expect(await sortedKeys(restoredDb)).toEqual(expected);

    // One include pattern goes to the server as SCAN MATCH.
    const narrow = await backup(source, context({ include: ['user:1*'] }));
    expect(narrow.summary.records).toEqual({ 'keys:string': 12, 'pattern:user:1*': 12 });

    // A restore can take part of a part.
    const sessionsOnly = `${other.url}/8`;
    const sessions = client(sessionsOnly);
    await sessions.flushdb();
    const some = await source.restore(
      opener(part),
      restoring('fail-if-exists', { target: sessionsOnly, include: ['session:*'] }),
    );
    expect(some.facts).toMatchObject({ restored: 50, not_selected: 100 });
    expect((await sortedKeys(sessions)).every((key) => key.startsWith('session:'))).toBe(true);
    expect(await sessions.dbsize()).toBe(50);
  });

  it('leaves the deploy state (switchyard:*) out by itself, backing up and restoring, unless include names it', async () => {
    const db10 = client(`${main.url}/10`);
    await db10.flushdb();
    await db10.mset(
      'app:1',
      'a',
      'app:2',
      'b',
      'switchyard:default:lock',
      'run-1',
      'switchyard:default:state',
      '{}',
    );
    const source = redisSource(`${main.url}/10`);

    // No include/exclude at all: the source itself keeps the deploy state out.
    const { part, summary } = await backup(source);
    expect(summary.facts).toMatchObject({ keys: 2 });
    expect(await source.count(context())).toEqual(summary.records);

    // A restore of a part that holds deploy keys (taken by include) still leaves the target's alone.
    const withState = await backup(source, context({ include: ['switchyard:*', 'app:*'] }));
    expect(withState.summary.facts).toMatchObject({ keys: 4 });
    const target = `${other.url}/10`;
    const restored = client(target);
    await restored.flushdb();
    await restored.set('switchyard:default:lock', 'run-2');
    await source.restore(opener(withState.part), restoring('replace', { target }));
    expect(await restored.get('switchyard:default:lock')).toBe('run-2');
    expect(await restored.exists('switchyard:default:state')).toBe(0);
    expect((await sortedKeys(restored)).filter((key) => key.startsWith('app:'))).toEqual(['app:1', 'app:2']);
    // Asked for by name, it comes back.
    await source.restore(
      opener(withState.part),
      restoring('replace', { target, include: ['switchyard:default:state'] }),
    );
    expect(await restored.get('switchyard:default:state')).toBe('{}');
    expect(part.length).toBeGreaterThan(0);
  });

  it('matches patterns exactly as Redis does', async () => {
    const db9 = client(`${main.url}/9`);
    await db9.flushdb();
    const keys = [
      '',
      'a',
      'b',
      'ab',
      'abc',
      'a*b',
      'a?b',
      'a[b',
      'a]b',
      'a\\b',
      'a-b',
      'héllo',
      'hello',
      'hallo',
    ];
    keys.push('x', ']x', 'ax', 'user:1', 'user:10', 'a\\', '[', 'c');
    await db9.mset(Object.fromEntries(keys.map((key) => [key, '1'])));
    const patterns = [
      '*',
      '**',
      'a*',
      '*b',
      '?',
      '??',
      'a?b',
      '[ab]',
      '[^a]*',
      '[a-c]*',
      '[c-a]',
      'a\\*b',
      'a\\?b',
    ];
    patterns.push(
      'a[\\]]b',
      'a[bc',
      '[]x',
      '[^]x',
      'h?llo',
      'h??llo',
      'a\\',
      'user:1*',
      '*[',
      'a[\\-]b',
      '\\[',
      '*\\',
    );
    for (const pattern of patterns) {
      const byRedis: string[] = [];
      let cursor = '0';
      do {
        const [next, found] = await db9.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
        cursor = next;
        byRedis.push(...found);
      } while (cursor !== '0');
      const ours = keys.filter((key) => redisGlob(pattern)(Buffer.from(key)));
      expect([pattern, ours.sort()]).toEqual([pattern, byRedis.sort()]);
    }
  });

  it('refuses a restore over keys that exist in fail-if-exists mode, naming them, and changes nothing', async () => {
    const db10 = client(`${main.url}/10`);
    await db10.flushdb();
    await db10.mset(Object.fromEntries(Array.from({ length: 40 }, (_, i) => [`order:${i}`, `o${i}`])));
    const source = redisSource(`${main.url}/10`);
    const { part } = await backup(source);

    const target = `${other.url}/10`;
    const targetDb = client(target);
    await targetDb.flushdb();
    await targetDb.mset({ 'order:3': 'newer', 'order:7': 'newer', 'order:11': 'newer', unrelated: 'x' });
    await targetDb.mset(Object.fromEntries([20, 21, 22, 23].map((i) => [`order:${i}`, 'newer'])));
    const before = await valueDigests(targetDb);

    const error = await rejection(source.checkTarget(opener(part), restoring('fail-if-exists', { target })));
    expect(error.message).toMatch(
      new RegExp(
        `^Input "mode": Cannot restore part redis-127\\.0\\.0\\.1-${main.port}-db10 into redis://127\\.0\\.0\\.1:${other.port}/10 in ` +
          `fail-if-exists mode: 7 of its keys already exist there \\(("order:\\d+", ){5}…\\)\\. Nothing was changed\\. ` +
          `Restore into an empty database, choose mode "replace" to overwrite them or "merge" to keep them and restore ` +
          `the rest, or leave them out with "exclude"\\.$`,
      ),
    );
    expect(await valueDigests(targetDb)).toEqual(before);

    // Leaving them out is enough.
    const exclude = ['order:3', 'order:7', 'order:1[1]', 'order:2[0-3]'];
    await source.checkTarget(opener(part), restoring('fail-if-exists', { target, exclude }));
  });

  it('merge keeps the keys that exist; replace overwrites them, TTL included', async () => {
    const db12 = client(`${main.url}/12`);
    await db12.flushdb();
    await db12.set('user:1', 'from-backup', 'PX', 100_000);
    await db12.set('user:2', 'b');
    const source = redisSource(`${main.url}/12`);
    const { part } = await backup(source);

    const target = `${other.url}/11`;
    const targetDb = client(target);
    await targetDb.flushdb();
    await targetDb.set('user:1', 'target-value');
    await targetDb.set('mine', 'x');

    const merged = await source.restore(opener(part), restoring('merge', { target }));
    expect(merged.facts).toMatchObject({ restored: 1, skipped_existing: 1 });
    expect(merged.records).toEqual({ 'keys:string': 1 });
    expect(await targetDb.mget('user:1', 'user:2', 'mine')).toEqual(['target-value', 'b', 'x']);
    expect(await targetDb.pttl('user:1')).toBe(-1);

    const replaced = await source.restore(opener(part), restoring('replace', { target }));
    expect(replaced.facts).toMatchObject({ restored: 2, already_present: 0 });
    expect(await targetDb.mget('user:1', 'user:2', 'mine')).toEqual(['from-backup', 'b', 'x']);
    const ttl = await targetDb.pttl('user:1');
    expect(ttl).toBeGreaterThan(90_000);
    expect(ttl).toBeLessThanOrEqual(100_000);
  });

  it('refuses a damaged part before writing anything, and says how much a restore wrote before it found out', async () => {
    const db3 = client(`${main.url}/3`);
    if ((await db3.dbsize()) === 0) await buildDataset(db3, { keys: 3_000, prefix: 'db3:' });
    const source = redisSource(`${main.url}/3`, { batchKeys: 100 });
    const { part } = await backup(source);
    const target = `${other.url}/13`;
    const targetDb = client(target);
    await targetDb.flushdb();
    const partName = `redis-127\\.0\\.0\\.1-${main.port}-db3`;
    const into = `into redis://127\\.0\\.0\\.1:${other.port}/13`;

    const cut = part.subarray(0, part.length - 100);
    const checked = await rejection(source.checkTarget(opener(cut), restoring('replace', { target })));
    expect(checked.message).toMatch(
      new RegExp(
        `^Part ${partName} cannot be restored ${into}: it is damaged at byte [\\d,]+ \\(it ends in the middle of a ` +
          `record \\(\\d+ bytes of it\\) after \\d+ keys, without its end record\\)\\. Nothing was changed\\. ` +
          `Restore from another backup\\.$`,
      ),
    );
    expect(checked.title).toBe('Redis part damaged');
    expect(await targetDb.dbsize()).toBe(0);

    // Without the check first, the restore itself finds out and says what it left behind.
    const partly = await rejection(source.restore(opener(cut), restoring('replace', { target })));
    const restored = await targetDb.dbsize();
    expect(restored).toBeGreaterThan(0);
    expect(partly.message).toContain(
      `keys were restored before that point and left in place; restore a whole backup in replace mode to overwrite them.`,
    );
    expect(partly.message).toContain(`${restored.toLocaleString('en-US')} keys were restored`);

    // A damaged dump (the engine's checksum of the part would have caught it first) is refused by Redis.
    const { offset, key } = await dumpOf(part, 1_500);
    const flipped = Buffer.from(part);
    flipped.writeUInt8(flipped.readUInt8(offset + 3) ^ 0xff, offset + 3);
    await targetDb.flushdb();
    const refused = await rejection(source.restore(opener(flipped), restoring('replace', { target })));
    expect(refused.message).toMatch(
      new RegExp(
        `^Restore of part ${partName} ${into} failed after [\\d,]+ keys: Redis refused key "${key}": ERR DUMP payload ` +
          `version or checksum are wrong\\. The part was written by Redis [\\d.]+ and the target runs [\\d.]+: .* The keys ` +
          `restored so far were left in place; once the cause is fixed, restore again in replace mode\\.$`,
      ),
    );
  });

  it('fails clearly and promptly when Redis is killed mid-backup', async () => {
    const doomed = await startRedis();
    const admin = new Redis(doomed.url);
    try {
      await admin.call('DEBUG', 'POPULATE', '300000', 'key', '100');
      const pid = Number(/process_id:(\d+)/.exec(await admin.info('server'))?.[1]);
      await admin.quit();
      const source = redisSource(doomed.url);
      let written = 0;
      let killedAt = 0;
      const out = new Writable({
        write(chunk: Buffer, _encoding, done) {
          written += chunk.length;
          if (written > 1_000_000 && !killedAt) {
            process.kill(pid, 'SIGKILL');
            killedAt = performance.now();
          }
          done();
        },
      });
      const error = await rejection(source.backup(out, context()));
      expect(killedAt).toBeGreaterThan(0);
      expect(performance.now() - killedAt).toBeLessThan(5_000);
      expect(error.message).toMatch(
        new RegExp(
          `^Backup of redis://127\\.0\\.0\\.1:${doomed.port} failed after [\\d,]+ keys: the connection to ` +
            `redis://127\\.0\\.0\\.1:${doomed.port} was lost \\(.+\\)\\. The part is incomplete\\. Check that Redis ` +
            `is running and reachable, then back up again\\.$`,
        ),
      );
      // Whoever reads the part sees it fail too, and never takes half a part for a whole one.
      expect(out.destroyed).toBe(true);
    } finally {
      if (admin.status !== 'end') admin.disconnect();
      await doomed.stop();
    }
  });

  it('refuses Redis Cluster, for a backup and as a restore target', async () => {
    const node = await startRedis({ config: { 'cluster-enabled': 'yes' } });
    try {
      const cluster = redisSource(node.url);
      const refusal = await rejection(backup(cluster));
      expect(refusal.message).toMatch(
        /is a Redis Cluster node, and Redis Cluster is not supported: .* Back up each primary separately/,
      );
      expect(refusal.title).toBe('Redis Cluster not supported');

      const source = redisSource(`${main.url}/12`);
      const { part } = await backup(source);
      const target = await rejection(
        source.checkTarget(opener(part), restoring('replace', { target: node.url })),
      );
      expect(target.message).toContain('Redis Cluster is not supported');
    } finally {
      await node.stop();
    }
  });

  it('falls back to pipelines for a user without Lua scripting, and keeps the password out of what it says', async () => {
    const password = 'n0-scr1pt/p@ss';
    const admin = client(main.url);
    await admin.call('ACL', 'SETUSER', 'noscript', 'on', `>${password}`, '~*', '&*', '+@all', '-@scripting');
    const url = `redis://noscript:${encodeURIComponent(password)}@127.0.0.1:${main.port}/14`;
    const db14 = client(`${main.url}/14`);
    await db14.flushdb();
    await buildDataset(db14, { keys: 3_000, prefix: 'ns:' });
    const before = await valueDigests(db14);
    const source = redisSource(url, { batchKeys: 200 });
    expect(source.display).toBe(`redis://noscript:***@127.0.0.1:${main.port}/14`);

    const ctx = context();
    const { part, summary } = await backup(source, ctx);
    expect(summary.facts).toMatchObject({ keys: 3_000, method: 'SCAN + pipelined DUMP/PTTL' });
    expect(ctx.logs.join('\n')).toMatch(/does not run Lua scripts for this user \(NOPERM/);

    await db14.flushdb();
    const restoreContext = restoring('fail-if-exists');
    await source.restore(opener(part), restoreContext);
    expect(await valueDigests(db14)).toEqual(before);
    expect(await source.count(context())).toEqual(summary.records);
    const wrong = await rejection(
      backup(redisSource(url.replace(encodeURIComponent(password), 'not-the-password'))),
    );
    expect(wrong.message).toBe(
      `Connecting to redis://noscript:***@127.0.0.1:${main.port}/14 failed: Redis answered ` +
        '"WRONGPASS invalid username-password pair or user is disabled".',
    );
    const said = [...ctx.logs, ...restoreContext.logs, JSON.stringify(summary), wrong.message].join('\n');
    expect(said).not.toContain(password);
    expect(said).not.toContain(encodeURIComponent(password));
  });

  it('says which database cannot be selected, and which server cannot be reached', async () => {
    const missing = await rejection(backup(redisSource(`${main.url}/99`)));
    expect(missing.message).toMatch(
      /database 99 cannot be selected \(ERR DB index is out of range\); this server has databases 0 to 15\./,
    );

    const port = await freePort();
    const unreachable = await rejection(backup(redisSource(`redis://127.0.0.1:${port}/0`)));
    expect(unreachable.message).toBe(
      `Connecting to redis://127.0.0.1:${port}/0 failed: no connection (connect ECONNREFUSED 127.0.0.1:${port}). ` +
        'Check the host and port, and that Redis is running and reachable from here.',
    );
  });

  it('stops when cancelled', async () => {
    const db3 = client(`${main.url}/3`);
    if ((await db3.dbsize()) === 0) await buildDataset(db3, { keys: 3_000, prefix: 'db3:' });
    const source = redisSource(`${main.url}/3`, { batchKeys: 100 });
    const controller = new AbortController();
    const out = new Writable({
      write(_chunk, _encoding, done) {
        controller.abort();
        done();
      },
    });
    const error = await rejection(source.backup(out, context({ signal: controller.signal })));
    expect(error.message).toMatch(
      /^Backup of redis:\/\/127\.0\.0\.1:\d+\/3 was cancelled after [\d,]+ keys\.$/,
    );
  });
});

async function pttls(redis: Redis, keys: string[]): Promise<Map<string, number>> {
  const pipeline = redis.pipeline();
  for (const key of keys) pipeline.pttl(key);
  const replies = (await pipeline.exec()) ?? [];
  return new Map(keys.map((key, i) => [key, replies[i]?.[1] as number]));
}

/** The TTLs the part holds for some keys. */
async function recordedTtls(part: Buffer, keys: string[]): Promise<Map<string, number>> {
  const wanted = new Set(keys);
  const found = new Map<string, number>();
  for await (const item of readPart(opener(part)())) {
    if (item.kind !== 'keys') continue;
    for (const record of item.keys) {
      const key = record.key.toString();
      if (wanted.has(key)) found.set(key, record.ttlMs);
    }
  }
  return found;
}

/** Where the dump of the n-th key starts in a part, and that key. */
async function dumpOf(part: Buffer, n: number): Promise<{ offset: number; key: string }> {
  let offset = part.indexOf(0x0a) + 1;
  let seen = 0;
  for await (const item of readPart(opener(part)())) {
    if (item.kind !== 'keys') continue;
    for (const record of item.keys) {
      if (seen++ === n) return { offset: offset + 5 + record.key.length + 12, key: record.key.toString() };
      offset += 5 + record.key.length + 12 + record.dump.length;
    }
  }
  throw new Error(`the part has fewer than ${n + 1} keys`);
}
