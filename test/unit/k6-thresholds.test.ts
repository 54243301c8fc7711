import { describe, it, expect, beforeAll } from '@jest/globals';
import { fileURLToPath } from 'node:url';
import { InputError } from '../../actions/core/src/errors.js';
import { parseK6Summary, readK6Summary, type K6Summary } from '../../actions/core/src/k6/summary.js';
import {
  evaluateK6Gate,
  parseThresholdLines,
  type ThresholdVerdict,
} from '../../actions/core/src/k6/thresholds.js';

const fixture = (name: string) => fileURLToPath(new URL(`../fixtures/k6/${name}`, import.meta.url));

let exported: K6Summary;
let handled: K6Summary;
beforeAll(async () => {
  exported = await readK6Summary(fixture('export.json'));
  handled = await readK6Summary(fixture('handle-summary.json'));
});

function gate(summary: K6Summary, ...lines: string[]) {
  return evaluateK6Gate([summary], parseThresholdLines(lines));
}

function inputVerdicts(summary: K6Summary, ...lines: string[]): ThresholdVerdict[] {
  return gate(summary, ...lines).verdicts.filter((v) => v.source === 'input');
}

function inputError(run: () => unknown): InputError {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(InputError);
    return error as InputError;
  }
  throw new Error('expected an InputError');
}

/** A handleSummary() file with one metric of the given type and values. */
function summaryOf(type: string, values: Record<string, number>, name = 'm'): K6Summary {
  return parseK6Summary(
    JSON.stringify({ metrics: { [name]: { type, contains: 'default', values } } }),
    'inline.json',
  );
}

describe('parseThresholdLines', () => {
  it('reads a metric and its comma-separated expressions', () => {
    expect(parseThresholdLines(['http_req_duration: p(95)<500, p(99)<900'])).toEqual([
      { metric: 'http_req_duration', expressions: ['p(95)<500', 'p(99)<900'] },
    ]);
  });

  it('keeps the colon and commas of tags inside the metric name', () => {
    expect(parseThresholdLines(['http_req_duration{expected_response:true,method:GET}: p(95)<300'])).toEqual([
      { metric: 'http_req_duration{expected_response:true,method:GET}', expressions: ['p(95)<300'] },
    ]);
  });

  it('accepts a line pasted from a k6 script', () => {
    expect(
      parseThresholdLines([`'http_req_duration{expected_response:true}': ['p(95)<500', "p(99) < 900"],`]),
    ).toEqual([
      { metric: 'http_req_duration{expected_response:true}', expressions: ['p(95)<500', 'p(99) < 900'] },
    ]);
  });

  it('skips blank lines and # comments', () => {
    const lines = parseThresholdLines(['', '# latency', '  http_req_failed: rate<0.01  ', '   ']);
    expect(lines.map((l) => l.metric)).toEqual(['http_req_failed']);
  });

  it.each([
    ['http_req_duration p(95)<500', 'no ":" between the metric and its thresholds'],
    ['http_req_duration: p95<500', '"p95" before "<" is not a statistic'],
    ['http_req_duration: p(95) 500', 'no comparison operator'],
    ['http_req_duration: p(95)<500ms', 'durations are in milliseconds (write 500, not 500ms)'],
    ['http_req_failed: rate<1%', 'write 0.01, not 1%'],
    ['http_req_duration: p(150)<500', 'outside 0–100'],
    ['http_req_duration: p(x)<500', 'needs a number'],
    ['http_req_duration{status:200: p(95)<500', 'never closed'],
    ['http_req_duration{status}: p(95)<500', 'tag "status" of "http_req_duration{status}" is not tag:value'],
    ['http_req_duration:', 'no threshold after'],
    ['http_req_duration: p(95)=500', 'no comparison operator'],
  ])('rejects %j, quoting it and showing the valid syntax', (line, reason) => {
    const error = inputError(() => parseThresholdLines([line]));
    expect(error.input).toBe('k6-thresholds');
    expect(error.message).toContain(`line 1 "${line}"`);
    expect(error.message).toContain(reason);
    expect(error.message).toContain('http_req_duration: p(95)<500, p(99)<900');
    expect(error.message).toContain('<, <=, >, >=, ==, !=');
  });

  it('reports every bad line in one error, by line number', () => {
    const message = inputError(() =>
      parseThresholdLines(['checks: rate>0.99', 'http_req_failed rate<0.01', '', 'vus: val>1']),
    ).message;
    expect(message).toContain('line 2 "http_req_failed rate<0.01"');
    expect(message).toContain('line 4 "vus: val>1"');
    expect(message).not.toContain('line 1');
  });
});

