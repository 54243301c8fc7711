import { describe, expect, it } from '@jest/globals';
import { checkHoldSettings, holdDeadlineMs } from '../../actions/core/src/analysis/evidence.js';
import { untilHealthy } from '../../actions/core/src/analysis/until-healthy.js';
import { systemClock } from '../../actions/core/src/clock.js';
import { watchTargets } from '../../actions/core/src/analysis/watch.js';
import type { Probe } from '../../actions/core/src/probes/probe.js';
import { FakeClock } from '../support/fake-clock.js';
import { scriptedProbe } from '../support/scripted-probe.js';

const names = { duration: 'step-duration', interval: 'interval', minSamples: 'min-samples' } as const;

describe('a hold needs evidence to pass', () => {
  it('fails a target that never answered, even below min-samples and with failure-limit off', async () => {
    const clock = new FakeClock();
    const dead = scriptedProbe('green', clock, [{ ok: false }]);
    const result = await watchTargets({
      probes: [dead],
      intervalMs: 5000,
      durationMs: 10_000,
      limits: { maxErrorRate: 0.05, failureLimit: 0, minSamples: 10 },
      concurrency: 1,
      clock,
    });
    expect(result.verdict).toBe('failed');
    expect(result.reason).toMatch(/^green: no successful probe in \d+ probes \(last: HTTP 500/);
  });

  it('extends a window that ends short of min-samples, then is inconclusive, never passed', async () => {
    const clock = new FakeClock();
    // Each probe takes 3 s against a 1 s interval: the 10 s window holds only 4 probes.
    const slow = scriptedProbe('slow', clock, [{ ok: true, latencyMs: 3000 }]);
    const result = await watchTargets({
      probes: [slow],
      intervalMs: 1000,
      durationMs: 10_000,
      limits: { minSamples: 10 },
      concurrency: 1,
      clock,
    });
    expect(result.verdict).toBe('inconclusive');
    expect(result.reason).toMatch(/fewer than min-samples \(10\): not enough evidence to pass/);
    expect(result.extendedMs).toBeGreaterThan(0);
    // Bounded: no round starts after the deadline (one in flight there finishes).
    expect(result.elapsedMs).toBeLessThanOrEqual(
      holdDeadlineMs({ durationMs: 10_000, intervalMs: 1000, minSamples: 10 }) + 3000,
    );
  });

  it('passes an extended window once it has min-samples', async () => {
    const clock = new FakeClock();
    const slowish = scriptedProbe('a', clock, [{ ok: true, latencyMs: 1500 }]);
    const result = await watchTargets({
      probes: [slowish],
      intervalMs: 1000,
      durationMs: 10_000,
      limits: { minSamples: 8 },
      concurrency: 1,
      clock,
    });
    expect(result.verdict).toBe('passed');
    expect(result.perTarget.get('a')?.samples).toBeGreaterThanOrEqual(8);
  });

  it('is inconclusive when cancelled, however clean the samples so far', async () => {
    const clock = new FakeClock();
    const controller = new AbortController();
    let calls = 0;
    const probe: Probe = {
      target: 'a',
      kind: 'http',
      async check() {
        if (++calls === 3) controller.abort();
        clock.advance(10);
        return { ok: true, latencyMs: 10, detail: 'HTTP 200' };
      },
      async close() {},
    };
    const result = await watchTargets({
      probes: [probe],
      intervalMs: 1000,
      durationMs: 10_000,
      limits: { minSamples: 1 },
      concurrency: 1,
      clock,
      signal: controller.signal,
    });
    expect(result.verdict).toBe('inconclusive');
    expect(result.cancelled).toBe(true);
    expect(result.reason).toMatch(/^cancelled after/);
  });

  it('is inconclusive with nothing to watch', async () => {
    const clock = new FakeClock();
    const result = await watchTargets({
      probes: [],
      intervalMs: 1000,
      durationMs: 10_000,
      limits: { minSamples: 1 },
      concurrency: 1,
      clock,
    });
    expect(result.verdict).toBe('inconclusive');
  });
});

describe('settings that cannot gather the evidence are refused', () => {
  it('refuses a step shorter than interval × min-samples, giving the smallest values that work', () => {
    expect(() => checkHoldSettings({ durationMs: 10_000, intervalMs: 5000, minSamples: 10 }, names)).toThrow(
      'Input "step-duration": 10s with interval 5s cannot gather min-samples (10) probes per target ' +
        '(interval × min-samples = 50s). Without that evidence no gate can pass. ' +
        'Set step-duration at least 50s, or interval at most 1s, or min-samples at most 2.',
    );
  });

  it('refuses a zero duration', () => {
    expect(() => checkHoldSettings({ durationMs: 0, intervalMs: 500, minSamples: 4 }, names)).toThrow(
      /Input "step-duration": is 0ms: a window that short takes no probe.*step-duration at least 2s/,
    );
  });

  it('accepts exactly interval × min-samples', () => {
    expect(() =>
      checkHoldSettings({ durationMs: 2000, intervalMs: 500, minSamples: 4 }, names),
    ).not.toThrow();
  });
});

describe('until-healthy', () => {
  it('cuts every attempt off at the deadline, whatever the probe timeout', async () => {
    const clock = new FakeClock();
    const hanging: Probe = {
      target: 'blackhole',
      kind: 'http',
      // Settles only when the deadline aborts it (a 10 s timeout would otherwise hold it).
      check: (signal) =>
        new Promise((resolve) => {
          const done = () => resolve({ ok: false, latencyMs: 0, detail: 'aborted at the deadline' });
          if (signal?.aborted) done();
          signal?.addEventListener('abort', done, { once: true });
        }),
      async close() {},
    };
    const started = performance.now();
    const result = await untilHealthy({
      probes: [hanging],
      intervalMs: 100,
      durationMs: 300,
      concurrency: 1,
      clock,
    });
    expect(result.verdict).toBe('failed');
    expect(performance.now() - started).toBeLessThan(2000);
  });

  it('gives the attempt at the deadline time to answer, and reports the last real answer', async () => {
    let attempts = 0;
    const recovering: Probe = {
      target: 'green',
      kind: 'http',
      // Refused at first; at the deadline it is back, answering after 50 ms.
      check: (signal) =>
        new Promise((resolve) => {
          if (++attempts === 1) return resolve({ ok: false, latencyMs: 1, detail: 'connection refused' });
          const answered = setTimeout(() => resolve({ ok: true, latencyMs: 50, detail: 'HTTP 200' }), 50);
          signal?.addEventListener('abort', () => {
            clearTimeout(answered);
            resolve({ ok: false, latencyMs: 0, detail: 'aborted' });
          });
        }),
      async close() {},
    };
    const result = await untilHealthy({
      probes: [recovering],
      intervalMs: 10_000,
      durationMs: 300,
      concurrency: 1,
      clock: systemClock,
    });
    expect(attempts).toBe(2);
    expect(result.verdict).toBe('passed');
  });

  it('says cancelled, not "not healthy within", when the signal aborts', async () => {
    const clock = new FakeClock();
    const controller = new AbortController();
    const probe = scriptedProbe('a', clock, [{ ok: false }]);
    const check = probe.check.bind(probe);
    probe.check = async () => {
      const result = await check();
      if (probe.attempts === 2) controller.abort();
      return result;
    };
    const result = await untilHealthy({
      probes: [probe],
      intervalMs: 1000,
      durationMs: 300_000,
      concurrency: 1,
      clock,
      signal: controller.signal,
    });
    expect(result.verdict).toBe('inconclusive');
    expect(result.reason).toMatch(/^cancelled after 1\.0 s with 1 of 1 targets not yet healthy/);
  });
});
