import type { Clock } from './clock.js';

export interface BackoffOptions {
  /** Delay before the first retry, in ms. */
  baseDelayMs: number;
  /** No delay grows beyond this, in ms. */
  maxDelayMs?: number;
  /** Source of randomness in [0, 1); injectable for tests. */
  random?: () => number;
}

/**
 * Exponential backoff with "equal jitter": half of the exponential delay is kept, the other half
 * is random. Retries still spread out (no thundering herd against a recovering service) while
 * each wait stays at least half the nominal one, so a retry budget keeps its meaning.
 */
export function backoffDelay(attempt: number, options: BackoffOptions): number {
  const nominal = Math.min(options.baseDelayMs * 2 ** attempt, options.maxDelayMs ?? 30_000);
  const random = options.random ?? Math.random;
  return nominal / 2 + random() * (nominal / 2);
}

export interface RetryOptions<T> extends BackoffOptions {
  /** Further attempts after the first one. */
  retries: number;
  clock: Clock;
  signal?: AbortSignal;
  /** Called before each wait, e.g. to log progress. */
  onRetry?: (attempt: number, delayMs: number, last: T) => void;
}

/**
 * Calls `attempt` until `succeeded(result)` or the retries are spent; returns the last result.
 * Results, not exceptions: probes report failure as a value.
 */
export async function retry<T>(
  attempt: () => Promise<T>,
  succeeded: (result: T) => boolean,
  options: RetryOptions<T>,
): Promise<{ result: T; attempts: number }> {
  let result = await attempt();
  let attempts = 1;
  while (!succeeded(result) && attempts <= options.retries && !options.signal?.aborted) {
    const delay = backoffDelay(attempts - 1, options);
    options.onRetry?.(attempts, delay, result);
    await options.clock.sleep(delay, options.signal);
    if (options.signal?.aborted) break;
    result = await attempt();
    attempts++;
  }
  return { result, attempts };
}

/** Runs `work` over `items` with at most `limit` in flight; results keep the input order. */
export async function mapBounded<T, R>(
  items: readonly T[],
  limit: number,
  work: (item: T, index: number) => Promise<R>,
): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  async function worker() {
    while (next < items.length) {
      const index = next++;
      results[index] = await work(items[index] as T, index);
    }
  }
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
  return results;
}
