import { describe, expect, it } from '@jest/globals';
import { findBreach } from '../../actions/core/src/analysis/limits.js';
import { ALL_TARGETS, watchTargets } from '../../actions/core/src/analysis/watch.js';
import { percentile, Window } from '../../actions/core/src/analysis/window.js';
import { backoffDelay, mapBounded, retry } from '../../actions/core/src/retry.js';
import { FakeClock } from '../support/fake-clock.js';
import { scriptedProbe } from '../support/scripted-probe.js';

describe('percentiles and windows', () => {
  it('interpolates like k6', () => {
    const sorted = [10, 20, 30, 40, 50, 60, 70, 80, 90, 100];
    expect(percentile(sorted, 50)).toBe(55);
    expect(percentile(sorted, 95)).toBeCloseTo(95.5);
    expect(percentile([], 95)).toBeUndefined();
  });

  it('keeps error rate and the failure streak', () => {
    const window = new Window();
    const at = 0;
    for (const ok of [true, false, true, false, false])
      window.add({ at, target: 't', ok, latencyMs: 5, detail: '' });
    const stats = window.stats();
    expect(stats.samples).toBe(5);
    expect(stats.errorRate).toBeCloseTo(0.6);
    expect(stats.consecutiveFailures).toBe(2);
  });

  it('waits for min-samples before a rate can fail, but not for a streak', () => {
    const limits = { maxErrorRate: 0.1, failureLimit: 3, minSamples: 10 };
    const few = { samples: 4, failures: 2, errorRate: 0.5, consecutiveFailures: 2 };
    expect(findBreach('t', few, limits, 0)).toBeUndefined();
    expect(findBreach('t', { ...few, consecutiveFailures: 3 }, limits, 0)?.limit).toBe('failure-limit');
    expect(findBreach('t', { ...few, samples: 10 }, limits, 0)?.limit).toBe('max-error-rate');
  });
});

describe('retry', () => {
  it('backs off exponentially with jitter inside [half, full] of the nominal delay', () => {
    const delays = [0, 1, 2, 3].map((n) => backoffDelay(n, { baseDelayMs: 100, random: () => 0.999 }));
    expect(delays.map(Math.round)).toEqual([100, 200, 400, 800]);
    expect(backoffDelay(3, { baseDelayMs: 100, random: () => 0 })).toBe(400);
    expect(backoffDelay(20, { baseDelayMs: 100, maxDelayMs: 5000, random: () => 0.999 })).toBeLessThanOrEqual(
      5000,
    );
  });

  it('stops at the first success and reports the attempts', async () => {
    const clock = new FakeClock();
    const probe = scriptedProbe('t', clock, [{ ok: false }, { ok: false }, { ok: true }]);
    const { result, attempts } = await retry(
      () => probe.check(),
      (r) => r.ok,
      { retries: 5, baseDelayMs: 100, clock },
    );
    expect(result.ok).toBe(true);
    expect(attempts).toBe(3);
  });

  it('bounds concurrency and keeps the order of results', async () => {
    let inFlight = 0;
    let peak = 0;
    const results = await mapBounded([1, 2, 3, 4, 5, 6, 7], 3, async (n) => {
      inFlight++;
      peak = Math.max(peak, inFlight);
      await new Promise((r) => setImmediate(r));
      inFlight--;
      return n * 2;
    });
    expect(results).toEqual([2, 4, 6, 8, 10, 12, 14]);
    expect(peak).toBe(3);
  });
});

describe('watchTargets', () => {
  const limits = { maxErrorRate: 0.2, failureLimit: 3, minSamples: 5 };

  it('runs the whole window when nothing breaches', async () => {
    const clock = new FakeClock();
    const probes = [scriptedProbe('a', clock, [{ ok: true }]), scriptedProbe('b', clock, [{ ok: true }])];
    const result = await watchTargets({
      probes,
      intervalMs: 1000,
      durationMs: 10_000,
      limits,
      concurrency: 2,
      clock,
    });
    expect(result.breach).toBeUndefined();
    expect(result.verdict).toBe('passed');
    // Rounds at 0, 1 s … 10 s: the hold lasts its whole duration, the probe at its end included.
    expect(result.perTarget.get('a')?.samples).toBe(11);
    expect(result.overall.samples).toBe(22);
    expect(result.elapsedMs).toBeGreaterThanOrEqual(10_000);
  });

  it('stops at the breaching sample, not at the end of the window', async () => {
    const clock = new FakeClock();
    const failing = scriptedProbe('b', clock, [{ ok: true }, { ok: true }, { ok: false }]);
    const probes = [scriptedProbe('a', clock, [{ ok: true }]), failing];
    const lenient = { ...limits, maxErrorRate: 0.5 };
    const result = await watchTargets({
      probes,
      intervalMs: 1000,
      durationMs: 60_000,
      limits: lenient,
      concurrency: 2,
      clock,
    });
    expect(result.breach?.limit).toBe('failure-limit');
    expect(result.breach?.scope).toBe('b');
    // Fails on its 3rd failure: attempts 3, 4, 5 → detected in the 5th round, 55 rounds early.
    expect(failing.attempts).toBe(5);
    expect(result.elapsedMs).toBeLessThan(6000);
  });

  it('fails on the overall error rate when no single target streaks', async () => {
    const clock = new FakeClock();
    const flaky = (name: string) =>
      scriptedProbe(name, clock, [
        { ok: false },
        { ok: true },
        { ok: false },
        { ok: true },
        { ok: false },
        { ok: true },
      ]);
    const result = await watchTargets({
      probes: [flaky('a'), flaky('b')],
      intervalMs: 1000,
      durationMs: 60_000,
      limits: { maxErrorRate: 0.4, minSamples: 5 },
      concurrency: 2,
      clock,
    });
    expect(result.breach?.limit).toBe('max-error-rate');
    expect([ALL_TARGETS, 'a', 'b']).toContain(result.breach?.scope);
    expect(result.breach?.message).toMatch(
      /error rate \d+\.\d% over \d+ samples exceeds max-error-rate 40\.0%/,
    );
  });

  it('fails on p95 latency once enough samples exist', async () => {
    const clock = new FakeClock();
    const slow = scriptedProbe('slow', clock, [{ ok: true, latencyMs: 900 }]);
    const result = await watchTargets({
      probes: [slow],
      intervalMs: 1000,
      durationMs: 60_000,
      limits: { maxP95Ms: 500, minSamples: 5 },
      concurrency: 1,
      clock,
    });
    expect(result.breach?.limit).toBe('max-p95');
    expect(slow.attempts).toBe(5);
  });
});
