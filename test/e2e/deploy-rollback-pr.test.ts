import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setFailRate, startBlueGreen, type BlueGreen } from '../../scripts/demo/blue-green.js';
import { annotations, type RunnerResult } from '../../scripts/run-action.js';
import { githubClient } from '../../actions/core/src/github/client.js';
import { runDeploy } from '../support/deploy-runs.js';
import { git, makeOrigin, type Clone, type Origin } from '../support/git-repos.js';
import { startGitHubApi, type GitHubApi } from '../support/github-api.js';

const TOKEN = 'ghs_rollbackPrT0kenThatMustNeverBePrinted';
const REPOSITORY = 'octo-org/shop';

let setup: BlueGreen;
let scratch: string;
let api: GitHubApi;
let origin: Origin;
let good: string;
let bad: string;
let checkout: Clone;
let state: string;

beforeAll(async () => {
  setup = await startBlueGreen();
  scratch = mkdtempSync(join(tmpdir(), 'switchyard-rollback-pr-e2e-'));
});

afterAll(async () => {
  await setup?.stop();
  rmSync(scratch, { recursive: true, force: true });
});

let tests = 0;
beforeEach(async () => {
  // History: v1 is good, then two commits make v2, which breaks.
  origin = makeOrigin();
  good = origin.work.commit('v1: checkout page', { 'app.txt': 'v1\n' });
  origin.work.commit('v2: new cart', { 'cart.txt': 'new\n' });
  bad = origin.work.commit('v2: cache prices', { 'app.txt': 'v2\n' });
  origin.work.git('push', '-q', 'origin', 'main');
  // The runner's checkout of the bad commit, shallow as actions/checkout makes it.
  checkout = origin.clone({ depth: 1 });
  api = await startGitHubApi({ origin: origin.bare });
  state = join(scratch, `state-${++tests}.json`);
  await setFailRate(setup.blue, 0);
  await setFailRate(setup.green, 0);
});

afterEach(async () => {
  await api?.stop();
  origin?.remove();
});

function env(sha: string): Record<string, string> {
  return {
    GITHUB_REPOSITORY: REPOSITORY,
    GITHUB_SHA: sha,
    GITHUB_SERVER_URL: 'https://github.com',
    GITHUB_RUN_ID: '4242',
    GITHUB_ACTOR: 'octocat',
    GITHUB_API_URL: api.url,
    // The client's debug log is printed too, so a token in it would show.
    RUNNER_DEBUG: '1',
    HOME: scratch,
  };
}

function deploy(command: string, sha: string, inputs: Record<string, string> = {}) {
  return runDeploy(
    setup,
    command,
    { steps: '50,100', 'step-duration': '500ms', state: `file:${state}`, 'github-token': TOKEN, ...inputs },
    env(sha),
    { cwd: checkout.dir },
  );
}

type Color = 'blue' | 'green';
/** The colour serving the good build, and the one running the bad build. */
let live: Color;
let idle: Color;

/** v1 (the good commit) promoted; v2 (the bad one) staged on the other colour, which now fails every request. */
async function goodLiveBadStaged(options: { failing?: boolean } = {}): Promise<void> {
  expect((await deploy('stage', good, { version: 'v1' })).exitCode).toBe(0);
  expect((await deploy('promote', good)).exitCode).toBe(0);
  const staged = await deploy('stage', bad, { version: 'v2' });
  expect(staged.exitCode).toBe(0);
  idle = staged.outputs.idle as Color;
  live = idle === 'blue' ? 'green' : 'blue';
  if (options.failing !== false) await setFailRate(setup[idle], 1);
}

/** What nginx serves, from the upstream file switchyard wrote and reloaded. */
function routerWeights(): Record<Color, number> {
  return JSON.parse(
    /# switchyard-weights: (.*)/.exec(readFileSync(setup.upstreamFile ?? '', 'utf8'))?.[1] ?? '{}',
  );
}
const allOn = (color: Color) => (color === 'blue' ? { blue: 100, green: 0 } : { blue: 0, green: 100 });

