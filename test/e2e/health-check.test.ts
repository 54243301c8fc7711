import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  freePort,
  startNginx,
  startPostgres,
  startRedis,
  type RunningNginx,
  type RunningPostgres,
  type RunningServer,
} from '../../scripts/servers/index.js';
import { annotations, runLikeTheRunner } from '../../scripts/run-action.js';

let nginx: RunningNginx;
let redis: RunningServer & { url: string };
let postgres: RunningPostgres;
let scratch: string;

beforeAll(async () => {
  scratch = mkdtempSync(join(tmpdir(), 'switchyard-e2e-'));
  redis = await startRedis({ password: 'redis-Pa55' });
  postgres = await startPostgres({ password: 'pg/Pa55%word' });
  nginx = await startNginx({
    http: ({ port }) => `
      server {
        listen 127.0.0.1:${port};
        location = /health { return 200 "ready\\n"; }
        location = /broken { return 500 "boom\\n"; }
        location = /echo-token { return 401 "token $http_authorization is expired\\n"; }
      }`,
  });
});

afterAll(async () => {
  await nginx?.stop();
  await redis?.stop();
  await postgres?.stop();
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
    expect(run.outputs['error-rate']).toBe('0');
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
    // Outputs are written on every path: bad input is not healthy.
    expect(run.outputs.healthy).toBe('false');
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

  it('redis and postgres targets pass through the bundle (drivers load lazily), reporting their facts', async () => {
    const pgUrl = `postgres://switchyard:${encodeURIComponent(postgres.password)}@127.0.0.1:${postgres.port}/switchyard`;
    const run = await runLikeTheRunner('health-check', {
      targets: `${redis.url}\n${pgUrl}`,
      query: 'SELECT count(*) = 0 FROM pg_stat_activity WHERE false',
    });
    expect(annotations(run.stdout)).toEqual([]);
    expect(run.exitCode).toBe(0);
    expect(run.summary).toMatch(/\| `redis:\/\/:\*\*\*@127\.0\.0\.1:\d+` \| redis \| ✅ \|.*redis_version/);
    expect(run.summary).toMatch(/\| postgres \| ✅ \|.*server_version: 15/);
    const everything = [run.stdout, run.summary, run.report ?? ''].join('\n');
    expect(everything).not.toContain('redis-Pa55');
    expect(everything).not.toContain('pg/Pa55');
    expect(everything).not.toContain(encodeURIComponent(postgres.password));
  });

  it('the k6 gate: thresholds recorded in the file decide, and k6-thresholds add to them', async () => {
    // The fixture records one failed threshold (p(99.9)<1000): the gate must honour it.
    const recorded = await runLikeTheRunner('health-check', {
      targets: `${nginx.url}/health`,
      'k6-summary': 'test/fixtures/k6/handle-summary.json',
    });
    expect(recorded.exitCode).toBe(1);
    expect(annotations(recorded.stdout)[0]).toContain('http_req_duration p(99.9)<1000');

    // The same run with every recorded threshold passing, plus a passing threshold of our own.
    const data = JSON.parse(readFileSync('test/fixtures/k6/handle-summary.json', 'utf8'));
    for (const metric of Object.values(data.metrics) as { thresholds?: Record<string, { ok: boolean }> }[]) {
      for (const verdict of Object.values(metric.thresholds ?? {})) verdict.ok = true;
    }
    const file = join(scratch, 'passing-summary.json');
    writeFileSync(file, JSON.stringify(data));
    const passing = await runLikeTheRunner('health-check', {
      targets: `${nginx.url}/health`,
      'k6-summary': file,
      'k6-thresholds': 'http_req_duration{expected_response:true}: max<100000',
    });
    expect(annotations(passing.stdout)).toEqual([]);
    expect(passing.outputs.healthy).toBe('true');
    expect(passing.summary).toContain('### k6 thresholds: ✅ passed');

    const failing = await runLikeTheRunner('health-check', {
      targets: `${nginx.url}/health`,
      'k6-summary': file,
      'k6-thresholds': 'http_req_failed: rate<0.00001',
    });
    expect(failing.exitCode).toBe(1);
    expect(annotations(failing.stdout)[0]).toContain('http_req_failed rate<0.00001');
  });

  it.each([
    [
      'an unencoded / in a password',
      (port: number) => `postgres://app:pa/ss-Secret1@127.0.0.1:${port}/x`,
      'pa/ss-Secret1',
    ],
    ['a token as the user of an http URL', () => `http://ghp_Secret1token@127.0.0.1:1/`, 'ghp_Secret1token'],
    ['a SAS signature in the query', () => `http://127.0.0.1:1/?sig=Secret1sig&pwd=Secret2pwd`, 'Secret1sig'],
  ])('%s never appears anywhere', async (_what, target, secret) => {
    const run = await runLikeTheRunner('health-check', { targets: target(await freePort()), retries: '0' });
    const everything = [
      run.stdout,
      run.stderr,
      run.summary,
      JSON.stringify(run.outputs),
      run.report ?? '',
    ].join('\n');
    expect(everything).not.toContain(secret);
  });

  it('a bearer token echoed back by the server is masked, and an ordinary header is not', async () => {
    const run = await runLikeTheRunner('health-check', {
      targets: `${nginx.url}/echo-token`,
      headers: 'Authorization: Bearer tok-Secret-123\nX-Health-Check: true',
      retries: '0',
    });
    expect(run.exitCode).toBe(1);
    expect(run.stdout).toContain('token *** is expired');
    expect(run.stdout).not.toContain('tok-Secret-123');
    expect(run.outputs.healthy).toBe('false');
    expect(JSON.parse(run.report ?? '{}').healthy).toBe(false);
  });
});

describe('health-check with only k6-summary (the load-test job), as the runner runs it', () => {
  it('passes on a summary whose thresholds held, fails naming the broken one', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'switchyard-k6-only-'));
    try {
      const data = JSON.parse(readFileSync('test/fixtures/k6/handle-summary.json', 'utf8'));
      const held = join(dir, 'held.json');
      // The fixture records one failed threshold; held.json is the same run with it passing.
      writeFileSync(held, JSON.stringify(data).replaceAll('{"ok":false}', '{"ok":true}'));
      const passing = await runLikeTheRunner('health-check', { 'k6-summary': held });
      expect(passing.exitCode).toBe(0);
      expect(passing.outputs).toMatchObject({ healthy: 'true', verdict: 'passed' });

      const failing = await runLikeTheRunner('health-check', {
        'k6-summary': join(process.cwd(), 'test/fixtures/k6/handle-summary.json'),
      });
      expect(failing.exitCode).toBe(1);
      expect(failing.outputs.healthy).toBe('false');
      expect(annotations(failing.stdout)[0]).toMatch(/k6 thresholds failed: /);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
