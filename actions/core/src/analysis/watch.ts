import { setMaxListeners } from 'node:events';
import type { Clock } from '../clock.js';
import type { Probe } from '../probes/probe.js';
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
  /** Stops the watch early (no breach). */
  signal?: AbortSignal;
  /** After every round: elapsed ms and the overall stats so far. */
  onRound?: (elapsedMs: number, overall: WindowStats) => void;
}

export interface WatchResult {
  breach?: Breach;
  samples: Sample[];
  perTarget: Map<string, WindowStats>;
  overall: WindowStats;
  elapsedMs: number;
}

/**
 * Probes every target each `interval` for `duration`, and stops at the first sample that makes
 * a target or the whole set cross a limit — a breach ends the watch at once, not at the end of
 * the window. Rounds start on a fixed cadence: a slow round shortens the next wait, and a round
 * slower than the interval skips the slots it overran.
 */
export async function watchTargets(options: WatchOptions): Promise<WatchResult> {
  const { clock, probes, limits } = options;
  const started = clock.now();
  const elapsed = () => clock.now() - started;
  const samples: Sample[] = [];
  const windows = new Map(probes.map((p) => [p.target, new Window()]));
  const overall = new Window();
  const stop = new AbortController();
  // Every in-flight probe listens on this signal: many at once is expected, not a leak.
  setMaxListeners(0, stop.signal);
  const onAbort = () => stop.abort();
  options.signal?.addEventListener('abort', onAbort, { once: true });
  let breach: Breach | undefined;

  const record = (sample: Sample) => {
    if (breach) return;
    samples.push(sample);
    const window = windows.get(sample.target) as Window;
    window.add(sample);
    overall.add(sample);
    breach =
      findBreach(sample.target, window.stats(), limits, sample.at) ??
      findBreach(ALL_TARGETS, overall.stats(), limits, sample.at);
    if (breach) stop.abort();
  };

  try {
    for (let round = 0; !stop.signal.aborted && elapsed() < options.durationMs; round++) {
      await probeRound(probes, options.concurrency, stop.signal, async (probe) => {
        const result = await probe.check(stop.signal);
        record(sampleOf(probe.target, result, elapsed(), round));
      });
      if (stop.signal.aborted) break;
      options.onRound?.(elapsed(), overall.stats());
      // The next slot on the cadence; slots a slow round overran are skipped, not fired in a burst.
      const nextRound = (Math.floor(elapsed() / options.intervalMs) + 1) * options.intervalMs;
      if (nextRound >= options.durationMs) break;
      await clock.sleep(started + nextRound - clock.now(), stop.signal);
    }
  } finally {
    options.signal?.removeEventListener('abort', onAbort);
  }
  return {
    breach,
    samples,
    perTarget: new Map([...windows].map(([target, w]) => [target, w.stats()])),
    overall: overall.stats(),
    elapsedMs: elapsed(),
  };
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
