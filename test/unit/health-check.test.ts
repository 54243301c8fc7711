import { describe, expect, it } from '@jest/globals';
import { healthCheck, type HealthCheckInputs } from '../../actions/core/src/health-check/check.js';
import { healthCheckInputs } from '../../actions/core/src/health-check/inputs.js';
import { renderHealthCheckSummary } from '../../actions/core/src/health-check/summary.js';
import { readActionInputs } from '../../actions/core/src/action-inputs.js';
import { memoryIO } from '../../actions/core/src/io.js';
import type { ProbeResult } from '../../actions/core/src/probes/probe.js';
import { FakeClock } from '../support/fake-clock.js';
import { scriptedProbe } from '../support/scripted-probe.js';

type Script = Array<Pick<ProbeResult, 'ok'> & { latencyMs?: number }>;

/** Runs the engine over scripted targets (by host name) on a fake clock. */
async function check(raw: Record<string, string>, scripts: Record<string, Script>) {
  const { io, recorded } = memoryIO({ inputs: raw });
  const inputs: HealthCheckInputs = readActionInputs(io, 'health-check', healthCheckInputs);
  const clock = new FakeClock();
  const probes = new Map<string, ReturnType<typeof scriptedProbe>>();
  const result = await healthCheck(inputs, {
    io,
    clock,
    createProbe: (url) => {
      const probe = scriptedProbe(url.href, clock, scripts[url.hostname] ?? [{ ok: true }]);
      probes.set(url.hostname, probe);
      return probe;
    },
  });
  return { result, log: recorded.log, probes, clock };
}

describe('once', () => {
  it('retries a failing target with backoff, then passes', async () => {
    const { result, probes, log } = await check(
      { targets: 'http://flaky/\nhttp://fine/', retries: '3', 'retry-delay': '100ms' },
      { flaky: [{ ok: false }, { ok: false }, { ok: true }] },
    );
    expect(result.healthy).toBe(true);
    expect(probes.get('flaky')?.attempts).toBe(3);
    expect(result.overall.samples).toBe(4);
    expect(result.overall.errorRate).toBeCloseTo(0.5);
    expect(log.some((line) => line.includes('retry 1 of 3'))).toBe(true);
  });

  it('is unhealthy when a target stays down, naming it and why', async () => {
    const { result } = await check(
      { targets: 'http://down/\nhttp://fine/', retries: '1' },
      { down: [{ ok: false }] },
    );
    expect(result.healthy).toBe(false);
    expect(result.failed).toEqual(['http://down/']);
    expect(result.reason).toBe('1 of 2 targets unhealthy: http://down/ (HTTP 500 (expected 200-399))');
  });

  it('probes each target once even when listed twice', async () => {
    const { result, log } = await check({ targets: 'http://a/\nhttp://a/' }, {});
    expect(result.targets).toHaveLength(1);
    expect(log.some((line) => line.startsWith('::warning::targets: http://a/ is listed twice'))).toBe(true);
  });
});

