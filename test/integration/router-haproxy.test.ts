// router: haproxy against a real HAProxy in front of two sample services, with load from another
// process: no request lost and the right share at every step, and the weights outlive a restart.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { systemClock } from '../../actions/core/src/clock.js';
import { UserError } from '../../actions/core/src/errors.js';
import { systemRunner } from '../../actions/core/src/process.js';
import { createRouter } from '../../actions/core/src/routers/index.js';
import type { RouterOptions } from '../../actions/core/src/routers/router.js';
import { sampleColors } from '../../actions/core/src/routers/verify.js';
import { formatWindows, startLoad, type LoadReport } from '../../scripts/load.js';
import { outOfBounds, PROMOTION, REQUESTS_PER_STEP } from '../support/promotion-windows.js';
import {
  startHaproxy,
  startSampleService,
  type RunningHaproxy,
  type RunningServer,
} from '../../scripts/servers/index.js';

const CONCURRENCY = 6;
let blue: RunningServer;
let green: RunningServer;
let haproxy: RunningHaproxy;
let stateDir: string;
let stateFile: string;
const logged: string[] = [];

/** The user's haproxy.cfg: blue takes everything until switchyard says otherwise. */
function startOurHaproxy(): Promise<RunningHaproxy> {
  return startHaproxy({
    config: ({ port }) => `
global
  server-state-file ${stateFile}
  # More threads than this machine's cores: a change must hold on every one of them.
  nbthread 4

frontend web
  bind 127.0.0.1:${port}
  default_backend app

backend app
  balance roundrobin
  load-server-state-from-file global
  server blue 127.0.0.1:${blue.port} weight 100
  server green 127.0.0.1:${green.port} weight 0
`,
  });
}

/** A unix socket at `from` that passes every connection on to `to`, and can be closed and reopened. */
function socketRelay(from: string, to: string) {
  let server: net.Server | undefined;
  const connections = new Set<net.Socket>();
  return {
    isOpen: () => server !== undefined,
    async open(): Promise<void> {
      await rm(from, { force: true });
      const opened = net.createServer((client) => {
        const upstream = net.connect(to);
        connections.add(client).add(upstream);
        client.pipe(upstream).pipe(client);
        const drop = (): void => {
          client.destroy();
          upstream.destroy();
        };
        client.once('error', drop).once('close', drop);
        upstream.once('error', drop).once('close', drop);
      });
      server = opened;
      await new Promise<void>((resolve) => opened.listen(from, resolve));
    },
    /** At once, so that the router's very next connection finds nothing. */
    closeNow(): void {
      // The path goes first, as when a reload replaces the socket.
      rmSync(from, { force: true });
      server?.close();
      server = undefined;
    },
    async close(): Promise<void> {
      this.closeNow();
      for (const connection of connections) connection.destroy();
    },
  };
}

function optionsFor(
  server: RunningHaproxy,
  overrides: Partial<RouterOptions['haproxy']> = {},
): RouterOptions {
  return {
    blue: [`127.0.0.1:${blue.port}`],
    green: [`127.0.0.1:${green.port}`],
    nginx: {
      upstreamName: 'switchyard',
      testCommand: ['nginx', '-t'],
      reloadCommand: ['nginx', '-s', 'reload'],
    },
    haproxy: {
      socket: server.socket,
      backend: 'app',
      blueServer: 'blue',
      greenServer: 'green',
      stateFile,
      ...overrides,
    },
    verifyUrl: server.url,
    runner: systemRunner,
    clock: systemClock,
    log: (line) => logged.push(line),
  };
}

beforeAll(async () => {
  [blue, green] = await Promise.all([
    startSampleService({ color: 'blue' }),
    startSampleService({ color: 'green', version: 'v2' }),
  ]);
  // Beside, not inside, HAProxy's own directory: it has to outlive the HAProxy that wrote it.
  stateDir = await mkdtemp(path.join(os.tmpdir(), 'switchyard-router-haproxy-'));
  stateFile = path.join(stateDir, 'server-state');
  haproxy = await startOurHaproxy();
});

afterAll(async () => {
  await Promise.all([haproxy?.stop(), blue?.stop(), green?.stop()]);
  if (stateDir) await rm(stateDir, { recursive: true, force: true });
});

