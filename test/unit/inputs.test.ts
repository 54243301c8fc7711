import { describe, expect, it } from '@jest/globals';
import { readActionInputs } from '../../actions/core/src/action-inputs.js';
import { InputError, UserErrors } from '../../actions/core/src/errors.js';
import { healthCheckInputs } from '../../actions/core/src/health-check/inputs.js';
import { parseDuration, parseRate, splitList } from '../../actions/core/src/inputs.js';
import { memoryIO } from '../../actions/core/src/io.js';
import { prepareBodyMatcher } from '../../actions/core/src/probes/body-matcher.js';
import type { BodyMatcher } from '../../actions/core/src/probes/probe.js';

function read(inputs: Record<string, string>) {
  const { io } = memoryIO({ inputs });
  return readActionInputs(io, 'health-check', healthCheckInputs);
}

function errorOf(inputs: Record<string, string>): Error {
  try {
    read(inputs);
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected the inputs to be refused');
}

describe('durations and rates', () => {
  it('reads every unit', () => {
    expect(parseDuration('500ms')).toBe(500);
    expect(parseDuration('10s')).toBe(10_000);
    expect(parseDuration('2m')).toBe(120_000);
    expect(parseDuration('1.5s')).toBe(1500);
    expect(parseDuration('1h')).toBe(3_600_000);
  });
  it('refuses a number without a unit and words', () => {
    expect(parseDuration('10')).toBeUndefined();
    expect(parseDuration('abc')).toBeUndefined();
    expect(parseDuration('-1s')).toBeUndefined();
  });
  it('reads percentages and fractions alike', () => {
    expect(parseRate('5%')).toBeCloseTo(0.05);
    expect(parseRate('0.05')).toBeCloseTo(0.05);
    expect(parseRate('.5')).toBeCloseTo(0.5);
    expect(parseRate('0.5%')).toBeCloseTo(0.005);
    expect(parseRate('five')).toBeUndefined();
  });
  it('splits lists on lines and commas, skipping blanks and comments', () => {
    expect(splitList('a\n\n # comment\n b ', false)).toEqual(['a', 'b']);
    expect(splitList('10, 25,50\n75', true)).toEqual(['10', '25', '50', '75']);
  });
});

describe('health-check inputs', () => {
  it('applies the documented defaults', () => {
    const inputs = read({ targets: 'http://127.0.0.1:1/health' });
    expect(inputs.mode).toBe('once');
    expect(inputs.timeout).toBe(5000);
    expect(inputs['expect-status']).toEqual([{ min: 200, max: 399 }]);
    expect(inputs['max-error-rate']).toBeCloseTo(0.05);
    expect(inputs['failure-limit']).toBe(3);
  });

  it('parses every kind of input', async () => {
    const inputs = read({
      targets:
        'https://example.com/health\ntcp://127.0.0.1:5432\nredis://:pw@127.0.0.1:6379/2\npostgres://u:p@db/app',
      'expect-status': '200-299, 304, 4xx',
      'expect-body': '/^ok$/i',
      headers: 'Authorization: Bearer abc:def\nX-Env: prod',
      mode: 'watch',
      'max-error-rate': '1.5%',
      'max-p95': '750ms',
      interval: '2s',
    });
    expect(inputs.targets?.map((u) => u.protocol)).toEqual(['https:', 'tcp:', 'redis:', 'postgres:']);
    expect(inputs['expect-status']).toEqual([
      { min: 200, max: 299 },
      { min: 304, max: 304 },
      { min: 400, max: 499 },
    ]);
    const body = inputs['expect-body'];
    expect(body).toMatchObject({ kind: 'regex', flags: 'i' });
    expect(await prepareBodyMatcher(body as BodyMatcher).then((test) => test('OK'))).toBe(true);
    expect(inputs.headers).toEqual([
      ['Authorization', 'Bearer abc:def'],
      ['X-Env', 'prod'],
    ]);
    expect(inputs['max-error-rate']).toBeCloseTo(0.015);
    expect(inputs['max-p95']).toBe(750);
  });

  it.each([
    [{ mode: 'sometimes' }, 'mode', 'once, until-healthy, watch'],
    [{ 'max-error-rate': '150%' }, 'max-error-rate', 'between 0% and 100%'],
    [{ timeout: 'abc' }, 'timeout', '500ms, 10s, 2m'],
    [{ retries: '-1' }, 'retries', 'must be 0 to 100'],
    [{ 'expect-status': '200-700' }, 'expect-status', 'between 100 and 599'],
    [{ 'expect-body': '/(unclosed/' }, 'expect-body', 'not a valid regular expression'],
  ])('refuses %j naming the input and what is valid', (bad, input, valid) => {
    const error = errorOf({ targets: 'http://127.0.0.1/', ...bad });
    expect(error).toBeInstanceOf(InputError);
    expect((error as InputError).input).toBe(input);
    expect(error.message).toContain(`Input "${input}"`);
    expect(error.message).toContain(valid);
  });

  it('refuses an unparseable URL and an unknown scheme, saying what to write', () => {
    expect(errorOf({ targets: 'http//missing-colon' }).message).toContain(
      '"http//missing-colon" is not a URL; write it like http://host:port/path',
    );
    expect(errorOf({ targets: 'postgres://app:secret@db:port/shop' }).message).toMatch(
      /is not a URL; write it like postgres:\/\/host:port\/path \(percent-encode special characters/,
    );
    expect(errorOf({ targets: 'ftp://example.com' }).message).toMatch(
      /unsupported scheme "ftp:"; use http:\/\//,
    );
    expect(errorOf({ targets: 'localhost:6379' }).message).toContain(
      'for a plain port, write tcp://localhost:6379',
    );
  });

  it('takes a password with a stray % and masks it', () => {
    const { io, recorded } = memoryIO({ inputs: { targets: 'postgres://app:50%off@db/shop' } });
    expect(readActionInputs(io, 'health-check', healthCheckInputs).targets).toHaveLength(1);
    io.info('auth failed for 50%off');
    expect(recorded.log).toEqual(['auth failed for ***']);
  });

  it('refuses two targets on one line instead of probing a URL with a space in it', () => {
    expect(errorOf({ targets: 'http://a/ok, tcp://b:1' }).message).toContain(
      'contains a space; put one entry per line',
    );
  });

  it('says a required input is missing, with an example', async () => {
    const { list } = await import('../../actions/core/src/inputs.js');
    const table = { things: list('Things.', undefined, { required: true, example: 'a-thing' }) };
    const { io } = memoryIO({ inputs: {} });
    expect(() => readActionInputs(io, 'health-check', table)).toThrow(
      'Input "things": is required. Example: things: a-thing',
    );
  });

  it('reports every bad input at once', () => {
    const error = errorOf({ targets: 'http://x/', mode: 'sometimes', timeout: 'abc' });
    expect(error).toBeInstanceOf(UserErrors);
    expect((error as UserErrors).errors.map((e) => (e as InputError).input)).toEqual(['timeout', 'mode']);
  });

  it('never echoes a password from a bad target', () => {
    const { io } = memoryIO({ inputs: { targets: 'postgres://app:hunter22@db:notaport/app' } });
    let message = '';
    try {
      readActionInputs(io, 'health-check', healthCheckInputs);
    } catch (error) {
      message = io.secrets.redact((error as Error).message);
    }
    expect(message).toContain('targets');
    expect(message).not.toContain('hunter22');
  });
});
