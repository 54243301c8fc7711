import { afterEach, beforeEach, describe, expect, it, jest } from '@jest/globals';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { githubIO, memoryIO } from '../../actions/core/src/io.js';
import { redactUrl, Secrets } from '../../actions/core/src/mask.js';

describe('redactUrl', () => {
  it('blanks the password and keeps what helps debugging', () => {
    expect(redactUrl('postgres://app:s3cr3t@db.internal:5432/shop')).toBe(
      'postgres://app:***@db.internal:5432/shop',
    );
    expect(redactUrl('redis://:pa55word@127.0.0.1:6379/2')).toBe('redis://:***@127.0.0.1:6379/2');
  });
  it('blanks secret-looking query parameters', () => {
    const redacted = redactUrl('https://api.example.com/health?token=abc123&region=eu&password=x9y');
    expect(redacted).not.toContain('abc123');
    expect(redacted).not.toContain('x9y');
    expect(redacted).toContain('region=eu');
  });
  it('blanks passwords even in text that is not a URL', () => {
    expect(redactUrl('postgres://app:s3cr3t@db:port-is-bad/x')).not.toContain('s3cr3t');
  });
});

describe('Secrets', () => {
  it('masks each header value given in the headers input', async () => {
    const { readActionInputs } = await import('../../actions/core/src/action-inputs.js');
    const { healthCheckInputs } = await import('../../actions/core/src/health-check/inputs.js');
    const { io, recorded } = memoryIO({
      inputs: { targets: 'http://x/', headers: 'Authorization: Bearer tok-abcdef\nX-Api-Key: key-123456' },
    });
    readActionInputs(io, 'health-check', healthCheckInputs);
    io.info('sent Bearer tok-abcdef and key-123456');
    expect(recorded.log[0]).toBe('sent *** and ***');
  });

  it('redacts registered values and URL passwords in free text', () => {
    const secrets = new Secrets();
    secrets.addFromUrl('postgres://app:s3cr3t@db/shop');
    secrets.add('Bearer tok-123456');
    const text = secrets.redact('auth failed for s3cr3t; header Bearer tok-123456; also redis://u:other@h/0');
    expect(text).not.toMatch(/s3cr3t|tok-123456|other/);
  });

  it('blanks a known password holding @ whole, even inside a URL', () => {
    const secrets = new Secrets();
    secrets.add('p@ss-word');
    expect(secrets.redact('could not connect to postgres://app:p@ss-word@db/x')).toBe(
      'could not connect to postgres://app:***@db/x',
    );
  });

  it('guards every channel of an action', async () => {
    const { io, recorded } = memoryIO({});
    io.secrets.add('hunter22');
    io.info('connecting with hunter22');
    io.error('failed: hunter22');
    io.setOutput('report', '{"password":"hunter22"}');
    await io.summary('| hunter22 |');
    expect(JSON.stringify(recorded)).not.toContain('hunter22');
  });
});

describe('Secrets tell the runner (core.setSecret) what to mask', () => {
  it('reports each new value once, a multi-line one line by line', () => {
    const told: string[] = [];
    const secrets = new Secrets((value) => told.push(value));
    secrets.add('-----BEGIN KEY-----\r\nline-one-abc\nline-two-def\n-----END KEY-----');
    secrets.add('line-one-abc');
    secrets.add('ab');
    expect(told).toEqual(
      expect.arrayContaining(['-----BEGIN KEY-----', 'line-one-abc', 'line-two-def', '-----END KEY-----']),
    );
    expect(told.every((value) => !/[\r\n]/.test(value))).toBe(true);
    expect(told.filter((value) => value === 'line-one-abc')).toHaveLength(1);
    expect(told).not.toContain('ab');
    // The line on its own is masked by us as well, as the runner would.
    expect(secrets.redact('got line-two-def back')).toBe('got *** back');
  });

  describe('githubIO', () => {
    let stdout: string;
    let dir: string;
    const saved = { ...process.env };
    beforeEach(() => {
      stdout = '';
      dir = mkdtempSync(join(tmpdir(), 'switchyard-mask-'));
      jest.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
        stdout += String(chunk);
        return true;
      });
    });
    afterEach(() => {
      jest.restoreAllMocks();
      process.env = { ...saved };
      rmSync(dir, { recursive: true, force: true });
    });

    /** The values of the `::add-mask::` commands, unescaped as the runner does. */
    const masks = () =>
      stdout
        .split('\n')
        .filter((line) => line.startsWith('::add-mask::'))
        .map((line) =>
          line
            .slice('::add-mask::'.length)
            .replaceAll('%0D', '\r')
            .replaceAll('%0A', '\n')
            .replaceAll('%25', '%'),
        );
    /** Everything else the step printed. */
    const rest = () =>
      stdout
        .split('\n')
        .filter((line) => !line.startsWith('::add-mask::'))
        .join('\n');

    it('registers passwords, tokens and credential headers from inputs, switchyard.yml and ${VAR} before anything is logged', async () => {
      const { readActionInputs } = await import('../../actions/core/src/action-inputs.js');
      const { deployInputs } = await import('../../actions/core/src/deploy/inputs.js');
      const config = join(dir, 'switchyard.yml');
      writeFileSync(
        config,
        [
          'deploy:',
          '  headers: |',
          '    X-Api-Key: ${API_KEY}',
          '    X-Plain: visible-value',
          '  state: redis://:yml-Pa55@127.0.0.1:6379/0',
        ].join('\n') + '\n',
      );
      // githubIO reads inputs as the runner passes them: INPUT_<NAME> variables of this process.
      process.env['INPUT_CONFIG'] = config;
      process.env['INPUT_GITHUB-TOKEN'] = 'ghs_input-token-123';
      process.env['INPUT_TARGETS'] = 'https://probe:url-pa55@127.0.0.1:1/health';
      const io = githubIO({ API_KEY: 'key-from-env-456' });
      readActionInputs(io, 'deploy', deployInputs);
      const secrets = ['ghs_input-token-123', 'url-pa55', 'key-from-env-456', 'yml-Pa55'];
      expect(masks()).toEqual(expect.arrayContaining(secrets));
      expect(masks()).not.toContain('visible-value');
      // Registered before the first message: nothing printed precedes the masks.
      expect(stdout.indexOf('::add-mask::')).toBe(0);
      io.info(`connecting with ${secrets.join(' ')}`);
      io.error(`failed: ${secrets.join(', ')}`);
      for (const secret of secrets) expect(rest()).not.toContain(secret);
      expect(rest()).toContain('connecting with *** *** *** ***');
    });

    it('a multi-line secret is registered line by line, and no line of it is printed in clear', () => {
      const io = githubIO({});
      io.secrets.add('first-line-abc\nsecond-line-def');
      io.info('key:\nfirst-line-abc\nsecond-line-def\nend');
      expect(masks()).toEqual(expect.arrayContaining(['first-line-abc', 'second-line-def']));
      expect(rest()).not.toMatch(/first-line-abc|second-line-def/);
    });
  });
});
