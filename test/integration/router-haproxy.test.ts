// router: haproxy against a real HAProxy in front of two sample services, with load from another
// process: no request lost and the right share at every step, and the weights outlive a restart.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
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
    const load = await startLoad({ url: haproxy.url, concurrency: 6 });
    const applyMs: number[] = [];
    let report: LoadReport;
    try {
      await load.until(REQUESTS_PER_STEP);
      for (const share of PROMOTION) {
        const weights = { blue: 100 - share, green: share };
        await load.mark(`to ${share}`);
        const started = performance.now();
        await router.apply(weights);
        applyMs.push(Math.round(performance.now() - started));
        expect(await router.read()).toEqual(weights);
        const verification = await router.verify(weights);
        expect(verification.ok ? 'ok' : verification.detail).toBe('ok');
        // The window opens once the change is confirmed twice over. Under the full suite's load a
        // request sent within a millisecond of apply() once still reached the old colour (2 of
        // 410 at 100%): HAProxy's other thread had not yet rebuilt its balancing state.
        await load.mark(`green ${share}`);
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
