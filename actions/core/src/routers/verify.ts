// Proving a traffic change by looking at the traffic: sample a URL that goes through the router and
// count which colour answered. Every sample is a fresh connection, because a balancer decides per
// connection as often as per request (nginx hands each connection to one worker, and each worker keeps
// its own weighted round), and a reused connection could still belong to a worker that runs the old
// configuration.
import http from 'node:http';
import https from 'node:https';
import { redactUrl } from '../mask.js';
import type { Color, Verification, Weights } from './router.js';

export const COLOR_HEADER = 'x-switchyard-color';

export interface SampleOptions {
  /** How many requests; default 100. */
  samples?: number;
  /** Requests in flight at once; default 8. */
  concurrency?: number;
  /** Per request; default 5 s. */
  timeoutMs?: number;
  /**
   * No new request starts after this long (default 10 s), and the verdict is made on the answers
   * in hand: a dead colour behind a retrying balancer must not hold a rollback for a minute.
   */
  budgetMs?: number;
  /** Stops sampling early once the answers so far already decide the verdict. */
  decided?: (counts: ColorCounts) => boolean;
}

/** What a batch of samples saw. */
export interface ColorCounts {
  samples: number;
  blue: number;
  green: number;
  /** Answers that named no colour (or both). */
  unnamed: number;
  /** Requests that got no answer at all, by reason ("ECONNREFUSED", "timeout after 5000 ms"). */
  errors: Record<string, number>;
}

const DEFAULT_SAMPLES = 100;
const DEFAULT_CONCURRENCY = 4;
const DEFAULT_TIMEOUT_MS = 5_000;
const DEFAULT_BUDGET_MS = 10_000;
/** A colour is named near the top of a body; the rest is not needed. */
const MAX_BODY_BYTES = 64 * 1024;

/** The colour an answer names: the x-switchyard-color header, else the one of "blue"/"green" in the body. */
export function colorOf(header: string | string[] | undefined, body: string): Color | undefined {
  const named = (Array.isArray(header) ? header[0] : header)?.trim().toLowerCase();
  if (named === 'blue' || named === 'green') return named;
  const blue = /\bblue\b/i.test(body);
  const green = /\bgreen\b/i.test(body);
  if (blue !== green) return blue ? 'blue' : 'green';
  return undefined;
}

export async function sampleColors(url: string, options: SampleOptions = {}): Promise<ColorCounts> {
  const samples = options.samples ?? DEFAULT_SAMPLES;
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const stopAt = performance.now() + (options.budgetMs ?? DEFAULT_BUDGET_MS);
  const counts: ColorCounts = { samples: 0, blue: 0, green: 0, unnamed: 0, errors: {} };
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < samples && performance.now() < stopAt && !options.decided?.(counts)) {
      next++;
      counts.samples++;
      try {
        const color = await sampleOnce(new URL(url), timeoutMs);
        if (color) counts[color]++;
        else counts.unnamed++;
      } catch (error) {
        const reason = reasonOf(error);
        counts.errors[reason] = (counts.errors[reason] ?? 0) + 1;
      }
    }
  };
  await Promise.all(
    Array.from({ length: Math.min(samples, options.concurrency ?? DEFAULT_CONCURRENCY) }, worker),
  );
  return counts;
}

/**
 * How far the measured green share may be from the set one, in points. 0 and 100 are exact: a
 * colour that should get nothing must get nothing. In between, nginx and HAProxy spread requests in
 * smooth weighted rounds, so through an otherwise idle router the share is almost exact; under real
 * traffic our samples are a random subset of those rounds and spread like a binomial draw. Three
 * standard deviations (at least 10 points) keep a false alarm — which rolls a deploy back — below
 * 0.3 %, while a change that did not happen at all (10 → 25, 25 → 50, …) still shows.
 */
export function tolerance(targetGreen: number, named: number): number {
  if (targetGreen === 0 || targetGreen === 100) return 0;
  const p = targetGreen / 100;
  const sigma = 100 * Math.sqrt((p * (1 - p)) / Math.max(1, named));
  return Math.max(10, Math.ceil(3 * sigma));
}

