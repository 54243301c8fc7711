import type { Clock } from '../clock.js';
import type { Probe, ProbeResult } from '../probes/probe.js';
import { mapBounded } from '../retry.js';
import { formatMs } from '../summary.js';
import type { GateVerdict } from './gate.js';
import { sampleOf, type Sample } from './window.js';

/** How long the attempt made at the deadline may take, at most. */
export const FINAL_ATTEMPT_MS = 1000;

export interface UntilHealthyOptions {
  probes: Probe[];
  intervalMs: number;
  /** The deadline: no attempt runs past it, whatever the probes' own timeout. */
  durationMs: number;
  concurrency: number;
  clock: Clock;
  signal?: AbortSignal;
  /** A target passed (once per target). */
  onHealthy?: (target: string, result: ProbeResult, elapsedMs: number) => void;
  /** While waiting, at most every `progressEveryMs`. */
  onWaiting?: (pending: { target: string; detail: string }[], elapsedMs: number) => void;
  progressEveryMs?: number;
}

export interface UntilHealthyResult extends GateVerdict {
  gate: 'until-healthy';
  /** Targets that never passed. */
  pending: string[];
  lastDetail: Map<string, string>;
  samples: Sample[];
  elapsedMs: number;
  cancelled: boolean;
}

/**
 * Probes every target until each has passed once, or the deadline. Targets wait independently
 * (a healthy one is not probed again) and concurrently; the last attempt is made at the deadline
 * itself and gets at most FINAL_ATTEMPT_MS to answer, and every attempt is cut off then:
 * `duration` bounds the whole wait, a long `timeout` included. Used by health-check's
 * until-healthy mode and by deploy's stage.
 */
export async function untilHealthy(options: UntilHealthyOptions): Promise<UntilHealthyResult> {
  const { clock, probes, durationMs, intervalMs } = options;
  const started = clock.now();
  const elapsed = () => clock.now() - started;
  const samples: Sample[] = [];
  const lastDetail = new Map<string, string>(probes.map((p) => [p.target, 'not probed']));
  const progressEveryMs = options.progressEveryMs ?? 5_000;
  let lastProgress = 0;
  let pending = probes;
  const deadline = new AbortController();
  // The attempt made at the deadline gets a moment to answer: cut off at once it would always fail.
  const timer = setTimeout(() => deadline.abort(), Math.max(0, durationMs) + FINAL_ATTEMPT_MS);
  timer.unref();
  const attemptSignal = options.signal ? AbortSignal.any([options.signal, deadline.signal]) : deadline.signal;
  try {
    while (pending.length > 0 && !options.signal?.aborted) {
      const passed = await mapBounded(pending, options.concurrency, async (probe) => {
        const at = elapsed();
        const result = await probe.check(attemptSignal);
        samples.push(sampleOf(probe.target, result, at));
        // An attempt cut off at the deadline says only that; the last real answer says why.
        const cutOff = !result.ok && deadline.signal.aborted && lastDetail.get(probe.target) !== 'not probed';
        if (!cutOff) lastDetail.set(probe.target, result.detail);
        if (result.ok) options.onHealthy?.(probe.target, result, elapsed());
        return result.ok;
      });
      pending = pending.filter((_, i) => !passed[i]);
      if (pending.length === 0 || elapsed() >= durationMs || options.signal?.aborted) break;
      const nextRound = Math.min((Math.floor(elapsed() / intervalMs) + 1) * intervalMs, durationMs);
      if (elapsed() - lastProgress >= progressEveryMs) {
        lastProgress = elapsed();
        options.onWaiting?.(
          pending.map((p) => ({ target: p.target, detail: lastDetail.get(p.target) as string })),
          elapsed(),
        );
      }
      await clock.sleep(started + nextRound - clock.now(), options.signal);
    }
  } finally {
    clearTimeout(timer);
  }
  const elapsedMs = elapsed();
  const cancelled = pending.length > 0 && Boolean(options.signal?.aborted);
  const targets = pending.map((p) => p.target);
  const shown = describeFailures(targets, (t) => lastDetail.get(t) as string);
  return {
    gate: 'until-healthy',
    verdict:
      probes.length === 0
        ? 'inconclusive'
        : targets.length === 0
          ? 'passed'
          : cancelled
            ? 'inconclusive'
            : 'failed',
    reason:
      probes.length === 0
        ? 'nothing to probe: no data to judge'
        : targets.length === 0
          ? undefined
          : cancelled
            ? `cancelled after ${formatMs(elapsedMs)} with ${targets.length} of ${probes.length} targets not yet healthy: ${shown}`
            : `${targets.length} of ${probes.length} targets not healthy within ${formatMs(durationMs)}: ${shown}`,
    pending: targets,
    lastDetail,
    samples,
    elapsedMs,
    cancelled,
  };
}

/** Up to five failed targets with their last result, and how many more: one line for a reason. */
export function describeFailures(failed: string[], last: (target: string) => string): string {
  const shown = failed.slice(0, 5).map((t) => `${t} (${last(t)})`);
  const more = failed.length > 5 ? ` and ${failed.length - 5} more` : '';
  return `${shown.join(', ')}${more}`;
}
