// validate-migration snapshot against real servers: PostgreSQL tables with and without a primary
// key (multibyte text, NULLs, json, bytea, a partitioned table, a quoted schema) whose checksums
// survive a physical rewrite and catch a one-value change; Redis key patterns, types and TTLs
// counted exactly, our deploy state left out, 100k keys streamed.
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Redis } from 'ioredis';
import pg from 'pg';
import { InputError, UserError } from '../../actions/core/src/errors.js';
import { SAMPLE_MIN_ROWS, snapshotPostgres } from '../../actions/core/src/migrations/snapshot/postgres.js';
import { keyPattern, MAX_PATTERNS, snapshotRedis } from '../../actions/core/src/migrations/snapshot/redis.js';
import type { Snapshot, TableSnapshot } from '../../actions/core/src/migrations/snapshot/snapshot.js';
import {
  startPostgres,
  startRedis,
  type RunningPostgres,
  type RunningServer,
} from '../../scripts/servers/index.js';

const PASSWORD = 'sn@p/sh0t:pw';

let postgres: RunningPostgres;
let redis: RunningServer & { url: string };
const clients: Redis[] = [];

beforeAll(async () => {
  [postgres, redis] = await Promise.all([startPostgres({ password: PASSWORD }), startRedis()]);
  await sql(
    String.raw`
    CREATE TABLE users (id serial PRIMARY KEY, name text NOT NULL, email text, prefs jsonb, doc json,
                        avatar bytea, score double precision, seen timestamptz DEFAULT now());
    CREATE INDEX users_email ON users (email);
    INSERT INTO users (name, email, prefs, doc, avatar, score, seen)
      SELECT CASE g % 4 WHEN 0 THEN 'Zoë ' || g WHEN 1 THEN '日本語 ' || g WHEN 2 THEN 'emoji 🚀 ' || g ELSE 'plain ' || g END,
             CASE WHEN g % 3 = 0 THEN NULL ELSE 'u' || g || '@example.com' END,
             CASE WHEN g % 5 = 0 THEN NULL ELSE jsonb_build_object('theme', 'dark', 'n', g) END,
             ('{"b": 1,  "a": [' || g || ', null]}')::json,
             CASE WHEN g % 7 = 0 THEN NULL ELSE decode(md5(g::text), 'hex') || '\x00ff'::bytea END,
             g / 3.0, timestamptz '2024-01-01 00:00:00+00' + g * interval '1 minute'
        FROM generate_series(1, 25000) g ORDER BY md5(g::text);
    CREATE TABLE events (kind text, payload json, n int);
    INSERT INTO events SELECT 'kind ' || (g % 10), json_build_object('g', g % 100), g % 1000 FROM generate_series(1, 30000) g;
    INSERT INTO events VALUES (NULL, NULL, NULL), (NULL, NULL, NULL), ('dup', '{}', 1), ('dup', '{}', 1);
    CREATE TABLE measurements (city int, at date, value numeric, PRIMARY KEY (city, at)) PARTITION BY RANGE (at);
    CREATE TABLE measurements_2023 PARTITION OF measurements FOR VALUES FROM ('2023-01-01') TO ('2024-01-01');
    CREATE TABLE measurements_2024 PARTITION OF measurements FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
    INSERT INTO measurements SELECT c, d, c * 1.25 FROM generate_series(1, 30) c,
      generate_series(date '2023-06-01', date '2024-06-01', interval '1 day') d;
    CREATE TABLE big (id bigint PRIMARY KEY, v text);
    INSERT INTO big SELECT g, md5(g::text) FROM generate_series(1, ${SAMPLE_MIN_ROWS + 50_000}) g;
    CREATE SCHEMA "sales dept";
    CREATE TABLE "sales dept"."Order Lines" ("order" int, line int, "Note" text, PRIMARY KEY ("order", line));
    INSERT INTO "sales dept"."Order Lines" SELECT g / 10, g % 10, 'note ' || g FROM generate_series(1, 500) g;
    `,
  );
}, 120_000);

afterAll(async () => {
  for (const client of clients) client.disconnect();
  await Promise.all([postgres?.stop(), redis?.stop()]);
});

async function sql<T extends pg.QueryResultRow = pg.QueryResultRow>(
  text: string,
  url = postgres.url,
): Promise<T[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const result = await client.query<T>(text);
    return (Array.isArray(result) ? (result.at(-1) as pg.QueryResult<T>) : result).rows;
  } finally {
    await client.end();
  }
}

function table(snapshot: NonNullable<Snapshot['postgres']>, name: string): TableSnapshot {
  const found = snapshot.tables.find((t) => t.name === name);
  if (!found) throw new Error(`no table ${name} in the snapshot`);
  return found;
}

async function rejection(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected a rejection');
}

