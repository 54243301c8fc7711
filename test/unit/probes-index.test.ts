import { describe, expect, it } from '@jest/globals';
import { InputError } from '../../actions/core/src/errors.js';
import { TARGET_SCHEMES } from '../../actions/core/src/health-check/inputs.js';
import { createProbe, PROBE_KINDS } from '../../actions/core/src/probes/index.js';
import type { ProbeOptions } from '../../actions/core/src/probes/probe.js';

const options: ProbeOptions = {
  timeoutMs: 1_000,
  expectStatus: [{ min: 200, max: 399 }],
  headers: {},
  followRedirects: true,
  insecure: false,
};

function inputError(make: () => unknown): InputError {
  try {
    make();
  } catch (error) {
    if (error instanceof InputError) return error;
    throw error;
  }
  throw new Error('expected an InputError');
}

describe('createProbe', () => {
  it.each([
    ['http://app.internal/health', 'http'],
    ['https://app.internal/health', 'http'],
    ['tcp://db.internal:5432', 'tcp'],
    ['redis://cache.internal:6379/2', 'redis'],
    ['rediss://cache.internal:6380', 'redis'],
    ['postgres://app@db.internal/shop', 'postgres'],
    ['postgresql://app@db.internal/shop', 'postgres'],
  ])('checks %s with the %s probe', async (url, kind) => {
    const probe = createProbe(new URL(url), options);
    expect(probe.kind).toBe(kind);
    expect(probe.target).toBe(url);
    await probe.close();
  });

  it.each([
    ['https://ops:hunter22@app.internal/health', 'https://ops:***@app.internal/health'],
    ['redis://:hunter22@cache.internal:6379/2', 'redis://:***@cache.internal:6379/2'],
    ['postgres://app:hunter22@db.internal:5432/shop', 'postgres://app:***@db.internal:5432/shop'],
    ['tcp://ops:hunter22@db.internal:5432', 'tcp://ops:***@db.internal:5432'],
  ])('shows %s without its password', (url, shown) => {
    expect(createProbe(new URL(url), options).target).toBe(shown);
  });

  it('rejects a scheme no probe speaks, naming the input and the schemes that work', () => {
    const error = inputError(() => createProbe(new URL('ftp://ops:hunter22@files.internal/x'), options));
    expect(error.input).toBe('targets');
    expect(error.message).toBe(
      'Input "targets": unsupported scheme "ftp:" in ftp://ops:***@files.internal/x; ' +
        'use http(s)://, tcp://host:port, redis:// or postgres://',
    );
  });

  it('asks for the port of a tcp:// target', () => {
    const error = inputError(() => createProbe(new URL('tcp://db.internal'), options));
    expect(error.message).toBe(
      'Input "targets": tcp://db.internal needs a host and a port, e.g. tcp://db.internal:5432',
    );
  });

  it('asks for a database number as the path of a redis:// target', () => {
    const error = inputError(() =>
      createProbe(new URL('redis://:pw-123@cache.internal:6379/sessions'), options),
    );
    expect(error.message).toBe(
      'Input "targets": the path of redis://:***@cache.internal:6379/sessions must be a database number ' +
        '(e.g. redis://cache.internal:6379/2), not "/sessions"',
    );
  });
});

// Adding a probe is adding its file and a line in PROBE_KINDS: nothing else may list the schemes.
describe('PROBE_KINDS', () => {
  it('gives health-check targets its schemes, each checked by the kind that claims it', async () => {
    expect([...TARGET_SCHEMES]).toEqual(PROBE_KINDS.flatMap((kind) => kind.schemes));
    for (const kind of PROBE_KINDS)
      for (const scheme of kind.schemes) {
        const target = new URL(`${scheme}//app.internal:1234/0`);
        const probe = createProbe(target, options);
        const own = kind.create(target, options);
        expect(probe.kind).toBe(own.kind);
        await Promise.all([probe.close(), own.close()]);
      }
  });

  it('offers every kind for a scheme none checks', () => {
    const { message } = inputError(() => createProbe(new URL('ftp://files.internal/x'), options));
    for (const kind of PROBE_KINDS) expect(message).toContain(kind.written);
  });
});

describe('each probe kind owns its inputs', () => {
  it("puts every one of them in health-check's table, as declared", async () => {
    const { PROBE_KINDS } = await import('../../actions/core/src/probes/index.js');
    const { healthCheckInputs } = await import('../../actions/core/src/health-check/inputs.js');
    const owned = PROBE_KINDS.flatMap((kind) => Object.entries(kind.inputs));
    expect(owned.map(([name]) => name)).toEqual([
      'follow-redirects',
      'insecure',
      'max-memory-usage',
      'query',
    ]);
    for (const [name, def] of owned) expect((healthCheckInputs as Record<string, unknown>)[name]).toBe(def);
  });
});
