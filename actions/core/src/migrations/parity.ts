import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import type { ActionDeps } from '../action.js';
import { percentile } from '../analysis/window.js';
import { InputError } from '../errors.js';
import { redactUrl } from '../mask.js';
import { formatMs } from '../summary.js';
import type { ValidateMigrationInputs } from './inputs.js';

/** One request sent to both colours. */
export interface ParityRequest {
  method: string;
  path: string;
  body?: string;
  headers?: Record<string, string>;
}

export interface ParityDifference {
  request: string;
  what: 'status' | 'body' | 'header' | 'error';
  blue: string;
  green: string;
}

export interface ParityResult {
  command: 'parity';
  valid: boolean;
  requests: { request: string; blue: Answer; green: Answer }[];
  differences: ParityDifference[];
  /** green's median latency over blue's, and the limit. */
  latency: { blueMs: number; greenMs: number; ratio: number; max: number; passed: boolean };
}

interface Answer {
  status?: number;
  ms: number;
  contentType?: string;
  error?: string;
}

/** How often each request is sent to each colour: the latency is their median. */
const REPEATS = 3;
const TIMEOUT_MS = 10_000;
/** Below this, a latency is noise: the ratio is taken over at least this much. */
const LATENCY_FLOOR_MS = 5;

/**
 * validate-migration parity: the same requests to blue and to green, compared — status, JSON body
 * (less the `ignore` paths), content type — and green's latency against blue's. Old code and new
 * reading one database must answer alike, or the migration changed what users get.
 */
export async function checkParity(
  inputs: ValidateMigrationInputs,
  deps: Pick<ActionDeps, 'io' | 'cwd' | 'signal'>,
): Promise<ParityResult> {
  const { io } = deps;
  const blue = baseUrl('blue-url', inputs['blue-url']);
  const green = baseUrl('green-url', inputs['green-url']);
  const requests = await readRequests(inputs.requests ?? [], deps.cwd);
  const ignore = (inputs.ignore ?? []).map((each) => jsonPath(each.id));
  const maxRatio = inputs['max-latency-ratio'];
  const differences: ParityDifference[] = [];
  const answered: ParityResult['requests'] = [];
  const latencies = { blue: [] as number[], green: [] as number[] };
  for (const request of requests) {
    const label = `${request.method} ${request.path}`;
    const [a, b] = [await send(blue, request, deps.signal), await send(green, request, deps.signal)];
    latencies.blue.push(a.answer.ms);
    latencies.green.push(b.answer.ms);
    answered.push({ request: label, blue: a.answer, green: b.answer });
    const found = compareAnswers(label, a, b, ignore);
    differences.push(...found);
    io.info(
      `${found.length === 0 ? '✓' : '✗'} ${label}: blue ${describe(a.answer)}, green ${describe(b.answer)}`,
    );
  }
  const blueMs = median(latencies.blue);
  const greenMs = median(latencies.green);
  const ratio = Math.max(greenMs, LATENCY_FLOOR_MS) / Math.max(blueMs, LATENCY_FLOOR_MS);
  const latency = { blueMs, greenMs, ratio, max: maxRatio, passed: ratio <= maxRatio };
  io.info(
    `latency: blue ${formatMs(blueMs)}, green ${formatMs(greenMs)} (median): ${ratio.toFixed(2)}× (max-latency-ratio ${maxRatio})`,
  );
  return {
    command: 'parity',
    valid: differences.length === 0 && latency.passed,
    requests: answered,
    differences,
    latency,
  };
}

function baseUrl(input: 'blue-url' | 'green-url', raw: string | undefined): URL {
  if (!raw)
    throw new InputError(
      input,
      'is required for parity: the base URL of that colour, e.g. http://10.0.0.5:8080',
    );
  try {
    const url = new URL(raw);
    if (url.protocol === 'http:' || url.protocol === 'https:') return url;
  } catch {
    // said below
  }
  throw new InputError(input, `"${redactUrl(raw)}" is not an http(s):// URL`);
}

/**
 * `requests`: lines of "METHOD /path" or "/path"; or one line naming a JSON or YAML file of
 * { method, path, body, headers } entries.
 */
async function readRequests(lines: string[], cwd: string): Promise<ParityRequest[]> {
  if (lines.length === 0)
    throw new InputError(
      'requests',
      'is required for parity: paths such as /api/orders, one per line, or a requests file',
    );
  const only = lines.length === 1 ? (lines[0] ?? '') : '';
  if (/\.(json|ya?ml)$/i.test(only) && existsSync(path.resolve(cwd, only))) {
    let entries: unknown;
    try {
      entries = parseYaml(await readFile(path.resolve(cwd, only), 'utf8'));
    } catch (error) {
      throw new InputError('requests', `${only} cannot be read: ${(error as Error).message}`);
    }
    if (!Array.isArray(entries))
      throw new InputError('requests', `${only} must hold a list of { method, path, body, headers }`);
    return entries.map((entry, index) => {
      const {
        method = 'GET',
        path: at,
        body,
        headers,
      } = (entry ?? {}) as Partial<ParityRequest> & { body?: unknown };
      if (typeof at !== 'string' || !at.startsWith('/'))
        throw new InputError(
          'requests',
          `${only}, entry ${index + 1}: path must be a server path starting with /`,
        );
      return {
        method: String(method).toUpperCase(),
        path: at,
        body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
        headers,
      };
    });
  }
  return lines.map((line) => {
    const match = /^(?:([A-Z]+)\s+)?(\/\S*)$/.exec(line);
    if (!match) throw new InputError('requests', `"${line}" is not "METHOD /path" or "/path"`);
    return { method: match[1] ?? 'GET', path: match[2] ?? '/' };
  });
}