const sha256 = (data: Buffer | string) => createHash('sha256').update(data).digest();

describe('snapshotPostgres', () => {
  let first: NonNullable<Snapshot['postgres']>;

  beforeAll(async () => {
    first = await snapshotPostgres(postgres.url, {});
  }, 60_000);

  it('lists every table with its columns, exact rows and primary key; partitions as their parent', async () => {
    expect(first.server).toMatch(/^\d+\.\d+$/);
    expect(first.database).toBe('switchyard');
    expect(first.tables.map((t) => t.name)).toEqual([
      'public.big',
      'public.events',
      'public.measurements',
      'public.users',
      '"sales dept"."Order Lines"',
    ]);
    expect(first.tables.map((t) => [t.name, t.rows, t.primaryKey])).toEqual([
      ['public.big', SAMPLE_MIN_ROWS + 50_000, ['id']],
      ['public.events', 30_004, undefined],
      ['public.measurements', 30 * 367, ['city', 'at']],
      ['public.users', 25_000, ['id']],
      ['"sales dept"."Order Lines"', 500, ['order', 'line']],
    ]);
    expect(table(first, 'public.users').columns).toEqual([
      { name: 'id', type: 'integer', nullable: false, default: "nextval('public.users_id_seq'::regclass)" },
      { name: 'name', type: 'text', nullable: false },
      { name: 'email', type: 'text', nullable: true },
      { name: 'prefs', type: 'jsonb', nullable: true },
      { name: 'doc', type: 'json', nullable: true },
      { name: 'avatar', type: 'bytea', nullable: true },
      { name: 'score', type: 'double precision', nullable: true },
      { name: 'seen', type: 'timestamp with time zone', nullable: true, default: 'now()' },
    ]);
    for (const t of first.tables) {
      expect(t.checksum).toMatch(/^[0-9a-f]{64}$/);
      expect(t.schemaDigest).toMatch(/^[0-9a-f]{64}$/);
      expect(t.sampled).toBeUndefined();
    }
  });

  it('checksums rows in primary-key order, as documented, whatever the session settings', async () => {
    // Under 10,000 rows: one batch, so the checksum is sha256(sha256(row hashes in key order)).
    const client = new pg.Client({ connectionString: postgres.url });
    await client.connect();
    const rows = await client.query<{ h: Buffer }>(
      `SELECT sha256(convert_to(t::text, 'UTF8')) AS h FROM "sales dept"."Order Lines" t ORDER BY "order", line`,
    );
    await client.end();
    const expected = sha256(sha256(Buffer.concat(rows.rows.map((r) => r.h)))).toString('hex');
    expect(table(first, '"sales dept"."Order Lines"').checksum).toBe(expected);

    // Another session's DateStyle, TimeZone and bytea_output change how rows print, not the snapshot.
    const options = encodeURIComponent(
      '-c DateStyle=SQL,DMY -c TimeZone=Asia/Kolkata -c bytea_output=escape -c extra_float_digits=-3',
    );
    const other = await snapshotPostgres(`${postgres.url}?options=${options}`, {});
    expect(other.tables).toEqual(first.tables);
  });

  it('keeps rows and checksums when VACUUM FULL and CLUSTER rewrite the tables in another order', async () => {
    const order = async () => (await sql<{ id: number }>('SELECT id FROM users LIMIT 5')).map((r) => r.id);
    const before = await order();
    await sql('CREATE INDEX events_n ON events (n DESC)');
    const withIndex = await snapshotPostgres(postgres.url, {});
    await sql('CLUSTER users USING users_email');
    await sql('CLUSTER events USING events_n');
    await sql('VACUUM FULL measurements_2023');
    await sql('VACUUM FULL big');
    expect(await order()).not.toEqual(before);

    const after = await snapshotPostgres(postgres.url, {});
    expect(after.tables).toEqual(withIndex.tables);
    // The index is part of the shape; the data is not touched by it.
    expect(table(withIndex, 'public.events').schemaDigest).not.toBe(
      table(first, 'public.events').schemaDigest,
    );
    expect(table(withIndex, 'public.events').checksum).toBe(table(first, 'public.events').checksum);
  });

  it('changes the checksum, not the rows, when one value changes; the same value back restores it', async () => {
    const before = await snapshotPostgres(postgres.url, {});
    const [user] = await sql<{ name: string }>('SELECT name FROM users WHERE id = 17');
    const dup = `(SELECT ctid FROM events WHERE kind = 'dup' LIMIT 1)`;
    await sql(`UPDATE users SET name = name || '.' WHERE id = 17`);
    await sql(`UPDATE events SET n = 2 WHERE ctid = ${dup}`);
    await sql(`UPDATE measurements SET value = value + 0.01 WHERE city = 3 AND at = '2024-02-29'`);
    const changed = await snapshotPostgres(postgres.url, {});
    for (const name of ['public.users', 'public.events', 'public.measurements']) {
      expect(table(changed, name).rows).toBe(table(before, name).rows);
      expect(table(changed, name).schemaDigest).toBe(table(before, name).schemaDigest);
      expect(table(changed, name).checksum).not.toBe(table(before, name).checksum);
    }
    expect(table(changed, 'public.big')).toEqual(table(before, 'public.big'));

    await sql(`UPDATE users SET name = '${user?.name.replaceAll("'", "''")}' WHERE id = 17`);
    await sql(`UPDATE events SET n = 1 WHERE kind = 'dup'`);
    await sql(`UPDATE measurements SET value = value - 0.01 WHERE city = 3 AND at = '2024-02-29'`);
    expect(await snapshotPostgres(postgres.url, {})).toEqual(before);
  });

  it('changes the schema digest when a column is added, and only that table’s', async () => {
    const before = await snapshotPostgres(postgres.url, {});
    await sql('ALTER TABLE "sales dept"."Order Lines" ADD COLUMN qty int');
    const after = await snapshotPostgres(postgres.url, {});
    const lines = table(after, '"sales dept"."Order Lines"');
    expect(lines.schemaDigest).not.toBe(table(before, '"sales dept"."Order Lines"').schemaDigest);
    expect(lines.columns.at(-1)).toEqual({ name: 'qty', type: 'integer', nullable: true });
    expect(lines.rows).toBe(500);
    for (const t of after.tables.filter((t) => t !== lines)) expect(t).toEqual(table(before, t.name));
  });

  it('samples large tables only, repeatably, with exact row counts', async () => {
    const sampled = await snapshotPostgres(postgres.url, { sample: 0.1 });
    const big = table(sampled, 'public.big');
    expect(big.rows).toBe(SAMPLE_MIN_ROWS + 50_000);
    expect(big.sampled?.fraction).toBe(0.1);
    expect(big.sampled?.rows).toBeGreaterThan(13_000);
    expect(big.sampled?.rows).toBeLessThan(17_000);
    expect(big.checksum).not.toBe(table(first, 'public.big').checksum);
    for (const t of sampled.tables.filter((t) => t !== big)) expect(t.sampled).toBeUndefined();
    expect(await snapshotPostgres(postgres.url, { sample: 0.1 })).toEqual(sampled);

    const refused = await rejection(snapshotPostgres(postgres.url, { sample: 1.5 }));
    expect(refused).toBeInstanceOf(InputError);
    expect(refused.message).toMatch(/^Input "sample": 1\.5 is not a fraction/);
  });

  it('takes only the schemas asked for, and names one that does not exist', async () => {
    const only = await snapshotPostgres(postgres.url, { schemas: ['sales dept'] });
    expect(only.tables.map((t) => t.name)).toEqual(['"sales dept"."Order Lines"']);
    const missing = await rejection(snapshotPostgres(postgres.url, { schemas: ['public', 'nope'] }));
    expect(missing).toBeInstanceOf(InputError);
    expect(missing.message).toBe(
      `Input "schemas": "nope" is not a schema of postgres://switchyard:***@127.0.0.1:${postgres.port}/switchyard`,
    );
  });

  it('keeps the password out of its errors', async () => {
    const wrong = postgres.url.replace(encodeURIComponent(PASSWORD), 'wrong-pw');
    const error = await rejection(snapshotPostgres(wrong, {}));
    expect(error).toBeInstanceOf(UserError);
    expect(error.message).toMatch(
      /^Could not connect to postgres:\/\/switchyard:\*\*\*@127\.0\.0\.1:\d+\/switchyard: .*password/,
    );
    expect(error.message).not.toContain('wrong-pw');

    // Even its owner cannot read a table it revoked SELECT on from itself.
    await sql('REVOKE SELECT ON big FROM switchyard');
    const denied = await rejection(snapshotPostgres(postgres.url, {}));
    await sql('GRANT SELECT ON big TO switchyard');
    expect(denied.message).toBe(
      `PostgreSQL failed while taking the checksum of public.big in postgres://switchyard:***@127.0.0.1:${postgres.port}/switchyard: permission denied for table big`,
    );
    expect(denied.message).not.toContain(PASSWORD);
    expect(denied.message).not.toContain(encodeURIComponent(PASSWORD));
  });
});

