// The load generator's own process (started by scripts/load.ts; plain JavaScript so it starts in
// milliseconds without a TypeScript loader). It sends GET requests to one URL without pause from
// `concurrency` loops (optionally capped at `rate` per second), sorts the answers by the colour they
// name, and counts every non-2xx answer and every socket error as a failure.
//
// Requests are counted in "windows": the parent marks the start of a new one (say, after a weight
// change) and a request belongs to the window in which it was SENT, so a window holds only requests
// that started after the change took effect.
//
// Connections: by default each request opens its own and asks the server to close it after the
// answer (`Connection: close`). That is what lets a window measure the weights in force: nginx runs a
// weighted round per worker and a kept-alive connection stays with the worker — after a reload, an
// OLD worker with the OLD weights — until it is closed. It also leaves aside a failure that belongs
// to HTTP clients, not to routers: a server may close an idle kept-alive connection (nginx's old
// workers do so when a reload tells them to finish) at the instant the client sends on it; browsers
// and most HTTP libraries then resend the idempotent request, Node's http does not. With
// `keepAlive: true` connections are reused, and such a request is resent once, as a browser would,
// and counted under `resent` rather than as a failure.
//
// Protocol with the parent (node IPC): in  {type:'mark', id, label} | {type:'until', id, count} | {type:'stop', id}
//                                       out {type:'ready'} | {type:'done', id, window?, report?}
// Run alone it loads for --duration seconds and prints the report as JSON:
//   node scripts/load-worker.js --url http://127.0.0.1:8080/ --concurrency 8 --duration 10
import http from 'node:http';
import https from 'node:https';
import { performance } from 'node:perf_hooks';
import { setTimeout } from 'node:timers';
import { parseArgs } from 'node:util';

const COLOR_HEADER = 'x-switchyard-color';
const FIRST_FAILURES_KEPT = 20;

function colorOf(header, body) {
  const named = (Array.isArray(header) ? header[0] : header)?.trim().toLowerCase();
  if (named === 'blue' || named === 'green') return named;
  const blue = /\bblue\b/i.test(body);
  const green = /\bgreen\b/i.test(body);
  if (blue !== green) return blue ? 'blue' : 'green';
  return 'unnamed';
}

