/**
 * k6 threshold expressions, parsed and applied the way k6 does it (metrics/thresholds_parser.go,
 * metrics/thresholds.go, metrics/metric_type.go), over the statistics of a summary file.
 */
import { InputError } from '../errors.js';
import type { K6Metric, K6MetricType, K6Summary } from './summary.js';

const INPUT = 'k6-thresholds';

export type ThresholdOperator = '<' | '<=' | '>' | '>=' | '==' | '!=';
export type AggregationMethod = 'avg' | 'min' | 'max' | 'med' | 'p' | 'rate' | 'count' | 'value';

export interface ThresholdExpression {
  source: string;
  method: AggregationMethod;
  /** The key of the statistic in K6Metric.values: 'p(99.9)', 'avg', 'rate', … */
  statistic: string;
  operator: ThresholdOperator;
  value: number;
}

export interface ThresholdLine {
  metric: string;
  expressions: string[];
}

export interface ThresholdVerdict {
  file: string;
  metric: string;
  expression: string;
  /** Recorded in the summary file by k6, or given in k6-thresholds. */
  source: 'file' | 'input';
  ok: boolean;
  /** The value the expression compared (for file thresholds: when the file holds that statistic). */
  actual?: number;
  /** E.g. 'p(95)'. */
  statistic?: string;
  /** Why a verdict is not the plain comparison, e.g. a rate metric with no samples. */
  note?: string;
}

/** A metric that had thresholds, with the file it came from (summaries may hold the same names). */
export interface K6GateMetric extends K6Metric {
  file: string;
}

export interface K6GateResult {
  passed: boolean;
  verdicts: ThresholdVerdict[];
  /** The metrics that had thresholds, file by file. */
  metrics: K6GateMetric[];
}

// k6 scans for operators in this order with a substring split, longer tokens first.
const OPERATORS = ['<=', '<', '>=', '>', '===', '==', '!='] as const;
const KEYWORDS: readonly AggregationMethod[] = ['value', 'count', 'rate', 'avg', 'min', 'med', 'max'];
// What k6 accepts on each metric type (metric_type.go supportedAggregationMethods).
const SUPPORTED: Record<K6MetricType, readonly AggregationMethod[]> = {
  counter: ['count', 'rate'],
  gauge: ['value'],
  rate: ['rate'],
  trend: ['avg', 'min', 'max', 'med', 'p'],
};
const NUMBER = /^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$/;

export const THRESHOLD_SYNTAX =
  'Valid: one line per metric, "METRIC[{tag:value}]: STAT OP NUMBER[, STAT OP NUMBER…]" with STAT one of ' +
  'avg, min, max, med, p(N), rate, count, value and OP one of <, <=, >, >=, ==, != ' +
  '(e.g. "http_req_duration: p(95)<500, p(99)<900", "http_req_failed: rate<0.01"). Durations are in ms.';

type Parsed<T> = { ok: true; value: T } | { ok: false; reason: string };

function numberReason(text: string, side: string): string {
  if (/^[+-]?[\d.]+\s*(ms|s|m|us|µs)$/.test(text)) {
    return `${side} "${text}" has a unit; k6 compares plain numbers and durations are in milliseconds (write 500, not 500ms)`;
  }
  if (/^[+-]?[\d.]+\s*%$/.test(text)) {
    return `${side} "${text}" is a percentage; k6 rates are fractions (write 0.01, not 1%)`;
  }
  return `${side} "${text}" is not a number`;
}

/** Parses one expression such as `p(99.9) < 500` with k6's grammar. */
export function parseThresholdExpression(source: string): Parsed<ThresholdExpression> {
  let found: { op: string; left: string; right: string } | undefined;
  for (const op of OPERATORS) {
    const at = source.indexOf(op);
    if (at >= 0) {
      found = { op, left: source.slice(0, at).trim(), right: source.slice(at + op.length).trim() };
      break;
    }
  }
  if (!found) return { ok: false, reason: 'no comparison operator (<, <=, >, >=, ==, !=)' };
  const operator = (found.op === '===' ? '==' : found.op) as ThresholdOperator;

  let method: AggregationMethod;
  let statistic: string;
  if ((KEYWORDS as readonly string[]).includes(found.left)) {
    method = found.left as AggregationMethod;
    statistic = found.left;
  } else if (found.left.startsWith('p(') && found.left.endsWith(')')) {
    const inner = found.left.slice(2, -1);
    if (!NUMBER.test(inner))
      return { ok: false, reason: `percentile "${found.left}" needs a number, e.g. p(95)` };
    const percentile = Number(inner);
    if (percentile < 0 || percentile > 100) {
      return { ok: false, reason: `percentile "${found.left}" is outside 0–100` };
    }
    method = 'p';
    statistic = `p(${percentile})`;
  } else {
    const shown = found.left === '' ? 'nothing' : `"${found.left}"`;
    return {
      ok: false,
      reason: `${shown} before "${found.op}" is not a statistic (avg, min, max, med, p(N), rate, count, value)`,
    };
  }

  if (!NUMBER.test(found.right)) return { ok: false, reason: numberReason(found.right, 'the limit') };
  return { ok: true, value: { source, method, statistic, operator, value: Number(found.right) } };
}

