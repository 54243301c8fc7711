import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { annotations } from '../../scripts/run-action.js';
import { startLoad, type RunningLoad } from '../../scripts/load.js';
import { runDeploy } from '../support/deploy-runs.js';
import { setFailRate, startBlueGreen, type BlueGreen } from '../../scripts/demo/blue-green.js';

let setup: BlueGreen;
let scratch: string;

beforeAll(async () => {
  setup = await startBlueGreen();
  scratch = mkdtempSync(join(tmpdir(), 'switchyard-deploy-e2e-'));
});

afterAll(async () => {
  await setup?.stop();
  rmSync(scratch, { recursive: true, force: true });
});

function stateFile(name: string): string {
  return join(scratch, `${name}.json`);
}

function deploy(
  command: string,
  inputs: Record<string, string>,
  options: Parameters<typeof runDeploy>[4] = {},
) {
  return runDeploy(setup, command, inputs, { GITHUB_ACTOR: 'octocat' }, options);
}

const upstreamWeights = () =>
  /# switchyard-weights: (.*)/.exec(readFileSync(setup.upstreamFile ?? '', 'utf8'))?.[1];

describe('deploy, run as the GitHub runner runs it, through real nginx', () => {
  it('stage → promote through every step → rollback, with zero failed requests under load', async () => {
    const state = `file:${stateFile('happy')}`;
    const load: RunningLoad = await startLoad({ url: `${setup.url}/`, concurrency: 4 });
    try {
      const staged = await deploy('stage', { version: 'v2', state });
      expect(staged.exitCode).toBe(0);
      expect(staged.stdout).toContain('green is healthy with v2');

      const promoted = await deploy('promote', { state, 'step-duration': '700ms' });
      expect(promoted.exitCode).toBe(0);
      expect(promoted.outputs).toMatchObject({ active: 'green', previous: 'blue', 'rolled-back': 'false' });
      expect(JSON.parse(promoted.outputs.weights ?? '')).toEqual({ blue: 0, green: 100 });
      expect(upstreamWeights()).toBe('{"blue":0,"green":100}');
      for (const weight of [10, 25, 50, 75, 100])
        expect(promoted.stdout).toContain(`green at ${weight}%, holding`);
      expect(promoted.summary).toContain('xychart-beta');

      const rolledBack = await deploy('rollback', { state, reason: 'checking the rollback' });
      expect(rolledBack.exitCode).toBe(0);
      expect(rolledBack.outputs.active).toBe('blue');
      expect(upstreamWeights()).toBe('{"blue":100,"green":0}');
      const history = JSON.parse(readFileSync(stateFile('happy'), 'utf8')).history;
      expect(history.at(-1)).toMatchObject({
        command: 'rollback',
        actor: 'octocat',
        reason: 'checking the rollback',
      });
    } finally {
      const report = await load.stop();
      expect(report.failures).toEqual({});
      expect(report.total).toBeGreaterThan(100);
    }
  });

  it('green failing 20% during the 25% step ⇒ blue back at 100% before the window ends, exit 1', async () => {
    const state = `file:${stateFile('breach')}`;
    expect((await deploy('stage', { version: 'v3', state })).exitCode).toBe(0);
    let breakingAt = 0;
    try {
      const run = await deploy(
        'promote',
        // Green is watched directly at / (the page that fails), and through nginx.
        {
          state,
          'step-duration': '8s',
          'max-error-rate': '10%',
          'min-samples': '10',
          'health-path': '/',
          targets: `${setup.url}/`,
        },
        {
          onLine: (line) => {
            if (line.includes('green at 25%, holding')) {
              breakingAt = Date.now();
              void setFailRate(setup.green, 0.2);
            }
          },
        },
      );
      const elapsedInStep = Date.now() - breakingAt;
      expect(run.exitCode).toBe(1);
      expect(run.outputs['rolled-back']).toBe('true');
      expect(run.outputs.active).toBe('blue');
      expect(run.outputs.reason).toMatch(/error rate .* exceeds max-error-rate 10\.0% at 25%/);
      expect(annotations(run.stdout)).toHaveLength(1);
      expect(elapsedInStep).toBeLessThan(8000);
      expect(upstreamWeights()).toBe('{"blue":100,"green":0}');
      const report = JSON.parse(run.report ?? '{}');
      expect(report.restoreMs).toBeGreaterThan(0);
      expect(report.restoreMs).toBeLessThan(5000);
    } finally {
      await setFailRate(setup.green, 0);
    }
  });

  it('two promotions at once: the second waits, then fails naming the holder; SIGTERM restores blue', async () => {
    const state = `file:${stateFile('lock')}`;
    expect((await deploy('stage', { version: 'v4', state })).exitCode).toBe(0);
    let first: ChildProcess | undefined;
    let holding!: () => void;
    const inStep = new Promise<void>((resolve) => (holding = resolve));
    const running = deploy(
      'promote',
      { state, steps: '50,100', 'step-duration': '20s' },
      {
        onSpawn: (child) => (first = child),
        onLine: (line) => line.includes('green at 50%, holding') && holding(),
      },
    );
    await inStep;
    const second = await deploy('promote', { state, 'lock-timeout': '500ms' });
    expect(second.exitCode).toBe(1);
    const [message] = annotations(second.stdout);
    expect(message).toMatch(/held by run .*octocat|held by .*octocat/);
    expect(upstreamWeights()).toBe('{"blue":50,"green":50}');

    first?.kill('SIGTERM');
    const cancelled = await running;
    expect(cancelled.exitCode).toBe(1);
    expect(cancelled.outputs['rolled-back']).toBe('true');
    expect(cancelled.outputs.reason).toContain('cancelled');
    expect(upstreamWeights()).toBe('{"blue":100,"green":0}');
  });

  it('SIGKILL mid-promotion, then rollback ⇒ blue at 100% and the state consistent', async () => {
    const state = `file:${stateFile('killed')}`;
    expect((await deploy('stage', { version: 'v5', state })).exitCode).toBe(0);
    let child: ChildProcess | undefined;
    await deploy(
      'promote',
      { state, 'step-duration': '20s' },
      {
        onSpawn: (c) => (child = c),
        onLine: (line) => line.includes('green at 10%, holding') && child?.kill('SIGKILL'),
      },
    );
    expect(upstreamWeights()).toBe('{"blue":90,"green":10}');
    const leftover = JSON.parse(readFileSync(stateFile('killed'), 'utf8'));
    expect(leftover.promotion).toMatchObject({ from: 'blue', to: 'green' });

    const status = await deploy('status', { state });
    expect(annotations(status.stdout, 'warning').join('\n')).toContain('an unfinished promotion of green');

    const rollback = await deploy('rollback', { state, reason: 'runner died' });
    expect(rollback.exitCode).toBe(0);
    expect(rollback.outputs.active).toBe('blue');
    expect(upstreamWeights()).toBe('{"blue":100,"green":0}');
    const after = JSON.parse(readFileSync(stateFile('killed'), 'utf8'));
    expect(after.promotion).toBeUndefined();
    expect(after.weights).toEqual({ blue: 100, green: 0 });
  });

  it('a failing nginx config test ⇒ upstream file restored, nginx still serving blue, a clear error', async () => {
    const before = readFileSync(setup.upstreamFile ?? '', 'utf8');
    const run = await deploy('shift', {
      state: `file:${stateFile('bad-test')}`,
      weight: '50',
      'nginx-test-command': 'sh -c "echo config broken >&2; exit 1"',
    });
    expect(run.exitCode).toBe(1);
    const errors = annotations(run.stdout);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toContain('config broken');
    expect(readFileSync(setup.upstreamFile ?? '', 'utf8')).toBe(before);
    const answer = await fetch(`${setup.url}/`);
    expect(answer.headers.get('x-switchyard-color')).toBe('blue');
  });

  it.each([
    [{ command: 'shift', weight: '150' }, 'weight'],
    [{ command: 'promote', steps: '10,5,100' }, 'steps'],
    [{ command: 'promote', router: 'traefik' }, 'router'],
    [{ command: 'shift', weight: '10', 'nginx-upstream-file': '' }, 'nginx-upstream-file'],
  ])('bad input %j ⇒ one ::error:: naming %s, the router untouched', async (bad, input) => {
    const before = readFileSync(setup.upstreamFile ?? '', 'utf8');
    const { command, ...rest } = bad;
    const run = await deploy(command, { state: `file:${stateFile('bad-input')}`, ...rest });
    expect(run.exitCode).toBe(1);
    const errors = annotations(run.stdout);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toContain(input);
    expect(run.stdout + run.stderr).not.toMatch(/^\s+at /m);
    expect(readFileSync(setup.upstreamFile ?? '', 'utf8')).toBe(before);
  });
});
