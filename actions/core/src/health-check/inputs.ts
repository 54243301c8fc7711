import { validateHeaderName, validateHeaderValue } from 'node:http';
import { duration, integer, list, oneOf, parsedBy, rate, urlItem, type InputDef } from '../inputs.js';
import { httpProbeKind, isCredentialHeader } from '../probes/http.js';
import { postgresProbeKind } from '../probes/postgres.js';
import { redisProbeKind } from '../probes/redis.js';
import { PROBE_SCHEMES } from '../probes/index.js';
import { unsupportedFeature } from '../probes/body-matcher.js';
import type { BodyMatcher, StatusRange } from '../probes/probe.js';

/** What `targets` accepts: whatever some probe checks. */
export const TARGET_SCHEMES = PROBE_SCHEMES;

/** `200-399`, `200,204`, `2xx` → ranges; a string says what is wrong. */
export function parseStatusRanges(raw: string): StatusRange[] | string {
  const ranges: StatusRange[] = [];
  for (const part of raw
    .split(',')
    .map((p) => p.trim())
    .filter(Boolean)) {
    const classMatch = /^([1-5])xx$/i.exec(part);
    const rangeMatch = /^(\d{3})(?:\s*-\s*(\d{3}))?$/.exec(part);
    if (classMatch) {
      const hundred = Number(classMatch[1]) * 100;
      ranges.push({ min: hundred, max: hundred + 99 });
    } else if (rangeMatch) {
      const min = Number(rangeMatch[1]);
      const max = Number(rangeMatch[2] ?? rangeMatch[1]);
      if (min < 100 || max > 599 || min > max) return `"${part}" is not a status range between 100 and 599`;
      ranges.push({ min, max });
    } else {
      return `"${part}" is not a status, a range like 200-399 or a class like 2xx`;
    }
  }
  return ranges.length > 0 ? ranges : 'no status given';
}

/** JavaScript's regex flags that change a yes/no match; `g`, `d` and `u` change nothing here. */
const MATCH_FLAGS = new Set(['i', 'm', 's']);
const IGNORED_FLAGS = new Set(['g', 'd', 'u']);

/**
 * `ready` (substring) or `/^ok$/i` (regular expression, run on RE2 in linear time: see
 * probes/body-matcher.ts, which compiles it before anything runs and refuses what RE2 cannot do).
 */
export function parseBodyMatcher(raw: string): BodyMatcher | string {
  const regex = /^\/(.*)\/([a-z]*)$/s.exec(raw);
  if (!regex) return { kind: 'substring', text: raw };
  const [, pattern = '', flags = ''] = regex;
  for (const flag of flags) {
    if (!MATCH_FLAGS.has(flag) && !IGNORED_FLAGS.has(flag))
      return `${raw} uses the flag "${flag}"; the flags that apply here are i, m and s`;
  }
  try {
    // Compiled, never run: JavaScript's parser finds plain syntax errors at once, and RE2's own
    // compile (before any probe) the rest.
    new RegExp(pattern, [...flags].filter((f) => MATCH_FLAGS.has(f)).join(''));
  } catch (error) {
    return `${raw} is not a valid regular expression (${(error as Error).message})`;
  }
  const lacking = unsupportedFeature(pattern);
  if (lacking) {
    return `${raw} uses ${lacking}, which the linear-time engine (RE2) that runs expect-body lacks; rewrite it without, or match a plain substring`;
  }
  return {
    kind: 'regex',
    pattern,
    flags: [...flags].filter((f) => MATCH_FLAGS.has(f)).join(''),
    source: raw,
  };
}

function header(line: string, number: number): [string, string] | string {
  const colon = line.indexOf(':');
  // Never quote the line: without a colon there is no telling a name from a token.
  if (colon < 0) return `line ${number} has no colon; write one "Name: value" per line`;
  if (colon === 0) return `line ${number} has no header name before its colon; write "Name: value"`;
  const name = line.slice(0, colon).trim();
  const value = line.slice(colon + 1).trim();
  try {
    validateHeaderName(name);
  } catch {
    // A name with a space is often "Bearer abc: …" pasted without its name: the token must not show.
    return `line ${number}: the text before the colon is not a valid header name; write "Name: value"`;
  }
  try {
    validateHeaderValue(name, value);
  } catch {
    return `the value of ${name} holds characters a header cannot carry (control characters or line breaks)`;
  }
  return [name, value];
}

