import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { UserError } from '../../actions/core/src/errors.js';
import { memoryIO } from '../../actions/core/src/io.js';
import { GitHubError, githubClient, repoFromEnv } from '../../actions/core/src/github/client.js';
import {
  DeploymentRecorder,
  runLogUrl,
  type DeploymentOptions,
} from '../../actions/core/src/github/deployments.js';
import { startGitHubApi, type GitHubApi } from '../support/github-api.js';

const TOKEN = 'ghs_s3cretT0kenNeverPrinted';
const SHA = '4f2c0a9d1e8b7c6a5f4e3d2c1b0a99887766554f';
const RUN = {
  GITHUB_SERVER_URL: 'https://github.com',
  GITHUB_REPOSITORY: 'octo-org/shop',
  GITHUB_RUN_ID: '9876543210',
  GITHUB_RUN_ATTEMPT: '1',
};

describe('recording a deploy as a GitHub deployment', () => {
  let api: GitHubApi;
  beforeAll(async () => {
    api = await startGitHubApi();
  });
  afterAll(() => api.stop());
  afterEach(() => {
    // Whatever a test did, every request the client sent must have followed GitHub's description.
    expect(api.violations).toEqual([]);
    api.clear();
  });

  function recording(overrides: Partial<DeploymentOptions> = {}) {
    const env = { ...RUN, GITHUB_API_URL: api.url };
    const { io, recorded } = memoryIO({ env });
    io.secrets.add(TOKEN);
    const options: DeploymentOptions = {
      octokit: githubClient(TOKEN, env, { log: (line) => io.debug(line) }),
      ...repoFromEnv(env),
      ref: SHA,
      environment: 'production',
      description: 'shop 1.4.0 (green)',
      logUrl: runLogUrl(env),
      environmentUrl: 'https://shop.example.com/',
      payload: { version: '1.4.0', color: 'green' },
      log: (line) => io.info(line),
      ...overrides,
    };
    return { options, recorded };
  }

  const statesOf = (id: number) => api.state.deploymentStatuses.get(id)?.map((status) => status.state);
  const bodiesSent = (operationId: string) =>
    api.requests.filter((each) => each.operationId === operationId).map((each) => each.body);

  it('creates the deployment for the environment and sha, in progress, then successful', async () => {
    const { options, recorded } = recording();
    const deployment = await DeploymentRecorder.start(options);

    const created = api.state.deployments.find((each) => each.id === deployment.id);
    expect(created).toMatchObject({
      sha: SHA,
      ref: SHA,
      environment: 'production',
      description: 'shop 1.4.0 (green)',
      payload: { version: '1.4.0', color: 'green', switchyard: '0.1.0' },
      transient_environment: false,
      production_environment: true,
    });
    expect(bodiesSent('repos/create-deployment').at(-1)).toMatchObject({
      auto_merge: false,
      required_contexts: [],
    });
    expect(statesOf(deployment.id)).toEqual(['in_progress']);

    await deployment.finish('success', 'Promoted to 100% after 5 healthy steps');
    const statuses = api.state.deploymentStatuses.get(deployment.id)!;
    expect(statuses.map((each) => each.state)).toEqual(['in_progress', 'success']);
    expect(statuses.at(-1)).toMatchObject({
      description: 'Promoted to 100% after 5 healthy steps',
      log_url: 'https://github.com/octo-org/shop/actions/runs/9876543210',
      environment_url: 'https://shop.example.com/',
      environment: 'production',
    });
    expect(recorded.log).toEqual(
      expect.arrayContaining([
        `GitHub deployment ${deployment.id} created for environment "production".`,
        `GitHub deployment ${deployment.id}: in_progress.`,
        `GitHub deployment ${deployment.id}: success.`,
      ]),
    );
    expect(recorded.log.join('\n')).not.toContain(TOKEN);
  });

  it('identifies itself and pins the API version on every request', async () => {
    const { options } = recording();
    await DeploymentRecorder.start(options);
    const headers = api.requests.at(-1)!.headers;
    expect(headers['user-agent']).toMatch(/^switchyard\/0\.1\.0 /);
    expect(headers['x-github-api-version']).toBe('2022-11-28');
    expect(headers.authorization).toBe(`token ${TOKEN}`);
  });

  it('records a failed deploy as failure, without a link to the environment it did not reach', async () => {
    const { options } = recording({ environment: 'failing' });
    const deployment = await DeploymentRecorder.start(options);
    await deployment.finish('failure', 'Rolled back at 25%: error rate 7.1% > 5%');

    const last = api.state.deploymentStatuses.get(deployment.id)!.at(-1)!;
    expect(last).toMatchObject({ state: 'failure', description: 'Rolled back at 25%: error rate 7.1% > 5%' });
    expect(last.environment_url).toBe('');
    // A failure must not retire the deployment still serving the traffic.
    expect(bodiesSent('repos/create-deployment-status').at(-1)).toMatchObject({
      state: 'failure',
      auto_inactive: false,
    });
  });

  it('retires the previous production deployment on success, not on failure, and skips rolled-back ones', async () => {
    const deploy = async (outcome: 'success' | 'failure' | 'inactive') => {
      const deployment = await DeploymentRecorder.start(
        recording({ environment: 'prod-eu', productionEnvironment: true }).options,
      );
      await deployment.finish(outcome, outcome);
      return deployment.id;
    };
    const first = await deploy('success');
    const failed = await deploy('failure');
    expect(statesOf(first)).toEqual(['in_progress', 'success']);

    const rolledBack = await deploy('inactive');
    const current = await deploy('success');
    expect(statesOf(first)).toEqual(['in_progress', 'success', 'inactive']);
    expect(statesOf(failed)).toEqual(['in_progress', 'failure']);
    expect(statesOf(rolledBack)).toEqual(['in_progress', 'inactive']);
    expect(statesOf(current)).toEqual(['in_progress', 'success']);
    expect(api.state.deploymentStatuses.get(first)!.at(-1)!.description).toBe(
      `Replaced by deployment ${current}`,
    );
  });

  it('leaves it to GitHub’s auto_inactive where GitHub retires earlier deployments itself', async () => {
    const first = await DeploymentRecorder.start(
      recording({ environment: 'staging', productionEnvironment: false }).options,
    );
    await first.finish('success', 'ok');
    const second = await DeploymentRecorder.start(
      recording({ environment: 'staging', productionEnvironment: false }).options,
    );
    await second.finish('success', 'ok');
    // One inactive status, GitHub's: switchyard found nothing left to do.
    expect(statesOf(first.id)).toEqual(['in_progress', 'success', 'inactive']);
    expect(api.state.deploymentStatuses.get(first.id)!.at(-1)!.description).toBe('ok');
  });

  it('cuts a long description to the 140 characters GitHub keeps', async () => {
    const { options } = recording();
    const deployment = await DeploymentRecorder.start(options);
    await deployment.finish('error', `Router reload failed: ${'nginx: [emerg] '.repeat(20)}`);
    const last = api.state.deploymentStatuses.get(deployment.id)!.at(-1)!;
    expect(last.state).toBe('error');
    expect(last.description).toHaveLength(140);
    expect(last.description.endsWith('…')).toBe(true);
  });

  describe('when GitHub refuses', () => {
    async function failureOf(promise: Promise<unknown>): Promise<GitHubError> {
      const error = await promise.then(
        () => undefined,
        (caught: unknown) => caught,
      );
      expect(error).toBeInstanceOf(GitHubError);
      expect(error).toBeInstanceOf(UserError);
      const message = (error as GitHubError).message;
      expect(message).not.toContain(TOKEN);
      expect(JSON.stringify(error)).not.toContain(TOKEN);
      return error as GitHubError;
    }

    it('403: names the permission the job needs and how to grant it', async () => {
      api.fail('repos/create-deployment', { status: 403 });
      const error = await failureOf(DeploymentRecorder.start(recording().options));
      expect(error.status).toBe(403);
      expect(error.message).toBe(
        `github-token lacks the \`deployments: write\` permission needed to create a deployment of ${SHA} to environment "production" in octo-org/shop ` +
          '(GitHub answered 403: Resource not accessible by integration). Add `permissions: deployments: write` to the job ' +
          '(keep `contents: read` if it checks out code); a personal access token needs the same repository permission.',
      );
    });

    it('403 on the status: the same advice, for the status call', async () => {
      api.fail('repos/create-deployment-status', { status: 403 });
      const error = await failureOf(DeploymentRecorder.start(recording().options));
      expect(error.message).toMatch(
        /^github-token lacks the `deployments: write` permission needed to mark deployment \d+ in progress/,
      );
    });

    it('403 for the rate limit: says when it resets instead of blaming the permissions', async () => {
      api.fail('repos/create-deployment', {
        status: 403,
        message: 'API rate limit exceeded for installation ID 1.',
        headers: { 'x-ratelimit-remaining': '0', 'x-ratelimit-reset': '1767225600' },
      });
      const error = await failureOf(DeploymentRecorder.start(recording().options));
      expect(error.message).toContain('GitHub API rate limit exceeded');
      expect(error.message).toContain('It resets at 2026-01-01T00:00:00.000Z.');
    });

    it('401: the token is invalid or expired', async () => {
      api.fail('repos/create-deployment', { status: 401 });
      const error = await failureOf(DeploymentRecorder.start(recording().options));
      expect(error.message).toContain('github-token was rejected');
      expect(error.message).toContain('(GitHub answered 401: Bad credentials): it is invalid or expired');
    });

    it('404: the repository is missing or out of the token’s reach', async () => {
      api.fail('repos/create-deployment', { status: 404 });
      const error = await failureOf(DeploymentRecorder.start(recording().options));
      expect(error.message).toContain('the repository does not exist, or github-token cannot see it');
    });

    it('422: a ref GitHub does not know — asks whether it was pushed', async () => {
      const error = await failureOf(
        DeploymentRecorder.start(recording({ ref: 'release/never-pushed' }).options),
      );
      expect(error.status).toBe(422);
      expect(error.message).toBe(
        'GitHub refused to create a deployment of release/never-pushed to environment "production" in octo-org/shop ' +
          '(GitHub answered 422: No ref found for: release/never-pushed). Check that release/never-pushed exists in octo-org/shop (was it pushed?).',
      );
    });

    it('a failure while finishing is a GitHubError too, so the deploy can warn and go on', async () => {
      const deployment = await DeploymentRecorder.start(recording().options);
      api.fail('repos/create-deployment-status', { status: 502, times: 1 });
      const error = await failureOf(deployment.finish('success', 'ok'));
      expect(error.message).toContain('GitHub failed to mark deployment');
      expect(error.requestId).toMatch(/^FAKE:/);
    });

    it('GitHub out of reach: says so, without a status', async () => {
      const silent = createServer(() => {});
      await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
      const env = { ...RUN, GITHUB_API_URL: `http://127.0.0.1:${(silent.address() as AddressInfo).port}` };
      const octokit = githubClient(TOKEN, env, { timeoutMs: 200 });
      try {
        const error = await failureOf(DeploymentRecorder.start({ ...recording().options, octokit }));
        expect(error.status).toBeUndefined();
        expect(error.message).toMatch(/^Could not reach the GitHub API to create a deployment/);
      } finally {
        silent.closeAllConnections();
        await new Promise((resolve) => silent.close(resolve));
      }
    });
  });
});

