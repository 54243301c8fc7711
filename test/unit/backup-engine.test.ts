// The backup engine's own parts: the inputs, compression streams, the manifest, and what prune
// keeps — with the local store on a temp dir and file sources (the database sources and the
// action end to end are tested under test/integration and test/e2e).
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { pipeline } from 'node:stream/promises';
import { afterAll, describe, expect, it } from '@jest/globals';
import { readActionInputs } from '../../actions/core/src/action-inputs.js';
import { compressor, decompressor, type Compression } from '../../actions/core/src/backup/compression.js';
import { runBackupCommand, type BackupOutcome } from '../../actions/core/src/backup/engine.js';
import { backupInputs, parseSourceSpec, parseStoreSpec } from '../../actions/core/src/backup/inputs.js';
import { parseManifest, serializeManifest, type Manifest } from '../../actions/core/src/backup/manifest.js';
import { splitPatterns } from '../../actions/core/src/backup/patterns.js';
import { SOURCE_KINDS } from '../../actions/core/src/backup/sources/index.js';
import { InputError, UserError } from '../../actions/core/src/errors.js';
import { memoryIO } from '../../actions/core/src/io.js';
import { systemRunner } from '../../actions/core/src/process.js';
import { systemClock } from '../../actions/core/src/clock.js';

const dirs: string[] = [];
afterAll(() => dirs.forEach((dir) => rmSync(dir, { recursive: true, force: true })));

function tempDir(): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'switchyard-backup-engine-'));
  dirs.push(dir);
  return dir;
}

describe('sources and store inputs', () => {
  it('reads each kind of source line', () => {
    expect(parseSourceSpec('postgres://app:pw@db:5432/shop')).toMatchObject({ kind: 'postgres' });
    expect(parseSourceSpec('postgresql://db/shop')).toMatchObject({ kind: 'postgres' });
    expect(parseSourceSpec('redis://cache:6379/3')).toMatchObject({ kind: 'redis' });
    expect(parseSourceSpec('rediss://cache:6380/0')).toMatchObject({ kind: 'redis' });
    expect(parseSourceSpec('file:uploads/**')).toEqual({
      kind: 'file',
      path: 'uploads/**',
      raw: 'file:uploads/**',
    });
    expect(parseSourceSpec('file:///srv/app')).toMatchObject({ kind: 'file', path: '/srv/app' });
  });

  it('names the kinds it takes when the scheme is unknown, without the password', () => {
    const message = parseSourceSpec('mysql://root:hunter2@db/shop');
    expect(message).toContain('unsupported scheme "mysql:"');
    expect(message).toContain('postgres://…, redis://… or file:PATH-OR-GLOB');
    expect(message).not.toContain('hunter2');
    expect(parseSourceSpec('uploads/')).toContain('neither a URL nor a file: entry');
    expect(parseSourceSpec('file:')).toContain('names no path');
  });

  it('reads the three stores', () => {
    expect(parseStoreSpec('local:/var/backups')).toEqual({ kind: 'local', dir: '/var/backups' });
    expect(parseStoreSpec('actions-cache')).toEqual({ kind: 'actions-cache' });
    expect(parseStoreSpec('artifact')).toEqual({ kind: 'artifact' });
    expect(parseStoreSpec('s3://bucket')).toContain('use local:DIR, actions-cache or artifact');
    expect(parseStoreSpec('local:')).toContain('needs a directory');
  });

  it('refuses retention 0 and an unknown compression, each naming its input', () => {
    const { io } = memoryIO({ inputs: { retention: '0', compression: 'xz' } });
    let caught: unknown;
    try {
      readActionInputs(io, 'backup', backupInputs);
    } catch (error) {
      caught = error;
    }
    expect(String((caught as Error).message)).toMatch(
      /Input "retention": "0" is not valid: must be at least 1/,
    );
    expect(String((caught as Error).message)).toMatch(
      /Input "compression": "xz" is not valid: expected one of: gzip, zstd, none/,
    );
  });
});