function expectNoToken(run: RunnerResult): void {
  for (const text of [run.stdout, run.stderr, run.summary, run.report ?? '', readFileSync(state, 'utf8')])
    expect(text).not.toContain(TOKEN);
  expect(api.violations).toEqual([]);
}

const branch = () => `switchyard/rollback-production-${bad.slice(0, 7)}`;

describe('the rollback pull request (real git origin, GitHub fake checked against the OpenAPI description)', () => {
  it('a breached promotion puts traffic back, then opens a PR whose branch builds the good tree', async () => {
    await goodLiveBadStaged();

    const run = await deploy('promote', bad, { 'rollback-pr': 'true' });

    expect(run.exitCode).toBe(1);
    expect(run.outputs['rolled-back']).toBe('true');
    expect(run.outputs.active).toBe(live);
    expect(routerWeights()).toEqual(allOn(live));
    expect(origin.branch(branch())).toBeDefined();
    expect(origin.tree(branch())).toBe(origin.tree(good));
    const [pull] = api.state.pulls;
    expect(api.state.pulls).toHaveLength(1);
    expect(pull?.title).toBe(`Roll back production to ${good.slice(0, 7)}`);
    expect(pull?.head.ref).toBe(branch());
    expect(pull?.base.ref).toBe('main');
    expect(pull?.draft).toBe(false);
    expect(pull?.labels.map((label) => label.name)).toEqual(['rollback']);
    const body = pull?.body ?? '';
    expect(body).toMatch(/`(max-error-rate|failure-limit)` breached on /);
    expect(body).toContain(`https://github.com/${REPOSITORY}/commit/${good}`);
    expect(body).toContain(`https://github.com/${REPOSITORY}/commit/${bad}`);
    expect(body).toContain('```mermaid');
    expect(body).toContain(`https://github.com/${REPOSITORY}/actions/runs/4242`);
    expect(body).toContain('To re-deploy');
    expect(run.outputs['pull-request-url']).toBe(pull?.html_url);
    expect(run.outputs['pull-request-number']).toBe(String(pull?.number));
    expect(run.outputs['rollback-branch']).toBe(branch());
    expect(run.summary).toContain(`Rollback pull request [#${pull?.number}]`);
    // The traffic rollback is reported first; the pull request did not fail, so it is the only error.
    expect(annotations(run.stdout)).toHaveLength(1);
    expectNoToken(run);
  });

  it('a second rollback of the same bad commit updates the same pull request', async () => {
    await goodLiveBadStaged();
    await deploy('promote', bad, { 'rollback-pr': 'true' });
    expect((await deploy('stage', bad, { version: 'v2' })).exitCode).toBe(0);
    // A release resets the sample service: v2 breaks again.
    await setFailRate(setup[idle], 1);

    const again = await deploy('promote', bad, { 'rollback-pr': 'true', labels: 'rollback,incident' });

    expect(again.outputs['rolled-back']).toBe('true');
    expect(api.state.pulls).toHaveLength(1);
    expect(api.requests.filter((r) => r.operationId === 'pulls/create')).toHaveLength(1);
    expect(api.requests.filter((r) => r.operationId === 'pulls/update')).toHaveLength(1);
    expect(again.outputs['pull-request-number']).toBe(String(api.state.pulls[0]?.number));
    expect(api.state.pulls[0]?.labels.map((label) => label.name).sort()).toEqual(['incident', 'rollback']);
    expectNoToken(again);
  });

  it('the rollback command opens it too, reverting the build that lost the traffic', async () => {
    await goodLiveBadStaged({ failing: false });
    // v2 is promoted (it looked fine), then found bad: a person presses rollback.
    expect((await deploy('promote', bad)).exitCode).toBe(0);

    const run = await deploy('rollback', bad, {
      'rollback-pr': 'true',
      reason: 'checkout totals wrong',
      draft: 'true',
    });

    expect(run.exitCode).toBe(0);
    expect(run.outputs.active).toBe(live);
    expect(api.state.pulls[0]?.draft).toBe(true);
    expect(api.state.pulls[0]?.body).toContain('checkout totals wrong');
    expect(origin.tree(branch())).toBe(origin.tree(good));
    expectNoToken(run);
  });

  it('revert opens the pull request alone and leaves traffic where it is', async () => {
    await goodLiveBadStaged({ failing: false });
    const before = readFileSync(state, 'utf8');

    const run = await deploy('revert', bad, { reason: 'v2 failed its load test' });

    expect(run.exitCode).toBe(0);
    expect(routerWeights()).toEqual(allOn(live));
    expect(readFileSync(state, 'utf8')).toBe(before);
    expect(api.state.pulls[0]?.title).toBe(`Roll back production to ${good.slice(0, 7)}`);
    expect(run.outputs['rollback-branch']).toBe(branch());
  });

  it('a pull request GitHub refuses is an error after traffic is safe, never undoing the rollback', async () => {
    await goodLiveBadStaged();
    api.fail('pulls/create', { status: 403 });

    const run = await deploy('promote', bad, { 'rollback-pr': 'true' });

    expect(run.exitCode).toBe(1);
    expect(run.outputs['rolled-back']).toBe('true');
    expect(routerWeights()).toEqual(allOn(live));
    const errors = annotations(run.stdout);
    expect(errors).toHaveLength(2);
    expect(errors[1]).toContain(`traffic is safe (${live} serves`);
    expect(errors[1]).toContain('pull-requests: write');
    expect(errors[1]).toContain('Allow GitHub Actions to create and approve pull requests');
    expect(run.outputs['pull-request-url']).toBe('');
    // The branch was pushed before GitHub refused: the output says where it is.
    expect(run.outputs['rollback-branch']).toBe(branch());
    expect(origin.branch(branch())).toBeDefined();
    expectNoToken(run);
  });

  it('a conflicting revert opens nothing and says what to run by hand', async () => {
    await goodLiveBadStaged();
    // main moved on, touching what the bad commit changed.
    origin.work.commit('v2.1: builds on v2', { 'app.txt': 'v2.1\n' });
    origin.work.git('push', '-q', 'origin', 'main');

    const run = await deploy('promote', bad, { 'rollback-pr': 'true' });

    expect(run.outputs['rolled-back']).toBe('true');
    const error = annotations(run.stdout).find((line) => line.includes('conflicts in app.txt')) ?? '';
    expect(error).toContain(`git revert --no-edit ${bad}`);
    expect(api.requests.filter((r) => r.operationId === 'pulls/create')).toHaveLength(0);
    expect(origin.branch(branch())).toBeUndefined();
  });

  it('without a good commit in the state, the last successful GitHub deployment is used, then good-sha', async () => {
    // v1 promoted with no GITHUB_SHA known to the state: only GitHub's record of it has the commit.
    const noSha = { ...env(''), GITHUB_SHA: '' };
    const plain = (command: string, inputs: Record<string, string>) =>
      runDeploy(
        setup,
        command,
        { steps: '50,100', 'step-duration': '500ms', state: `file:${state}`, ...inputs },
        noSha,
        {
          cwd: checkout.dir,
        },
      );
    expect((await plain('stage', { version: 'v1' })).exitCode).toBe(0);
    expect((await plain('promote', {})).exitCode).toBe(0);
    expect((await deploy('stage', bad, { version: 'v2' })).exitCode).toBe(0);

    const withGoodSha = await deploy('revert', bad, { 'good-sha': good });
    expect(withGoodSha.exitCode).toBe(0);
    expect(withGoodSha.stdout).toContain('last good commit: ' + good.slice(0, 7) + ' (from the good-sha)');
    expect(origin.tree(branch())).toBe(origin.tree(good));

    const none = await deploy('revert', bad);
    expect(none.exitCode).toBe(1);
    expect(annotations(none.stdout).join('\n')).toContain('Set good-sha to the commit to go back to');

    // A token that may not read deployments only costs that source: good-sha still says.
    api.fail('repos/list-deployments', { status: 403, times: 1 });
    const denied = await deploy('revert', bad, { 'good-sha': good });
    expect(denied.exitCode).toBe(0);
    expect(annotations(denied.stdout, 'warning').join('\n')).toContain(
      'could not read GitHub deployments to find the last good commit',
    );

    // GitHub knows v1's deployment succeeded (later replaced): it wins over good-sha.
    const octokit = githubClient(TOKEN, { GITHUB_API_URL: api.url });
    const [owner, repo] = REPOSITORY.split('/') as [string, string];
    const { data: deployment } = await octokit.rest.repos.createDeployment({
      owner,
      repo,
      ref: good,
      environment: 'production',
      auto_merge: false,
      required_contexts: [],
    });
    const id = (deployment as { id: number }).id;
    for (const state of ['success', 'inactive'] as const)
      await octokit.rest.repos.createDeploymentStatus({ owner, repo, deployment_id: id, state });
    const middle = git(origin.bare, 'rev-parse', `${bad}~1`);

    const fromGitHub = await deploy('revert', bad, { 'good-sha': middle });
    expect(fromGitHub.exitCode).toBe(0);
    expect(fromGitHub.stdout).toContain(
      'last good commit: ' + good.slice(0, 7) + ' (from the GitHub deployments)',
    );
    expect(origin.tree(branch())).toBe(origin.tree(good));
    expect(api.violations).toEqual([]);
  });

  it('rollback-pr without github-token is refused before anything moves', async () => {
    const run = await runDeploy(
      setup,
      'promote',
      { 'rollback-pr': 'true', state: `file:${state}` },
      env(bad),
      {
        cwd: checkout.dir,
      },
    );
    expect(run.exitCode).toBe(1);
    expect(annotations(run.stdout)).toEqual([
      expect.stringContaining(
        'Input "github-token": is required to open the rollback pull request (rollback-pr: true)',
      ),
    ]);
    expect(git(origin.bare, 'branch', '--list')).toBe('* main');
  });
});