describe('router: haproxy', () => {
  it('promotes 10→25→50→75→100 and rolls back under load without losing a request', async () => {
    const router = createRouter('haproxy', optionsFor(haproxy));
    expect(await router.read()).toEqual({ blue: 100, green: 0 });
    const load = await startLoad({ url: haproxy.url, concurrency: CONCURRENCY });
    const applyMs: number[] = [];
    let report: LoadReport;
    try {
      await load.until(REQUESTS_PER_STEP);
      for (const share of PROMOTION) {
        const weights = { blue: 100 - share, green: share };
        await load.mark(`to ${share}`);
        // Requests sent in the last window but still on their way would meet the new weights and
        // count against the old ones: before this wait, 1 to 6 of every ~110 in a 'green 100'
        // window reached blue, all sent in the window's last 2 ms. Each of the loops has sent
        // and seen answered several requests of the new window by now.
        await load.until(4 * CONCURRENCY);
        const started = performance.now();
        await router.apply(weights);
        applyMs.push(Math.round(performance.now() - started));
        await load.mark(`green ${share}`);
        expect(await router.read()).toEqual(weights);
        const verification = await router.verify(weights);
        expect(verification.ok ? 'ok' : verification.detail).toBe('ok');
        await load.until(REQUESTS_PER_STEP);
      }
    } finally {
      report = await load.stop();
    }
    console.log(
      `haproxy: ${report.total} requests in ${report.durationMs} ms; apply (set, read back, save state) took ` +
        `${applyMs.join(', ')} ms\n${formatWindows(report)}`,
    );
    expect(report.failures).toEqual({});
    expect(report.failed).toBe(0);
    expect(report.windows[0]).toMatchObject({ label: 'start', green: 0 });
    expect(outOfBounds(report)).toEqual([]);
  });

  it('sends no request to a server at weight 0 once apply() returns, over many changes under load', async () => {
    const router = createRouter('haproxy', optionsFor(haproxy, { stateFile: undefined }));
    // Busy threads, from another process: this load's windows straddle changes and are not judged.
    const background = await startLoad({ url: haproxy.url, concurrency: 4 });
    const judged = { requests: 0, changes: 0 };
    const wrong: string[] = [];
    try {
      // Through the steps where a stray request was once seen: 75 → 100 and 25 → 0.
      for (let round = 0; round < 20; round++) {
        for (const green of [75, 100, 25, 0]) {
          await router.apply({ blue: 100 - green, green });
          if (green !== 0 && green !== 100) continue;
          // Fresh connections, sent only after apply() returned; bounded in count and time.
          const counts = await sampleColors(haproxy.url, { samples: 50, concurrency: 8, timeoutMs: 2_000 });
          expect(counts).toMatchObject({ errors: {}, unnamed: 0 });
          const stray = green === 0 ? counts.green : counts.blue;
          if (stray > 0) wrong.push(`round ${round}, green ${green}: ${stray} of 50 to the weight-0 server`);
          judged.requests += counts.samples;
          judged.changes++;
        }
      }
    } finally {
      await background.stop();
    }
    console.log(
      `haproxy: ${judged.requests} requests after ${judged.changes} changes to weight 0, none may reach it`,
    );
    expect(judged).toEqual({ requests: 2_000, changes: 40 });
    expect(wrong).toEqual([]);
  });

  it('puts the weights back when the runtime API goes away in the middle of a change', async () => {
    const router = createRouter('haproxy', optionsFor(haproxy));
    await router.apply({ blue: 100, green: 0 });
    const savedBefore = await readFile(stateFile, 'utf8');

    // A relay in front of HAProxy's socket stands for the socket: closed (and its path gone)
    // between the two commands of a change, as when HAProxy is reloaded, then back.
    const relayPath = path.join(stateDir, 'relay.sock');
    const relay = socketRelay(relayPath, haproxy.socket);
    await relay.open();
    const lines: string[] = [];
    const flaky = createRouter('haproxy', {
      ...optionsFor(haproxy, { socket: relayPath }),
      log: (line) => {
        lines.push(line);
        if (line === 'haproxy: set server app/blue weight 0') relay.closeNow();
        if (line.startsWith('haproxy: the runtime API went away') && !relay.isOpen()) void relay.open();
      },
    });
    try {
      const error = (await flaky.apply({ blue: 0, green: 100 }).catch((e: unknown) => e)) as UserError;
      expect(error).toBeInstanceOf(UserError);
      expect(error.message).toMatch(
        /^cannot reach the HAProxy runtime API at .*relay\.sock \(haproxy-socket\): ENOENT\..*; green was put back to weight 0, so HAProxy serves blue 100 \/ green 0 as before$/s,
      );
    } finally {
      await relay.close();
    }
    expect(lines.filter((line) => /^haproxy: (set server|the runtime API)/.test(line))).toEqual([
      'haproxy: set server app/green weight 100',
      'haproxy: set server app/blue weight 0',
      // The socket is still gone…
      'haproxy: set server app/green weight 0',
      'haproxy: the runtime API went away in the middle of a change; retrying to put green back to 0',
      // …and back.
      'haproxy: set server app/green weight 0',
    ]);
    expect(await router.read()).toEqual({ blue: 100, green: 0 });
    expect(await sampleColors(haproxy.url, { samples: 40 })).toMatchObject({
      blue: 40,
      green: 0,
      errors: {},
    });
    expect(await readFile(stateFile, 'utf8')).toBe(savedBefore);
  });

  it('keeps the weights across a restart of HAProxy', async () => {
    await createRouter('haproxy', optionsFor(haproxy)).apply({ blue: 30, green: 70 });
    expect(await readFile(stateFile, 'utf8')).toMatch(/^\d+ app \d+ green 127\.0\.0\.1 \d+ \d+ 70 0 /m);

    await haproxy.stop();
    haproxy = await startOurHaproxy();
    const router = createRouter('haproxy', optionsFor(haproxy));
    expect(await router.read()).toEqual({ blue: 30, green: 70 });
    const counts = await sampleColors(haproxy.url, { samples: 100 });
    expect(counts).toMatchObject({ errors: {}, unnamed: 0 });
    expect(Math.abs(counts.green - 70)).toBeLessThanOrEqual(5);
  });

  it('names the missing server and changes nothing when a server name is wrong', async () => {
    const router = createRouter('haproxy', optionsFor(haproxy));
    await router.apply({ blue: 100, green: 0 });
    const typo = createRouter('haproxy', optionsFor(haproxy, { greenServer: 'gren' }));
    const error = (await typo.apply({ blue: 50, green: 50 }).catch((e: unknown) => e)) as UserError;
    expect(error).toBeInstanceOf(UserError);
    expect(error.message).toBe(
      'HAProxy backend app has no server "gren" (haproxy-green-server); its servers are: blue, green',
    );
    expect(await router.read()).toEqual({ blue: 100, green: 0 });

    const unreachable = createRouter(
      'haproxy',
      optionsFor(haproxy, { socket: path.join(stateDir, 'no.sock') }),
    );
    await expect(unreachable.read()).rejects.toThrow(
      /cannot reach the HAProxy runtime API at .*no\.sock \(haproxy-socket\): ENOENT/,
    );
  });
});