describe('until-healthy', () => {
  it('polls until every target passes', async () => {
    const { result, probes, clock } = await check(
      { targets: 'http://slow-start/\nhttp://fine/', mode: 'until-healthy', interval: '2s', duration: '1m' },
      { 'slow-start': [{ ok: false }, { ok: false }, { ok: false }, { ok: true }] },
    );
    expect(result.healthy).toBe(true);
    expect(probes.get('slow-start')?.attempts).toBe(4);
    expect(probes.get('fine')?.attempts).toBe(1);
    expect(clock.now()).toBeGreaterThanOrEqual(6000);
    expect(clock.now()).toBeLessThan(8000);
  });

  it('gives up when the duration runs out, with progress on the way', async () => {
    const { result, log, clock } = await check(
      { targets: 'http://never/', mode: 'until-healthy', interval: '1s', duration: '20s' },
      { never: [{ ok: false }] },
    );
    expect(result.healthy).toBe(false);
    expect(result.reason).toMatch(/^1 of 1 targets not healthy within 20\.0 s: http:\/\/never\//);
    // The last attempt is made at the deadline, not an interval before it.
    expect(clock.now()).toBe(20_000 + 10);
    expect(log.filter((line) => line.startsWith('waiting for 1 of 1 targets')).length).toBeGreaterThanOrEqual(
      3,
    );
  });
});

describe('watch', () => {
  it('passes a clean window and keeps per-target statistics', async () => {
    const { result } = await check(
      { targets: 'http://a/\nhttp://b/', mode: 'watch', interval: '1s', duration: '30s' },
      {},
    );
    expect(result.healthy).toBe(true);
    // Rounds at 0, 1 s … 30 s: the window includes the probe at its end.
    expect(result.targets.map((t) => t.samples)).toEqual([31, 31]);
    expect(result.overall.p95).toBe(10);
    // One chart point per round: 31 rounds, one line per target.
    const chart = renderHealthCheckSummary(result);
    const lines = chart.match(/^ {2}line \[(.*)\]$/gm) ?? [];
    expect(lines).toHaveLength(2);
    expect(lines[0]?.split(',')).toHaveLength(31);
  });

  it('fails on a breach, naming the limit and the value', async () => {
    const { result, clock } = await check(
      { targets: 'http://a/', mode: 'watch', interval: '1s', duration: '5m', 'failure-limit': '3' },
      { a: [{ ok: true }, { ok: true }, { ok: false }] },
    );
    expect(result.healthy).toBe(false);
    expect(result.breach?.limit).toBe('failure-limit');
    expect(result.reason).toMatch(/^http:\/\/a\/: 3 consecutive failures \(failure-limit 3\) after /);
    expect(clock.now()).toBeLessThan(10_000);
  });
});

describe('watch needs evidence (issue 8, defect 2)', () => {
  it('is unhealthy for a target that never answered, whatever the limits', async () => {
    const { result } = await check(
      {
        targets: 'http://dead/',
        mode: 'watch',
        interval: '5s',
        duration: '10s',
        'min-samples': '2',
        'max-error-rate': '100%',
        'failure-limit': '0',
      },
      { dead: [{ ok: false }] },
    );
    expect(result.healthy).toBe(false);
    expect(result.verdict).toBe('failed');
    expect(result.failed).toEqual(['http://dead/']);
    expect(result.reason).toMatch(/^http:\/\/dead\/: no successful probe in 3 probes/);
  });

  it('refuses a window too short for min-samples before probing anything', async () => {
    const { io } = memoryIO({
      inputs: { targets: 'http://127.0.0.1:1/', mode: 'watch', duration: '10s' },
    });
    const inputs = readActionInputs(io, 'health-check', healthCheckInputs);
    let probed = false;
    await expect(
      healthCheck(inputs, {
        io,
        clock: new FakeClock(),
        createProbe: (url) => {
          probed = true;
          return scriptedProbe(url.href, new FakeClock(), [{ ok: false }]);
        },
      }),
    ).rejects.toThrow(/^Input "duration": 10s with interval 5s cannot gather min-samples \(10\)/);
    expect(probed).toBe(false);
  });
});

describe('expect-body on RE2', () => {
  it('refuses a regex RE2 cannot compile before probing anything', async () => {
    await expect(check({ targets: 'http://a/', 'expect-body': '/a{1001}/' }, {})).rejects.toThrow(
      /^Input "expect-body": \/a\{1001\}\/ is not a valid regular expression for RE2/,
    );
  });
});

describe('the k6 gate alone (a load-test job)', () => {
  it('gates on k6-summary with no targets: passed on a summary whose thresholds held', async () => {
    const { result, probes } = await check({ 'k6-summary': 'test/fixtures/k6/handle-summary.json' }, {});
    expect(probes.size).toBe(0);
    // The fixture records one failed threshold (p(99.9)<1000): the gate fails on it.
    expect(result.verdict).toBe('failed');
    expect(result.reason).toMatch(/^k6 thresholds failed: /);
    expect(result.targets).toEqual([]);
  });

  it('still needs something: neither targets nor k6-summary is refused naming targets', async () => {
    await expect(check({ targets: '# nothing here\n' }, {})).rejects.toThrow(
      /^Input "targets": lists nothing to probe: give targets, .* or k6-summary to gate on a load test alone/,
    );
  });
});