describe('the rollback pull request: what a user can get wrong, and what is nobody’s fault', () => {
  it('revert without github-token fails, naming the input', async () => {
    await goodLiveBadStaged({ failing: false });
    const run = await deploy('revert', bad, { 'github-token': '' });
    expect(run.exitCode).toBe(1);
    expect(annotations(run.stdout)).toEqual([
      expect.stringContaining(
        'Input "github-token": is required to open the rollback pull request (command: revert)',
      ),
    ]);
  });

  it('revert refuses to undo the build serving users when nothing bad is staged', async () => {
    await goodLiveBadStaged({ failing: false });
    expect((await deploy('promote', bad)).exitCode).toBe(0);
    const run = await deploy('revert', bad);
    expect(run.exitCode).toBe(1);
    expect(annotations(run.stdout).join('\n')).toContain(
      'revert would open a pull request undoing the live build',
    );
    expect(api.requests.filter((r) => r.operationId === 'pulls/create')).toHaveLength(0);
  });

  it('rollback-pr set for every command does not stop a stage without a token', async () => {
    const run = await deploy('stage', good, { version: 'v1', 'rollback-pr': 'true', 'github-token': '' });
    expect(run.exitCode).toBe(0);
  });

  it('a base branch that already undoes the bad commit is a notice, not a failure', async () => {
    await goodLiveBadStaged({ failing: false });
    origin.work.git('revert', '--no-edit', bad);
    origin.work.git('revert', '--no-edit', `${bad}~1`);
    origin.work.git('push', '-q', 'origin', 'main');
    const run = await deploy('revert', bad);
    expect(run.exitCode).toBe(0);
    expect(run.stdout).toContain('no rollback pull request: main already undoes every commit after');
    expect(run.outputs['pull-request-url']).toBe('');
  });

  it('a rollback whose pull request fails says why in reason, and still rolled back', async () => {
    await goodLiveBadStaged({ failing: false });
    expect((await deploy('promote', bad)).exitCode).toBe(0);
    api.fail('pulls/create', { status: 422 });
    const run = await deploy('rollback', bad, { 'rollback-pr': 'true' });
    expect(run.exitCode).toBe(1);
    expect(run.outputs['rolled-back']).toBe('true');
    expect(run.outputs.reason).toContain('but the rollback pull request was not opened');
    expect(routerWeights()).toEqual(allOn(live));
  });
});
