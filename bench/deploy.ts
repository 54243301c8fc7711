// Deploy benchmarks, per router (nginx, HAProxy), with real servers on loopback:
//   - failed requests during a promotion 10→…→100 and a rollback, under the highest closed-loop
//     load this machine sustains (16 clients, a fresh connection per request);
//   - p99 latency during the switches against steady state, in the same run;
//   - rollback latency: decision → blue at 100% as the router confirms it (and with verify-url sampling);
//   - detection latency: green starts failing → traffic restored, interval 1s, failure-limit 3.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { runWithInputs } from '../actions/core/src/action.js';
import { systemClock } from '../actions/core/src/clock.js';
import { systemRunner, splitCommand } from '../actions/core/src/process.js';
import { createRouter } from '../actions/core/src/routers/index.js';
import { run as deployRun } from '../actions/deploy/src/main.js';
import { setFailRate, startBlueGreen, type BlueGreen } from '../scripts/demo/blue-green.js';
import { startLoad, type LoadWindow } from '../scripts/load.js';
import { stopAllServers } from '../scripts/servers/index.js';
import { median, printTable } from './table.js';

const CLIENTS = 16;
const ROLLBACK_RUNS = Number(process.env.BENCH_RUNS ?? 10);

function deploy(
  setup: BlueGreen,
  state: string,
  inputs: Record<string, string>,
  onLine?: (line: string) => void,
) {
  return runWithInputs(
    deployRun,
    {
      ...setup.inputs,
      state,
      'stage-command': `node ${resolve('scripts/demo/stage.js')}`,
      'health-path': '/',
      ...inputs,
    },
    { env: { ...process.env, RUNNER_TEMP: tmpdir() }, echo: onLine },
  );
}

function routerFor(setup: BlueGreen, withVerifyUrl: boolean) {
  const argv = (key: string, fallback: string) => {
    const words = splitCommand(setup.inputs[key] ?? fallback);
    return typeof words === 'string' ? [] : words;
  };
  return createRouter(setup.router, {
    blue: [setup.inputs.blue as string],
    green: [setup.inputs.green as string],
    nginx: {
      upstreamFile: setup.inputs['nginx-upstream-file'],
      upstreamName: 'switchyard',
      testCommand: argv('nginx-test-command', 'nginx -t'),
      reloadCommand: argv('nginx-reload-command', 'nginx -s reload'),
    },
    haproxy: {
      socket: setup.inputs['haproxy-socket'],
      backend: setup.inputs['haproxy-backend'],
      blueServer: 'blue',
      greenServer: 'green',
      stateFile: setup.inputs['haproxy-state-file'],
    },
    verifyUrl: withVerifyUrl ? setup.inputs['verify-url'] : undefined,
    runner: systemRunner,
    clock: systemClock,
    log: () => undefined,
  });
}