describe('where the deployment comes from', () => {
  it('reads the repository from GITHUB_REPOSITORY, and says what to set when it is missing', () => {
    expect(repoFromEnv({ GITHUB_REPOSITORY: 'octo-org/shop' })).toEqual({ owner: 'octo-org', repo: 'shop' });
    expect(() => repoFromEnv({})).toThrow(/GITHUB_REPOSITORY is not set.*set GITHUB_REPOSITORY=owner\/name/);
    expect(() => repoFromEnv({ GITHUB_REPOSITORY: 'shop' })).toThrow(
      'GITHUB_REPOSITORY is "shop"; expected "owner/name"',
    );
  });

  it('links the run’s log, on GitHub or GitHub Enterprise Server, and nothing outside Actions', () => {
    expect(runLogUrl(RUN)).toBe('https://github.com/octo-org/shop/actions/runs/9876543210');
    expect(runLogUrl({ ...RUN, GITHUB_SERVER_URL: 'https://ghe.example.com/' })).toBe(
      'https://ghe.example.com/octo-org/shop/actions/runs/9876543210',
    );
    expect(runLogUrl({})).toBeUndefined();
  });

  it('refuses an empty token with advice instead of Octokit’s message', () => {
    expect(() => githubClient('', {})).toThrow(UserError);
    expect(() => githubClient('', {})).toThrow('github-token is empty');
  });
});
