// validate-migration parity, from the bundle as the runner runs it: the same requests to a blue
// and a green HTTP server (real ones, on loopback), answers compared — status, JSON body less the
// ignored paths, content type — and green's latency against blue's.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { annotations, runLikeTheRunner } from '../../scripts/run-action.js';

interface Behaviour {
  version: string;
  /** Field renamed in the order body: what a migration that renamed a column would cause. */
  renamed?: boolean;
  /** Server-side delay per answer, in ms. */
  delayMs?: number;
  failing?: string;
}

let workspace: string;
const servers: Server[] = [];

async function start(behaviour: Behaviour): Promise<{ url: string; set: (b: Partial<Behaviour>) => void }> {
  const state = { ...behaviour };
  const server = createServer((request, response) => {
    const answer = () => {
      if (request.url === state.failing) {
        response.writeHead(500, { 'content-type': 'application/json' }).end('{"error":"boom"}');
        return;
      }
      let body = '';
      request.on('data', (chunk) => (body += chunk));
      request.on('end', () => {
        const order = {
          id: 1,
          [state.renamed ? 'amount' : 'total']: '9.99',
          items: [{ sku: 'a', at: Date.now() }],
        };
        const payload = request.method === 'POST' ? { echoed: JSON.parse(body || '{}') } : order;
        response
          .writeHead(200, { 'content-type': 'application/json; charset=utf-8' })
          .end(JSON.stringify({ ...payload, version: state.version, timestamp: new Date().toISOString() }));
      });
    };
    if (state.delayMs) setTimeout(answer, state.delayMs);
    else answer();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  servers.push(server);
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    set: (next) => Object.assign(state, next),
  };
}

let blue: Awaited<ReturnType<typeof start>>;
let green: Awaited<ReturnType<typeof start>>;

beforeAll(async () => {
  workspace = mkdtempSync(join(tmpdir(), 'switchyard-parity-e2e-'));
  [blue, green] = await Promise.all([start({ version: 'v1' }), start({ version: 'v2' })]);
});

afterAll(async () => {
  await Promise.all(servers.map((server) => new Promise((resolve) => server.close(resolve))));
  if (workspace) rmSync(workspace, { recursive: true, force: true });
});

const parity = (inputs: Record<string, string>) =>
  runLikeTheRunner(
    'validate-migration',
    { command: 'parity', 'blue-url': blue.url, 'green-url': green.url, ...inputs },
    {},
    { cwd: workspace },
  );

describe('validate-migration parity (bundle, real HTTP servers)', () => {
  it('passes when blue and green answer alike, less the ignored paths', async () => {
    green.set({ renamed: false, failing: undefined, delayMs: 0 });
    const run = await parity({
      requests: '/orders/1\nGET /health',
      ignore: '$.version, $.timestamp, $.items[*].at',
    });
    expect(run.exitCode).toBe(0);
    expect(run.outputs.valid).toBe('true');
    expect(JSON.parse(run.outputs.differences ?? '')).toEqual([]);
    expect(run.summary).toContain('2 requests, 0 differences');
  });

  it('names each request whose answer differs, with both sides', async () => {
    green.set({ renamed: true, failing: '/health' });
    const run = await parity({
      requests: '/orders/1\n/health',
      ignore: '$..timestamp, $.version, $.items[*].at',
    });
    expect(run.exitCode).toBe(1);
    const errors = annotations(run.stdout);
    expect(errors).toEqual([
      expect.stringMatching(
        /^GET \/orders\/1: the body differs — blue \{.*"total":"9.99".*\}, green \{.*"amount":"9.99".*\}$/,
      ),
      'GET /health: the status differs — blue 200, green 500',
      // The media type is the same (its charset parameter aside): only the body differs.
      'GET /health: the body differs — blue {"id":1,"items":[{"sku":"a"}],"total":"9.99"}, green {"error":"boom"}',
    ]);
  });

  it('sends what a requests file says, and fails a green slower than max-latency-ratio allows', async () => {
    green.set({ renamed: false, failing: undefined, delayMs: 60 });
    writeFileSync(
      join(workspace, 'requests.yml'),
      '- path: /orders/1\n- method: POST\n  path: /orders\n  body: { sku: a, qty: 2 }\n  headers: { content-type: application/json }\n',
    );
    const run = await parity({
      requests: 'requests.yml',
      ignore: '$..timestamp, $.version, $.items',
      'max-latency-ratio': '3',
    });
    expect(run.exitCode).toBe(1);
    expect(annotations(run.stdout)).toEqual([
      expect.stringMatching(/^green answers \d+\.\d+× slower than blue .* over max-latency-ratio 3$/),
    ]);
    expect(run.summary).toContain('`POST /orders`');
  });

  it('refuses what it cannot send, naming the input', async () => {
    const noGreen = await runLikeTheRunner(
      'validate-migration',
      { command: 'parity', 'blue-url': blue.url, requests: '/' },
      {},
      { cwd: workspace },
    );
    expect(annotations(noGreen.stdout)).toEqual([
      expect.stringContaining('Input "green-url": is required for parity'),
    ]);
    const badPath = await parity({ requests: 'orders' });
    expect(annotations(badPath.stdout)).toEqual([
      expect.stringContaining('Input "requests": "orders" is not "METHOD /path" or "/path"'),
    ]);
    const badIgnore = await parity({ requests: '/', ignore: 'timestamp' });
    expect(annotations(badIgnore.stdout)).toEqual([
      expect.stringContaining('Input "ignore": "timestamp" is not a JSON path'),
    ]);
  });
});