async function benchRouter(routerKind: 'nginx' | 'haproxy', dir: string) {
  const setup = await startBlueGreen(routerKind);
  try {
    const state = `file:${join(dir, `${routerKind}.json`)}`;
    if ((await deploy(setup, state, { command: 'stage', version: 'v2' })).exitCode !== 0)
      throw new Error('stage failed');

    const load = await startLoad({ url: `${setup.url}/`, concurrency: CLIENTS });
    // Warm up first (JIT, connection churn settling), so "steady" means steady.
    await load.mark('warm-up');
    await load.until(3000);
    await load.mark('steady');
    const steady = await load.until(4000);
    await load.mark('switching');
    const promote = await deploy(setup, state, {
      command: 'promote',
      'step-duration': '1s',
      interval: '250ms',
      // interval × min-samples must fit in a step: 4 probes per target in each 1 s step.
      'min-samples': '4',
      targets: `${setup.url}/`,
    });
    const rollback = await deploy(setup, state, { command: 'rollback', reason: 'benchmark' });
    await load.mark('after');
    const report = await load.stop();
    if (promote.exitCode !== 0 || rollback.exitCode !== 0)
      throw new Error(`promote/rollback failed: ${promote.log.slice(-3).join(' ')}`);
    const switching = report.windows.find((w) => w.label === 'switching') as LoadWindow;
    const seconds = ((switching.endMs ?? 0) - switching.startMs) / 1000;

    // Rollback latency: from 50/50, the decision is the call; done when the router confirms blue at 100%.
    const timings = { confirmed: [] as number[], sampled: [] as number[] };
    for (const [kind, router] of [
      ['confirmed', routerFor(setup, false)],
      ['sampled', routerFor(setup, true)],
    ] as const) {
      for (let i = 0; i < ROLLBACK_RUNS; i++) {
        await router.apply({ blue: 50, green: 50 });
        const started = performance.now();
        await router.apply({ blue: 100, green: 0 });
        const verdict = await router.verify({ blue: 100, green: 0 });
        timings[kind].push(performance.now() - started);
        if (!verdict.ok) throw new Error(`rollback not verified: ${verdict.detail}`);
      }
    }

    // Detection latency: green fails every request from some moment in the 50% step.
    await deploy(setup, state, { command: 'stage', version: 'v3' });
    let brokeAt = 0;
    let restoredAt = 0;
    const breach = await deploy(
      setup,
      state,
      {
        command: 'promote',
        steps: '50,100',
        'step-duration': '30s',
        interval: '1s',
        'failure-limit': '3',
        'max-error-rate': '100%',
      },
      (line) => {
        if (!brokeAt && line.includes('at 50%, holding')) {
          brokeAt = performance.now();
          void setFailRate(setup.green, 1);
        }
        if (line.includes('restored to 100%')) restoredAt = performance.now();
      },
    );
    await setFailRate(setup.green, 0);
    if (breach.outputs['rolled-back'] !== 'true')
      throw new Error('the failing promotion was not rolled back');

    return {
      router: routerKind,
      requests: switching.total,
      rps: switching.total / seconds,
      failed: switching.failed,
      failures: report.failures,
      steadyP99: steady.p99Ms ?? NaN,
      switchingP99: switching.p99Ms ?? NaN,
      rollbackConfirmed: timings.confirmed,
      rollbackSampled: timings.sampled,
      detection: restoredAt - brokeAt,
    };
  } finally {
    await setup.stop();
  }
}

export async function deployBench(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'switchyard-bench-deploy-'));
  const results = [];
  try {
    for (const router of ['nginx', 'haproxy'] as const) results.push(await benchRouter(router, dir));
  } finally {
    rmSync(dir, { recursive: true, force: true });
    await stopAllServers();
  }
  printTable(
    `Promote 10→25→50→75→100 (1 s per step) + rollback under ${CLIENTS} closed-loop clients`,
    [
      'router',
      'requests',
      'req/s',
      'failed (goal 0)',
      'p99 steady ms',
      'p99 during switches ms',
      'ratio (goal ≤ 1.5)',
    ],
    results.map((r) => [
      r.router,
      String(r.requests),
      r.rps.toFixed(0),
      `${r.failed}${r.failed ? ` ${JSON.stringify(r.failures)}` : ''}`,
      r.steadyP99.toFixed(1),
      r.switchingP99.toFixed(1),
      (r.switchingP99 / r.steadyP99).toFixed(2),
    ]),
  );
  printTable(
    `Rollback latency: decision → blue at 100% (median / max of ${ROLLBACK_RUNS})`,
    ['router', 'confirmed by the router', 'plus verify-url sampling (100 requests)', 'goal'],
    results.map((r) => [
      r.router,
      `${median(r.rollbackConfirmed).toFixed(1)} / ${Math.max(...r.rollbackConfirmed).toFixed(1)} ms`,
      `${median(r.rollbackSampled).toFixed(1)} / ${Math.max(...r.rollbackSampled).toFixed(1)} ms`,
      r.router === 'nginx' ? '< 250 ms' : '< 50 ms',
    ]),
  );
  printTable(
    'Detection: green starts failing → traffic restored (interval 1s, failure-limit 3)',
    ['router', 'seconds', 'goal'],
    results.map((r) => [r.router, (r.detection / 1000).toFixed(2), '< 4 s']),
  );
}
