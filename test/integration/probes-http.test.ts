// The http(s):// probe against a real nginx: statuses, bodies, redirects, headers, timeouts.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { execFile } from 'node:child_process';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { createProbe } from '../../actions/core/src/probes/index.js';
import { parseBodyMatcher } from '../../actions/core/src/health-check/inputs.js';
import type { BodyMatcher, Probe, ProbeOptions } from '../../actions/core/src/probes/probe.js';
import {
  freePort,
  startNginx,
  startSampleService,
  type RunningNginx,
  type RunningServer,
} from '../../scripts/servers/index.js';

const defaults: ProbeOptions = {
  timeoutMs: 2_000,
  expectStatus: [{ min: 200, max: 399 }],
  headers: {},
  followRedirects: true,
  insecure: false,
};

let nginx: RunningNginx;
let tlsPort: number;
let certDir: string;
let sample: RunningServer & { url: string };
const probes: Probe[] = [];

beforeAll(async () => {
  sample = await startSampleService();
  // A self-signed certificate, as a staging host often has.
  certDir = await mkdtemp(path.join(os.tmpdir(), 'switchyard-probe-tls-'));
  const cert = path.join(certDir, 'cert.pem');
  const key = path.join(certDir, 'key.pem');
  await promisify(execFile)('openssl', [
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-days',
    '1',
    '-subj',
    '/CN=127.0.0.1',
    '-keyout',
    key,
    '-out',
    cert,
  ]);
  // nginx's workers run as nobody: they need to read the files served from here.
  await chmod(certDir, 0o755);
  await writeFile(path.join(certDir, 'big.txt'), `starts here\n${'x'.repeat(3 * 1024 * 1024)}\nends here\n`);
  await chmod(path.join(certDir, 'big.txt'), 0o644);
  tlsPort = await freePort();
  nginx = await startNginx({
    http: ({ port }) => `
      server {
        listen 127.0.0.1:${tlsPort} ssl;
        ssl_certificate ${cert};
        ssl_certificate_key ${key};
        location = /ready { return 200 "ready over tls\\n"; }
        location = /echo { return 200 "host=[$http_host] authorization=[$http_authorization] x-token=[$http_x_token]\\n"; }
      }
      server {
        listen 127.0.0.1:${port};
        location = /ready { return 200 "ready\\n"; }
        location = /maintenance { return 503 "down for maintenance\\n"; }
        location = /empty-error { return 500; }
        location = /moved { return 302 /ready; }
        location = /moved-twice { return 301 /moved; }
        location = /loop { return 302 /loop; }
        location = /token {
          if ($http_x_token != "abc") { return 401; }
          return 200 "token accepted\\n";
        }
        location = /basic {
          if ($http_authorization != "Basic dXNlcjpodW50ZXIyMg==") { return 401; }
          return 200 "basic accepted\\n";
        }
        location = /connection { return 200 "request $connection_requests on this connection\\n"; }
        location /delay/ { proxy_pass ${sample.url}/delay/; }
        location = /big { alias ${certDir}/big.txt; }
        location = /to-tls { return 302 https://127.0.0.1:${tlsPort}/echo; }
      }`,
  });
});

afterAll(async () => {
  await Promise.all(probes.map((probe) => probe.close()));
  await nginx?.stop();
  await sample?.stop();
  if (certDir) await rm(certDir, { recursive: true, force: true });
});

function probe(path: string, options: Partial<ProbeOptions> = {}, base = nginx.url): Probe {
  const created = createProbe(new URL(path, base), { ...defaults, ...options });
  probes.push(created);
  return created;
}

