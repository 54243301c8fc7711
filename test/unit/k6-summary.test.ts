import { describe, it, expect } from '@jest/globals';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { InputError } from '../../actions/core/src/errors.js';
import { parseK6Summary, readK6Summary } from '../../actions/core/src/k6/summary.js';

const fixture = (name: string) => fileURLToPath(new URL(`../fixtures/k6/${name}`, import.meta.url));
const EXPORT = fixture('export.json');
const HANDLE = fixture('handle-summary.json');
type RawExport = { metrics: Record<string, Record<string, unknown>> };
type RawHandle = {
  metrics: Record<string, { values: Record<string, number>; thresholds?: Record<string, { ok: boolean }> }>;
};
const rawExport = JSON.parse(readFileSync(EXPORT, 'utf8')) as RawExport;
const rawHandle = JSON.parse(readFileSync(HANDLE, 'utf8')) as RawHandle;

function inputError(run: () => unknown): InputError {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(InputError);
    return error as InputError;
  }
  throw new Error('expected an InputError');
}

describe('k6 --summary-export files', () => {
  it('are recognised from their shape and every metric is read', async () => {
    const summary = await readK6Summary(EXPORT);
    expect(summary.format).toBe('summary-export');
    expect(summary.file).toBe(EXPORT);
    expect([...summary.metrics.keys()].sort()).toEqual(Object.keys(rawExport.metrics).sort());
  });

  it('infer each metric type from the statistics k6 wrote', async () => {
    const { metrics } = await readK6Summary(EXPORT);
    expect(metrics.get('http_req_duration')?.type).toBe('trend');
    expect(metrics.get('http_req_failed')?.type).toBe('rate');
    expect(metrics.get('checks')?.type).toBe('rate');
    expect(metrics.get('http_reqs')?.type).toBe('counter');
    expect(metrics.get('vus')?.type).toBe('gauge');
  });

  it('call a rate metric\'s "value" its rate, and keep passes = failed requests for http_req_failed', async () => {
    const failed = (await readK6Summary(EXPORT)).metrics.get('http_req_failed');
    const raw = rawExport.metrics.http_req_failed as { passes: number; fails: number; value: number };
    expect(failed?.values.rate).toBe(raw.value);
    expect(failed?.values.value).toBeUndefined();
    expect(failed?.values.passes).toBe(raw.passes);
    // k6's Rate counts the samples that were true; http_req_failed adds true for a failed request.
    expect(failed?.values.rate).toBeCloseTo(raw.passes / (raw.passes + raw.fails), 12);
  });

  it('read a recorded threshold value true as FAILED and false as passed', async () => {
    const { metrics } = await readK6Summary(EXPORT);
    for (const [name, raw] of Object.entries(rawExport.metrics)) {
      const recorded = (raw.thresholds ?? {}) as Record<string, boolean>;
      const read = metrics.get(name)?.thresholds ?? [];
      expect(read.map((t) => [t.expression, t.ok])).toEqual(
        Object.entries(recorded).map(([expression, failed]) => [expression, !failed]),
      );
    }
    const failed = metrics.get('http_req_failed')?.thresholds.find((t) => t.expression === 'rate<0.01');
    expect(failed?.ok).toBe(false);
  });

  it('keep a tagged sub-metric apart from its parent', async () => {
    const { metrics } = await readK6Summary(EXPORT);
    const sub = metrics.get('http_req_duration{expected_response:true}');
    expect(sub?.type).toBe('trend');
    expect(sub?.values['p(95)']).toBe(
      rawExport.metrics['http_req_duration{expected_response:true}']?.['p(95)'],
    );
    expect(sub?.values['p(95)']).not.toBe(metrics.get('http_req_duration')?.values['p(95)']);
  });

  it('know which built-in metrics are durations in ms and which are bytes', async () => {
    const { metrics } = await readK6Summary(EXPORT);
    expect(metrics.get('http_req_duration{expected_response:true}')?.contains).toBe('time');
    expect(metrics.get('data_received')?.contains).toBe('data');
    expect(metrics.get('http_reqs')?.contains).toBeUndefined();
  });

  it('derive a missing rate from passes and fails', () => {
    const text = JSON.stringify({ metrics: { checks: { passes: 3, fails: 1 } } });
    expect(parseK6Summary(text, 'x.json').metrics.get('checks')?.values.rate).toBe(0.75);
  });
});

