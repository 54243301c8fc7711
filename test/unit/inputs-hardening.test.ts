// Hostile and careless input values: each is refused with one error that names the input (or
// the config file) and never echoes a credential.
import { describe, expect, it } from '@jest/globals';
import { readActionInputs } from '../../actions/core/src/action-inputs.js';
import { openStateStore } from '../../actions/core/src/deploy/state/index.js';
import { InputError, UserError, UserErrors } from '../../actions/core/src/errors.js';
import { memoryIO } from '../../actions/core/src/io.js';
import { createProbe } from '../../actions/core/src/probes/index.js';
import { prepareBodyMatcher } from '../../actions/core/src/probes/body-matcher.js';
import type { BodyMatcher } from '../../actions/core/src/probes/probe.js';
import { ACTION_INPUTS, type ActionName } from '../../actions/core/src/registry.js';

function read<A extends ActionName>(action: A, inputs: Record<string, string>) {
  const { io } = memoryIO({ inputs });
  return readActionInputs(io, action, ACTION_INPUTS[action] as (typeof ACTION_INPUTS)[A]);
}

/** The errors `inputs` are refused with. */
function refusal(action: ActionName, inputs: Record<string, string>): UserError[] {
  try {
    read(action, inputs);
  } catch (error) {
    if (error instanceof UserErrors) return error.errors;
    if (error instanceof UserError) return [error];
    throw error;
  }
  throw new Error('expected the inputs to be refused');
}

function thrown(body: () => unknown): unknown {
  try {
    body();
  } catch (error) {
    return error;
  }
  throw new Error('expected an error');
}

const PROBE_OPTIONS = {
  timeoutMs: 100,
  expectStatus: [],
  headers: {},
  followRedirects: true,
  insecure: false,
};

describe('headers', () => {
  it('names the input and the line of a header without a colon, and never echoes it', () => {
    const [error] = refusal('health-check', {
      targets: 'http://127.0.0.1/',
      headers: 'X-Env: prod\nAuthorization Bearer abc123secret',
    });
    expect(error).toBeInstanceOf(InputError);
    expect((error as InputError).input).toBe('headers');
    expect(error?.message).toContain('line 2');
    expect(error?.message).toContain('Name: value');
    const said = error?.message.split('Example:')[0];
    expect(said).not.toContain('abc123secret');
    expect(said).not.toContain('Bearer');
  });
});

describe('required lists', () => {
  it('refuses targets that hold only comments and blank lines (issue 8, defect 8)', async () => {
    const { runWithInputs } = await import('../../actions/core/src/action.js');
    const { run } = await import('../../actions/health-check/src/main.js');
    const recorded = await runWithInputs(run, { targets: '# http://a/\n\n   \n# later' });
    expect(recorded.exitCode).toBe(1);
    const errors = recorded.log.filter((line) => line.startsWith('::error'));
    expect(errors).toHaveLength(1);
    expect(errors[0]).toContain('Input "targets": lists nothing to probe');
    expect(recorded.outputs.healthy).toBe('false');
  });

  it('refuses a required list that is empty after comments', async () => {
    const { list } = await import('../../actions/core/src/inputs.js');
    const table = {
      things: list('Things, one per line.', undefined, { required: true, example: 'a-thing' }),
    };
    const { io } = memoryIO({ inputs: { things: '# nothing yet\n' } });
    const error = thrown(() => readActionInputs(io, 'health-check', table));
    const errors = error instanceof UserErrors ? error.errors : [error];
    expect(errors.some((e) => e instanceof InputError && e.input === 'things')).toBe(true);
  });
});

describe('percent-escapes in URL credentials', () => {
  it('a redis probe made from such a URL names targets, without the password', () => {
    const error = thrown(() => createProbe(new URL('redis://:Bad%zz9@127.0.0.1:6379'), PROBE_OPTIONS));
    expect(error).toBeInstanceOf(InputError);
    expect((error as InputError).input).toBe('targets');
    expect((error as Error).message).toContain('%25');
    expect((error as Error).message).not.toContain('Bad');
  });

  it('and so for a malformed escape in its user name', () => {
    const url = new URL('redis://us%zzer:pw@127.0.0.1:6379');
    expect((thrown(() => createProbe(url, PROBE_OPTIONS)) as InputError).input).toBe('targets');
  });

  it.each([
    ['health-check', 'targets', 'redis://:Bad%zz9@127.0.0.1:6379'],
    ['health-check', 'targets', 'https://user:Bad%zz9@127.0.0.1/health'],
    ['backup', 'sources', 'redis://:Bad%zz9@127.0.0.1:6379/0'],
    ['backup', 'sources', 'rediss://us%zzer:pw@127.0.0.1:6379/0'],
  ] as [ActionName, string, string][])(
    'refuses a malformed escape in %s %s before anything runs',
    (action, input, url) => {
      const errors = refusal(action, { targets: 'http://127.0.0.1/', [input]: url });
      expect(errors).toHaveLength(1);
      expect((errors[0] as InputError).input).toBe(input);
      expect(errors[0]?.message).toContain('%25');
      expect(errors[0]?.message).not.toContain('Bad');
    },
  );

  it('keeps a stray % in a postgres password as written, as pg reads it', () => {
    expect(read('health-check', { targets: 'postgres://app:50%off@db/shop' }).targets).toHaveLength(1);
  });

  it('names state for a redis state store with a malformed escape, without the password', () => {
    for (const spec of ['redis://:Bad%zz9@127.0.0.1:6379/0', 'redis://127.0.0.1:6379/0/pre%zzfix']) {
      const error = thrown(() => openStateStore(spec));
      expect(error).toBeInstanceOf(InputError);
      expect((error as InputError).input).toBe('state');
      expect((error as Error).message).not.toContain('Bad');
    }
  });
});