interface Sent {
  answer: Answer;
  body?: string;
}

async function send(base: URL, request: ParityRequest, signal?: AbortSignal): Promise<Sent> {
  const url = new URL(request.path, base);
  const times: number[] = [];
  let last: Sent = { answer: { ms: 0 } };
  for (let i = 0; i < REPEATS; i++) {
    const started = performance.now();
    try {
      const response = await fetch(url, {
        method: request.method,
        headers: request.headers,
        body: request.body,
        redirect: 'manual',
        signal: signal
          ? AbortSignal.any([signal, AbortSignal.timeout(TIMEOUT_MS)])
          : AbortSignal.timeout(TIMEOUT_MS),
      });
      const body = await response.text();
      times.push(performance.now() - started);
      last = {
        answer: {
          status: response.status,
          ms: 0,
          contentType: response.headers.get('content-type') ?? undefined,
        },
        body,
      };
    } catch (error) {
      times.push(performance.now() - started);
      last = { answer: { ms: 0, error: (error as Error).message } };
    }
  }
  last.answer.ms = median(times);
  return last;
}

function compareAnswers(label: string, blue: Sent, green: Sent, ignore: JsonPath[]): ParityDifference[] {
  const found: ParityDifference[] = [];
  const { answer: a } = blue;
  const { answer: b } = green;
  if (a.error || b.error) {
    if (a.error !== b.error)
      found.push({
        request: label,
        what: 'error',
        blue: a.error ?? 'answered',
        green: b.error ?? 'answered',
      });
    return found;
  }
  if (a.status !== b.status)
    found.push({ request: label, what: 'status', blue: String(a.status), green: String(b.status) });
  const type = (value?: string) => value?.split(';')[0]?.trim().toLowerCase() ?? '';
  if (type(a.contentType) !== type(b.contentType))
    found.push({
      request: label,
      what: 'header',
      blue: `content-type: ${a.contentType ?? ''}`,
      green: `content-type: ${b.contentType ?? ''}`,
    });
  const [x, y] = [comparable(blue.body ?? '', ignore), comparable(green.body ?? '', ignore)];
  if (x !== y) found.push({ request: label, what: 'body', blue: excerpt(x), green: excerpt(y) });
  return found;
}

/** A body as compared: JSON with the ignored paths removed and keys sorted; other text as it is. */
function comparable(body: string, ignore: JsonPath[]): string {
  let value: unknown;
  try {
    value = JSON.parse(body);
  } catch {
    return body;
  }
  for (const each of ignore) value = without(value, each);
  return JSON.stringify(sorted(value));
}

function sorted(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sorted);
  if (value && typeof value === 'object')
    return Object.fromEntries(
      Object.keys(value)
        .sort()
        .map((key) => [key, sorted((value as Record<string, unknown>)[key])]),
    );
  return value;
}

/** `$.a.b`, `$.items[*].id`, `$..timestamp` (any depth). */
type JsonPath = { steps: (string | '*')[]; anyDepth: boolean };

function jsonPath(text: string): JsonPath {
  const match = /^\$(\.\.|\.)?(.*)$/.exec(text.trim());
  if (!match || !match[2])
    throw new InputError(
      'ignore',
      `"${text}" is not a JSON path such as $.timestamp, $.items[*].id or $..version`,
    );
  const steps = match[2]
    .replace(/\[\*\]/g, '.*')
    .replace(/\[(\d+)\]/g, '.$1')
    .split('.')
    .filter(Boolean);
  return { steps, anyDepth: match[1] === '..' };
}

function without(value: unknown, at: JsonPath): unknown {
  if (at.anyDepth) {
    const key = at.steps[0] ?? '';
    const walk = (node: unknown): unknown => {
      if (Array.isArray(node)) return node.map(walk);
      if (node && typeof node === 'object')
        return Object.fromEntries(
          Object.entries(node)
            .filter(([k]) => k !== key)
            .map(([k, v]) => [k, walk(v)]),
        );
      return node;
    };
    return walk(value);
  }
  const drop = (node: unknown, steps: (string | '*')[]): unknown => {
    const [step, ...rest] = steps;
    if (step === undefined || !node || typeof node !== 'object') return node;
    if (Array.isArray(node)) {
      if (step === '*') return rest.length === 0 ? [] : node.map((item) => drop(item, rest));
      const index = Number(step);
      return node
        .map((item, i) => (i === index ? (rest.length === 0 ? undefined : drop(item, rest)) : item))
        .filter((_, i) => !(i === index && rest.length === 0));
    }
    const entries = Object.entries(node as Record<string, unknown>);
    return Object.fromEntries(
      entries
        .filter(([key]) => !(rest.length === 0 && (step === '*' || key === step)))
        .map(([key, child]) => [key, step === '*' || key === step ? drop(child, rest) : child]),
    );
  };
  return drop(value, at.steps);
}

const excerpt = (text: string) => (text.length > 200 ? `${text.slice(0, 200)}…` : text);
const describe = (answer: Answer) =>
  answer.error ? `failed (${answer.error})` : `${answer.status} in ${formatMs(answer.ms)}`;

/** The median, by the analysis' own percentile (as k6 computes p(50)). */
function median(values: number[]): number {
  return (
    percentile(
      [...values].sort((a, b) => a - b),
      50,
    ) ?? 0
  );
}
