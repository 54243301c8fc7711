// router: nginx against a real nginx in front of two sample services, with load from another process:
// every step of a promotion and the rollback must lose no request and send the share it was told to.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { systemClock } from '../../actions/core/src/clock.js';
import { UserError } from '../../actions/core/src/errors.js';
import { systemRunner } from '../../actions/core/src/process.js';
import { createRouter } from '../../actions/core/src/routers/index.js';
import { NginxRouter, renderUpstream } from '../../actions/core/src/routers/nginx.js';
import type { RouterOptions } from '../../actions/core/src/routers/router.js';
import { sampleColors } from '../../actions/core/src/routers/verify.js';
import { formatWindows, startLoad, type LoadReport } from '../../scripts/load.js';
import { outOfBounds, PROMOTION, REQUESTS_PER_STEP } from '../support/promotion-windows.js';
import {
  startNginx,
  startSampleService,
  type RunningNginx,
  type RunningServer,
} from '../../scripts/servers/index.js';

let blue: RunningServer;
let green: RunningServer;
let nginx: RunningNginx;
let confDir: string;
let upstreamFile: string;
let options: RouterOptions;
const logged: string[] = [];

beforeAll(async () => {
  [blue, green] = await Promise.all([
    startSampleService({ color: 'blue' }),
    startSampleService({ color: 'green', version: 'v2' }),
  ]);
  confDir = await mkdtemp(path.join(os.tmpdir(), 'switchyard-router-nginx-'));
  upstreamFile = path.join(confDir, 'switchyard-upstream.conf');
  const servers = { blue: [`127.0.0.1:${blue.port}`], green: [`127.0.0.1:${green.port}`] };
  // The state before switchyard's first deploy: everything on blue, in a file of switchyard's.
  await writeFile(upstreamFile, renderUpstream('switchyard', servers, { blue: 100, green: 0 }));
  nginx = await startNginx({
    http: ({ port }) => `
  upstream legacy { server 127.0.0.1:1; }
  include ${upstreamFile};
  server {
    listen 127.0.0.1:${port};
    location / { proxy_pass http://switchyard; }
  }`,
  });
  const base = ['nginx', '-p', `${nginx.dir}/`, '-c', nginx.configFile, '-e', nginx.logFile];
  options = {
    ...servers,
    nginx: {
      upstreamFile,
      upstreamName: 'switchyard',
      testCommand: [...base, '-t', '-q'],
      reloadCommand: [...base, '-s', 'reload'],
    },
    haproxy: {},
    verifyUrl: nginx.url,
    runner: systemRunner,
    clock: systemClock,
    log: (line) => logged.push(line),
  };
});

afterAll(async () => {
  await Promise.all([nginx?.stop(), blue?.stop(), green?.stop()]);
  if (confDir) await rm(confDir, { recursive: true, force: true });
});

