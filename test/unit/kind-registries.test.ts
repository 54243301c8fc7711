// Each family of kinds (routers, probes, backup sources) has one registry array; what the inputs
// accept, what the factories build and what the messages offer must all come from it, so adding a
// kind is adding its file and one line.
import { describe, expect, it } from '@jest/globals';
import type { z } from 'zod';
import { parseSourceSpec } from '../../actions/core/src/backup/inputs.js';
import { parseManifest, serializeManifest, type Manifest } from '../../actions/core/src/backup/manifest.js';
import { splitPatterns } from '../../actions/core/src/backup/patterns.js';
import { SOURCE_KINDS } from '../../actions/core/src/backup/sources/index.js';
import { systemClock } from '../../actions/core/src/clock.js';
import { deployInputs } from '../../actions/core/src/deploy/inputs.js';
import { UserError, UserErrors } from '../../actions/core/src/errors.js';
import { TARGET_SCHEMES } from '../../actions/core/src/health-check/inputs.js';
import { createProbe, PROBE_KINDS, type ProbeOptions } from '../../actions/core/src/probes/index.js';
import { systemRunner } from '../../actions/core/src/process.js';
import { createRouter, ROUTER_KINDS } from '../../actions/core/src/routers/index.js';
import type { RouterOptions } from '../../actions/core/src/routers/router.js';

function messages(run: () => unknown): string[] {
  try {
    run();
  } catch (error) {
    if (error instanceof UserErrors) return error.errors.map((each) => each.message);
    if (error instanceof UserError) return [error.message];
    throw error;
  }
  return [];
}

describe('ROUTER_KINDS', () => {
  const bare: RouterOptions = {
    blue: [],
    green: [],
    nginx: { upstreamName: 'switchyard', testCommand: [], reloadCommand: [] },
    haproxy: {},
    runner: systemRunner,
    clock: systemClock,
    log: () => undefined,
  };

  it('is what the router input accepts, in its order', () => {
    const names = ROUTER_KINDS.map((each) => each.kind);
    expect((deployInputs.router.file as z.ZodEnum).options).toEqual(names);
    expect(deployInputs.router.example).toBe(names[0]);
    for (const name of names) expect(deployInputs.router.parse.safeParse(name).success).toBe(true);
    expect(deployInputs.router.parse.safeParse('traefik').success).toBe(false);
  });

  it("reports exactly each kind's own checks, and offers every kind for an unknown one", () => {
    for (const kind of ROUTER_KINDS) {
      const own = kind.check(bare).map((each) => each.message);
      expect(own.length).toBeGreaterThan(0);
      expect(messages(() => createRouter(kind.kind, bare))).toEqual(own);
    }
    const [unknown] = messages(() => createRouter('traefik' as never, bare));
    for (const kind of ROUTER_KINDS) expect(unknown).toContain(kind.kind);
  });
});

describe('PROBE_KINDS', () => {
  const options: ProbeOptions = {
    timeoutMs: 1_000,
    expectStatus: [{ min: 200, max: 399 }],
    headers: {},
    followRedirects: true,
    insecure: false,
  };

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
    const [refusal] = messages(() => createProbe(new URL('ftp://files.internal/x'), options));
    for (const kind of PROBE_KINDS) expect(refusal).toContain(kind.written);
  });
});

describe('SOURCE_KINDS', () => {
  it('reads each sources line by the kind its scheme names, and offers every kind otherwise', () => {
    for (const kind of SOURCE_KINDS)
      for (const scheme of kind.schemes)
        expect(parseSourceSpec(`${scheme}//db.internal:1234/0`)).toMatchObject({ kind: kind.kind });
    const refusal = parseSourceSpec('mysql://db.internal/shop');
    for (const kind of SOURCE_KINDS) expect(refusal).toContain(kind.written);
  });

  it('splits include and exclude between every kind, by its own pattern syntax', () => {
    const kinds = SOURCE_KINDS.map((kind) => kind.kind);
    expect(Object.keys(splitPatterns({}, kinds)).sort()).toEqual([...kinds].sort());
    for (const kind of SOURCE_KINDS) expect(kind.patterns.kind).toBe(kind.kind);
  });

  it('is the kinds a manifest part may have', () => {
    const part = (kind: string) => ({
      name: `x${kind}`,
      kind,
      source: 'x',
      include: [],
      exclude: [],
      bytes: 0,
      sha256: '0'.repeat(64),
      rawBytes: 0,
      records: {},
      facts: {},
      seconds: 0,
    });
    const manifest = (kinds: string[]) =>
      serializeManifest({
        format: 'switchyard-backup/1',
        id: 'b1',
        createdAt: '2026-01-01T00:00:00Z',
        finishedAt: '2026-01-01T00:00:01Z',
        switchyard: '0',
        git: {},
        compression: 'none',
        sizeBytes: 0,
        parts: kinds.map(part),
      } as Manifest);
    const kinds = SOURCE_KINDS.map((kind) => kind.kind);
    expect(parseManifest(manifest(kinds), 'b1', 'store').parts.map((each) => each.kind)).toEqual(kinds);
    expect(() => parseManifest(manifest(['mysql']), 'b1', 'store')).toThrow(UserError);
  });
});
