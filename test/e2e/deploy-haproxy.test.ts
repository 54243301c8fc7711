import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from 'node:net';
import { parseServersState } from '../../actions/core/src/routers/haproxy.js';
import { annotations } from '../../scripts/run-action.js';
import { startLoad, type RunningLoad } from '../../scripts/load.js';
import { runDeploy } from '../support/deploy-runs.js';
import { setFailRate, startBlueGreen, type BlueGreen } from '../../scripts/demo/blue-green.js';

let setup: BlueGreen;
let scratch: string;

beforeAll(async () => {
  setup = await startBlueGreen('haproxy');
  scratch = mkdtempSync(join(tmpdir(), 'switchyard-deploy-haproxy-e2e-'));
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

/** The weights in force, as HAProxy itself reports them (srv_uweight of `show servers state`). */
function weightsIn(stateText: string): { blue?: number; green?: number } {
  const servers = parseServersState(stateText).filter((each) => each.backend === 'app');
  const weightOf = (name: string) => servers.find((each) => each.server === name)?.weight;
  return { blue: weightOf('blue'), green: weightOf('green') };
}

function haproxyWeights(): Promise<{ blue?: number; green?: number }> {
  return new Promise((resolve, reject) => {
    const socket = connect(setup.inputs['haproxy-socket'] ?? '');
    let answer = '';
    socket.setEncoding('utf8');
    socket.once('connect', () => socket.write('show servers state app\n'));
    socket.on('data', (chunk: string) => (answer += chunk));
    socket.once('end', () => resolve(weightsIn(answer)));
    socket.once('error', reject);
  });
}

/** What a restarted HAProxy would come back with: the server-state file switchyard saved. */
const savedWeights = () => weightsIn(readFileSync(setup.inputs['haproxy-state-file'] ?? '', 'utf8'));

describe('deploy, run as the GitHub runner runs it, through real HAProxy', () => {
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
      expect(await haproxyWeights()).toEqual({ blue: 0, green: 100 });
      expect(savedWeights()).toEqual({ blue: 0, green: 100 });
      for (const weight of [10, 25, 50, 75, 100])
        expect(promoted.stdout).toContain(`green at ${weight}%, holding`);
      await load.mark('promoted');
      expect(await load.until(100)).toMatchObject({ blue: 0, failed: 0 });

      const rolledBack = await deploy('rollback', { state, reason: 'checking the rollback' });
      expect(rolledBack.exitCode).toBe(0);
      expect(rolledBack.outputs.active).toBe('blue');
      expect(JSON.parse(rolledBack.outputs.weights ?? '')).toEqual({ blue: 100, green: 0 });
      expect(await haproxyWeights()).toEqual({ blue: 100, green: 0 });
      expect(savedWeights()).toEqual({ blue: 100, green: 0 });
      await load.mark('rolled back');
      expect(await load.until(100)).toMatchObject({ green: 0, failed: 0 });
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
        // Green is watched directly at / (the page that fails), and through HAProxy.
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
      expect(JSON.parse(run.outputs.weights ?? '')).toEqual({ blue: 100, green: 0 });
      expect(run.outputs.reason).toMatch(/error rate .* exceeds max-error-rate 10\.0% at 25%/);
      expect(annotations(run.stdout)).toHaveLength(1);
      expect(breakingAt).toBeGreaterThan(0);
      expect(elapsedInStep).toBeLessThan(8000);
      expect(await haproxyWeights()).toEqual({ blue: 100, green: 0 });
      expect(savedWeights()).toEqual({ blue: 100, green: 0 });
      const report = JSON.parse(run.report ?? '{}');
      expect(report.restoreMs).toBeGreaterThan(0);
      expect(report.restoreMs).toBeLessThan(5000);
    } finally {
      await setFailRate(setup.green, 0);
    }
  });
});
