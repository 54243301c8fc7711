import { describe, expect, it } from '@jest/globals';
import { memoryIO } from '../../actions/core/src/io.js';
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
