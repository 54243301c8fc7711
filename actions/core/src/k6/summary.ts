/**
 * Reads the two JSON files k6 writes at the end of a run, detected from their shape:
 *
 * - `k6 run --summary-export=FILE` (k6's `oldJSONSummary` in summary-wrapper.js): each metric is a flat
 *   object of numbers; a rate metric's fraction is called `value`; thresholds are
 *   `{ "<expression>": <failed?> }`, so `true` means the threshold FAILED.
 * - `handleSummary(data)` writing `JSON.stringify(data)`: each metric is `{ type, contains, values,
 *   thresholds }` and thresholds are `{ "<expression>": { "ok": <passed?> } }`.
 *
 * Both become the same `K6Summary`, with statistics keyed the way k6 threshold expressions name them.
 */
import { readFile } from 'node:fs/promises';
import { InputError } from '../errors.js';

export type K6Format = 'summary-export' | 'handle-summary';
export type K6MetricType = 'trend' | 'rate' | 'counter' | 'gauge';
/** What a metric's numbers measure: `time` is milliseconds, `data` is bytes. */
export type K6ValueKind = 'time' | 'data' | 'default';

export interface K6Metric {
  /** As k6 wrote it, e.g. 'http_req_duration{expected_response:true}'. */
  name: string;
  type: K6MetricType;
  /**
   * Keyed by threshold syntax: 'avg','min','max','med','p(95)','rate','count','value','passes','fails'.
   * For a rate metric `rate` is the fraction of samples that were true and `passes` counts them — for
   * `http_req_failed` a "pass" is a FAILED request.
   */
  values: Record<string, number>;
  /** As recorded in the file, normalised so that `ok` means the threshold passed. */
  thresholds: { expression: string; ok: boolean }[];
  /**
   * handleSummary() records it for every metric; a --summary-export file does not, so there it is
   * known only for k6's built-in metrics.
   */
  contains?: K6ValueKind;
}

export interface K6Summary {
  file: string;
  format: K6Format;
  metrics: Map<string, K6Metric>;
}

const INPUT = 'k6-summary';
const FIX =
  'Point k6-summary at the file written by "k6 run --summary-export=FILE" or by handleSummary() ' +
  'returning { "FILE": JSON.stringify(data) }.';
const TYPES: readonly K6MetricType[] = ['trend', 'rate', 'counter', 'gauge'];
const KINDS: readonly K6ValueKind[] = ['time', 'data', 'default'];

// A --summary-export file does not say what a metric measures; k6's built-ins are known (metrics/builtin.go).
const BUILTIN_KIND: Record<string, K6ValueKind> = {
  iteration_duration: 'time',
  group_duration: 'time',
  http_req_duration: 'time',
  http_req_blocked: 'time',
  http_req_connecting: 'time',
  http_req_tls_handshaking: 'time',
  http_req_sending: 'time',
  http_req_waiting: 'time',
  http_req_receiving: 'time',
  ws_ping: 'time',
  ws_session_duration: 'time',
  ws_connecting: 'time',
  grpc_req_duration: 'time',
  data_sent: 'data',
  data_received: 'data',
};

type Json = Record<string, unknown>;

function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return `a ${typeof value}`;
}

/**
 * k6 names a percentile `p(%g)` of its number (metrics/thresholds_parser.go SinkKey), so `p(99.90)` and
 * `p(99.9)` are one statistic.
 */
export function normaliseStatistic(key: string): string {
  const percentile = /^p\((.+)\)$/.exec(key);
  if (!percentile?.[1]) return key;
  const n = Number(percentile[1]);
  return Number.isFinite(n) ? `p(${n})` : key;
}

function fail(file: string, detail: string): never {
  throw new InputError(INPUT, `${file}: ${detail} ${FIX}`);
}

/** `k6 run --out json=FILE` writes one JSON object per line: a metric stream, not a summary. */
function isMetricStream(text: string): boolean {
  const first = text.trimStart().split('\n', 1)[0];
  if (!first) return false;
  try {
    const line: unknown = JSON.parse(first);
    return isObject(line) && (line.type === 'Metric' || line.type === 'Point') && 'metric' in line;
  } catch {
    return false;
  }
}

function readNumbers(file: string, metric: string, source: Json, skip: string): Record<string, number> {
  const values: Record<string, number> = {};
  for (const [key, value] of Object.entries(source)) {
    if (key === skip || value === null) continue; // JSON.stringify turns NaN into null: no value
    if (typeof value !== 'number' || !Number.isFinite(value)) {
      fail(
        file,
        `metric "${metric}" has ${key} = ${JSON.stringify(value)}; k6 writes statistics as numbers.`,
      );
    }
    values[normaliseStatistic(key)] = value;
  }
  return values;
}

function ensureRate(values: Record<string, number>): void {
  if (values.rate !== undefined) return;
  const passes = values.passes ?? 0;
  const total = passes + (values.fails ?? 0);
  values.rate = total > 0 ? passes / total : 0;
}

function inferType(file: string, name: string, values: Record<string, number>): K6MetricType {
  const keys = Object.keys(values);
  if ('passes' in values || 'fails' in values) return 'rate';
  if ('count' in values && 'rate' in values) return 'counter';
  if ('value' in values) return 'gauge';
  const trendKey = (k: string) => ['avg', 'min', 'med', 'max', 'count'].includes(k) || k.startsWith('p(');
  if (keys.length > 0 && keys.every(trendKey)) return 'trend';
  return fail(
    file,
    `metric "${name}" has statistics {${keys.join(', ')}}, which match no k6 metric type ` +
      '(trend: avg/min/med/max/p(N); rate: value/passes/fails; counter: count/rate; gauge: value/min/max).',
  );
}

