import { describe, expect, it } from '@jest/globals';
import { colorOf, judgeSamples, tolerance, verifyThroughUrl } from '../../actions/core/src/routers/verify.js';

const counts = (
  green: number,
  blue: number,
  extra: { unnamed?: number; errors?: Record<string, number> } = {},
) => {
  const unnamed = extra.unnamed ?? 0;
  const errors = extra.errors ?? {};
  const failed = Object.values(errors).reduce((a, b) => a + b, 0);
  return { samples: green + blue + unnamed + failed, green, blue, unnamed, errors };
};

describe('colorOf', () => {
  it('takes the header first, then a body that names exactly one colour', () => {
    expect(colorOf('Green', 'blue v1')).toBe('green');
    expect(colorOf(undefined, 'blue v1\n')).toBe('blue');
    expect(colorOf(undefined, '{"color":"green","version":"v2"}')).toBe('green');
    expect(colorOf(undefined, 'blue-green deploys: green')).toBeUndefined();
    expect(colorOf(undefined, 'ok')).toBeUndefined();
    expect(colorOf(['blue', 'green'], '')).toBe('blue');
  });
});

describe('tolerance', () => {
  it('is exact at 0 and 100 and at least 10 points, three standard deviations, in between', () => {
    expect(tolerance(0, 100)).toBe(0);
    expect(tolerance(100, 100)).toBe(0);
    expect(tolerance(10, 100)).toBe(10);
    expect(tolerance(50, 100)).toBe(15);
    expect(tolerance(50, 40)).toBe(24);
    expect(tolerance(50, 1000)).toBe(10);
  });
});

describe('judgeSamples', () => {
  const url = 'http://user:s3cret@127.0.0.1:8080/whoami';

  it('passes a share within the tolerance and says what it saw, without the password', () => {
    expect(judgeSamples({ blue: 75, green: 25 }, counts(31, 69), url)).toEqual({
      ok: true,
      detail:
        '100 samples through http://user:***@127.0.0.1:8080/whoami: 31 green (31%), 69 blue (expected green 25% ± 13 points)',
      measuredGreen: 31,
    });
    expect(judgeSamples({ blue: 75, green: 25 }, counts(50, 50), url).ok).toBe(false);
  });

  it('wants no request at all on a colour at 0', () => {
    expect(judgeSamples({ blue: 100, green: 0 }, counts(1, 99), url)).toMatchObject({
      ok: false,
      measuredGreen: 1,
    });
    expect(judgeSamples({ blue: 0, green: 100 }, counts(100, 0), url).ok).toBe(true);
  });

  it('fails when the answers name no colour, or too few do', () => {
    expect(judgeSamples({ blue: 100, green: 0 }, counts(0, 0, { unnamed: 100 }), url)).toEqual({
      ok: false,
      detail:
        '100 samples through http://user:***@127.0.0.1:8080/whoami: 0 green, 0 blue, 100 naming no colour: no answer ' +
        'named its colour (expected an x-switchyard-color header, or "blue" or "green" in the body)',
    });
    const mostlyRefused = judgeSamples(
      { blue: 100, green: 0 },
      counts(0, 10, { errors: { ECONNREFUSED: 90 } }),
      url,
    );
    expect(mostlyRefused.ok).toBe(false);
    expect(mostlyRefused.detail).toContain(
      '0 green (0%), 10 blue, 90 failed (ECONNREFUSED): fewer than half',
    );
  });
});

describe('verification that cannot pass stops early (issue 8 review)', () => {
  it('stops at the first wrong colour when the weights are 0/100, and within its budget otherwise', async () => {
    const { createServer } = await import('node:http');
    let served = 0;
    // Answers green, slowly: a colour that should get nothing.
    const server = createServer((_req, res) => {
      served++;
      setTimeout(() => res.writeHead(200, { 'x-switchyard-color': 'green' }).end('green'), 20);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as { port: number };
    try {
      const url = `http://127.0.0.1:${port}/`;
      const exact = await verifyThroughUrl(url, { blue: 100, green: 0 }, { samples: 100, concurrency: 2 });
      expect(exact.ok).toBe(false);
      expect(served).toBeLessThanOrEqual(4);
      served = 0;
      const started = performance.now();
      const budgeted = await verifyThroughUrl(
        url,
        { blue: 50, green: 50 },
        { samples: 1000, concurrency: 1, budgetMs: 300 },
      );
      expect(performance.now() - started).toBeLessThan(1500);
      expect(served).toBeLessThan(1000);
      expect(budgeted.detail).toMatch(/^\d+ samples through/);
    } finally {
      server.close();
    }
  });
});

describe('a share with no answer from its colour', () => {
  it('fails, however wide the tolerance (10% with 0 green answers of 90)', () => {
    const verdict = judgeSamples(
      { blue: 90, green: 10 },
      { samples: 100, blue: 90, green: 0, unnamed: 10, errors: {} },
      'http://router/',
    );
    expect(verdict.ok).toBe(false);
    expect(verdict.detail).toMatch(/no answer came from green, which should have 10%/);
  });
});