describe('evaluateK6Gate with k6-thresholds lines', () => {
  it('http_req_failed: rate<0.01 fails when passes/(passes+fails) ≥ 0.01, passes counting failed requests', () => {
    const failed = exported.metrics.get('http_req_failed')!.values;
    const [verdict] = inputVerdicts(exported, 'http_req_failed: rate<0.01');
    expect(verdict?.actual).toBeCloseTo(failed.passes! / (failed.passes! + failed.fails!), 12);
    expect(verdict?.actual).toBeGreaterThanOrEqual(0.01);
    expect(verdict?.ok).toBe(false);
    expect(verdict?.statistic).toBe('rate');

    const [healthy] = inputVerdicts(handled, 'http_req_failed: rate<0.01');
    expect(healthy?.actual).toBeLessThan(0.01);
    expect(healthy?.ok).toBe(true);
  });

  it('a failure rate of exactly 1% fails rate<0.01 and passes rate<=0.01', () => {
    const file = parseK6Summary(
      JSON.stringify({ metrics: { http_req_failed: { passes: 1, fails: 99, value: 0.01 } } }),
      'one-percent.json',
    );
    const [strict, inclusive] = inputVerdicts(file, 'http_req_failed: rate<0.01, rate<=0.01');
    expect(strict?.ok).toBe(false);
    expect(inclusive?.ok).toBe(true);
  });

  it.each([
    ['<', 9, false],
    ['<', 10, false],
    ['<', 11, true],
    ['<=', 9, false],
    ['<=', 10, true],
    ['>', 9, true],
    ['>', 10, false],
    ['>=', 10, true],
    ['>=', 11, false],
    ['==', 10, true],
    ['==', 9, false],
    ['===', 10, true],
    ['!=', 10, false],
    ['!=', 9, true],
  ])('value %s %d on a gauge at 10 ⇒ ok=%s', (operator, limit, ok) => {
    const [verdict] = inputVerdicts(
      summaryOf('gauge', { value: 10, min: 1, max: 10 }),
      `m: value${operator}${limit}`,
    );
    expect(verdict?.actual).toBe(10);
    expect(verdict?.ok).toBe(ok);
  });

  it('compares percentiles with decimals, whatever their spelling', () => {
    const p999 = handled.metrics.get('http_req_duration')!.values['p(99.9)']!;
    const verdicts = inputVerdicts(handled, `http_req_duration: p(99.9) < ${p999 + 1}, p(99.90)<${p999}`);
    expect(verdicts.map((v) => [v.statistic, v.actual, v.ok])).toEqual([
      ['p(99.9)', p999, true],
      ['p(99.9)', p999, false],
    ]);
  });

  it('evaluates a tagged sub-metric on its own values, tag spacing aside', () => {
    const sub = exported.metrics.get('http_req_duration{expected_response:true}')!.values['p(95)']!;
    const parent = exported.metrics.get('http_req_duration')!.values['p(95)']!;
    expect(sub).toBeLessThan(parent);
    const [verdict] = inputVerdicts(
      exported,
      `http_req_duration{ expected_response : "true" }: p(95)<${parent}`,
    );
    expect(verdict?.metric).toBe('http_req_duration{expected_response:true}');
    expect(verdict?.actual).toBe(sub);
    expect(verdict?.ok).toBe(true);
  });

  it('uses avg, min, med, max on trends, count and rate on counters, value on gauges', () => {
    const duration = exported.metrics.get('http_req_duration')!.values;
    const reqs = exported.metrics.get('http_reqs')!.values;
    const verdicts = inputVerdicts(
      exported,
      `http_req_duration: avg<${duration.avg! + 1}, min>${duration.min!}, med<=${duration.med!}, max<${duration.max!}`,
      `http_reqs: count>=${reqs.count!}, rate>${reqs.rate! + 1}`,
      'vus: value==10',
    );
    expect(verdicts.map((v) => [v.statistic, v.ok])).toEqual([
      ['avg', true],
      ['min', false],
      ['med', true],
      ['max', false],
      ['count', true],
      ['rate', false],
      ['value', true],
    ]);
  });

  it('a statistic the file lacks is an error listing the statistics it has', () => {
    const error = inputError(() => gate(exported, 'http_req_duration: p(99)<900'));
    expect(error.input).toBe('k6-thresholds');
    expect(error.message).toContain('needs p(99)');
    expect(error.message).toContain('it has avg, min, med, max, p(90), p(95) for that metric');
    expect(error.message).toContain('summaryTrendStats');
  });

  it('a metric the file lacks is an error listing its metrics', () => {
    const error = inputError(() => gate(handled, 'grpc_req_duration: p(95)<200'));
    expect(error.message).toContain(`metric "grpc_req_duration" is not in ${handled.file}; it has: `);
    for (const name of handled.metrics.keys()) expect(error.message).toContain(name);
  });

  it('a missing tagged sub-metric explains that k6 writes it only when the script has a threshold on it', () => {
    const error = inputError(() => gate(exported, 'http_req_duration{status:500}: p(95)<200'));
    expect(error.message).toContain('only when the script declares a threshold on it');
  });

  it('a statistic k6 does not allow on the metric type is an error naming the allowed ones', () => {
    const error = inputError(() => gate(exported, 'http_req_failed: count<5'));
    expect(error.message).toContain('it is a rate metric, and k6 thresholds on rate metrics use rate');
  });

  it('a rate with no samples passes, as in k6, and says so', () => {
    const [verdict] = inputVerdicts(
      summaryOf('rate', { rate: 0, passes: 0, fails: 0 }, 'checks'),
      'checks: rate>0.99',
    );
    expect(verdict?.ok).toBe(true);
    expect(verdict?.actual).toBeUndefined();
    expect(verdict?.note).toContain('no samples');
  });
});

