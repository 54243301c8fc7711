import type { WindowStats } from './window.js';

export interface Limits {
  /** Fail when the error rate exceeds this fraction. */
  maxErrorRate?: number;
  /** Fail when p95 latency exceeds this many ms. */
  maxP95Ms?: number;
  /** Fail after this many consecutive failures of one target (0 or undefined: off). */
  failureLimit?: number;
  /** Rates and percentiles need this many samples before they can fail a window. */
  minSamples: number;
}

export interface Breach {
  /** The input whose limit was crossed — users read this name in their workflow. */
  limit: 'max-error-rate' | 'max-p95' | 'failure-limit';
  /** A target, or 'all targets'. */
  scope: string;
  threshold: number;
  actual: number;
  /** Milliseconds since the check started. */
  at: number;
  message: string;
}

const percent = (fraction: number) => `${(fraction * 100).toFixed(1)}%`;

/**
 * The first limit `stats` crosses, if any. Over all targets a streak means that many failed
 * probes with no success anywhere in between.
 */
export function findBreach(
  scope: string,
  stats: WindowStats,
  limits: Limits,
  at: number,
): Breach | undefined {
  if (limits.failureLimit && stats.consecutiveFailures >= limits.failureLimit) {
    return {
      limit: 'failure-limit',
      scope,
      threshold: limits.failureLimit,
      actual: stats.consecutiveFailures,
      at,
      message: `${scope}: ${stats.consecutiveFailures} consecutive failures (failure-limit ${limits.failureLimit})`,
    };
  }
  if (stats.samples < limits.minSamples) return undefined;
  if (limits.maxErrorRate !== undefined && stats.errorRate > limits.maxErrorRate) {
    return {
      limit: 'max-error-rate',
      scope,
      threshold: limits.maxErrorRate,
      actual: stats.errorRate,
      at,
      message: `${scope}: error rate ${percent(stats.errorRate)} over ${stats.samples} samples exceeds max-error-rate ${percent(limits.maxErrorRate)}`,
    };
  }
  if (limits.maxP95Ms !== undefined && stats.p95 !== undefined && stats.p95 > limits.maxP95Ms) {
    return {
      limit: 'max-p95',
      scope,
      threshold: limits.maxP95Ms,
      actual: stats.p95,
      at,
      message: `${scope}: p95 latency ${Math.round(stats.p95)} ms over ${stats.samples} samples exceeds max-p95 ${limits.maxP95Ms} ms`,
    };
  }
  return undefined;
}
