// The fault suite (issue 8): the bundled deploy action, run as the runner runs it, against real
// nginx, HAProxy and Redis while things break. Each scenario asserts where traffic is afterwards
// (the router's own record and what it answers), what the state says, and that outputs, the
// summary and the report were written — failures included.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { annotations, type RunnerResult } from '../../scripts/run-action.js';
import { setFailRate, startBlueGreen, type BlueGreen } from '../../scripts/demo/blue-green.js';
import { startRedis, type RunningServer } from '../../scripts/servers/index.js';
import { runDeploy } from '../support/deploy-runs.js';

let scratch: string;
let redis: RunningServer & { url: string };
const setups: BlueGreen[] = [];

beforeAll(async () => {
  scratch = mkdtempSync(join(tmpdir(), 'switchyard-faults-'));
  redis = await startRedis();
});

afterAll(async () => {
  await Promise.all(setups.splice(0).map((s) => s.stop()));
  await redis?.stop();
  rmSync(scratch, { recursive: true, force: true });
});

/** A fresh blue-green behind a router: scenarios that kill a colour must not leave it dead for others. */
async function blueGreen(router: 'nginx' | 'haproxy' = 'nginx'): Promise<BlueGreen> {
  const setup = await startBlueGreen(router);
  setups.push(setup);
  return setup;
}

let states = 0;
const stateFile = () => join(scratch, `state-${++states}.json`);