describe('router: nginx', () => {
  it('promotes 10→25→50→75→100 and rolls back under load without losing a request', async () => {
    const router = createRouter('nginx', options);
    expect(await router.read()).toEqual({ blue: 100, green: 0 });
    logged.length = 0;
    const load = await startLoad({ url: nginx.url, concurrency: 6 });
    const applyMs: number[] = [];
    let report: LoadReport;
    try {
      await load.until(REQUESTS_PER_STEP);
      for (const share of PROMOTION) {
        const weights = { blue: 100 - share, green: share };
        // Requests sent while the change is under way belong to a window of their own.
        await load.mark(`to ${share}`);
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
    // This nginx runs here, so each change counted as done once the old workers stopped accepting.
    const settled = logged.filter((line) => line.includes('of the previous configuration stopped accepting'));
    expect(settled).toHaveLength(PROMOTION.length);
    console.log(
      `${settled.join('\n')}\nnginx: ${report.total} requests in ${report.durationMs} ms; apply (write, test, reload, settle) took ` +
        `${applyMs.join(', ')} ms\n${formatWindows(report)}`,
    );
    expect(report.failures).toEqual({});
    expect(report.failed).toBe(0);
    expect(report.windows[0]).toMatchObject({ label: 'start', green: 0 });
    expect(outOfBounds(report)).toEqual([]);
  });

  it('keeps the previous file and nginx serving blue when the configuration test fails', async () => {
    const router = createRouter('nginx', options);
    await router.apply({ blue: 100, green: 0 });
    const before = await readFile(upstreamFile, 'utf8');

    // A user's mistake nginx -t catches: an upstream name their configuration already uses.
    const clashing = createRouter('nginx', {
      ...options,
      nginx: { ...options.nginx, upstreamName: 'legacy' },
    });
    const error = (await clashing.apply({ blue: 50, green: 50 }).catch((e: unknown) => e)) as UserError;
    expect(error).toBeInstanceOf(UserError);
    expect(error.message).toContain(`rejected the new upstream file ${upstreamFile}`);
    expect(error.message).toMatch(/duplicate upstream "legacy"/);
    expect(error.message).toContain('The previous upstream file was put back; nginx was not reloaded');
    expect(error.message).toContain('keeps serving blue 100 / green 0');

    expect(await readFile(upstreamFile, 'utf8')).toBe(before);
    expect(await sampleColors(nginx.url, { samples: 40 })).toMatchObject({ blue: 40, green: 0, errors: {} });
    // nginx still accepts the restored file: the next change goes through.
    await router.apply({ blue: 50, green: 50 });
    const verification = await router.verify({ blue: 50, green: 50 });
    expect(verification.ok ? 'ok' : verification.detail).toBe('ok');
  });

  it('puts the previous file back and nginx serving it when the reload command fails', async () => {
    const router = createRouter('nginx', options);
    await router.apply({ blue: 100, green: 0 });
    const before = await readFile(upstreamFile, 'utf8');
    const once = path.join(confDir, 'reload-failed-once');
    await rm(once, { force: true });
    // The worst case: the reload went through, but the command reports failure (an ssh session cut
    // off after it ran, a wrapper timing out) — nginx serves the new file, switchyard was told no.
    const failsOnce = [
      'sh',
      '-c',
      '"$@"; status=$?; if [ ! -e "$0" ]; then : > "$0"; echo "ssh: connection reset by peer" >&2; exit 255; fi; exit $status',
      once,
      ...options.nginx.reloadCommand,
    ];
    const flaky = createRouter('nginx', {
      ...options,
      nginx: { ...options.nginx, reloadCommand: failsOnce },
    });
    const error = (await flaky.apply({ blue: 0, green: 100 }).catch((e: unknown) => e)) as UserError;
    expect(error).toBeInstanceOf(UserError);
    expect(error.message).toMatch(
      /^nginx-reload-command `sh -c .*` failed \(exited with code 255\):\n {2}ssh: connection reset by peer\n/,
    );
    expect(error.message).toContain(
      'The previous upstream file was put back and nginx was reloaded with it, so it serves blue 100 / green 0 as before.',
    );
    expect(await readFile(upstreamFile, 'utf8')).toBe(before);
    expect(await sampleColors(nginx.url, { samples: 40 })).toMatchObject({ blue: 40, green: 0, errors: {} });
  });

  it('waits for verify-url to show the change when it cannot see nginx on this host', async () => {
    // As with nginx on another machine, reloaded over ssh: no worker process to watch here.
    const remote = new NginxRouter({ ...options, nginx: { ...options.nginx, upstreamFile } }, async () => []);
    logged.length = 0;
    for (const weights of [
      { blue: 0, green: 100 },
      { blue: 100, green: 0 },
    ]) {
      await remote.apply(weights);
      const counts = await sampleColors(nginx.url, { samples: 100 });
      expect({ blue: counts.blue, green: counts.green }).toEqual(weights);
    }
    expect(logged.filter((line) => line.startsWith('nginx: verify-url shows the new weights'))).toHaveLength(
      2,
    );
  });
});