describe('compression streams', () => {
  const data = Buffer.concat(
    Array.from({ length: 2000 }, (_, i) => Buffer.from(`line ${i} ${'x'.repeat(i % 97)}\n`)),
  );

  it.each<Compression>(['gzip', 'zstd', 'none'])('%s round-trips a stream byte for byte', async (kind) => {
    const packed = await buffer(Readable.from([data]).pipe(compressor(kind)));
    if (kind !== 'none') expect(packed.length).toBeLessThan(data.length / 3);
    const unpacked = await buffer(Readable.from([packed]).pipe(decompressor(kind)));
    expect(unpacked.equals(data)).toBe(true);
  });

  it.each<Compression>(['gzip', 'zstd'])(
    '%s fails on damaged input instead of ending early',
    async (kind) => {
      const packed = await buffer(Readable.from([data]).pipe(compressor(kind)));
      const damaged = Buffer.from(packed);
      const middle = Math.floor(damaged.length / 2);
      damaged[middle] = (damaged[middle] as number) ^ 0xff;
      await expect(
        pipeline(Readable.from([damaged]), decompressor(kind), new PassThrough().resume()),
      ).rejects.toThrow();
    },
  );
});

describe('manifests', () => {
  it('refuses a manifest that is not ours, naming the backup and what to do', () => {
    expect(() => parseManifest('{"format":"other"}', 'b1', 'local:/x')).toThrow(UserError);
    expect(() => parseManifest('not json', 'b1', 'local:/x')).toThrow(
      /manifest of backup b1 in local:\/x cannot be used: it is not JSON/,
    );
  });
});

describe('the engine with file sources and the local store', () => {
  async function run(cwd: string, inputs: Record<string, string>): Promise<BackupOutcome> {
    const { io } = memoryIO({ inputs });
    const values = readActionInputs(io, 'backup', backupInputs);
    return runBackupCommand(values, { io, clock: systemClock, runner: systemRunner, cwd });
  }

  function project(): string {
    const cwd = tempDir();
    mkdirSync(path.join(cwd, 'data'));
    writeFileSync(path.join(cwd, 'data', 'a.txt'), 'hello');
    return cwd;
  }

  it('writes parts then the manifest, whose sha256 is the output', async () => {
    const cwd = project();
    const outcome = await run(cwd, { sources: 'file:data', store: 'local:store' });
    const folder = path.join(cwd, 'store', outcome.id as string);
    const manifestText = readFileSync(path.join(folder, 'manifest.json'), 'utf8');
    expect(outcome.sha256).toBe(createHash('sha256').update(manifestText).digest('hex'));
    const manifest = parseManifest(manifestText, outcome.id as string, 'test');
    const part = manifest.parts[0];
    expect(part?.name).toBe('file-data.tar.gz');
    const stored = readFileSync(path.join(folder, 'file-data.tar.gz'));
    expect(part?.sha256).toBe(createHash('sha256').update(stored).digest('hex'));
    expect(part?.bytes).toBe(stored.length);
    expect(part?.records).toMatchObject({ files: 1, directories: 1 });
  });

  it('leaves no parts and no manifest behind when a source fails', async () => {
    const cwd = project();
    await expect(run(cwd, { sources: 'file:data\nfile:missing', store: 'local:store' })).rejects.toThrow(
      /no manifest was written/,
    );
    expect(readdirSync(path.join(cwd, 'store')).filter((name) => !name.startsWith('.'))).toEqual([]);
    const listed = await run(cwd, { command: 'list', store: 'local:store' });
    expect(listed.backups).toEqual([]);
  });

  it('prune keeps the newest `retention` and the newest verified backup', async () => {
    const cwd = project();
    const ids: string[] = [];
    for (let i = 0; i < 4; i++)
      ids.push((await run(cwd, { sources: 'file:data', store: 'local:store', id: `b${i}` })).id as string);
    await run(cwd, { command: 'verify', store: 'local:store', id: 'b1' });
    const pruned = await run(cwd, { command: 'prune', store: 'local:store', retention: '2' });
    expect(pruned.pruned).toEqual(['b0']);
    expect(pruned.backups?.map((backup) => backup.id)).toEqual(['b3', 'b2', 'b1']);
  });

  it('refuses prune without retention, naming the input', async () => {
    const cwd = project();
    await expect(run(cwd, { command: 'prune', store: 'local:store' })).rejects.toThrow(InputError);
  });
});

