import { setMaxListeners } from 'node:events';
import type { Clock } from '../clock.js';
import type { Probe } from '../probes/probe.js';
import { count, formatMs } from '../summary.js';
import { holdDeadlineMs } from './evidence.js';
import type { GateVerdict, Verdict } from './gate.js';
import { findBreach, type Breach, type Limits } from './limits.js';
import { sampleOf, Window, type Sample, type WindowStats } from './window.js';

export const ALL_TARGETS = 'all targets';

export interface WatchOptions {
  probes: Probe[];
  intervalMs: number;
  durationMs: number;
  limits: Limits;
  concurrency: number;
  clock: Clock;
  /** Stops the watch early; the verdict is then inconclusive (a cancelled window proves nothing). */
  signal?: AbortSignal;
  /** After every round: elapsed ms and the overall stats so far. */
  onRound?: (elapsedMs: number, overall: WindowStats) => void;
}

export interface WatchResult extends GateVerdict {
  gate: 'watch';
  breach?: Breach;
  samples: Sample[];
  perTarget: Map<string, WindowStats>;
  overall: WindowStats;
  /** How long the window lasted, including its final round. */
  elapsedMs: number;
  /** How long the window went on past its end for min-samples (0 when it had them on time). */
  extendedMs: number;
  cancelled: boolean;
}

/**
 * Holds a window over the probes and judges it. Probes go out every `interval` from the start and
 * once more at the end of `duration`, so a hold lasts its whole duration. The first sample that
 * makes a target (or all targets together) cross a limit ends the window at once as `failed`.
 * Otherwise the window needs evidence to pass: at least `min-samples` probes of every target, and
 * at least one success of each (a target that never answered fails, whatever its count). A window
 * that reaches its end short of min-samples — slow probes skip slots — goes on until it has them,
 * up to the deadline of `holdDeadlineMs`, and is `inconclusive` if it still has not.
 */
export async function watchTargets(options: WatchOptions): Promise<WatchResult> {
  const { clock, probes, limits, intervalMs, durationMs } = options;
  const deadlineMs = holdDeadlineMs({ durationMs, intervalMs, minSamples: limits.minSamples });
  const started = clock.now();
  const elapsed = () => clock.now() - started;
  const samples: Sample[] = [];
  const windows = new Map(probes.map((p) => [p.target, new Window()]));
  const lastDetail = new Map<string, string>();
  const overall = new Window();
  const stop = new AbortController();
  // Every in-flight probe listens on this signal: many at once is expected, not a leak.
  setMaxListeners(0, stop.signal);
  const onAbort = () => stop.abort();
  if (options.signal?.aborted) stop.abort();
  options.signal?.addEventListener('abort', onAbort, { once: true });
  let breach: Breach | undefined;
  /** When the window reached its end short of min-samples and went on. */
  let extendedFrom: number | undefined;

  const record = (sample: Sample) => {
    if (breach) return;
    samples.push(sample);
    lastDetail.set(sample.target, sample.detail);
    const window = windows.get(sample.target) as Window;
    window.add(sample);
    overall.add(sample);
    breach =
      findBreach(sample.target, window.stats(), limits, sample.at) ??
      findBreach(ALL_TARGETS, overall.stats(), limits, sample.at);
    if (breach) stop.abort();
  };
  const enoughSamples = () => [...windows.values()].every((w) => w.stats().samples >= limits.minSamples);

  try {
    for (let round = 0; !stop.signal.aborted && probes.length > 0; round++) {
      await probeRound(probes, options.concurrency, stop.signal, async (probe) => {
        const result = await probe.check(stop.signal);
        record(sampleOf(probe.target, result, elapsed(), round));
      });
      if (stop.signal.aborted) break;
      options.onRound?.(elapsed(), overall.stats());
      // A round still answering at the end of the window was its final probe; past the end, the
      // window goes on only for min-samples, and never starts a round after the deadline.
      const now = elapsed();
      if (now >= durationMs && (enoughSamples() || now >= deadlineMs)) break;
      if (now >= durationMs) extendedFrom ??= now;
      const limit = now >= durationMs ? deadlineMs : durationMs;
      // The next slot on the cadence, the end of the window at the latest; slots a slow round
      // overran are skipped, not fired in a burst.
      const nextRound = Math.min((Math.floor(elapsed() / intervalMs) + 1) * intervalMs, limit);
      await clock.sleep(started + nextRound - clock.now(), stop.signal);
    }
  } finally {
    options.signal?.removeEventListener('abort', onAbort);
  }
  const perTarget = new Map([...windows].map(([target, w]) => [target, w.stats()]));
  const cancelled = !breach && stop.signal.aborted;
  const elapsedMs = elapsed();
  const { verdict, reason } = judge({ breach, cancelled, perTarget, lastDetail, limits, elapsedMs });
  return {
    gate: 'watch',
    verdict,
    reason,
    breach,
    samples,
    perTarget,
    overall: overall.stats(),
    elapsedMs,
    extendedMs: extendedFrom === undefined ? 0 : elapsedMs - extendedFrom,
    cancelled,
  };
}

/** The verdict of a finished window: failed before inconclusive, and passed only on evidence. */
function judge(window: {
  breach?: Breach;
  cancelled: boolean;
  perTarget: Map<string, WindowStats>;
  lastDetail: Map<string, string>;
  limits: Limits;
  elapsedMs: number;
}): { verdict: Verdict; reason?: string } {
  if (window.breach) return { verdict: 'failed', reason: window.breach.message };
  const stats = [...window.perTarget];
  if (stats.length === 0) return { verdict: 'inconclusive', reason: 'nothing was watched: no data to judge' };
  const dead = stats.find(([, s]) => s.samples > 0 && s.failures === s.samples);
  if (dead) {
    const [target, s] = dead;
    return {
      verdict: 'failed',
      reason: `${target}: no successful probe in ${count(s.samples, 'probe')} (last: ${window.lastDetail.get(target)})`,
    };
  }
  if (window.cancelled)
    return { verdict: 'inconclusive', reason: `cancelled after ${formatMs(window.elapsedMs)}` };
  const short = stats.filter(([, s]) => s.samples < window.limits.minSamples);
  if (short.length > 0) {
    const [target, s] = short[0] as [string, WindowStats];
    const more = short.length > 1 ? ` (and ${short.length - 1} more targets)` : '';
    return {
      verdict: 'inconclusive',
      reason:
        `${target}: ${count(s.samples, 'probe')} in ${formatMs(window.elapsedMs)}${more}, fewer than min-samples ` +
        `(${window.limits.minSamples}): not enough evidence to pass`,
    };
  }
  return { verdict: 'passed' };
}

/**
 * Runs `check` for every probe with at most `limit` in flight, and returns as soon as `signal`
 * aborts — in-flight attempts are left to settle on their own and their results are ignored.
 */
export async function probeRound(
  probes: Probe[],
  limit: number,
  signal: AbortSignal,
  check: (probe: Probe) => Promise<void>,
): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < probes.length && !signal.aborted) await check(probes[next++] as Probe);
  };
  let onAbort = () => {};
  const aborted = new Promise<void>((resolve) => {
    onAbort = resolve;
    if (signal.aborted) resolve();
    signal.addEventListener('abort', onAbort, { once: true });
  });
  const workers = Array.from({ length: Math.max(1, Math.min(limit, probes.length)) }, worker);
  try {
    await Promise.race([Promise.all(workers), aborted]);
  } finally {
    signal.removeEventListener('abort', onAbort);
  }
}
