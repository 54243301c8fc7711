import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { startGitHubApi, type GitHubApi } from '../support/github-api.js';

const SHA = 'a84d88e7554fc1fa21bcbc4efae3c782a70d2b9d';

/** A plain client, so the fake is tested on exactly the bytes sent (no Octokit in between). */
function call(
  api: GitHubApi,
  method: string,
  path: string,
  options: { body?: unknown; headers?: Record<string, string> } = {},
) {
  return fetch(`${api.url}${path}`, {
    method,
    headers: {
      authorization: 'Bearer ghs_test',
      accept: 'application/vnd.github+json',
      'user-agent': 'switchyard-test',
      'x-github-api-version': '2022-11-28',
      ...(options.body === undefined ? {} : { 'content-type': 'application/json' }),
      ...options.headers,
    },
    body: options.body === undefined ? undefined : JSON.stringify(options.body),
  });
}

describe('the fake GitHub API', () => {
  let api: GitHubApi;
  beforeAll(async () => {
    api = await startGitHubApi();
  });
  afterAll(() => api.stop());
  afterEach(() => {
    api.violations.length = 0;
    api.clear();
  });

  it('accepts a request that follows GitHub’s description, and answers like GitHub', async () => {
    const created = await call(api, 'POST', '/repos/octo-org/shop/deployments', {
      body: {
        ref: SHA,
        environment: 'production',
        auto_merge: false,
        required_contexts: [],
        payload: { version: '1.2.0' },
      },
    });
    expect(created.status).toBe(201);
    const deployment = (await created.json()) as {
      id: number;
      sha: string;
      environment: string;
      statuses_url: string;
    };
    expect(deployment).toMatchObject({ sha: SHA, environment: 'production' });

    const status = await call(api, 'POST', `/repos/octo-org/shop/deployments/${deployment.id}/statuses`, {
      body: { state: 'in_progress', log_url: 'https://github.com/octo-org/shop/actions/runs/1' },
    });
    expect(status.status).toBe(201);
    const listed = await call(
      api,
      'GET',
      `/repos/octo-org/shop/deployments/${deployment.id}/statuses?per_page=1`,
    );
    expect(await listed.json()).toMatchObject([
      { state: 'in_progress', log_url: 'https://github.com/octo-org/shop/actions/runs/1' },
    ]);
    const byEnvironment = await call(api, 'GET', '/repos/octo-org/shop/deployments?environment=production');
    expect(await byEnvironment.json()).toMatchObject([{ id: deployment.id }]);

    expect(api.violations).toEqual([]);
    expect(api.requests.map((each) => each.operationId)).toEqual(
      expect.arrayContaining([
        'repos/create-deployment',
        'repos/create-deployment-status',
        'repos/list-deployment-statuses',
      ]),
    );
  });

  it('flags a body that breaks the schema, naming the operation and the field, and answers 422', async () => {
    const created = await call(api, 'POST', '/repos/octo-org/shop/deployments', { body: { ref: SHA } });
    const { id } = (await created.json()) as { id: number };
    const response = await call(api, 'POST', `/repos/octo-org/shop/deployments/${id}/statuses`, {
      body: { state: 'bogus' },
    });
    expect(response.status).toBe(422);
    expect(api.violations).toEqual([
      expect.stringMatching(
        /^POST \/repos\/\{owner\}\/\{repo\}\/deployments\/\{deployment_id\}\/statuses \(repos\/create-deployment-status\): body\/state must be equal to one of the allowed values \(error, failure, inactive, in_progress, queued, pending, success\), found "bogus"$/,
      ),
    ]);
    expect(api.state.deploymentStatuses.get(id)).toEqual([]);
  });

  it('flags a missing required field and a field the operation does not take', async () => {
    await call(api, 'POST', '/repos/octo-org/shop/deployments', {
      body: { environment: 'production', enviroment_url: 'x' },
    });
    expect(api.violations).toEqual([
      expect.stringContaining('(repos/create-deployment): body needs "ref"'),
      expect.stringContaining('body has field "enviroment_url", which the operation does not take'),
    ]);
  });

  it('flags a path GitHub does not have, and a method a path does not take, with 404', async () => {
    const unknown = await call(api, 'GET', '/repos/octo-org/shop/deploymentz');
    const wrongMethod = await call(api, 'PUT', '/repos/octo-org/shop/deployments');
    expect([unknown.status, wrongMethod.status]).toEqual([404, 404]);
    expect(api.violations).toEqual([
      'GET /repos/octo-org/shop/deploymentz: no such path in GitHub’s REST API',
      'PUT /repos/octo-org/shop/deployments: GitHub has no PUT operation on this path (it has GET, POST)',
    ]);
  });

  it('flags path and query parameters of the wrong type, and unknown query parameters', async () => {
    await call(api, 'GET', '/repos/octo-org/shop/deployments/latest/statuses');
    await call(api, 'GET', '/repos/octo-org/shop/deployments?per_page=ten&environmnet=production');
    expect(api.violations).toEqual([
      expect.stringContaining(
        '(repos/list-deployment-statuses): path parameter /deployment_id must be integer, found "latest"',
      ),
      expect.stringContaining('(repos/list-deployments): unknown query parameter "environmnet"'),
      expect.stringContaining('(repos/list-deployments): query /per_page must be integer, found "ten"'),
    ]);
  });

  it('answers 401 without a token and 403 without a User-Agent, as GitHub does', async () => {
    const anonymous = await call(api, 'GET', '/repos/octo-org/shop/deployments', {
      headers: { authorization: '' },
    });
    const noAgent = await call(api, 'GET', '/repos/octo-org/shop/deployments', {
      headers: { 'user-agent': '' },
    });
    expect([anonymous.status, noAgent.status]).toEqual([401, 403]);
    expect(api.violations).toEqual([
      expect.stringContaining('needs an Authorization header'),
      expect.stringContaining('has no User-Agent header'),
    ]);
  });

  it('answers a ref it does not know with GitHub’s 422', async () => {
    const response = await call(api, 'POST', '/repos/octo-org/shop/deployments', {
      body: { ref: 'no-such-branch' },
    });
    expect(response.status).toBe(422);
    expect(await response.json()).toMatchObject({ message: 'No ref found for: no-such-branch' });
    expect(api.violations).toEqual([]);
  });

  it('answers a simulated failure for an operation, as many times as asked', async () => {
    api.fail('repos/create-deployment', { status: 403, times: 1 });
    const refused = await call(api, 'POST', '/repos/octo-org/shop/deployments', { body: { ref: 'main' } });
    const accepted = await call(api, 'POST', '/repos/octo-org/shop/deployments', { body: { ref: 'main' } });
    expect(refused.status).toBe(403);
    expect(await refused.json()).toMatchObject({ message: 'Resource not accessible by integration' });
    expect(accepted.status).toBe(201);
    expect(() => api.fail('repos/make-coffee', { status: 500 })).toThrow('No operation "repos/make-coffee"');
  });

  it('reports an operation the fake does not implement rather than pretending', async () => {
    const response = await call(api, 'GET', '/repos/octo-org/shop/stargazers');
    expect(response.status).toBe(501);
    expect(api.violations).toEqual([
      'GET /repos/{owner}/{repo}/stargazers (activity/list-stargazers-for-repo): the fake does not implement this operation yet (add it to `routes`)',
    ]);
  });

  it('pages lists with a Link header, as Octokit’s paginate expects', async () => {
    for (let i = 0; i < 3; i++) {
      await call(api, 'POST', '/repos/octo-org/paged/deployments', {
        body: { ref: SHA, environment: 'staging' },
      });
    }
    const first = await call(api, 'GET', '/repos/octo-org/paged/deployments?per_page=2');
    expect(((await first.json()) as unknown[]).length).toBe(2);
    const next = /<([^>]+)>; rel="next"/.exec(first.headers.get('link') ?? '')?.[1];
    expect(next).toBe(`${api.url}/repos/octo-org/paged/deployments?per_page=2&page=2`);
    const second = await call(api, 'GET', new URL(next!).pathname + new URL(next!).search);
    expect(((await second.json()) as unknown[]).length).toBe(1);
    expect(api.violations).toEqual([]);
  });

  it('loads GitHub’s description quickly enough for every test file', () => {
    expect(api.description.byOperationId.size).toBeGreaterThan(1000);
    expect(api.description.loadMs).toBeLessThan(5000);
  });
});