describe('the backup engine stands apart from deploy', () => {
  it('imports nothing from actions/core/src/deploy (the Redis source owns the deploy state pattern)', () => {
    const root = path.join(process.cwd(), 'actions', 'core', 'src', 'backup');
    const files = readdirSync(root, { recursive: true, encoding: 'utf8' }).filter((name) =>
      name.endsWith('.ts'),
    );
    expect(files.length).toBeGreaterThan(10);
    for (const name of files)
      expect({
        name,
        imports: readFileSync(path.join(root, name), 'utf8').match(/from '[^']*deploy\/[^']*'/g),
      }).toEqual({
        name,
        imports: null,
      });
  });
});

describe('include and exclude, split between the kinds of source', () => {
  const split = (include: string[], exclude: string[], kinds: ('postgres' | 'redis' | 'file')[]) =>
    splitPatterns({ include, exclude }, kinds);

  it('gives each entry to the kind it fits, by prefix or by shape', () => {
    expect(
      split(['public.orders', 'session:*', 'file:*.log'], ['redis:cache*'], ['postgres', 'redis', 'file']),
    ).toEqual({
      postgres: { include: ['public.orders'], exclude: [] },
      redis: { include: ['session:*'], exclude: ['cache*', 'switchyard:*'] },
      file: { include: ['*.log'], exclude: [] },
    });
    // One kind of source: any entry it can take is its own.
    expect(split(['audit_*'], ['tmp'], ['postgres']).postgres).toEqual({
      include: ['audit_*'],
      exclude: ['tmp'],
    });
    expect(split(['cache*'], [], ['redis']).redis).toEqual({
      include: ['cache*'],
      exclude: ['switchyard:*'],
    });
    expect(split(['uploads/**'], [], ['file', 'redis']).file.include).toEqual(['uploads/**']);
  });

  it('refuses an entry no source can use, or one that could be either of two, naming the input', () => {
    const refusal = (run: () => unknown) => {
      try {
        run();
      } catch (error) {
        expect(error).toBeInstanceOf(InputError);
        return (error as Error).message;
      }
      throw new Error('not refused');
    };
    expect(refusal(() => split(['session:*'], [], ['postgres']))).toBe(
      'Input "include": "session:*" fits no source of this backup: it is not a PostgreSQL table pattern',
    );
    expect(refusal(() => split([], ['*.jpg'], ['file', 'redis']))).toBe(
      'Input "exclude": "*.jpg" could be a Redis key pattern or a file glob; write redis:*.jpg or file:*.jpg',
    );
    expect(refusal(() => split(['redis:'], [], ['redis']))).toBe(
      'Input "include": "redis:" names no pattern; write redis:PATTERN',
    );
  });
});

// Adding a kind of source is adding its file and a line in SOURCE_KINDS: nothing else may list them.
describe('SOURCE_KINDS', () => {
  const kinds = SOURCE_KINDS.map((kind) => kind.kind);

  it('reads each sources line by the kind its scheme names, and offers every kind otherwise', () => {
    for (const kind of SOURCE_KINDS)
      for (const scheme of kind.schemes)
        expect(parseSourceSpec(`${scheme}//db.internal:1234/0`)).toMatchObject({ kind: kind.kind });
    const refusal = parseSourceSpec('mysql://db.internal/shop');
    for (const kind of SOURCE_KINDS) expect(refusal).toContain(kind.written);
  });

  it('splits include and exclude between every kind, by its own pattern syntax', () => {
    expect(Object.keys(splitPatterns({}, kinds)).sort()).toEqual([...kinds].sort());
    for (const kind of SOURCE_KINDS) expect(kind.patterns.kind).toBe(kind.kind);
  });

  it('is the kinds a manifest part may have', () => {
    const manifest = (partKinds: string[]) =>
      serializeManifest({
        format: 'switchyard-backup/1',
        id: 'b1',
        createdAt: '2026-01-01T00:00:00Z',
        finishedAt: '2026-01-01T00:00:01Z',
        switchyard: '0',
        git: {},
        compression: 'none',
        sizeBytes: 0,
        parts: partKinds.map((kind) => ({
          name: `part-${kind}`,
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
        })),
      } as Manifest);
    expect(parseManifest(manifest(kinds), 'b1', 'store').parts.map((part) => part.kind)).toEqual(kinds);
    expect(() => parseManifest(manifest(['mysql']), 'b1', 'store')).toThrow(UserError);
  });
});