/** Whether the samples show the weights: the judgement behind verify() of every router. */
export function judgeSamples(weights: Weights, counts: ColorCounts, url: string): Verification {
  const named = counts.blue + counts.green;
  const detail = describeCounts(counts, url);
  if (named === 0) {
    return {
      ok: false,
      detail: `${detail}: no answer named its colour (expected an ${COLOR_HEADER} header, or "blue" or "green" in the body)`,
    };
  }
  const measuredGreen = (100 * counts.green) / named;
  if (named < counts.samples / 2) {
    return { ok: false, detail: `${detail}: fewer than half of the samples named a colour`, measuredGreen };
  }
  // A colour that should have a share but answered none of enough samples did not get it, however
  // wide the tolerance (10 points around 10% would accept 0%).
  for (const color of ['blue', 'green'] as const) {
    if (weights[color] > 0 && counts[color] === 0 && (named * weights[color]) / 100 >= 3) {
      return {
        ok: false,
        detail: `${detail}: no answer came from ${color}, which should have ${weights[color]}%`,
        measuredGreen,
      };
    }
  }
  const allowed = tolerance(weights.green, named);
  const off = Math.abs(measuredGreen - weights.green);
  const ok = off <= allowed;
  const expected = allowed === 0 ? `exactly ${weights.green}%` : `${weights.green}% ± ${allowed} points`;
  return { ok, detail: `${detail} (expected green ${expected})`, measuredGreen };
}

/** Samples `url` and judges it against the weights, stopping as soon as the answers cannot pass. */
export async function verifyThroughUrl(
  url: string,
  weights: Weights,
  options: SampleOptions = {},
): Promise<Verification> {
  const planned = options.samples ?? DEFAULT_SAMPLES;
  const hopeless = (counts: ColorCounts): boolean => {
    const failed = counts.unnamed + Object.values(counts.errors).reduce((sum, n) => sum + n, 0);
    // judgeSamples needs half of the samples to name a colour, and 0 or 100 exactly.
    if (failed > planned / 2) return true;
    if (weights.green === 0) return counts.green > 0;
    if (weights.green === 100) return counts.blue > 0;
    return false;
  };
  return judgeSamples(weights, await sampleColors(url, { ...options, decided: hopeless }), url);
}

export function describeCounts(counts: ColorCounts, url: string): string {
  const named = counts.blue + counts.green;
  const share = named === 0 ? '' : ` (${Math.round((100 * counts.green) / named)}%)`;
  const parts = [`${counts.green} green${share}`, `${counts.blue} blue`];
  if (counts.unnamed > 0) parts.push(`${counts.unnamed} naming no colour`);
  for (const [reason, count] of Object.entries(counts.errors)) parts.push(`${count} failed (${reason})`);
  return `${counts.samples} samples through ${redactUrl(url)}: ${parts.join(', ')}`;
}

function sampleOnce(url: URL, timeoutMs: number): Promise<Color | undefined> {
  const transport = url.protocol === 'https:' ? https : http;
  return new Promise((resolve, reject) => {
    const req = transport.request(url, {
      method: 'GET',
      // A new connection for every sample (see the top of this file).
      agent: false,
      headers: { connection: 'close', 'user-agent': 'switchyard-verify', accept: '*/*' },
      timeout: timeoutMs,
    });
    req.once('timeout', () => req.destroy(new TimeoutError(timeoutMs)));
    req.once('error', reject);
    req.once('response', (res) => {
      let body = '';
      res.setEncoding('utf8');
      const done = (): void => resolve(colorOf(res.headers[COLOR_HEADER], body));
      res.on('data', (chunk: string) => {
        body += chunk;
        if (body.length >= MAX_BODY_BYTES) {
          res.destroy();
          done();
        }
      });
      res.once('end', done);
      res.once('error', reject);
    });
    req.end();
  });
}

class TimeoutError extends Error {
  constructor(timeoutMs: number) {
    super(`timeout after ${timeoutMs} ms`);
  }
}

function reasonOf(error: unknown): string {
  if (error instanceof TimeoutError) return error.message;
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string') return code;
  return error instanceof Error ? error.message : String(error);
}
