import { InputError } from '../errors.js';
import { formatMs } from '../summary.js';

/** A hold short of evidence at its end may go on for up to this many times its duration, in all. */
export const EXTENSION_FACTOR = 2;

export interface HoldSettings {
  durationMs: number;
  intervalMs: number;
  minSamples: number;
}

/** The input names a user typed for these settings, so the refusal names them. */
export interface HoldInputNames {
  duration: 'duration' | 'step-duration';
  interval: 'interval';
  minSamples: 'min-samples';
}

/** When a hold that is still short of evidence at its end gives up and is inconclusive. */
export function holdDeadlineMs(settings: HoldSettings): number {
  return settings.durationMs * EXTENSION_FACTOR;
}

/**
 * Refuses settings whose window cannot hold `min-samples` probes per target: a hold of `duration`
 * probes at 0, interval, 2×interval… and once more at its end, so `interval × min-samples` leaves
 * room for one slow round. Called before anything changes, so a refused promotion never moved
 * traffic. The message gives the smallest value of each setting that would work.
 */
export function checkHoldSettings(settings: HoldSettings, names: HoldInputNames): void {
  const { durationMs, intervalMs, minSamples } = settings;
  const needed = intervalMs * minSamples;
  if (durationMs >= needed && durationMs > 0) return;
  const fits = Math.floor(durationMs / intervalMs);
  const alternatives = [`${names.duration} at least ${formatDuration(needed)}`];
  const widestInterval = Math.floor(durationMs / minSamples);
  if (widestInterval >= 1) alternatives.push(`${names.interval} at most ${formatDuration(widestInterval)}`);
  if (fits >= 1) alternatives.push(`${names.minSamples} at most ${fits}`);
  const found =
    durationMs <= 0
      ? `is ${formatDuration(durationMs)}: a window that short takes no probe, so nothing could judge it`
      : `${formatDuration(durationMs)} with ${names.interval} ${formatDuration(intervalMs)} cannot gather ` +
        `${names.minSamples} (${minSamples}) probes per target (${names.interval} × ${names.minSamples} = ${formatDuration(needed)})`;
  throw new InputError(
    names.duration,
    `${found}. Without that evidence no gate can pass. Set ${alternatives.join(', or ')}.`,
  );
}

/** In the inputs' own syntax where it is exact (`50s`, `2m`, `500ms`), so it can be pasted back. */
export function formatDuration(ms: number): string {
  if (ms > 0 && ms % 3_600_000 === 0) return `${ms / 3_600_000}h`;
  if (ms > 0 && ms % 60_000 === 0) return `${ms / 60_000}m`;
  if (ms > 0 && ms % 1000 === 0) return `${ms / 1000}s`;
  if (Number.isInteger(ms)) return `${ms}ms`;
  return formatMs(ms);
}