describe('snapshotRedis', () => {
  function client(url: string): Redis {
    const created = new Redis(url);
    clients.push(created);
    return created;
  }

  it('groups key names into patterns', () => {
    expect(keyPattern('user:123:profile')).toBe('user:*:profile');
    expect(keyPattern('session:9f86d081884c7d65')).toBe('session:*');
    expect(keyPattern('order:3fa85f64-5717-4562-b3fc-2c963f66afa6:items')).toBe('order:*:items');
    expect(keyPattern('cache:abc:deadbee')).toBe('cache:abc:deadbee');
    expect(keyPattern('42')).toBe('*');
    expect(keyPattern('plain')).toBe('plain');
  });

  it('counts keys per pattern, type and TTL exactly, leaving our deploy state out', async () => {
    const db = client(`${redis.url}/2`);
    await db.flushdb();
    const write = db.pipeline();
    for (let i = 1; i <= 50; i++) write.hset(`user:${i}`, { name: `n${i}`, age: String(i) });
    for (let i = 1; i <= 20; i++) write.set(`user:${i}:profile`, '{}');
    for (let i = 0; i < 30; i++)
      write.set(`session:${createHash('md5').update(String(i)).digest('hex').slice(0, 16)}`, 's', 'EX', 3600);
    for (let i = 0; i < 5; i++) write.set(`session:${'abcdef01'.repeat(2)}${i}`, 'kept');
    write.rpush('queue:emails', 'a', 'b', 'c');
    write.sadd('order:3fa85f64-5717-4562-b3fc-2c963f66afa6:items', 'x');
    write.sadd('order:7c9e6679-7425-40de-944b-e07fc1f90ae7:items', 'y');
    write.zadd('leaderboard', 1, 'a');
    write.set('switchyard:lock', 'held', 'EX', 60);
    write.lpush('switchyard:history:blue-green', 'entry');
    await write.exec();

    const snapshot = await snapshotRedis(`${redis.url}/2`);
    expect(snapshot).toEqual({
      database: 2,
      keys: 50 + 20 + 30 + 5 + 1 + 2 + 1,
      patterns: [
        { pattern: 'leaderboard', keys: 1, types: { zset: 1 }, withTtl: 0 },
        { pattern: 'order:*:items', keys: 2, types: { set: 2 }, withTtl: 0 },
        { pattern: 'queue:emails', keys: 1, types: { list: 1 }, withTtl: 0 },
        { pattern: 'session:*', keys: 35, types: { string: 35 }, withTtl: 30 },
        { pattern: 'user:*', keys: 50, types: { hash: 50 }, withTtl: 0 },
        { pattern: 'user:*:profile', keys: 20, types: { string: 20 }, withTtl: 0 },
      ],
    });
  });

  it('streams 100k keys', async () => {
    const db = client(`${redis.url}/3`);
    await db.flushdb();
    await db.call('DEBUG', 'POPULATE', '100000', 'item', '10');
    const write = db.pipeline();
    for (let i = 0; i < 1000; i++) write.set(`ttl:${i}`, 'v', 'EX', 600);
    await write.exec();
    const snapshot = await snapshotRedis(`${redis.url}/3`);
    expect(snapshot).toEqual({
      database: 3,
      keys: 101_000,
      patterns: [
        { pattern: 'item:*', keys: 100_000, types: { string: 100_000 }, withTtl: 0 },
        { pattern: 'ttl:*', keys: 1000, types: { string: 1000 }, withTtl: 1000 },
      ],
    });
  });

  it('falls back to coarser patterns rather than keeping one per key', async () => {
    const db = client(`${redis.url}/4`);
    await db.flushdb();
    const write = db.pipeline();
    for (let i = 0; i < MAX_PATTERNS + 500; i++) write.set(`email:user${i}@example.com:prefs`, '1');
    write.hset('user:1', 'a', '1');
    await write.exec();
    const snapshot = await snapshotRedis(`${redis.url}/4`);
    expect(snapshot.patterns).toEqual([
      { pattern: 'email:*', keys: MAX_PATTERNS + 500, types: { string: MAX_PATTERNS + 500 }, withTtl: 0 },
      { pattern: 'user:*', keys: 1, types: { hash: 1 }, withTtl: 0 },
    ]);
  });

  it('says which database cannot be selected, and keeps a password out', async () => {
    const missing = await rejection(snapshotRedis(`${redis.url}/99`));
    expect(missing.message).toMatch(
      /^Connecting to redis:\/\/127\.0\.0\.1:\d+\/99 failed: Redis answered "ERR DB index is out of range"\.$/,
    );
    const wrong = await rejection(snapshotRedis(`redis://someone:t0p%2Fsecret@127.0.0.1:${redis.port}/0`));
    expect(wrong.message).toMatch(
      /^Connecting to redis:\/\/someone:\*\*\*@127\.0\.0\.1:\d+\/0 failed: Redis answered "WRONGPASS/,
    );
    expect(wrong.message).not.toContain('t0p');
    const bad = await rejection(snapshotRedis('http://example.com'));
    expect(bad.message).toMatch(/^Input "redis-url": http:\/\/example\.com\/ is not a Redis URL/);
  });
});
