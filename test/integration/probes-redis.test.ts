// The redis:// probe against real Redis servers: the round trip, memory against maxmemory, the
// keyspace hit rate, passwords, and one connection kept across checks.
import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { Redis } from 'ioredis';
import { createProbe } from '../../actions/core/src/probes/index.js';
import type { Probe, ProbeOptions } from '../../actions/core/src/probes/probe.js';
import { freePort, startRedis, type RunningServer } from '../../scripts/servers/index.js';

const PASSWORD = 's3cr3t/p@ss';
const defaults: ProbeOptions = {
  timeoutMs: 2_000,
  expectStatus: [],
  headers: {},
  followRedirects: true,
  insecure: false,
};

let cache: RunningServer & { url: string };
let locked: RunningServer & { url: string };
let admin: Redis;
const probes: Probe[] = [];

beforeAll(async () => {
  [cache, locked] = await Promise.all([
    startRedis({ config: { maxmemory: '2mb', 'maxmemory-policy': 'noeviction' } }),
    startRedis({ password: PASSWORD }),
  ]);
  admin = new Redis(cache.url);
});

afterEach(async () => {
  await Promise.all(probes.splice(0).map((probe) => probe.close()));
});

afterAll(async () => {
  admin?.disconnect();
  await Promise.all([cache?.stop(), locked?.stop()]);
});

function probe(url: string, options: Partial<ProbeOptions> = {}): Probe {
  const created = createProbe(new URL(url), { ...defaults, ...options });
  probes.push(created);
  return created;
}

/** The CLIENT LIST lines of the probes' connections. */
async function healthConnections(): Promise<string[]> {
  const list = (await admin.client('LIST')) as string;
  return list.split('\n').filter((line) => line.includes(' name=switchyard-health-check '));
}

async function eventually(condition: () => Promise<boolean>, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`condition still false after ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe('redis probe', () => {
  it('passes with PONG and a SET/GET/DEL round trip, and reports the server', async () => {
    const result = await probe(cache.url).check();
    expect(result.ok).toBe(true);
    expect(result.detail).toMatch(/^PONG, SET\/GET\/DEL ok, memory [\d.]+% of 2\.00 MiB in \d+ ms$/);
    expect(result.facts).toMatchObject({
      redis_version: expect.stringMatching(/^\d+\.\d+/),
      role: 'master',
      maxmemory: 2 * 1024 * 1024,
      maxmemory_policy: 'noeviction',
      used_memory: expect.any(Number),
      memory_usage: expect.any(Number),
    });
  });

  it('leaves no key behind', async () => {
    await admin.set('an-app-key', 'value');
    const before = await admin.dbsize();
    const result = await probe(cache.url).check();
    expect(result.ok).toBe(true);
    expect(await admin.dbsize()).toBe(before);
    expect(await admin.keys('switchyard:health:*')).toEqual([]);
    await admin.del('an-app-key');
  });

  it('uses the database the URL names', async () => {
    const second = probe(`${cache.url}/2`);
    expect((await second.check()).ok).toBe(true);
    expect(await healthConnections()).toEqual([expect.stringMatching(/ db=2 /)]);
  });

  it('fails when the database the URL names does not exist', async () => {
    expect(await probe(`${cache.url}/99`).check()).toMatchObject({
      ok: false,
      detail: 'connection setup failed: ERR DB index is out of range',
    });
  });

  it('reports the keyspace hit rate seen before its own lookups', async () => {
    const stats = probe(cache.url);
    await admin.config('RESETSTAT');
    expect((await stats.check()).facts).toMatchObject({ keyspace_hit_rate: 'n/a' });

    await admin.config('RESETSTAT');
    await admin.set('hit-rate', 'x');
    for (let i = 0; i < 3; i++) await admin.get('hit-rate');
    await admin.get('never-set');
    expect((await stats.check()).facts).toMatchObject({
      keyspace_hits: 3,
      keyspace_misses: 1,
      keyspace_hit_rate: 0.75,
    });
    await admin.del('hit-rate');
  });

  it('keeps one connection across checks, opens a new one when it broke, and closes it', async () => {
    const kept = probe(cache.url);
    for (let i = 0; i < 3; i++) expect((await kept.check()).ok).toBe(true);
    const [connection, ...others] = await healthConnections();
    expect(others).toEqual([]);

    const id = /\bid=(\d+)/.exec(connection ?? '')?.[1] ?? 'none';
    expect(await admin.client('KILL', 'ID', id)).toBe(1);
    // The killed connection is replaced without a failed check.
    expect((await kept.check()).ok).toBe(true);
    const [replacement] = await healthConnections();
    expect(replacement).not.toContain(` id=${id} `);

    await kept.close();
    await eventually(async () => (await healthConnections()).length === 0);
  });

  it('fails when memory use is above max-memory-usage, naming used, max and the threshold', async () => {
    const watched = probe(cache.url, { maxMemoryUsage: 0.9 });
    expect((await watched.check()).ok).toBe(true);

    // Fill until Redis itself refuses writes (noeviction).
    const chunk = 'x'.repeat(64 * 1024);
    let refused: Error | undefined;
    for (let i = 0; i < 200 && !refused; i++) {
      await admin.set(`filler:${i}`, chunk).catch((error: Error) => (refused = error));
    }
    expect(refused?.message).toMatch(/^OOM/);

    const result = await watched.check();
    expect(result.ok).toBe(false);
    expect(result.detail).toMatch(
      /^memory use [\d.]+% \([\d.]+ MiB of 2\.00 MiB maxmemory\) is above max-memory-usage 90%/,
    );
    expect(result.facts?.memory_usage).toBeGreaterThan(0.9);

    // Past maxmemory Redis refuses the SET, which fails the check with or without a threshold.
    await admin.config('SET', 'maxmemory', '1mb');
    const refusing = await probe(cache.url).check();
    expect(refusing).toMatchObject({
      ok: false,
      detail: "SET failed: OOM command not allowed when used memory > 'maxmemory'.",
    });
    expect(await watched.check()).toMatchObject({
      ok: false,
      detail: expect.stringMatching(
        /of 1\.00 MiB maxmemory\) is above max-memory-usage 90%; SET failed: OOM/,
      ),
    });

    await admin.config('SET', 'maxmemory', '2mb');
    await admin.flushall();
    expect((await watched.check()).ok).toBe(true);
  });

  it('logs in with the password of the URL', async () => {
    const result = await probe(locked.url).check();
    expect(result.ok).toBe(true);
  });

  it('says NOAUTH when the password is missing', async () => {
    const result = await probe(`redis://127.0.0.1:${locked.port}`).check();
    expect(result).toMatchObject({ ok: false, detail: 'NOAUTH Authentication required.' });
  });

  it('says the password is wrong without showing it', async () => {
    const wrong = probe(`redis://:${encodeURIComponent('wrong/p@ssword')}@127.0.0.1:${locked.port}`);
    const result = await wrong.check();
    expect(result.ok).toBe(false);
    expect(result.detail).toMatch(/^WRONGPASS/);
    expect(wrong.target).toBe(`redis://:***@127.0.0.1:${locked.port}`);
    const shown = JSON.stringify([wrong.target, result]);
    expect(shown).not.toContain('wrong/p@ssword');
    expect(shown).not.toContain(encodeURIComponent('wrong/p@ssword'));
  });

  it('reports a refused connection', async () => {
    const result = await probe(`redis://127.0.0.1:${await freePort()}`).check();
    expect(result).toMatchObject({ ok: false, detail: 'connection refused' });
  });
});
