import { describe, expect, it } from '@jest/globals';
import { describeError, runAttempt } from '../../actions/core/src/probes/probe.js';

const keepSecret = (text: string) => text.replaceAll('hunter22', '***');

describe('runAttempt', () => {
  it('settles at the timeout even when the exchange never does, and tells the exchange to stop', async () => {
    let stopped: AbortSignal | undefined;
    const started = performance.now();
    const result = await runAttempt({ timeoutMs: 50, redact: keepSecret }, ({ signal }) => {
      stopped = signal;
      return new Promise(() => undefined);
    });
    expect(result).toMatchObject({ ok: false, detail: 'timed out after 50 ms' });
    expect(result.latencyMs).toBeGreaterThanOrEqual(49);
    expect(performance.now() - started).toBeLessThan(500);
    expect(stopped?.aborted).toBe(true);
  });

  it('turns an error into an unhealthy result a person can read', async () => {
    const refused = Object.assign(new Error('connect ECONNREFUSED 10.0.0.1:5432'), { code: 'ECONNREFUSED' });
    const result = await runAttempt({ timeoutMs: 1_000, redact: keepSecret }, async () => {
      throw refused;
    });
    expect(result).toMatchObject({ ok: false, detail: 'connection refused' });
  });

  it('keeps secrets out of the detail and the facts', async () => {
    const result = await runAttempt({ timeoutMs: 1_000, redact: keepSecret }, async () => ({
      ok: false,
      detail: 'login hunter22 refused',
      facts: { url: 'https://u:hunter22@x/', status: 401 },
    }));
    expect(result).toMatchObject({
      detail: 'login *** refused',
      facts: { url: 'https://u:***@x/', status: 401 },
    });
  });

  it('does not start when the caller already gave up', async () => {
    const stop = new AbortController();
    stop.abort();
    let ran = false;
    const result = await runAttempt(
      { timeoutMs: 1_000, signal: stop.signal, redact: keepSecret },
      async () => {
        ran = true;
        return { ok: true, detail: 'fine' };
      },
    );
    expect(result).toMatchObject({ ok: false, detail: 'aborted' });
    expect(ran).toBe(false);
  });
});

describe('describeError', () => {
  it('names network failures in plain words', () => {
    const error = (code: string, extra = {}) => Object.assign(new Error(`${code} raw`), { code, ...extra });
    expect(describeError(error('ECONNRESET'))).toBe('connection reset by the server');
    expect(describeError(error('ENOTFOUND', { hostname: 'db.internal' }))).toBe(
      'host not found: db.internal',
    );
    expect(describeError(error('DEPTH_ZERO_SELF_SIGNED_CERT'))).toBe(
      'TLS certificate rejected: DEPTH_ZERO_SELF_SIGNED_CERT raw (insecure: true accepts it)',
    );
  });

  it('reports the first failure when every address of a host failed', () => {
    const both = new AggregateError(
      [Object.assign(new Error('x'), { code: 'ECONNREFUSED' })],
      'connect failed',
    );
    expect(describeError(both)).toBe('connection refused');
  });
});
