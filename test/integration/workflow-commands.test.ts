// The deploy action run from its source the way the runner runs a step (INPUT_* variables, the
// GITHUB_OUTPUT and GITHUB_STEP_SUMMARY files, stdout read line by line), on a state whose
// versions and reasons carry workflow commands: saved by an earlier run, printed by `status`.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'switchyard-commands-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** The commands the runner would act on in a step's stdout (see test/unit/io-neutralise.test.ts). */
function commandsIn(stdout: string): string[] {
  return stdout.split(/\r\n|\r|\n/).filter((line) => {
    const weightless = line.replace(/[\p{Cc}\p{Cf}\p{Default_Ignorable_Code_Point}]/gu, '');
    return weightless.replace(/^\p{White_Space}*/u, '').startsWith('::') || weightless.includes('##[');
  });
}

async function deployFromSource(inputs: Record<string, string>): Promise<{ stdout: string; code: number }> {
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    GITHUB_ACTIONS: 'true',
    GITHUB_OUTPUT: join(dir, 'output'),
    GITHUB_STEP_SUMMARY: join(dir, 'summary'),
    RUNNER_TEMP: dir,
  };
  writeFileSync(env.GITHUB_OUTPUT as string, '');
  writeFileSync(env.GITHUB_STEP_SUMMARY as string, '');
  for (const [name, value] of Object.entries(inputs)) env[`INPUT_${name.toUpperCase()}`] = value;
  try {
    const { stdout } = await run(process.execPath, ['--import', 'tsx', 'actions/deploy/src/index.ts'], {
      env,
    });
    return { stdout, code: 0 };
  } catch (error) {
    const failed = error as { stdout: string; code: number };
    return { stdout: failed.stdout, code: failed.code };
  }
}

describe('text from the state cannot issue workflow commands', () => {
  it('deploy status prints versions and reasons holding ::error, ::add-mask and ##[ inertly; the token is only registered', async () => {
    const state = join(dir, 'state.json');
    const at = '2026-01-01T00:01:00.000Z';
    writeFileSync(
      state,
      JSON.stringify({
        revision: 3,
        active: 'green',
        weights: { blue: 0, green: 100 },
        releases: { green: { version: 'v9\n::error::forged', stagedAt: at, servedAt: at } },
        history: [
          {
            at,
            command: 'rollback',
            actor: 'octocat',
            version: 'v9\r::add-mask::hide',
            weights: { blue: 0, green: 100 },
            verdict: 'succeeded',
            reason: 'manual\n##[error]legacy\n  ::warning::forged',
          },
        ],
      }),
    );
    const token = 'ghs_Status0nlyT0ken';
    const { stdout, code } = await deployFromSource({
      command: 'status',
      state: `file:${state}`,
      'github-token': token,
    });
    expect(code).toBe(0);
    // What was said is still there, made inert.
    // A line break in a version is shown as \n on the status line itself.
    expect(stdout).toContain('v9\\n::error::forged');
    expect(stdout).toContain('##\\[error]legacy');
    // The only command is the mask of the token, before any other line.
    expect(commandsIn(stdout)).toEqual([`::add-mask::${token}`]);
    expect(stdout.startsWith(`::add-mask::${token}\n`)).toBe(true);
    expect(stdout.split(token)).toHaveLength(2);
  }, 60_000);
});