interface MetricName {
  base: string;
  tags: Map<string, string>;
}

/** metrics/metric.go ParseMetricName + AddSubmetric: tags trimmed, quotes stripped. */
function parseMetricName(name: string): Parsed<MetricName> {
  const open = name.indexOf('{');
  const close = name.lastIndexOf('}');
  if (open < 0 && close < 0) {
    return /^[^\s{}:,'"[\]]+$/.test(name)
      ? { ok: true, value: { base: name, tags: new Map() } }
      : { ok: false, reason: `"${name}" is not a metric name` };
  }
  if (open < 0 || close < 0 || close < open || close !== name.length - 1) {
    return { ok: false, reason: `metric "${name}" has unbalanced braces; tags look like {tag:value}` };
  }
  const base = name.slice(0, open).trim();
  if (!/^[^\s{}:,'"[\]]+$/.test(base)) return { ok: false, reason: `"${base}" is not a metric name` };
  const tags = new Map<string, string>();
  for (const pair of name.slice(open + 1, close).split(',')) {
    const colon = pair.indexOf(':');
    const key = pair
      .slice(0, colon)
      .trim()
      .replace(/^["']|["']$/g, '');
    const value = pair
      .slice(colon + 1)
      .trim()
      .replace(/^["']|["']$/g, '');
    if (colon < 0 || key === '' || value === '') {
      return { ok: false, reason: `tag "${pair.trim()}" of "${name}" is not tag:value` };
    }
    tags.set(key, value);
  }
  return { ok: true, value: { base, tags } };
}

function sameMetric(a: MetricName, b: MetricName): boolean {
  if (a.base !== b.base || a.tags.size !== b.tags.size) return false;
  for (const [key, value] of a.tags) if (b.tags.get(key) !== value) return false;
  return true;
}

function unquote(text: string): string {
  const t = text.trim();
  return t.length >= 2 && (t[0] === '"' || t[0] === "'") && t.at(-1) === t[0] ? t.slice(1, -1).trim() : t;
}

function parseLine(line: string): Parsed<ThresholdLine> {
  let metric: string;
  let rest: string;
  const quote = line[0];
  if (quote === '"' || quote === "'") {
    // Pasted from a k6 script: 'http_req_duration{expected_response:true}': ['p(95)<500']
    const end = line.indexOf(quote, 1);
    if (end < 0) return { ok: false, reason: `the metric name's ${quote} is never closed` };
    metric = line.slice(1, end).trim();
    rest = line.slice(end + 1).trim();
  } else {
    const colon = line.indexOf(':');
    const brace = line.indexOf('{');
    if (brace >= 0 && (colon < 0 || brace < colon)) {
      const close = line.indexOf('}', brace);
      if (close < 0) return { ok: false, reason: 'the "{" of the tags is never closed' };
      metric = line.slice(0, close + 1).trim();
      rest = line.slice(close + 1).trim();
    } else if (colon >= 0) {
      metric = line.slice(0, colon).trim();
      rest = line.slice(colon).trim();
    } else {
      return { ok: false, reason: 'no ":" between the metric and its thresholds' };
    }
  }
  if (!rest.startsWith(':')) return { ok: false, reason: `expected ":" after the metric "${metric}"` };
  const name = parseMetricName(metric);
  if (!name.ok) return name;

  let list = rest.slice(1).trim().replace(/,$/, '').trim();
  if (list.startsWith('[') && list.endsWith(']')) list = list.slice(1, -1);
  const expressions = list
    .split(',')
    .map(unquote)
    .filter((e) => e !== '');
  if (expressions.length === 0) return { ok: false, reason: `no threshold after "${metric}:"` };
  for (const expression of expressions) {
    const parsed = parseThresholdExpression(expression);
    if (!parsed.ok) return { ok: false, reason: `"${expression}": ${parsed.reason}` };
  }
  return { ok: true, value: { metric, expressions } };
}

/**
 * Parses `k6-thresholds` lines (`http_req_duration{expected_response:true}: p(95)<500, p(99)<900`).
 * Blank lines and lines starting with # are skipped. Every bad line is reported in one InputError.
 */
export function parseThresholdLines(lines: string[]): ThresholdLine[] {
  const parsed: ThresholdLine[] = [];
  const problems: string[] = [];
  lines.forEach((raw, index) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    const result = parseLine(line);
    if (result.ok) parsed.push(result.value);
    else problems.push(`line ${index + 1} "${line}": ${result.reason}.`);
  });
  if (problems.length > 0) throw new InputError(INPUT, `${problems.join(' ')} ${THRESHOLD_SYNTAX}`);
  return parsed;
}

function compare(actual: number, operator: ThresholdOperator, limit: number): boolean {
  switch (operator) {
    case '<':
      return actual < limit;
    case '<=':
      return actual <= limit;
    case '>':
      return actual > limit;
    case '>=':
      return actual >= limit;
    case '==':
      return actual === limit;
    case '!=':
      return actual !== limit;
  }
}

/** The statistics of a metric that a threshold of its type may name, in k6's order. */
export function thresholdStatistics(metric: K6Metric): string[] {
  const allowed = SUPPORTED[metric.type];
  return Object.keys(metric.values).filter((key) =>
    key.startsWith('p(') ? allowed.includes('p') : (allowed as readonly string[]).includes(key),
  );
}

function findMetric(summary: K6Summary, wanted: string): K6Metric | undefined {
  const exact = summary.metrics.get(wanted);
  if (exact) return exact;
  const name = parseMetricName(wanted);
  if (!name.ok) return undefined;
  for (const metric of summary.metrics.values()) {
    const candidate = parseMetricName(metric.name);
    if (candidate.ok && sameMetric(name.value, candidate.value)) return metric;
  }
  return undefined;
}

function missingMetric(summary: K6Summary, wanted: string): InputError {
  const names = [...summary.metrics.keys()];
  const hint = wanted.includes('{')
    ? ' k6 writes a tagged sub-metric only when the script declares a threshold on it ' +
      `(options.thresholds: { '${wanted}': [...] }).`
    : '';
  return new InputError(
    INPUT,
    `metric "${wanted}" is not in ${summary.file}; it has: ${names.length > 0 ? names.join(', ') : 'no metrics'}.${hint}`,
  );
}

function evaluateInput(summary: K6Summary, metric: K6Metric, source: string): ThresholdVerdict {
  const parsed = parseThresholdExpression(source);
  if (!parsed.ok)
    throw new InputError(INPUT, `"${source}" on ${metric.name}: ${parsed.reason}. ${THRESHOLD_SYNTAX}`);
  const expression = parsed.value;
  const allowed = SUPPORTED[metric.type];
  if (!allowed.includes(expression.method)) {
    throw new InputError(
      INPUT,
      `"${source}" cannot be checked on ${metric.name}: it is a ${metric.type} metric, and k6 thresholds on ` +
        `${metric.type} metrics use ${allowed.map((m) => (m === 'p' ? 'p(N)' : m)).join(', ')}.`,
    );
  }
  const base = { file: summary.file, metric: metric.name, expression: source, source: 'input' as const };
  const statistic = expression.statistic;

  if (metric.type === 'rate' && metric.values.passes !== undefined && metric.values.fails !== undefined) {
    if (metric.values.passes + metric.values.fails === 0) {
      // metrics/thresholds.go: a rate with no samples has no value, and k6 lets its thresholds pass.
      return { ...base, ok: true, statistic, note: 'no samples; k6 passes thresholds on an empty rate' };
    }
  }
  const actual = metric.values[statistic];
  if (actual === undefined) {
    const has = thresholdStatistics(metric);
    const fix =
      metric.type === 'trend'
        ? ` Add "${statistic}" to summaryTrendStats in the k6 options (or --summary-trend-stats) so k6 writes it.`
        : '';
    throw new InputError(
      INPUT,
      `"${source}" on ${metric.name} needs ${statistic}, which is not in ${summary.file}; ` +
        `it has ${has.length > 0 ? has.join(', ') : 'no statistics'} for that metric.${fix}`,
    );
  }
  return { ...base, ok: compare(actual, expression.operator, expression.value), actual, statistic };
}

/**
 * Every threshold recorded in each file is a verdict (source 'file'); every k6-thresholds line is
 * evaluated against each file's statistics (source 'input'). The gate passes when every verdict does.
 */
export function evaluateK6Gate(summaries: K6Summary[], lines: ThresholdLine[]): K6GateResult {
  const verdicts: ThresholdVerdict[] = [];
  const metrics: K6GateMetric[] = [];
  for (const summary of summaries) {
    const judged = new Set<K6Metric>();
    for (const metric of summary.metrics.values()) {
      for (const threshold of metric.thresholds) {
        judged.add(metric);
        // k6 already judged these over every sample; the statistic is shown when the file has it.
        const parsed = parseThresholdExpression(threshold.expression);
        const statistic = parsed.ok ? parsed.value.statistic : undefined;
        const actual = statistic === undefined ? undefined : metric.values[statistic];
        verdicts.push({
          file: summary.file,
          metric: metric.name,
          expression: threshold.expression,
          source: 'file',
          ok: threshold.ok,
          ...(statistic !== undefined && { statistic }),
          ...(actual !== undefined && { actual }),
        });
      }
    }
    for (const line of lines) {
      const metric = findMetric(summary, line.metric);
      if (!metric) throw missingMetric(summary, line.metric);
      judged.add(metric);
      for (const source of line.expressions) verdicts.push(evaluateInput(summary, metric, source));
    }
    for (const metric of summary.metrics.values()) {
      if (judged.has(metric)) metrics.push({ ...metric, file: summary.file });
    }
  }
  return { passed: verdicts.every((v) => v.ok), verdicts, metrics };
}