describe('http probe', () => {
  it('passes on an expected status and says how long it took', async () => {
    const result = await probe('/ready').check();
    expect(result).toMatchObject({ ok: true, facts: { status: 200 } });
    expect(result.detail).toMatch(/^HTTP 200 in \d+ ms$/);
    expect(result.latencyMs).toBeGreaterThan(0);
  });

  it('fails on a status outside the expected ranges, quoting what the server said', async () => {
    const result = await probe('/maintenance').check();
    expect(result).toMatchObject({
      ok: false,
      detail: 'HTTP 503 (expected 200-399): "down for maintenance"',
      facts: { status: 503 },
    });
  });

  it('lists every expected range when the status is in none of them', async () => {
    const result = await probe('/empty-error', {
      expectStatus: [
        { min: 200, max: 299 },
        { min: 404, max: 404 },
      ],
    }).check();
    expect(result.ok).toBe(false);
    expect(result.detail).toMatch(/^HTTP 500 \(expected 200-299, 404\)/);
  });

  it('accepts an error status the user expects', async () => {
    const result = await probe('/maintenance', { expectStatus: [{ min: 503, max: 503 }] }).check();
    expect(result.ok).toBe(true);
    expect(result.detail).toMatch(/^HTTP 503 in \d+ ms$/);
  });

  it('checks the body for a substring', async () => {
    expect((await probe('/ready', { expectBody: { kind: 'substring', text: 'ready' } }).check()).ok).toBe(
      true,
    );
    const result = await probe('/ready', { expectBody: { kind: 'substring', text: 'healthy' } }).check();
    expect(result).toMatchObject({ ok: false, detail: 'HTTP 200 but the body does not contain "healthy"' });
  });

  it('checks the body against a regex, the same way on every check', async () => {
    const matching = probe('/ready', { expectBody: parseBodyMatcher('/^re+ady$/gm') as BodyMatcher });
    expect((await matching.check()).ok).toBe(true);
    expect((await matching.check()).ok).toBe(true);
    const result = await probe('/ready', { expectBody: parseBodyMatcher('/^ok$/') as BodyMatcher }).check();
    expect(result).toMatchObject({ ok: false, detail: 'HTTP 200 but the body does not match /^ok$/' });
  });

  it('matches the body of a large page on its first MiB only', async () => {
    const start = await probe('/big', { expectBody: { kind: 'substring', text: 'starts here' } }).check();
    expect(start.ok).toBe(true);
    const end = await probe('/big', { expectBody: { kind: 'substring', text: 'ends here' } }).check();
    expect(end).toMatchObject({
      ok: false,
      detail: 'HTTP 200 but the body does not contain "ends here" in its first 1 MiB',
    });
  });

  it('follows redirects and reports where it ended', async () => {
    const result = await probe('/moved-twice', { expectBody: { kind: 'substring', text: 'ready' } }).check();
    expect(result).toMatchObject({
      ok: true,
      facts: { status: 200, url: `${nginx.url}/ready`, redirects: 2 },
    });
  });

  it('judges the redirect itself when told not to follow', async () => {
    expect(await probe('/moved', { followRedirects: false }).check()).toMatchObject({
      ok: true,
      facts: { status: 302 },
    });
    const strict = await probe('/moved', {
      followRedirects: false,
      expectStatus: [{ min: 200, max: 200 }],
    }).check();
    expect(strict.ok).toBe(false);
    expect(strict.detail).toMatch(/^HTTP 302 \(expected 200\)/);
  });

  it('gives up on a redirect loop', async () => {
    const result = await probe('/loop').check();
    expect(result).toMatchObject({
      ok: false,
      detail: `more than 5 redirects (the last to ${nginx.url}/loop)`,
    });
  });

  it('sends the configured headers', async () => {
    expect((await probe('/token').check()).detail).toMatch(/^HTTP 401 \(expected 200-399\)/);
    const result = await probe('/token', {
      headers: { 'X-Token': 'abc' },
      expectBody: { kind: 'substring', text: 'token accepted' },
    }).check();
    expect(result.ok).toBe(true);
  });

  it('logs in with the credentials of the URL and never shows the password', async () => {
    const withPassword = probe(`http://user:hunter22@127.0.0.1:${nginx.port}/basic`);
    expect(withPassword.target).toBe(`http://user:***@127.0.0.1:${nginx.port}/basic`);
    const ok = await withPassword.check();
    expect(ok.ok).toBe(true);

    const wrong = probe(`http://user:wrong-password@127.0.0.1:${nginx.port}/basic`);
    const refused = await wrong.check();
    expect(refused.ok).toBe(false);
    expect(JSON.stringify([wrong.target, refused])).not.toContain('wrong-password');
  });

  it('reuses its connection from one check to the next', async () => {
    const kept = probe('/connection', {
      expectBody: { kind: 'substring', text: 'request 2 on this connection' },
    });
    expect((await kept.check()).detail).toBe(
      'HTTP 200 but the body does not contain "request 2 on this connection"',
    );
    expect((await kept.check()).ok).toBe(true);
  });

  it('rejects a self-signed certificate unless told to be insecure', async () => {
    const strict = await probe(`https://127.0.0.1:${tlsPort}/ready`).check();
    expect(strict.ok).toBe(false);
    expect(strict.detail).toMatch(
      /^TLS certificate rejected: self[- ]signed certificate \(insecure: true accepts it\)$/,
    );
    const insecure = await probe(`https://127.0.0.1:${tlsPort}/ready`, {
      insecure: true,
      expectBody: { kind: 'substring', text: 'ready over tls' },
    }).check();
    expect(insecure.ok).toBe(true);
  });

  it('keeps credentials and the Host header from following a redirect to another origin', async () => {
    const result = await probe('/to-tls', {
      insecure: true,
      headers: { Host: 'app.internal', Authorization: 'Bearer tok-123', 'X-Token': 'abc' },
      expectBody: {
        kind: 'substring',
        // X-Token is a credential too (the same rule that masks it): it stays with its origin.
        text: `host=[127.0.0.1:${tlsPort}] authorization=[] x-token=[]`,
      },
    }).check();
    expect(result).toMatchObject({
      ok: true,
      facts: { url: `https://127.0.0.1:${tlsPort}/echo`, redirects: 1 },
    });
  });

  it('reports a refused connection', async () => {
    const port = await freePort();
    const result = await probe(`http://127.0.0.1:${port}/`).check();
    expect(result).toMatchObject({ ok: false, detail: 'connection refused' });
  });

  it('gives up on a slow response at the timeout', async () => {
    const slow = probe('/delay/3000', { timeoutMs: 300 });
    const started = performance.now();
    const result = await slow.check();
    const took = performance.now() - started;
    expect(result).toMatchObject({ ok: false, detail: 'timed out after 300 ms' });
    expect(took).toBeGreaterThanOrEqual(299);
    expect(took).toBeLessThan(500);
    expect(result.latencyMs).toBeLessThan(500);
  });

  it('waits for a response that is slow but within the timeout', async () => {
    const result = await probe('/delay/200', { timeoutMs: 2_000 }).check();
    expect(result.ok).toBe(true);
    expect(result.latencyMs).toBeGreaterThanOrEqual(200);
  });

  it('stops when the caller aborts', async () => {
    const stop = new AbortController();
    const started = performance.now();
    setTimeout(() => stop.abort(), 100);
    const result = await probe('/delay/3000', { timeoutMs: 5_000 }).check(stop.signal);
    expect(result).toMatchObject({ ok: false, detail: 'aborted' });
    expect(performance.now() - started).toBeLessThan(1_000);
  });
});