describe('k6 handleSummary() files', () => {
  it('are recognised from their shape', async () => {
    const summary = await readK6Summary(HANDLE);
    expect(summary.format).toBe('handle-summary');
    expect([...summary.metrics.keys()].sort()).toEqual(Object.keys(rawHandle.metrics).sort());
  });

  it('read {"ok": false} as a failed threshold and {"ok": true} as passed', async () => {
    const { metrics } = await readK6Summary(HANDLE);
    for (const [name, raw] of Object.entries(rawHandle.metrics)) {
      const read = metrics.get(name)?.thresholds ?? [];
      expect(read.map((t) => [t.expression, t.ok])).toEqual(
        Object.entries(raw.thresholds ?? {}).map(([expression, t]) => [expression, t.ok]),
      );
    }
    const p999 = metrics.get('http_req_duration')?.thresholds.find((t) => t.expression === 'p(99.9)<1000');
    expect(p999?.ok).toBe(false);
  });

  it('keep type, unit and values as recorded, including p(99.9)', async () => {
    const duration = (await readK6Summary(HANDLE)).metrics.get('http_req_duration');
    expect(duration?.type).toBe('trend');
    expect(duration?.contains).toBe('time');
    expect(duration?.values).toEqual(rawHandle.metrics.http_req_duration?.values);
  });

  it("keep a rate metric's passes and fails next to its rate", async () => {
    const failed = (await readK6Summary(HANDLE)).metrics.get('http_req_failed');
    const raw = rawHandle.metrics.http_req_failed?.values;
    expect(failed?.values).toEqual(raw);
  });

  it('name percentiles as k6 thresholds do, so p(99.90) is p(99.9)', () => {
    const text = JSON.stringify({
      metrics: { t: { type: 'trend', contains: 'time', values: { 'p(99.90)': 5, 'p(95.0)': 4 } } },
    });
    expect(Object.keys(parseK6Summary(text, 'x.json').metrics.get('t')?.values ?? {})).toEqual([
      'p(99.9)',
      'p(95)',
    ]);
  });
});

describe('files that are not a k6 summary', () => {
  it('not JSON: one error naming the input, the file and the fix', () => {
    const file = fixture('text-summary.txt');
    const error = inputError(() => parseK6Summary(readFileSync(file, 'utf8'), file));
    expect(error.input).toBe('k6-summary');
    expect(error.message).toContain('Input "k6-summary"');
    expect(error.message).toContain(`${file} is not JSON (`);
    expect(error.message).toContain('k6 run --summary-export=FILE');
    expect(error.message).toContain('handleSummary()');
    expect(error.message).not.toContain('\n'); // one ::error:: line
  });

  it('the metric stream of --out json is named as such', () => {
    const file = fixture('out-json.ndjson');
    const error = inputError(() => parseK6Summary(readFileSync(file, 'utf8'), file));
    expect(error.message).toContain('--out json');
    expect(error.message).toContain('--summary-export=FILE');
  });

  it('an empty file says so', () => {
    expect(inputError(() => parseK6Summary('  \n', 'empty.json')).message).toContain(
      'empty.json: the file is empty',
    );
  });

  it('JSON without metrics lists what it has', () => {
    const error = inputError(() => parseK6Summary('{"vus": 10, "duration": "30s"}', 'options.json'));
    expect(error.message).toContain('no "metrics" object (top-level keys: vus, duration)');
  });

  it("k6's machine-readable summary is recognised and the flag to drop is named", () => {
    const text = JSON.stringify({
      version: '1.0.0',
      config: {},
      metadata: {},
      results: { checks: {}, metrics: [] },
    });
    expect(inputError(() => parseK6Summary(text, 'mr.json')).message).toContain(
      '--new-machine-readable-summary',
    );
  });

  it('a handleSummary threshold that is not {"ok": bool} is reported with its metric', () => {
    const text = JSON.stringify({
      metrics: { checks: { type: 'rate', values: { rate: 1 }, thresholds: { 'rate>0.9': true } } },
    });
    const error = inputError(() => parseK6Summary(text, 'h.json'));
    expect(error.message).toContain('threshold "rate>0.9" of "checks" is true');
    expect(error.message).toContain('{"ok": true}');
  });

  it('an unknown metric type is reported with the valid ones', () => {
    const text = JSON.stringify({ metrics: { m: { type: 'histogram', values: { avg: 1 } } } });
    expect(inputError(() => parseK6Summary(text, 'h.json')).message).toContain(
      'metric "m" has type "histogram"; k6 types are trend, rate, counter, gauge',
    );
  });

  it('a missing file names the path', async () => {
    await expect(readK6Summary('/nonexistent/k6/summary.json')).rejects.toThrow(
      /Input "k6-summary": \/nonexistent\/k6\/summary\.json does not exist/,
    );
  });
});
