// The postgres:// probe against a real PostgreSQL: SELECT 1, the server version, a user's query,
// passwords, sslmode, refused connections and timeouts.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createProbe } from '../../actions/core/src/probes/index.js';
import type { Probe, ProbeOptions } from '../../actions/core/src/probes/probe.js';
import { freePort, startPostgres, type RunningPostgres } from '../../scripts/servers/index.js';

const defaults: ProbeOptions = {
  timeoutMs: 3_000,
  expectStatus: [],
  headers: {},
  followRedirects: true,
  insecure: false,
};

let db: RunningPostgres;

beforeAll(async () => {
  db = await startPostgres({ password: 'pg/s3cr3t@pw' });
});

afterAll(async () => {
  await db?.stop();
});

function probe(url: string, options: Partial<ProbeOptions> = {}): Probe {
  return createProbe(new URL(url), { ...defaults, ...options });
}

/** The URL of the test database with something changed. */
function variant(change: (url: URL) => void): string {
  const url = new URL(db.url);
  change(url);
  return url.href;
}

describe('postgres probe', () => {
  it('passes on SELECT 1 and reports the server version', async () => {
    const target = probe(db.url);
    const result = await target.check();
    expect(result.ok).toBe(true);
    expect(result.detail).toMatch(/^SELECT 1 ok, PostgreSQL \d+\.\d+.* in \d+ ms$/);
    expect(result.facts).toMatchObject({
      server_version: expect.stringMatching(/^\d+\.\d+/),
      in_recovery: false,
    });
    expect(target.target).toBe(`postgres://switchyard:***@127.0.0.1:${db.port}/switchyard`);
  });

  it('passes when the query answers yes', async () => {
    const result = await probe(db.url, {
      query: 'SELECT count(*) = 0 FROM pg_stat_activity WHERE false',
    }).check();
    expect(result.ok).toBe(true);
    expect(result.detail).toMatch(/^SELECT 1 ok, query ok, PostgreSQL /);
  });

  it('passes when the query succeeds without a value to judge', async () => {
    expect((await probe(db.url, { query: "SET application_name = 'checked'" }).check()).ok).toBe(true);
    expect((await probe(db.url, { query: 'SELECT FROM pg_database' }).check()).ok).toBe(true);
  });

  it('fails when the query answers false, 0 or null', async () => {
    expect(await probe(db.url, { query: 'SELECT false' }).check()).toMatchObject({
      ok: false,
      detail: 'query returned false',
    });
    // count(*) is a bigint, which the driver hands over as the text "0".
    expect(
      await probe(db.url, { query: 'SELECT count(*) FROM pg_tables WHERE false' }).check(),
    ).toMatchObject({
      ok: false,
      detail: 'query returned 0',
    });
    expect(await probe(db.url, { query: 'SELECT NULL' }).check()).toMatchObject({
      ok: false,
      detail: 'query returned null',
    });
  });

  it('fails when the query fails, with the server message', async () => {
    const result = await probe(db.url, { query: 'SELECT * FROM no_such_table' }).check();
    expect(result).toMatchObject({
      ok: false,
      detail: 'query failed: relation "no_such_table" does not exist',
      facts: { server_version: expect.any(String) },
    });
  });

  it('says the password is wrong without showing it', async () => {
    const url = variant((u) => (u.password = encodeURIComponent('not/the@password')));
    const wrong = probe(url);
    const result = await wrong.check();
    expect(result).toMatchObject({
      ok: false,
      detail: 'password authentication failed for user "switchyard"',
    });
    const shown = JSON.stringify([wrong.target, result]);
    expect(shown).not.toContain('not/the@password');
    expect(shown).not.toContain(encodeURIComponent('not/the@password'));
  });

  it('honours sslmode from the URL', async () => {
    // The test server has no TLS: requiring it must fail, disabling it must work.
    const required = await probe(variant((u) => u.searchParams.set('sslmode', 'verify-full'))).check();
    expect(required).toMatchObject({ ok: false, detail: 'The server does not support SSL connections' });
    expect((await probe(variant((u) => u.searchParams.set('sslmode', 'disable'))).check()).ok).toBe(true);
  });

  it('reports a refused connection', async () => {
    const result = await probe(`postgres://switchyard:pw@127.0.0.1:${await freePort()}/switchyard`).check();
    expect(result).toMatchObject({ ok: false, detail: 'connection refused' });
  });

  it('gives up on a slow query at the timeout', async () => {
    const started = performance.now();
    const result = await probe(db.url, { query: 'SELECT pg_sleep(5)', timeoutMs: 500 }).check();
    const took = performance.now() - started;
    expect(result).toMatchObject({ ok: false, detail: 'timed out after 500 ms' });
    expect(took).toBeGreaterThanOrEqual(499);
    expect(took).toBeLessThan(800);
  });
});