function fromSummaryExport(file: string, name: string, entry: Json): K6Metric {
  const values = readNumbers(file, name, entry, 'thresholds');
  const type = inferType(file, name, values);
  if (type === 'rate') {
    // k6's oldJSONSummary renames a rate metric's `rate` to `value` ("sigh..." in its source).
    if (values.value !== undefined) {
      values.rate = values.value;
      delete values.value;
    }
    ensureRate(values);
  }
  const thresholds: K6Metric['thresholds'] = [];
  if (entry.thresholds !== undefined) {
    if (!isObject(entry.thresholds)) {
      fail(file, `metric "${name}" has thresholds ${describe(entry.thresholds)}, expected an object.`);
    }
    for (const [expression, failed] of Object.entries(entry.thresholds)) {
      if (typeof failed !== 'boolean') {
        fail(
          file,
          `threshold "${expression}" of "${name}" is ${JSON.stringify(failed)}; --summary-export writes ` +
            'true (failed) or false (passed).',
        );
      }
      thresholds.push({ expression, ok: !failed });
    }
  }
  const kind = BUILTIN_KIND[name.split('{', 1)[0] ?? name];
  return { name, type, values, thresholds, ...(kind && { contains: kind }) };
}

function fromHandleSummary(file: string, name: string, entry: Json): K6Metric {
  const type = entry.type as K6MetricType;
  if (!TYPES.includes(type)) {
    fail(file, `metric "${name}" has type ${JSON.stringify(entry.type)}; k6 types are ${TYPES.join(', ')}.`);
  }
  const values = readNumbers(file, name, entry.values as Json, '');
  if (type === 'rate') ensureRate(values);
  const thresholds: K6Metric['thresholds'] = [];
  if (entry.thresholds !== undefined) {
    if (!isObject(entry.thresholds)) {
      fail(file, `metric "${name}" has thresholds ${describe(entry.thresholds)}, expected an object.`);
    }
    for (const [expression, verdict] of Object.entries(entry.thresholds)) {
      if (!isObject(verdict) || typeof verdict.ok !== 'boolean') {
        fail(
          file,
          `threshold "${expression}" of "${name}" is ${JSON.stringify(verdict)}; handleSummary() data ` +
            'records {"ok": true} or {"ok": false}.',
        );
      }
      thresholds.push({ expression, ok: verdict.ok });
    }
  }
  const contains = KINDS.includes(entry.contains as K6ValueKind)
    ? (entry.contains as K6ValueKind)
    : undefined;
  return { name, type, values, thresholds, ...(contains && { contains }) };
}

/** Parses either k6 summary format; throws InputError('k6-summary', …) for anything else. */
export function parseK6Summary(text: string, file: string): K6Summary {
  if (text.trim() === '') fail(file, 'the file is empty.');
  let document: unknown;
  try {
    document = JSON.parse(text);
  } catch (error) {
    if (isMetricStream(text)) {
      fail(file, 'this is the metric stream of "k6 run --out json", not an end-of-test summary.');
    }
    // JSON.parse quotes the text around the fault, newlines included; an ::error:: is one line.
    const reason = (error as Error).message.replace(/\s+/g, ' ').trim();
    throw new InputError(INPUT, `${file} is not JSON (${reason}). ${FIX}`);
  }
  if (!isObject(document)) fail(file, `the file holds ${describe(document)}, not a k6 summary object.`);
  if (isObject(document.results) && Array.isArray(document.results.metrics)) {
    fail(
      file,
      'this is k6\'s machine-readable summary ("--new-machine-readable-summary"), which records no ' +
        'threshold results. Run k6 without that flag.',
    );
  }
  const metrics = document.metrics;
  if (!isObject(metrics)) {
    const keys = Object.keys(document);
    fail(
      file,
      `there is no "metrics" object (top-level keys: ${keys.length > 0 ? keys.join(', ') : 'none'}), ` +
        'so this is not a k6 summary.',
    );
  }

  const entries = Object.entries(metrics);
  for (const [name, entry] of entries) {
    if (!isObject(entry)) fail(file, `metric "${name}" is ${describe(entry)}, expected an object.`);
  }
  const nested = entries.filter(([, e]) => isObject(e) && typeof e.type === 'string' && isObject(e.values));
  if (nested.length > 0 && nested.length < entries.length) {
    const flat = entries.find(([name]) => !nested.some(([n]) => n === name))?.[0];
    fail(
      file,
      `metric "${nested[0]?.[0]}" is in handleSummary() form ({type, values}) but "${flat}" is not; ` +
        'the file mixes two formats.',
    );
  }
  const format: K6Format =
    nested.length > 0 || (entries.length === 0 && ('state' in document || 'options' in document))
      ? 'handle-summary'
      : 'summary-export';

  const parsed = new Map<string, K6Metric>();
  for (const [name, entry] of entries as [string, Json][]) {
    parsed.set(
      name,
      format === 'handle-summary'
        ? fromHandleSummary(file, name, entry)
        : fromSummaryExport(file, name, entry),
    );
  }
  return { file, format, metrics: parsed };
}

/** Reads and parses a k6 summary file; a missing or unreadable file is an InputError('k6-summary', …). */
export async function readK6Summary(file: string): Promise<K6Summary> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') {
      throw new InputError(
        INPUT,
        `${file} does not exist. Check the path (relative paths start at the working directory) and that ` +
          `the k6 step ran before this one. ${FIX}`,
      );
    }
    if (code === 'EISDIR') {
      throw new InputError(INPUT, `${file} is a directory. ${FIX}`);
    }
    throw new InputError(INPUT, `${file} cannot be read (${(error as Error).message}).`);
  }
  return parseK6Summary(text, file);
}