const nginxWeights = (setup: BlueGreen) =>
  JSON.parse(/# switchyard-weights: (.*)/.exec(readFileSync(setup.upstreamFile ?? '', 'utf8'))?.[1] ?? '{}');

/** Who answers through the router, over a few requests. */
async function answering(setup: BlueGreen, requests = 20): Promise<Set<string>> {
  const colours = new Set<string>();
  for (let i = 0; i < requests; i++) {
    const response = await fetch(`${setup.url}/`);
    await response.arrayBuffer();
    colours.add(response.headers.get('x-switchyard-color') ?? `HTTP ${response.status}`);
  }
  return colours;
}

/** Every exit path writes the outputs, the report and the summary. */
function expectWrittenOutputs(run: RunnerResult): void {
  for (const name of ['active', 'weights', 'rolled-back', 'reason', 'report'])
    expect(run.outputs).toHaveProperty(name);
  expect(run.report).toBeDefined();
  expect(run.summary).toContain('## Deploy');
  expect(run.stdout + run.stderr).not.toMatch(/^\s+at /m);
  expect(run.stdout).not.toContain('Unexpected error');
}

const promoteInputs = { steps: '50,100', 'step-duration': '20s', 'failure-limit': '3' };

/** Runs a promotion and calls `during` once the given step is being held. */
async function promoteAnd(
  setup: BlueGreen,
  inputs: Record<string, string>,
  atStep: string,
  during: (child: ChildProcess) => void | Promise<void>,
) {
  let child: ChildProcess | undefined;
  let fired = false;
  return runDeploy(setup, 'promote', inputs, undefined, {
    onSpawn: (c) => (child = c),
    onLine: (line) => {
      if (!fired && line.includes(`at ${atStep}, holding`)) {
        fired = true;
        void during(child as ChildProcess);
      }
    },
  });
}

describe('faults while promoting through real nginx', () => {
  it('green crashes mid-step ⇒ blue back at 100% before the step ends, exit 1, outputs written', async () => {
    const setup = await blueGreen();
    const state = `file:${stateFile()}`;
    expect((await runDeploy(setup, 'stage', { version: 'v2', state })).exitCode).toBe(0);
    const run = await promoteAnd(setup, { ...promoteInputs, state }, '50%', () => setup.green.stop());
    expect(run.exitCode).toBe(1);
    expectWrittenOutputs(run);
    expect(run.outputs['rolled-back']).toBe('true');
    expect(run.outputs.active).toBe('blue');
    expect(nginxWeights(setup)).toEqual({ blue: 100, green: 0 });
    expect(await answering(setup)).toEqual(new Set(['blue']));
    const report = JSON.parse(run.report ?? '{}');
    expect(['failed', 'inconclusive']).toContain(report.verdict);
  });

  it('green answers 500s ⇒ rolled back naming the limit; green slow past max-p95 ⇒ rolled back naming p95', async () => {
    const setup = await blueGreen();
    const state = `file:${stateFile()}`;
    expect((await runDeploy(setup, 'stage', { version: 'v2', state })).exitCode).toBe(0);
    try {
      const failing = await promoteAnd(setup, { ...promoteInputs, state, 'health-path': '/' }, '50%', () =>
        setFailRate(setup.green, 1),
      );
      expect(failing.exitCode).toBe(1);
      expectWrittenOutputs(failing);
      expect(failing.outputs.reason).toMatch(/consecutive failures \(failure-limit 3\) at 50%|error rate/);
      expect(nginxWeights(setup)).toEqual({ blue: 100, green: 0 });
    } finally {
      await setFailRate(setup.green, 0);
    }
    const slow = await runDeploy(setup, 'promote', {
      ...promoteInputs,
      state,
      'health-path': '/delay/150',
      'max-p95': '50ms',
    });
    expect(slow.exitCode).toBe(1);
    expectWrittenOutputs(slow);
    expect(slow.outputs.reason).toMatch(/p95 latency \d+ ms over \d+ samples exceeds max-p95 50 ms at 50%/);
    expect(nginxWeights(setup)).toEqual({ blue: 100, green: 0 });
  });

  it('green dies before the first step ⇒ the promotion never holds a step on it, blue keeps everything', async () => {
    const setup = await blueGreen();
    const state = `file:${stateFile()}`;
    expect((await runDeploy(setup, 'stage', { version: 'v2', state })).exitCode).toBe(0);
    await setup.green.stop();
    const run = await runDeploy(setup, 'promote', { ...promoteInputs, state, 'step-duration': '2s' });
    expect(run.exitCode).toBe(1);
    expectWrittenOutputs(run);
    expect(run.outputs.active).toBe('blue');
    expect(run.stdout).not.toContain('✓');
    expect(nginxWeights(setup)).toEqual({ blue: 100, green: 0 });
    expect(await answering(setup)).toEqual(new Set(['blue']));
  });

  it('settings that cannot gather evidence (a new user’s step-duration: 10s) ⇒ refused, nothing touched', async () => {
    const setup = await blueGreen();
    const file = stateFile();
    expect((await runDeploy(setup, 'stage', { version: 'v2', state: `file:${file}` })).exitCode).toBe(0);
    const before = readFileSync(file, 'utf8');
    const run = await runDeploy(setup, 'promote', {
      state: `file:${file}`,
      steps: '50,100',
      'step-duration': '10s',
      interval: '5s',
      'min-samples': '10',
    });
    expect(run.exitCode).toBe(1);
    const [error] = annotations(run.stdout);
    expect(error).toMatch(
      /^Input "step-duration": 10s with interval 5s cannot gather min-samples \(10\).*at least 50s/,
    );
    expect(readFileSync(file, 'utf8')).toBe(before);
    expect(nginxWeights(setup)).toEqual({ blue: 100, green: 0 });
  });

  it('nginx reload fails ⇒ the upstream file restored, nginx still serving blue, one clear error', async () => {
    const setup = await blueGreen();
    const before = readFileSync(setup.upstreamFile ?? '', 'utf8');
    const run = await runDeploy(setup, 'shift', {
      state: `file:${stateFile()}`,
      weight: '50',
      'nginx-reload-command': 'sh -c "echo reload refused >&2; exit 3"',
    });
    expect(run.exitCode).toBe(1);
    const errors = annotations(run.stdout);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toContain('reload refused');
    expect(readFileSync(setup.upstreamFile ?? '', 'utf8')).toBe(before);
    expect(await answering(setup)).toEqual(new Set(['blue']));
  });

  it('a garbage state file ⇒ every command refuses it by name, the router untouched', async () => {
    const setup = await blueGreen();
    for (const garbage of [
      '{not json',
      '{"revision":1,"active":"blue","weights":{"blue":150,"green":-50},"releases":{},"history":[null]}',
    ]) {
      const file = stateFile();
      writeFileSync(file, garbage);
      for (const command of ['status', 'rollback', 'promote']) {
        const run = await runDeploy(setup, command, { state: `file:${file}` });
        expect(run.exitCode).toBe(1);
        const errors = annotations(run.stdout);
        expect(errors).toHaveLength(1);
        expect(errors[0]).toContain(`the deploy state file ${file}`);
        expect(run.stdout).not.toContain('Unexpected error');
        expect(readFileSync(file, 'utf8')).toBe(garbage);
      }
    }
    expect(nginxWeights(setup)).toEqual({ blue: 100, green: 0 });
  });

  it('SIGKILL mid-step, then status, then promote ⇒ the unfinished promotion is shown, then restarted from blue', async () => {
    const setup = await blueGreen();
    const state = `file:${stateFile()}`;
    expect((await runDeploy(setup, 'stage', { version: 'v2', state })).exitCode).toBe(0);
    await promoteAnd(setup, { ...promoteInputs, state }, '50%', (child) => {
      child.kill('SIGKILL');
    });
    expect(nginxWeights(setup)).toEqual({ blue: 50, green: 50 });
    const status = await runDeploy(setup, 'status', { state });
    expect(status.exitCode).toBe(0);
    expect(annotations(status.stdout, 'warning').join('\n')).toContain('an unfinished promotion of green');
    const again = await runDeploy(setup, 'promote', { state, steps: '50,100', 'step-duration': '700ms' });
    expect(again.exitCode).toBe(0);
    expect(again.stdout).toContain('restoring blue and starting again');
    expect(again.outputs.active).toBe('green');
    expect(nginxWeights(setup)).toEqual({ blue: 0, green: 100 });
  });

  it('rollback after a staged-but-unpromoted build ⇒ refused, traffic stays on the tested colour', async () => {
    const setup = await blueGreen();
    const state = `file:${stateFile()}`;
    expect((await runDeploy(setup, 'stage', { version: 'v8', state })).exitCode).toBe(0);
    expect(
      (await runDeploy(setup, 'promote', { state, steps: '100', 'step-duration': '700ms' })).exitCode,
    ).toBe(0);
    expect((await runDeploy(setup, 'stage', { version: 'v9', state })).exitCode).toBe(0);
    // The promotion of v9 fails on an input error before touching traffic …
    const promote = await runDeploy(setup, 'promote', { state, steps: '10,5,100' });
    expect(promote.exitCode).toBe(1);
    // … and the usual `if: failure()` rollback must not ship blue's untested v9 to everyone.
    const rollback = await runDeploy(setup, 'rollback', { state, reason: 'promote failed' });
    expect(rollback.exitCode).toBe(1);
    const [error] = annotations(rollback.stdout);
    expect(error).toMatch(
      /not rolling back to blue: it runs v9, .* untested or failed build\. Traffic stays on green/,
    );
    // A refusal still says where traffic is.
    expect(rollback.outputs.active).toBe('green');
    expect(JSON.parse(rollback.outputs.weights ?? '{}')).toEqual({ blue: 0, green: 100 });
    expect(rollback.outputs.reason).toMatch(/not rolling back to blue/);
    expect(nginxWeights(setup)).toEqual({ blue: 0, green: 100 });
    expect(await answering(setup)).toEqual(new Set(['green']));
  });

  it('SIGTERM while stage waits for green ⇒ says it was cancelled, not that green timed out', async () => {
    const setup = await blueGreen();
    await setFailRate(setup.green, 1);
    try {
      let child: ChildProcess | undefined;
      const run = await runDeploy(
        setup,
        'stage',
        { version: 'v2', state: `file:${stateFile()}`, 'stage-command': '', 'stage-timeout': '5m' },
        undefined,
        {
          onSpawn: (c) => (child = c),
          onLine: (line) => line.startsWith('waiting for green to become healthy') && child?.kill('SIGTERM'),
        },
      );
      expect(run.exitCode).toBe(1);
      const [error] = annotations(run.stdout);
      expect(error).toMatch(/^cancelled after \d+(\.\d)? s with 1 of 1 targets not yet healthy/);
      expect(error).not.toContain('within 5m');
    } finally {
      await setFailRate(setup.green, 0);
    }
  });

  it('rollback after a promotion that failed at 10% ⇒ refused: the failed build never gets everyone', async () => {
    const setup = await blueGreen();
    const state = `file:${stateFile()}`;
    expect((await runDeploy(setup, 'stage', { version: 'v2', state })).exitCode).toBe(0);
    await setFailRate(setup.green, 0.5);
    try {
      const failed = await runDeploy(setup, 'promote', {
        state,
        steps: '10,100',
        'step-duration': '2s',
        interval: '200ms',
        'health-path': '/',
      });
      expect(failed.exitCode).toBe(1);
      expect(failed.outputs['rolled-back']).toBe('true');
      const rollback = await runDeploy(setup, 'rollback', { state });
      expect(rollback.exitCode).toBe(1);
      expect(annotations(rollback.stdout)[0]).toMatch(/not rolling back to green: it runs v2/);
      expect(rollback.outputs.reason).toMatch(/not rolling back to green/);
      expect(nginxWeights(setup)).toEqual({ blue: 100, green: 0 });
    } finally {
      await setFailRate(setup.green, 0);
    }
  });

  it('a new state trusts a router with one colour at 100%; a used state that disagrees is refused', async () => {
    const setup = await blueGreen();
    const first = `file:${stateFile()}`;
    expect((await runDeploy(setup, 'stage', { version: 'v2', state: first })).exitCode).toBe(0);
    expect(
      (await runDeploy(setup, 'promote', { state: first, steps: '100', 'step-duration': '700ms' })).exitCode,
    ).toBe(0);
    expect(nginxWeights(setup)).toEqual({ blue: 0, green: 100 });
    // A thrown-away workspace: a brand-new state file. It must stage on blue, not on the live green.
    const fresh = `file:${stateFile()}`;
    const staged = await runDeploy(setup, 'stage', { version: 'v3', state: fresh });
    expect(staged.exitCode).toBe(0);
    expect(annotations(staged.stdout, 'warning').join('\n')).toMatch(
      /is new, and the router serves blue 0% \/ green 100%: taking green/,
    );
    expect(staged.stdout).toContain('staging v3 on blue');
    // A used state describing another router: refused, nothing moves.
    const other = stateFile();
    writeFileSync(
      other,
      JSON.stringify({
        revision: 4,
        active: 'blue',
        weights: { blue: 100, green: 0 },
        releases: {},
        history: [],
      }),
    );
    const shifted = await runDeploy(setup, 'shift', { state: `file:${other}`, weight: '50' });
    expect(shifted.exitCode).toBe(1);
    expect(annotations(shifted.stdout)[0]).toMatch(
      /the router serves blue 0% \/ green 100%, but the deploy state .* says blue 100% \/ green 0%/,
    );
    expect(nginxWeights(setup)).toEqual({ blue: 0, green: 100 });
  });

  it('a version carrying workflow commands ⇒ printed inert, now and in every later status', async () => {
    const setup = await blueGreen();
    const state = `file:${stateFile()}`;
    const evil = 'v2\n::add-mask::blue\n::error title=pwned::owned';
    const staged = await runDeploy(setup, 'stage', { version: evil, state });
    const status = await runDeploy(setup, 'status', { state });
    for (const run of [staged, status]) {
      const lines = run.stdout.split('\n');
      expect(lines.filter((l) => l.trimStart().startsWith('::add-mask::'))).toEqual([]);
      expect(lines.filter((l) => /^\s*::error title=pwned/.test(l))).toEqual([]);
    }
  });
});

describe('faults in the deploy lock (state in real Redis)', () => {
  async function redisPromotion(during: (admin: Redis, prefix: string) => Promise<void>) {
    const setup = await blueGreen();
    const prefix = `faults-${states++}`;
    const state = `${redis.url}/0/${prefix}`;
    expect((await runDeploy(setup, 'stage', { version: 'v2', state })).exitCode).toBe(0);
    const admin = new Redis(`${redis.url}/0`);
    try {
      const run = await promoteAnd(setup, { ...promoteInputs, state, 'step-duration': '3s' }, '50%', () =>
        during(admin, `switchyard:${prefix}`),
      );
      return { run, setup };
    } finally {
      admin.disconnect();
    }
  }

  it('Redis restarts empty and another run takes the lock ⇒ the first stops, touching nothing, exit 1', async () => {
    const { run, setup } = await redisPromotion(async (admin, prefix) => {
      await admin.flushall();
      const other = JSON.stringify({
        id: 'other',
        description: 'run 99/1 by mallory',
        token: 'not-ours',
        pid: 1,
        hostname: 'elsewhere',
        acquiredAt: new Date().toISOString(),
        heartbeatAt: new Date().toISOString(),
      });
      await admin.set(`${prefix}:lock`, other, 'PX', 60_000);
    });
    expect(run.exitCode).toBe(1);
    expectWrittenOutputs(run);
    expect(annotations(run.stdout).join('\n')).toMatch(/lost the deploy lock to run 99\/1 by mallory/);
    expect(run.stdout).not.toContain('promoted:');
    // Left where it was when the lock went: the router is the other run's now.
    expect(nginxWeights(setup)).toEqual({ blue: 50, green: 50 });
  });

  it('Redis restarts empty (the lock simply gone) ⇒ blue restored, exit 1, never promoted', async () => {
    const { run, setup } = await redisPromotion(async (admin) => {
      await admin.flushall();
    });
    expect(run.exitCode).toBe(1);
    expectWrittenOutputs(run);
    expect(annotations(run.stdout).join('\n')).toMatch(/lost the deploy lock: it is gone/);
    expect(run.outputs['rolled-back']).toBe('true');
    expect(nginxWeights(setup)).toEqual({ blue: 100, green: 0 });
  });
});

describe('the state store dies mid-promotion', () => {
  it('Redis killed during a step ⇒ blue put back anyway, and the outputs say so', async () => {
    const setup = await blueGreen();
    const doomed = await startRedis();
    const state = `${doomed.url}/0/dies`;
    expect((await runDeploy(setup, 'stage', { version: 'v2', state })).exitCode).toBe(0);
    const run = await promoteAnd(setup, { ...promoteInputs, state, 'step-duration': '3s' }, '50%', () =>
      doomed.stop(),
    );
    expect(run.exitCode).toBe(1);
    expectWrittenOutputs(run);
    expect(run.outputs.active).toBe('blue');
    expect(run.outputs['rolled-back']).toBe('true');
    expect(JSON.parse(run.outputs.weights ?? '{}')).toEqual({ blue: 100, green: 0 });
    expect(nginxWeights(setup)).toEqual({ blue: 100, green: 0 });
    expect(await answering(setup)).toEqual(new Set(['blue']));
  });
});

describe('faults through real HAProxy', () => {
  it('the runtime socket vanishes mid-promotion ⇒ exit 1 with outputs and what to run; rollback once it is back', async () => {
    const setup = await blueGreen('haproxy');
    const state = `file:${stateFile()}`;
    const socket = setup.inputs['haproxy-socket'] as string;
    expect((await runDeploy(setup, 'stage', { version: 'v2', state })).exitCode).toBe(0);
    const run = await promoteAnd(setup, { ...promoteInputs, state, 'step-duration': '2s' }, '50%', () =>
      renameSync(socket, `${socket}.away`),
    );
    expect(run.exitCode).toBe(1);
    expectWrittenOutputs(run);
    expect(run.outputs.reason).toMatch(/run the rollback command/);
    renameSync(`${socket}.away`, socket);
    const rollback = await runDeploy(setup, 'rollback', { state, reason: 'socket came back' });
    expect(rollback.exitCode).toBe(0);
    expect(rollback.outputs.active).toBe('blue');
    expect(await answering(setup)).toEqual(new Set(['blue']));
  });
});
