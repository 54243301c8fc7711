import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { request } from 'node:http';
import { runWithInputs } from '../../actions/core/src/action.js';
import { run } from '../../actions/health-check/src/main.js';
import {
  freePort,
  startNginx,
  startSampleService,
  type RunningNginx,
  type RunningServer,
} from '../../scripts/servers/index.js';

let service: RunningServer & { url: string };
let nginx: RunningNginx;

/** Tells the sample service to answer 500 to this share of `/` requests. */
function setFailRate(rate: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const req = request(`${service.url}/fail-rate?rate=${rate}`, { method: 'POST' }, (res) => {
      res.resume();
      res.on('end', () =>
        res.statusCode === 200 ? resolve() : reject(new Error(`fail-rate: ${res.statusCode}`)),
      );
    });
    req.on('error', reject);
    req.end();
  });
}

beforeAll(async () => {
  service = await startSampleService({ color: 'green', version: 'v2' });
  nginx = await startNginx({
    http: ({ port }) => `server { listen 127.0.0.1:${port}; location / { proxy_pass ${service.url}; } }`,
  });
});

afterAll(async () => {
  await nginx?.stop();
  await service?.stop();
});

describe('health-check against real nginx', () => {
  it('until-healthy: duration bounds the whole wait, however long timeout is (issue 8)', async () => {
    const started = performance.now();
    const result = await runWithInputs(run, {
      targets: `${service.url}/delay/20000`,
      mode: 'until-healthy',
      duration: '3s',
      timeout: '10s',
    });
    const tookMs = performance.now() - started;
    expect(result.exitCode).toBe(1);
    expect(result.outputs.healthy).toBe('false');
    // Before: the one attempt ran its whole 10 s timeout (10.2 s in all).
    expect(tookMs).toBeLessThan(5000);
    expect(tookMs).toBeGreaterThanOrEqual(2900);
  });
  it('watch: a clean window passes, with per-target stats and a latency chart', async () => {
    await setFailRate(0);
    const result = await runWithInputs(run, {
      targets: `${nginx.url}/\ntcp://127.0.0.1:${service.port}`,
      mode: 'watch',
      interval: '100ms',
      duration: '1500ms',
      'expect-body': 'green v2',
    });
    expect(result.exitCode).toBe(0);
    expect(result.outputs.healthy).toBe('true');
    expect(result.summary).toContain('xychart-beta');
    expect(result.summary).toMatch(new RegExp(`\\| \`${nginx.url}/\` \\| http \\| ✅ \\| 1[3-6] \\|`));
  });

  it('watch: fails as soon as the error rate is breached, long before the window ends', async () => {
    await setFailRate(0.5);
    try {
      const started = Date.now();
      const result = await runWithInputs(run, {
        targets: `${nginx.url}/`,
        mode: 'watch',
        interval: '50ms',
        duration: '1m',
        'max-error-rate': '10%',
        'min-samples': '10',
      });
      expect(result.exitCode).toBe(1);
      expect(result.outputs.healthy).toBe('false');
      expect(result.errors[0]?.message).toMatch(
        /error rate 50\.0% over 10 samples exceeds max-error-rate 10\.0%/,
      );
      expect(Date.now() - started).toBeLessThan(10_000);
    } finally {
      await setFailRate(0);
    }
  });

  it('watch: consecutive failures trip failure-limit before the rate has enough samples', async () => {
    await setFailRate(1);
    try {
      const result = await runWithInputs(run, {
        targets: `${nginx.url}/`,
        mode: 'watch',
        interval: '50ms',
        duration: '1m',
        'failure-limit': '3',
      });
      expect(result.exitCode).toBe(1);
      expect(result.errors[0]?.message).toContain('3 consecutive failures (failure-limit 3)');
      expect(JSON.parse(result.outputs.failed ?? '[]')).toEqual([`${nginx.url}/`]);
    } finally {
      await setFailRate(0);
    }
  });

  it('until-healthy: waits for a service that comes up later', async () => {
    const port = await freePort();
    const waiting = runWithInputs(run, {
      targets: `http://127.0.0.1:${port}/health`,
      mode: 'until-healthy',
      interval: '100ms',
      duration: '20s',
    });
    const late = await startSampleService({ port });
    try {
      const result = await waiting;
      expect(result.exitCode).toBe(0);
      expect(result.outputs.healthy).toBe('true');
      // It really waited: the first attempts were refused.
      expect(Number(result.outputs['error-rate'])).toBeGreaterThan(0);
      expect(result.log.some((line) => line.startsWith(`✓ http://127.0.0.1:${port}/health: HTTP 200`))).toBe(
        true,
      );
    } finally {
      await late.stop();
    }
  });
});
