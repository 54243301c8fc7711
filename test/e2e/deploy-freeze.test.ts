/**
 * Issue 11: after a contract-phase migration, a failing promotion holds its split instead of
 * putting the old colour back — run through the bundled action as the runner runs it, with real
 * nginx in front of the sample services, and the router itself asked where traffic goes.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { annotations } from '../../scripts/run-action.js';
import { runDeploy } from '../support/deploy-runs.js';
import { setFailRate, startBlueGreen, type BlueGreen } from '../../scripts/demo/blue-green.js';

let setup: BlueGreen;
let scratch: string;

beforeAll(async () => {
  setup = await startBlueGreen();
  scratch = mkdtempSync(join(tmpdir(), 'switchyard-deploy-freeze-e2e-'));
});

afterAll(async () => {
  await setup?.stop();
  rmSync(scratch, { recursive: true, force: true });
});

const deploy = (
  command: string,
  inputs: Record<string, string>,
  options: Parameters<typeof runDeploy>[4] = {},
) => runDeploy(setup, command, inputs, { GITHUB_ACTOR: 'octocat' }, options);

/** The weights nginx was given, as the upstream file switchyard owns records them. */
const upstreamWeights = () =>
  /# switchyard-weights: (.*)/.exec(readFileSync(setup.upstreamFile ?? '', 'utf8'))?.[1];

/** Which colour answers each of `count` requests through nginx. */
async function servedBy(count: number): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  for (let i = 0; i < count; i++) {
    const answer = await fetch(`${setup.url}/health`);
    await answer.arrayBuffer();
    const colour = answer.headers.get('x-switchyard-color') ?? `HTTP ${answer.status}`;
    counts[colour] = (counts[colour] ?? 0) + 1;
  }
  return counts;
}

describe('deploy promote with migration-phase: contract, through real nginx', () => {
  it('a breach at 25% freezes traffic at 25% green: nginx keeps the split, rollback refuses until forced', async () => {
    const stateFile = join(scratch, 'state.json');
    const state = `file:${stateFile}`;
    expect((await deploy('stage', { version: 'v2', state })).exitCode).toBe(0);
    let promote;
    try {
      promote = await deploy(
        'promote',
        {
          state,
          'migration-phase': 'contract',
          'step-duration': '8s',
          'max-error-rate': '10%',
          'min-samples': '10',
          'health-path': '/',
          targets: `${setup.url}/`,
        },
        {
          onLine: (line) => {
            if (line.includes('green at 25%, holding')) void setFailRate(setup.green, 0.5);
          },
        },
      );
    } finally {
      await setFailRate(setup.green, 0);
    }
    expect(promote.exitCode).toBe(1);
    expect(promote.outputs).toMatchObject({ 'rolled-back': 'false', frozen: 'true', active: 'blue' });
    expect(JSON.parse(promote.outputs.weights ?? '')).toEqual({ blue: 75, green: 25 });
    expect(promote.outputs.reason).toMatch(
      /^frozen at 25% green \(blue 75% \/ green 25%\) instead of rolled back/,
    );
    const errors = annotations(promote.stdout);
    expect(errors).toEqual([
      expect.stringMatching(
        /^traffic is frozen at 25% green \(blue 75% \/ green 25%\), not rolled back: .*exceeds max-error-rate 10\.0% at 25%\. A contract-phase migration was applied/,
      ),
    ]);
    expect(promote.stdout).toContain('::error title=Traffic frozen::');
    expect(promote.summary).toContain('traffic frozen at 25% green');
    expect(JSON.parse(promote.report ?? '{}')).toMatchObject({ froze: { weights: { blue: 75, green: 25 } } });
    // The router itself: the upstream file nginx runs, and real requests through it.
    expect(upstreamWeights()).toBe('{"blue":75,"green":25}');
    const served = await servedBy(60);
    expect(Object.keys(served).sort()).toEqual(['blue', 'green']);
    expect(JSON.parse(readFileSync(stateFile, 'utf8')).frozen).toMatchObject({ from: 'blue', to: 'green' });

    const status = await deploy('status', { state });
    expect(status.exitCode).toBe(0);
    expect(status.outputs.frozen).toBe('true');
    expect(annotations(status.stdout, 'warning').join('\n')).toMatch(/traffic is frozen at 25% green/);

    const refused = await deploy('rollback', { state, reason: 'promotion failed' });
    expect(refused.exitCode).toBe(1);
    expect(annotations(refused.stdout)).toEqual([
      expect.stringMatching(
        /^not rolling back to blue: traffic is frozen at 25% green .*Traffic stays as it is/,
      ),
    ]);
    expect(refused.outputs).toMatchObject({ 'rolled-back': 'false', frozen: 'true' });
    expect(upstreamWeights()).toBe('{"blue":75,"green":25}');

    const forced = await deploy('rollback', { state, 'force-rollback': 'true', reason: 'database restored' });
    expect(forced.exitCode).toBe(0);
    expect(forced.outputs).toMatchObject({ 'rolled-back': 'true', frozen: 'false', active: 'blue' });
    expect(upstreamWeights()).toBe('{"blue":100,"green":0}');
    expect(await servedBy(20)).toEqual({ blue: 20 });
  }, 60_000);
});
