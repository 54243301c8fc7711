import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, startNginx, type RunningNginx } from '../../scripts/servers/index.js';
import { annotations, runLikeTheRunner } from '../../scripts/run-action.js';

let nginx: RunningNginx;
let scratch: string;

beforeAll(async () => {
  scratch = mkdtempSync(join(tmpdir(), 'switchyard-e2e-'));
  nginx = await startNginx({
    http: ({ port }) => `
      server {
        listen 127.0.0.1:${port};
        location = /health { return 200 "ready\\n"; }
        location = /broken { return 500 "boom\\n"; }
      }`,
  });
});

afterAll(async () => {
  await nginx?.stop();
  rmSync(scratch, { recursive: true, force: true });
});

describe('health-check, run as the GitHub runner runs it', () => {
  it('healthy target ⇒ healthy=true, exit 0, a summary table and a report', async () => {
    const run = await runLikeTheRunner('health-check', {
      targets: `${nginx.url}/health`,
      'expect-body': 'ready',
    });
    expect(run.exitCode).toBe(0);
    expect(run.outputs.healthy).toBe('true');
    expect(run.outputs.failed).toBe('[]');
    expect(run.outputs['error-rate']).toBe('0.0000');
    expect(Number(run.outputs['p95-ms'])).toBeGreaterThanOrEqual(0);
    expect(run.summary).toContain('## Health check: ✅ healthy');
    expect(run.summary).toContain(`| \`${nginx.url}/health\` | http | ✅ |`);
    expect(JSON.parse(run.report ?? '{}')).toMatchObject({ action: 'health-check', healthy: true });
  });

  it('a 500 target ⇒ healthy=false, exit 1, one error naming the target', async () => {
    const run = await runLikeTheRunner('health-check', { targets: `${nginx.url}/broken`, retries: '0' });
    expect(run.exitCode).toBe(1);
    expect(run.outputs.healthy).toBe('false');
    expect(JSON.parse(run.outputs.failed ?? '')).toEqual([`${nginx.url}/broken`]);
    const errors = annotations(run.stdout);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toContain('HTTP 500');
  });

  it('a closed port ⇒ unhealthy with "connection refused"', async () => {
    const port = await freePort();
    const run = await runLikeTheRunner('health-check', { targets: `tcp://127.0.0.1:${port}`, retries: '0' });
    expect(run.exitCode).toBe(1);
    expect(run.stdout).toMatch(/connection refused/i);
  });

  it.each([
    [{ mode: 'sometimes' }, 'mode', 'expected one of: once, until-healthy, watch'],
    [{ 'max-error-rate': '150%' }, 'max-error-rate', 'must be between 0% and 100%'],
    [{ timeout: 'abc' }, 'timeout', 'expected a duration with a unit'],
    [{ targets: 'http//missing-colon' }, 'targets', 'is not a URL'],
  ])('bad input %j ⇒ one ::error:: naming %s, exit 1, no stack trace', async (bad, input, fix) => {
    const run = await runLikeTheRunner('health-check', { targets: `${nginx.url}/health`, ...bad });
    expect(run.exitCode).toBe(1);
    const errors = annotations(run.stdout);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toContain(`Input "${input}"`);
    expect(errors[0]).toContain(fix);
    expect(run.stdout + run.stderr).not.toMatch(/^\s+at /m);
    expect(run.outputs.healthy).toBeUndefined();
  });

  it('a k6 file that is not JSON ⇒ one ::error:: naming k6-summary', async () => {
    const file = join(scratch, 'summary.json');
    writeFileSync(file, 'running (0m30.0s), 00/10 VUs, 1234 complete\n');
    const run = await runLikeTheRunner('health-check', {
      targets: `${nginx.url}/health`,
      'k6-summary': file,
    });
    expect(run.exitCode).toBe(1);
    const errors = annotations(run.stdout);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toContain('k6-summary');
    expect(run.stdout + run.stderr).not.toMatch(/^\s+at /m);
  });

  it('a password in a target URL appears nowhere: not stdout, summary, outputs or report', async () => {
    const port = await freePort();
    const secret = 'S3cretPassw0rd';
    const run = await runLikeTheRunner('health-check', {
      targets: `postgres://app:${secret}@127.0.0.1:${port}/shop\n${nginx.url}/health?token=${secret}x`,
      retries: '0',
      timeout: '2s',
    });
    expect(run.exitCode).toBe(1);
    const everything = [
      run.stdout,
      run.stderr,
      run.summary,
      JSON.stringify(run.outputs),
      run.report ?? '',
    ].join('\n');
    expect(everything).toContain('postgres://app:***@127.0.0.1');
    expect(everything).not.toContain(secret);
  });
});