function createLoad({ url, concurrency = 8, rate, timeoutMs = 10_000, keepAlive = false }) {
  const target = new URL(url);
  const transport = target.protocol === 'https:' ? https : http;
  const agent = keepAlive ? new transport.Agent({ keepAlive: true, maxSockets: concurrency }) : false;
  const started = performance.now();
  const windows = [];
  const failures = {};
  const firstFailures = [];
  let resent = 0;
  let running = true;
  let nextSlot = started;
  const waiters = [];

  const openWindow = (label) => {
    windows.push({
      label,
      total: 0,
      blue: 0,
      green: 0,
      unnamed: 0,
      failed: 0,
      startMs: performance.now() - started,
      latencies: [],
    });
  };
  openWindow('start');

  const once = (retry) =>
    new Promise((resolve) => {
      const req = transport.request(target, {
        method: 'GET',
        // A resend goes on a new connection, as a browser's does: the other idle ones may be closing too.
        agent: retry ? agent : false,
        headers: keepAlive
          ? { 'user-agent': 'switchyard-load' }
          : { connection: 'close', 'user-agent': 'switchyard-load' },
        timeout: timeoutMs,
      });
      let answered = false;
      req.once('timeout', () =>
        req.destroy(Object.assign(new Error('timeout'), { code: `timeout after ${timeoutMs} ms` })),
      );
      req.once('error', (error) => {
        if (answered) return;
        // A kept-alive connection the server closed as we sent on it (see the top of this file).
        if (
          keepAlive &&
          retry &&
          req.reusedSocket &&
          (error.code === 'ECONNRESET' || error.code === 'EPIPE')
        ) {
          resent++;
          resolve(once(false));
          return;
        }
        resolve({ failure: error.code ?? error.message });
      });
      req.once('response', (res) => {
        answered = true;
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk) => {
          if (body.length < 4096) body += chunk;
        });
        res.once('error', (error) => resolve({ failure: `response ${error.code ?? error.message}` }));
        res.once('end', () => {
          const status = res.statusCode ?? 0;
          if (status < 200 || status > 299) resolve({ failure: `HTTP ${status}` });
          else resolve({ color: colorOf(res.headers[COLOR_HEADER], body) });
        });
      });
      req.end();
    });

  const record = (index, outcome) => {
    const window = windows[index];
    window.total++;
    window.latencies.push(outcome.latencyMs);
    if (outcome.failure) {
      window.failed++;
      failures[outcome.failure] = (failures[outcome.failure] ?? 0) + 1;
      if (firstFailures.length < FIRST_FAILURES_KEPT) {
        firstFailures.push({
          atMs: Math.round(performance.now() - started),
          window: window.label,
          reason: outcome.failure,
        });
      }
    } else {
      window[outcome.color]++;
    }
    for (let i = waiters.length - 1; i >= 0; i--) {
      const waiter = waiters[i];
      if (waiter.window === index && window.total >= waiter.count) {
        waiters.splice(i, 1);
        waiter.resolve(summary(window));
      }
    }
  };

  const loop = async () => {
    while (running) {
      if (rate) {
        const wait = nextSlot - performance.now();
        nextSlot = Math.max(nextSlot, performance.now()) + 1000 / rate;
        if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
        if (!running) return;
      }
      const index = windows.length - 1;
      const sentAt = performance.now();
      const outcome = await once(true);
      record(index, { ...outcome, latencyMs: performance.now() - sentAt });
    }
  };
  const loops = Array.from({ length: concurrency }, loop);

  // Latency percentiles of the window (nearest rank), without shipping every sample to the parent.
  const summary = ({ latencies, ...window }) => {
    const sorted = [...latencies].sort((a, b) => a - b);
    const at = (p) =>
      sorted.length
        ? sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]
        : undefined;
    return { ...window, startMs: Math.round(window.startMs), p50Ms: at(50), p99Ms: at(99) };
  };

  return {
    mark(label) {
      windows[windows.length - 1].endMs = performance.now() - started;
      openWindow(label);
    },
    /** Resolves once the current window holds `count` answered requests. */
    until(count) {
      const index = windows.length - 1;
      const window = windows[index];
      if (window.total >= count) return Promise.resolve(summary(window));
      return new Promise((resolve) => waiters.push({ window: index, count, resolve }));
    },
    async stop() {
      running = false;
      await Promise.all(loops);
      if (agent) agent.destroy();
      const durationMs = performance.now() - started;
      windows[windows.length - 1].endMs = durationMs;
      const total = windows.reduce((sum, w) => sum + w.total, 0);
      const failed = windows.reduce((sum, w) => sum + w.failed, 0);
      return {
        total,
        failed,
        failures,
        firstFailures,
        resent,
        durationMs: Math.round(durationMs),
        windows: windows.map((w) => ({ ...summary(w), endMs: Math.round(w.endMs ?? durationMs) })),
      };
    },
  };
}

if (process.send) {
  const options = JSON.parse(process.argv[2] ?? '{}');
  const load = createLoad(options);
  const reply = (message, then) => process.send?.(message, then);
  process.on('message', async (message) => {
    if (message.type === 'mark') {
      load.mark(message.label);
      reply({ type: 'done', id: message.id });
    } else if (message.type === 'until') {
      reply({ type: 'done', id: message.id, window: await load.until(message.count) });
    } else if (message.type === 'stop') {
      reply({ type: 'done', id: message.id, report: await load.stop() }, () => process.disconnect());
    }
  });
  // The parent went away without stopping us: nobody wants the load any more.
  process.once('disconnect', () => process.exit(0));
  reply({ type: 'ready' });
} else {
  const { values } = parseArgs({
    options: {
      url: { type: 'string' },
      concurrency: { type: 'string', default: '8' },
      rate: { type: 'string' },
      duration: { type: 'string', default: '10' },
      'keep-alive': { type: 'boolean', default: false },
    },
  });
  if (!values.url) {
    console.error(
      'usage: node scripts/load-worker.js --url URL [--concurrency N] [--rate N] [--duration SECONDS] [--keep-alive]',
    );
    process.exit(2);
  }
  const load = createLoad({
    url: values.url,
    concurrency: Number(values.concurrency),
    rate: values.rate ? Number(values.rate) : undefined,
    keepAlive: values['keep-alive'],
  });
  setTimeout(
    async () => console.log(JSON.stringify(await load.stop(), null, 2)),
    Number(values.duration) * 1000,
  );
}