describe('evaluateK6Gate with thresholds recorded in the file', () => {
  it('turns every recorded threshold into a verdict; summary-export true ⇒ not ok', () => {
    const result = evaluateK6Gate([exported], []);
    const recorded = [...exported.metrics.values()].flatMap((m) =>
      m.thresholds.map((t) => [m.name, t.expression]),
    );
    expect(result.verdicts.map((v) => [v.metric, v.expression])).toEqual(recorded);
    expect(result.verdicts.every((v) => v.source === 'file')).toBe(true);
    const failed = result.verdicts.find((v) => v.metric === 'http_req_failed');
    expect(failed?.ok).toBe(false);
    expect(result.passed).toBe(false);
  });

  it('handleSummary ok:false ⇒ not ok, and the gate fails even when every input line passes', () => {
    const result = gate(handled, 'http_req_failed: rate<0.05');
    const p999 = result.verdicts.find((v) => v.expression === 'p(99.9)<1000');
    expect(p999?.ok).toBe(false);
    expect(p999?.actual).toBe(handled.metrics.get('http_req_duration')!.values['p(99.9)']);
    expect(result.verdicts.filter((v) => v.source === 'input').every((v) => v.ok)).toBe(true);
    expect(result.passed).toBe(false);
  });

  it('passes when every recorded and given threshold does', () => {
    const file = parseK6Summary(
      JSON.stringify({
        metrics: { checks: { passes: 99, fails: 0, value: 1, thresholds: { 'rate>0.99': false } } },
      }),
      'ok.json',
    );
    const result = gate(file, 'checks: rate==1');
    expect(result.verdicts.map((v) => [v.source, v.ok])).toEqual([
      ['file', true],
      ['input', true],
    ]);
    expect(result.passed).toBe(true);
  });

  it('shows the compared value of a recorded threshold only when the file has the statistic', () => {
    const result = evaluateK6Gate([exported], []);
    const p95 = result.verdicts.find((v) => v.expression === 'p(95)<500' && v.metric === 'http_req_duration');
    const p99 = result.verdicts.find((v) => v.expression === 'p(99)<1500');
    expect(p95?.actual).toBe(exported.metrics.get('http_req_duration')!.values['p(95)']);
    expect(p99?.statistic).toBe('p(99)');
    expect(p99?.actual).toBeUndefined();
    expect(p99?.ok).toBe(true);
  });

  it('evaluates the lines against every file and returns the judged metrics file by file', () => {
    const result = gate(exported, 'http_req_failed: rate<0.01');
    expect(result.metrics.every((m) => m.file === exported.file)).toBe(true);
    const both = evaluateK6Gate([exported, handled], parseThresholdLines(['http_reqs: count>0']));
    const reqs = both.verdicts.filter((v) => v.metric === 'http_reqs');
    expect(reqs.map((v) => v.file)).toEqual([exported.file, handled.file]);
    expect(both.metrics.filter((m) => m.name === 'http_reqs').map((m) => m.file)).toEqual([
      exported.file,
      handled.file,
    ]);
    expect(both.metrics.some((m) => m.name === 'vus')).toBe(false);
  });
});
