import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { annotations, type RunnerResult } from '../../scripts/run-action.js';
import { runDeploy } from '../support/deploy-runs.js';
import { setFailRate, startBlueGreen, type BlueGreen } from '../../scripts/demo/blue-green.js';
import { startGitHubApi, type GitHubApi } from '../support/github-api.js';

const TOKEN = 'ghs_e2eT0kenThatMustNeverBePrinted';
// Any 40-hex ref is a commit to the fake, as a pushed commit is to GitHub.
const SHA = '0c4a7e5d2b9f81736a5e4d3c2b1a0f9e8d7c6b5a';
const RUN = {
  GITHUB_REPOSITORY: 'octo-org/shop',
  GITHUB_SHA: SHA,
  GITHUB_SERVER_URL: 'https://github.com',
  GITHUB_RUN_ID: '9876543210',
  GITHUB_RUN_ATTEMPT: '1',
  GITHUB_ACTOR: 'octocat',
};
const LOG_URL = 'https://github.com/octo-org/shop/actions/runs/9876543210';

let setup: BlueGreen;
let scratch: string;
let api: GitHubApi;

beforeAll(async () => {
  setup = await startBlueGreen();
  scratch = mkdtempSync(join(tmpdir(), 'switchyard-deploy-github-e2e-'));
});

afterAll(async () => {
  await setup?.stop();
  rmSync(scratch, { recursive: true, force: true });
});

// A fresh GitHub per test, so "exactly one deployment" counts only that test's promote.
beforeEach(async () => {
  api = await startGitHubApi();
});

afterEach(async () => {
  await api?.stop();
});

function stateFile(name: string): string {
  return join(scratch, `${name}.json`);
}

function deploy(
  command: string,
  inputs: Record<string, string>,
  options: Parameters<typeof runDeploy>[4] = {},
) {
  return runDeploy(
    setup,
    command,
    { steps: '50,100', 'step-duration': '500ms', ...inputs },
    // RUNNER_DEBUG: the client's debug log is printed too, so a token in it would show.
    { ...RUN, GITHUB_API_URL: api.url, RUNNER_DEBUG: '1' },
    options,
  );
}

function expectNoToken(run: RunnerResult, state: string): void {
  for (const text of [run.stdout, run.stderr, run.summary, run.report ?? '', readFileSync(state, 'utf8')])
    expect(text).not.toContain(TOKEN);
}

const statusesOf = (id: number) => api.state.deploymentStatuses.get(id) ?? [];

describe('deploy promote records a GitHub deployment (against a fake API checked by its OpenAPI description)', () => {
  it('a successful promote ⇒ one deployment for the environment and sha: in_progress, then success, with the log URL', async () => {
    const state = stateFile('success');
    expect((await deploy('stage', { version: 'v2', state: `file:${state}` })).exitCode).toBe(0);

    const run = await deploy('promote', {
      state: `file:${state}`,
      'github-token': TOKEN,
      environment: 'staging',
    });
    expect(run.exitCode).toBe(0);
    expect(run.outputs).toMatchObject({ active: 'green', 'rolled-back': 'false' });
    expect(api.state.deployments).toHaveLength(1);
    const [deployment] = api.state.deployments;
    expect(deployment).toMatchObject({ environment: 'staging', sha: SHA, ref: SHA });
    expect(statusesOf(deployment!.id).map((each) => [each.state, each.log_url])).toEqual([
      ['in_progress', LOG_URL],
      ['success', LOG_URL],
    ]);
    expect(api.violations).toEqual([]);
    // The token went to GitHub, and nowhere else.
    expect(api.requests.length).toBeGreaterThan(0);
    for (const request of api.requests) expect(request.headers.authorization).toContain(TOKEN);
    expectNoToken(run, state);

    expect((await deploy('rollback', { state: `file:${state}` })).exitCode).toBe(0);
  });

  it('a promote rolled back by green failing ⇒ the deployment ends as failure', async () => {
    const state = stateFile('rolled-back');
    expect((await deploy('stage', { version: 'v3', state: `file:${state}` })).exitCode).toBe(0);
    await setFailRate(setup.green, 0.5);
    try {
      const run = await deploy('promote', {
        state: `file:${state}`,
        'github-token': TOKEN,
        environment: 'staging',
        'health-path': '/',
        'step-duration': '5s',
      });
      expect(run.exitCode).toBe(1);
      expect(run.outputs).toMatchObject({ active: 'blue', 'rolled-back': 'true' });
      expect(api.state.deployments).toHaveLength(1);
      const [deployment] = api.state.deployments;
      expect(deployment).toMatchObject({ environment: 'staging', sha: SHA });
      const statuses = statusesOf(deployment!.id);
      expect(statuses.map((each) => each.state)).toEqual(['in_progress', 'failure']);
      expect(statuses.at(-1)).toMatchObject({ log_url: LOG_URL });
      expect(statuses.at(-1)?.description).toContain('rolled back');
      expect(api.violations).toEqual([]);
      expectNoToken(run, state);
    } finally {
      await setFailRate(setup.green, 0);
    }
  });

  it('a token without deployments: write (403) ⇒ the promote still completes, with one warning naming the permission', async () => {
    const state = stateFile('forbidden');
    expect((await deploy('stage', { version: 'v4', state: `file:${state}` })).exitCode).toBe(0);
    api.fail('repos/create-deployment', { status: 403 });

    const run = await deploy('promote', {
      state: `file:${state}`,
      'github-token': TOKEN,
      environment: 'staging',
    });
    expect(run.exitCode).toBe(0);
    expect(run.outputs).toMatchObject({ active: 'green', 'rolled-back': 'false' });
    expect(JSON.parse(run.outputs.weights ?? '')).toEqual({ blue: 0, green: 100 });
    const warnings = annotations(run.stdout, 'warning');
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain('`deployments: write`');
    expect(annotations(run.stdout)).toEqual([]);
    expect(api.state.deployments).toEqual([]);
    expect(api.violations).toEqual([]);
    expectNoToken(run, state);

    expect((await deploy('rollback', { state: `file:${state}` })).exitCode).toBe(0);
  });

  it('a runner killed mid-promote, then rollback and promote again ⇒ no deployment left in_progress', async () => {
    const state = stateFile('killed');
    const github = { state: `file:${state}`, 'github-token': TOKEN, environment: 'staging' };
    expect((await deploy('stage', { version: 'v5', state: `file:${state}` })).exitCode).toBe(0);
    let child: ChildProcess | undefined;
    await deploy(
      'promote',
      { ...github, 'step-duration': '20s' },
      {
        onSpawn: (c) => (child = c),
        onLine: (line) => line.includes('green at 50%, holding') && child?.kill('SIGKILL'),
      },
    );
    expect(api.state.deployments.map((each) => statusesOf(each.id).at(-1)?.state)).toEqual(['in_progress']);

    expect((await deploy('rollback', { ...github, reason: 'runner died' })).exitCode).toBe(0);
    expect((await deploy('promote', github)).exitCode).toBe(0);
    const latest = api.state.deployments.map((each) => statusesOf(each.id).at(-1)?.state);
    expect(latest).toEqual(['failure', 'success']);

    // A manual rollback after the success retires that deployment: green no longer serves.
    expect((await deploy('rollback', { ...github, reason: 'second thoughts' })).exitCode).toBe(0);
    expect(api.state.deployments.map((each) => statusesOf(each.id).at(-1)?.state)).toEqual([
      'failure',
      'inactive',
    ]);
    expect(api.violations).toEqual([]);
  });
});
