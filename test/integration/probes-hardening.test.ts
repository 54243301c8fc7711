// The http:// probe against hostile answers, on real loopback servers: credentials must not follow a
// redirect to another origin, and a catastrophic expect-body pattern must not outlive the timeout.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { parseBodyMatcher } from '../../actions/core/src/health-check/inputs.js';
import { createProbe } from '../../actions/core/src/probes/index.js';
import type { BodyMatcher, Probe, ProbeOptions } from '../../actions/core/src/probes/probe.js';

interface Recorder {
  url: string;
  /** The headers of every request received, in order. */
  seen: http.IncomingHttpHeaders[];
  server: http.Server;
}

/** A loopback server that records the headers it receives and answers with `answer`. */
async function recorder(
  answer: (req: http.IncomingMessage, res: http.ServerResponse) => void,
): Promise<Recorder> {
  const seen: http.IncomingHttpHeaders[] = [];
  const server = http.createServer((req, res) => {
    seen.push(req.headers);
    answer(req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}`, seen, server };
}

const defaults: ProbeOptions = {
  timeoutMs: 2_000,
  expectStatus: [{ min: 200, max: 299 }],
  headers: {},
  followRedirects: true,
  insecure: false,
};

const probes: Probe[] = [];
function probe(url: string, options: Partial<ProbeOptions>): Probe {
  const made = createProbe(new URL(url), { ...defaults, ...options });
  probes.push(made);
  return made;
}

const CREDENTIALS = {
  Authorization: 'Bearer tok-authorization',
  Cookie: 'session=tok-cookie',
  'X-Api-Key': 'tok-api-key',
  'X-Auth-Token': 'tok-auth-token',
  'X-Session-Id': 'tok-session',
  'Proxy-Authorization': 'Basic tok-proxy',
};
const PLAIN = { 'X-Request-Source': 'switchyard-test' };

let other: Recorder;
let origin: Recorder;
let slow: Recorder;
beforeAll(async () => {
  other = await recorder((_req, res) => res.end('ok'));
  origin = await recorder((req, res) => {
    if (req.url === '/away') {
      res.writeHead(302, { location: `${other.url}/landed` }).end();
    } else if (req.url === '/here') {
      res.writeHead(302, { location: '/landed' }).end();
    } else {
      res.end('ok');
    }
  });
  slow = await recorder((_req, res) => res.end(`${'a'.repeat(30)}!`));
});

afterAll(async () => {
  await Promise.all(probes.map((p) => p.close()));
  for (const each of [other, origin, slow]) each.server.close();
});

describe('redirects', () => {
  it('drops every credential header on a redirect to another origin, and keeps the others', async () => {
    const result = await probe(`${origin.url}/away`, { headers: { ...CREDENTIALS, ...PLAIN } }).check();
    expect(result).toMatchObject({ ok: true, facts: { url: `${other.url}/landed`, redirects: 1 } });
    const first = origin.seen.at(-1) ?? {};
    for (const [name, value] of Object.entries(CREDENTIALS)) expect(first[name.toLowerCase()]).toBe(value);
    const landed = other.seen.at(-1) ?? {};
    for (const name of Object.keys(CREDENTIALS)) expect(landed).not.toHaveProperty(name.toLowerCase());
    expect(landed['x-request-source']).toBe('switchyard-test');
  });

  it('keeps them on a redirect within the same origin', async () => {
    const before = origin.seen.length;
    const result = await probe(`${origin.url}/here`, { headers: CREDENTIALS }).check();
    expect(result.ok).toBe(true);
    const [first, second] = origin.seen.slice(before);
    expect(second?.['x-api-key']).toBe('tok-api-key');
    expect(second?.authorization).toBe(first?.authorization);
  });
});

describe('expect-body', () => {
  it('answers within the timeout for a pattern that backtracks catastrophically', async () => {
    const matcher = parseBodyMatcher('/^(a+)+$/') as BodyMatcher;
    expect(typeof matcher).toBe('object');
    const started = performance.now();
    const result = await probe(`${slow.url}/`, { timeoutMs: 1_000, expectBody: matcher }).check();
    expect(performance.now() - started).toBeLessThan(1_000);
    expect(result.ok).toBe(false);
    expect(result.detail).toContain('does not match /^(a+)+$/');
  });
});