/** Values of headers that carry credentials, and the token after a scheme word ("Bearer abc" → "abc"). */
export function credentialHeaderValues(raw: string): string[] {
  const values: string[] = [];
  for (const line of raw.split('\n')) {
    const colon = line.indexOf(':');
    if (colon <= 0 || !isCredentialHeader(line.slice(0, colon).trim())) continue;
    const value = line.slice(colon + 1).trim();
    values.push(value);
    const space = value.indexOf(' ');
    if (space > 0) values.push(value.slice(space + 1).trim());
  }
  return values;
}

export const healthCheckInputs = {
  targets: list(
    'What to probe, one per line: http(s)://…, tcp://host:port, redis://…, postgres://…. Required unless k6-summary is given (then the check gates on the load test alone).',
    urlItem(TARGET_SCHEMES),
    {
      urls: true,
      example: 'https://example.com/health',
    },
  ),
  'expect-status': parsedBy(
    'HTTP statuses that count as healthy: ranges, codes or classes (200-399, 204, 2xx).',
    parseStatusRanges,
    {
      default: '200-399',
      example: '200-299',
    },
  ),
  'expect-body': parsedBy('Text the HTTP body must contain, or a /regular expression/.', parseBodyMatcher, {
    example: '"status":"ok"',
  }),
  headers: {
    ...list(
      'HTTP request headers, one "Name: value" per line. Credential headers (Authorization, *-Token, *-Key, Cookie…) are masked in logs.',
      header,
      {
        example: 'Authorization: Bearer ${TOKEN}',
      },
    ),
    secretsOf: credentialHeaderValues,
  },
  timeout: duration('Timeout of one probe attempt.', { default: '5s', min: 1 }),
  retries: integer('Extra attempts per target in `once` mode, with exponential backoff and jitter.', {
    default: '2',
    max: 100,
  }),
  'retry-delay': duration('Delay before the first retry; it doubles per attempt (with jitter).', {
    default: '1s',
  }),
  mode: oneOf(
    ['once', 'until-healthy', 'watch'],
    'once: probe now; until-healthy: poll until every target passes or `duration` ends; watch: probe every `interval` for `duration` and fail on the first breach.',
    {
      default: 'once',
    },
  ),
  interval: duration('Time between probe rounds in `until-healthy` and `watch` modes.', {
    default: '5s',
    min: 1,
  }),
  duration: duration('How long `watch` observes, or how long `until-healthy` waits.', { default: '1m' }),
  'max-error-rate': rate(
    'watch: fail when the share of failed probes exceeds this (per target and overall).',
    {
      default: '5%',
    },
  ),
  'max-p95': duration('watch: fail when the 95th percentile latency exceeds this (per target and overall).'),
  'failure-limit': integer('watch: fail after this many consecutive failures of one target (0 disables).', {
    default: '3',
  }),
  'min-samples': integer('watch: samples a window needs before its error rate or p95 can fail it.', {
    default: '10',
    min: 1,
  }),
  concurrency: integer('Targets probed at the same time.', { default: '20', min: 1, max: 1000 }),
  // What only one kind of probe reads, owned by that probe.
  ...httpProbeKind.inputs,
  ...redisProbeKind.inputs,
  ...postgresProbeKind.inputs,
  'k6-summary': list('k6 summary files (from --summary-export or handleSummary), one per line.', undefined, {
    example: 'k6-summary.json',
  }),
  'k6-thresholds': list(
    'Extra k6 thresholds, one metric per line: `http_req_duration: p(95)<500`.',
    undefined,
    {
      example: 'http_req_failed: rate<0.01',
    },
  ),
} satisfies Record<string, InputDef>;
