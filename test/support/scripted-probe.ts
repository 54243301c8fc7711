import type { Probe, ProbeResult } from '../../actions/core/src/probes/probe.js';
import type { FakeClock } from './fake-clock.js';

/**
 * A probe that answers from a script (one entry per attempt; the last one repeats), taking
 * `latencyMs` of fake time per attempt. For engine tests that must not depend on real servers.
 */
export function scriptedProbe(
  target: string,
  clock: FakeClock,
  script: Array<Pick<ProbeResult, 'ok'> & { latencyMs?: number }>,
): Probe & { attempts: number } {
  const probe = {
    target,
    kind: 'http' as const,
    attempts: 0,
    async check(): Promise<ProbeResult> {
      const step = script[Math.min(probe.attempts, script.length - 1)] ?? { ok: true };
      probe.attempts++;
      const latencyMs = step.latencyMs ?? 10;
      clock.advance(latencyMs);
      return { ok: step.ok, latencyMs, detail: step.ok ? 'HTTP 200' : 'HTTP 500 (expected 200-399)' };
    },
    async close() {},
  };
  return probe;
}