describe('secrets in comma-separated lists', () => {
  it('masks a secret in a URL that shares its line with other entries', () => {
    const { io, recorded } = memoryIO({
      inputs: { blue: 'http://127.0.0.1:1/?token=tok-c0mma,10.0.0.1:80' },
    });
    expect(() => readActionInputs(io, 'deploy', ACTION_INPUTS.deploy)).toThrow(InputError);
    io.info('blue: http://127.0.0.1:1/?token=tok-c0mma');
    expect(recorded.log).toEqual(['blue: http://127.0.0.1:1/?token=***']);
  });
});

describe('health-path', () => {
  it.each([
    ['health', 'start with /'],
    ['@127.0.0.1:19006/x', 'start with /'],
    ['/x@127.0.0.1:19006/y', '@'],
    ['//127.0.0.1:19006/x', '//'],
    ['http://127.0.0.1:19006/x', 'start with /'],
    ['/a b', 'space'],
    ['/a\tb', 'space'],
    ['/a\\b', '\\'],
    ['/ok#frag', '#'],
  ])('refuses %j', (path, why) => {
    const errors = refusal('deploy', { 'health-path': path });
    expect(errors).toHaveLength(1);
    expect((errors[0] as InputError).input).toBe('health-path');
    expect(errors[0]?.message).toContain(why);
    expect(errors[0]?.message).toContain('health-path: /health');
  });

  it.each(['/', '/health', '/health?deep=1&x=%20y', '/a:b/c'])('takes %j', (path) => {
    expect(read('deploy', { 'health-path': path })['health-path']).toBe(path);
  });
});

describe('expect-body', () => {
  it.each([
    ['/(a)\\1/', 'backreference'],
    ['/a(?=b)/', 'lookahead'],
    ['/a(?!b)/', 'lookahead'],
  ])('refuses %s, which the linear-time engine lacks', (pattern, feature) => {
    const [error] = refusal('health-check', { targets: 'http://127.0.0.1/', 'expect-body': pattern });
    expect((error as InputError).input).toBe('expect-body');
    expect(error?.message).toContain(feature);
    expect(error?.message).toContain('RE2');
  });

  it('refuses a flag that means nothing for one match', () => {
    const [error] = refusal('health-check', { targets: 'http://127.0.0.1/', 'expect-body': '/ok/y' });
    expect(error?.message).toContain('flag "y"');
  });

  it('matches with the flags given, named groups and lookbehind (linear in RE2 too)', async () => {
    const test = async (pattern: string, text: string) => {
      const matcher = read('health-check', { targets: 'http://127.0.0.1/', 'expect-body': pattern })[
        'expect-body'
      ];
      return (await prepareBodyMatcher(matcher as BodyMatcher))(text);
    };
    expect(await test('/^ok$/im', 'status\nOK\n')).toBe(true);
    expect(await test('/(?<s>up)/', 'is up')).toBe(true);
    expect(await test('/(?<!not )ready/', 'not ready')).toBe(false);
    expect(await test('/(?<!not )ready/', 'is ready')).toBe(true);
  });

  it('refuses, when prepared, a pattern RE2 cannot parse, naming expect-body', async () => {
    const matcher = read('health-check', { targets: 'http://127.0.0.1/', 'expect-body': '/a{1001}/' })[
      'expect-body'
    ];
    await expect(prepareBodyMatcher(matcher as BodyMatcher)).rejects.toThrow(
      /^Input "expect-body": \/a\{1001\}\/ is not a valid regular expression for RE2 \(invalid repeat count/,
    );
  });
});

describe('a malformed escape in a backup Redis source path', () => {
  it('is an input error naming sources, never "Unexpected error"', async () => {
    const { mkdtempSync, rmSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const { runWithInputs } = await import('../../actions/core/src/action.js');
    const { run } = await import('../../actions/backup/src/main.js');
    const dir = mkdtempSync(join(tmpdir(), 'switchyard-escape-'));
    try {
      const recorded = await runWithInputs(run, {
        command: 'backup',
        sources: 'redis://127.0.0.1:1/%zz',
        store: `local:${dir}`,
      });
      expect(recorded.exitCode).toBe(1);
      const errors = recorded.log.filter((line) => line.startsWith('::error'));
      expect(errors).toHaveLength(1);
      expect(errors[0]).toContain('sources');
      expect(errors[0]).not.toContain('Unexpected error');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('a URL typed into an input that takes none', () => {
  it('is refused without echoing the token of its query, even when the whole line parses as one URL', () => {
    const { io } = memoryIO({ inputs: { timeout: 'http://127.0.0.1:1/?token=Hunter2Mark, 5%' } });
    let message = '';
    try {
      readActionInputs(io, 'health-check', ACTION_INPUTS['health-check']);
    } catch (error) {
      message = io.secrets.redact((error as Error).message);
    }
    expect(message).toContain('Input "timeout"');
    expect(message).not.toContain('Hunter2Mark');
  });
});
