import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { annotations } from '../../scripts/run-action.js';
import { RehearsalError, rehearse, type RehearsalOptions } from '../../scripts/workflow/runner.js';

const fixture = (name: string) => join('test', 'fixtures', 'workflows', `${name}.yml`);
const run = (name: string, options: Partial<RehearsalOptions> = {}) =>
  rehearse({ workflow: fixture(name), ...options });
const stepsOf = (result: Awaited<ReturnType<typeof run>>, job: string) =>
  Object.fromEntries(
    (result.jobs[job]?.steps ?? []).map((step) => [
      step.id ?? step.name,
      `${step.outcome}/${step.conclusion}`,
    ]),
  );

describe('the workflow rehearsal runner', () => {
  it('runs jobs after their needs, skips what a skipped job leads to, and runs if: always() jobs anyway', async () => {
    const result = await run('needs-order');
    expect(result.order).toEqual(['lint', 'build', 'deploy', 'skipped', 'after-skipped', 'cleanup']);
    expect(Object.fromEntries(Object.entries(result.jobs).map(([id, job]) => [id, job.result]))).toEqual({
      lint: 'success',
      build: 'success',
      deploy: 'success',
      skipped: 'skipped',
      // Its direct need `deploy` succeeded: success() looks at every job upstream, as GitHub's does.
      'after-skipped': 'skipped',
      cleanup: 'success',
    });
    expect(result.jobs.deploy?.log).toContain('deploying shop-1.2.3.tgz');
    expect(result.jobs.cleanup?.log).toContain('after-skipped was skipped');
    expect(result.jobs.skipped?.steps).toEqual([]);
    expect(result.conclusion).toBe('success');
  });

  it('after a failed step: the next is skipped, if: always() and failure() steps run; downstream jobs see the result', async () => {
    const result = await run('after-failure');
    expect(stepsOf(result, 'build')).toEqual({
      compile: 'failure/failure',
      package: 'skipped/skipped',
      logs: 'success/success',
      'Run echo "::error::build broke"': 'success/success',
    });
    const build = result.jobs.build;
    expect(build?.result).toBe('failure');
    expect(build?.outputs).toEqual({ compiled: 'failure' });
    expect(build?.log).toContain('compile was failure, package was skipped');
    expect(annotations((build?.log ?? []).join('\n'))).toEqual([
      'Process completed with exit code 3.',
      'build broke',
    ]);
    expect(result.jobs.test?.result).toBe('skipped');
    expect(result.jobs.report?.result).toBe('success');
    expect(result.jobs.report?.log).toContain('build=failure test=skipped compiled=failure');
    // failure() at job level sees a failure two jobs up.
    expect(result.jobs.notify?.result).toBe('success');
    expect(result.conclusion).toBe('failure');
  });

  it('passes job outputs through needs, with fromJSON indexing, format, contains, || and heredoc outputs', async () => {
    const result = await run('outputs');
    expect(result.jobs.status?.outputs).toEqual({
      active: 'green',
      weights: '{"blue":0,"green":100}',
      notes: 'line one\nline two',
    });
    expect(result.jobs.use?.outputs).toEqual({
      share: '100',
      summary: 'green has 100%',
      missing: 'fallback',
      'two-lines': 'true',
      full: 'true',
    });
    expect(Object.values(stepsOf(result, 'use'))).toEqual(['skipped/skipped', 'success/success']);
  });

  it('layers env (step over job over workflow), carries GITHUB_ENV and GITHUB_PATH, types inputs and masks secrets', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'switchyard-runner-test-'));
    try {
      const result = await run('env', {
        dir,
        inputs: { fast: 'true' },
        secrets: { token: 's3cr3t-value' },
        vars: { REGION: 'eu-west' },
        repository: 'octo-org/shop',
      });
      const log = result.jobs.show?.log ?? [];
      expect(log).toContain('level=step workflow=w job=j exported=from-github-env repo=octo-org/shop');
      // Declared defaults and types: steps is the number 4, fast the boolean given as text.
      expect(log).toContain('colour=blue steps-is-4=true fast=true region=eu-west');
      expect(log).toContain('token=***');
      expect(log.join('\n')).not.toContain('s3cr3t-value');
      expect(log).toContain('tool-on-path');
      const outputs = result.jobs.show?.steps[1]?.outputs ?? {};
      expect(outputs.pwd).toBe(outputs.workspace);
      expect(outputs.workspace).toBe(join(dir, 'jobs', 'show', 'workspace'));
      expect(log).toContain(`exported-context=from-github-env runner-temp=${outputs.temp}`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses inputs and secrets the workflow does not declare, and a missing required secret', async () => {
    await expect(
      run('env', { inputs: { colour: 'green', size: 'xl' }, secrets: { token: 't' } }),
    ).rejects.toThrow(/Unexpected input "size"/);
    await expect(run('env', { secrets: { token: 't', other: 'x' } })).rejects.toThrow(
      /Invalid secret, other is not defined/,
    );
    await expect(run('env', {})).rejects.toThrow(/secret "token" is required/);
    await expect(run('env', { inputs: { fast: 'yes' }, secrets: { token: 't' } })).rejects.toThrow(
      /input "fast" is a boolean, not "yes"/,
    );
  });

  it('continue-on-error: the outcome is failure, the conclusion success, and the job goes on', async () => {
    const result = await run('continue-on-error');
    expect(stepsOf(result, 'probe')).toEqual({
      flaky: 'failure/success',
      next: 'success/success',
      'only-on-failure': 'skipped/skipped',
    });
    expect(result.jobs.probe?.outputs).toEqual({ outcome: 'failure', conclusion: 'success' });
    expect(result.jobs.probe?.result).toBe('success');
  });

  it('refuses, before running anything, a third-party action that has no local stand-in', async () => {
    const lines: string[] = [];
    const rehearsal = run('unknown-action', { onLine: (line) => lines.push(line) });
    await expect(rehearsal).rejects.toThrow(RehearsalError);
    await expect(rehearsal).rejects.toThrow(/slackapi\/slack-github-action@v2, which has no local stand-in/);
    expect(lines).toEqual([]);
  });

  it('fails a step whose if uses a context GitHub does not offer there (secrets)', async () => {
    const result = await run('secrets-in-if');
    expect(result.jobs.publish?.result).toBe('failure');
    expect(annotations((result.jobs.publish?.log ?? []).join('\n'))).toEqual([
      "if: secrets.token != '': Unrecognized named-value: 'secrets'",
    ]);
  });

  it('runs a called reusable workflow with the with: and secrets: given, and passes its outputs on', async () => {
    const result = await run('calls-workflow', { secrets: { DEPLOY_TOKEN: 'abcd' } });
    expect(result.jobs.deploy?.result).toBe('success');
    expect(result.jobs.deploy?.outputs).toEqual({ served: 'green in 3 steps with token 4 chars long' });
    expect(result.jobs.after?.log).toContain('after -> green in 3 steps with token 4 chars long (success)');
  });

  describe('the k6 stand-in', () => {
    let server: Server;
    let served = 0;
    beforeAll(async () => {
      // Every 4th request fails: k6's http_req_failed counts them as its "passes".
      server = createServer((_req, res) => {
        res.writeHead(++served % 4 === 0 ? 500 : 200).end('ok');
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    });
    afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

    it('sends real requests to SWITCHYARD_SERVERS, writes the --summary-export format and exits 99 on a failed threshold', async () => {
      const { port } = server.address() as AddressInfo;
      const dir = mkdtempSync(join(tmpdir(), 'switchyard-runner-k6-'));
      try {
        const result = await run('k6', { dir, env: { SWITCHYARD_SERVERS: `127.0.0.1:${port}` } });
        expect(result.jobs.load?.outputs).toEqual({ exit: '99' });
        const failed = JSON.parse(result.jobs.read?.outputs.failed ?? '{}');
        expect(failed.passes).toBeGreaterThan(0);
        expect(failed.passes).toBe(Math.floor(served / 4));
        // true means the threshold FAILED, in this format.
        expect(failed.thresholds).toEqual({ 'rate<0.01': true });
        expect(existsSync(join(dir, 'artifacts', 'k6-summary', 'summary.json'))).toBe(true);
        expect(result.conclusion).toBe('success');
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  });
});
