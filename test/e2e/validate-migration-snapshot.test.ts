// validate-migration snapshot and compare, from the bundle as the runner runs it, against real
// PostgreSQL and Redis: a snapshot before a migration (a column added, a cache key structure
// moved to v2:), one after, and compare's expect lines — passing, and failing with both values.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import pg from 'pg';
import { annotations, runLikeTheRunner } from '../../scripts/run-action.js';
import {
  startPostgres,
  startRedis,
  type RunningPostgres,
  type RunningServer,
} from '../../scripts/servers/index.js';

const PASSWORD = 'e2e-Sn4pshot-pw';
let postgres: RunningPostgres;
let redis: RunningServer & { url: string };
let workspace: string;

async function sql(text: string): Promise<void> {
  const client = new pg.Client({ connectionString: postgres.url });
  await client.connect();
  try {
    await client.query(text);
  } finally {
    await client.end();
  }
}

beforeAll(async () => {
  [postgres, redis] = await Promise.all([startPostgres({ password: PASSWORD }), startRedis()]);
  workspace = mkdtempSync(join(tmpdir(), 'switchyard-snapshot-e2e-'));
  await sql(`
    CREATE TABLE orders (id bigint PRIMARY KEY, total numeric NOT NULL);
    INSERT INTO orders SELECT g, g * 1.5 FROM generate_series(1, 5000) g;
    CREATE TABLE users (id bigint PRIMARY KEY, email text);
    INSERT INTO users SELECT g, 'u' || g || '@example.com' FROM generate_series(1, 300) g;`);
  const cache = new Redis(redis.url);
  const batch = cache.pipeline();
  for (let i = 1; i <= 200; i++) batch.hset(`user:${i}`, 'name', `n${i}`);
  for (let i = 1; i <= 20; i++) batch.set(`session:${(1e12 + i).toString(16)}`, 'x', 'EX', 3600);
  await batch.exec();
  cache.disconnect();
}, 120_000);

afterAll(async () => {
  await Promise.all([postgres?.stop(), redis?.stop()]);
  if (workspace) rmSync(workspace, { recursive: true, force: true });
});

const action = (inputs: Record<string, string>) =>
  runLikeTheRunner('validate-migration', inputs, { GITHUB_ACTIONS: 'true' }, { cwd: workspace });

/** The migration under test: expand the schema, and move the cache to v2 keys (TTLs kept). */
async function migrate(): Promise<void> {
  await sql('ALTER TABLE users ADD COLUMN phone text;');
  const cache = new Redis(redis.url);
  for (const key of await cache.keys('user:*')) await cache.rename(key, `v2:${key}`);
  for (const key of await cache.keys('session:*')) await cache.rename(key, `v2:${key}`);
  cache.disconnect();
}

describe('validate-migration snapshot and compare (bundle, real PostgreSQL and Redis)', () => {
  it('proves a migration kept every row and moved every key, and names what does not hold', async () => {
    const before = await action({
      command: 'snapshot',
      'database-url': postgres.url,
      'redis-url': redis.url,
      snapshot: 'snapshots/before.json',
    });
    expect(before.exitCode).toBe(0);
    expect(before.outputs.snapshot).toBe(join(workspace, 'snapshots/before.json'));
    const written = readFileSync(join(workspace, 'snapshots/before.json'), 'utf8');
    expect(written).not.toContain(PASSWORD);
    expect(before.stdout + before.summary + (before.report ?? '')).not.toContain(PASSWORD);
    expect(before.summary).toContain('`public.orders` | 5000');

    await migrate();
    const after = await action({
      command: 'snapshot',
      'database-url': postgres.url,
      'redis-url': redis.url,
      snapshot: 'snapshots/after.json',
    });
    expect(after.exitCode).toBe(0);

    const held = await action({
      command: 'compare',
      before: 'snapshots/before.json',
      after: 'snapshots/after.json',
      expect: [
        'rows(public.orders) unchanged',
        'checksum(public.orders) unchanged',
        'rows(public.users) unchanged',
        'column(public.users.phone) added',
        'keys(v2:user:*) == before.keys(user:*)',
        'keys(user:*) == 0',
        'ttl(v2:session:*) kept',
      ].join('\n'),
    });
    expect(held.exitCode).toBe(0);
    expect(held.outputs.valid).toBe('true');
    expect(held.summary).toContain('7 of 7 checks passed');
    const differences = JSON.parse(held.outputs.differences ?? '[]') as { kind: string; subject: string }[];
    expect(differences.map((d) => `${d.kind} ${d.subject}`)).toEqual(
      expect.arrayContaining(['column public.users.phone', 'pattern user:*', 'pattern v2:user:*']),
    );

    const broken = await action({
      command: 'compare',
      before: 'snapshots/before.json',
      after: 'snapshots/after.json',
      expect: 'checksum(public.users) unchanged\nrows(public.orders) > before',
    });
    expect(broken.exitCode).toBe(1);
    expect(broken.outputs.valid).toBe('false');
    // A checksum covers whole rows: the added column (NULL in every row) changes users' too.
    expect(annotations(broken.stdout)).toEqual([
      expect.stringMatching(
        /^expect line 1 "checksum\(public.users\) unchanged" does not hold: public.users: checksum \w{12} before, \w{12} after$/,
      ),
      'expect line 2 "rows(public.orders) > before" does not hold: public.orders: 5000 rows before, 5000 after',
    ]);
  }, 60_000);

  it('refuses what cannot be snapshot or compared, naming the input', async () => {
    const nothing = await action({ command: 'snapshot' });
    expect(nothing.exitCode).toBe(1);
    expect(annotations(nothing.stdout)).toEqual([
      expect.stringContaining('Input "database-url": or redis-url is required'),
    ]);
    const missing = await action({ command: 'compare', before: 'nope.json', after: 'nope.json' });
    expect(annotations(missing.stdout)).toEqual([
      expect.stringContaining('Input "before": nope.json cannot be read as a snapshot'),
    ]);
    const grammar = await action({ command: 'compare', before: 'a', after: 'b', expect: 'rows orders same' });
    expect(annotations(grammar.stdout)).toEqual([expect.stringContaining('Input "expect"')]);
    const wrongPassword = await action({
      command: 'snapshot',
      'database-url': postgres.url.replace(PASSWORD, 'wr0ng-Secret'),
    });
    expect(wrongPassword.exitCode).toBe(1);
    expect(wrongPassword.stdout).not.toContain('wr0ng-Secret');
    expect(wrongPassword.stdout).not.toContain('Unexpected error');
  }, 60_000);
});
