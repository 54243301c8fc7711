// The local backup store on a real directory: parts stream in and out, a backup exists only once
// its manifest is written, the manifest is replaced atomically (readers never see part of one),
// removal, and ids or part names that could leave the store are refused.
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { InputError, UserError } from '../../actions/core/src/errors.js';
import { createLocalStore } from '../../actions/core/src/backup/stores/local.js';
import type { BackupStore } from '../../actions/core/src/backup/store.js';

let dir: string;
let store: BackupStore;

beforeEach(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'switchyard-store-'));
  store = createLocalStore(path.join(dir, 'backups'));
});

afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function text(stream: Readable): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

function chunks(...parts: string[]): Readable {
  return Readable.from(parts.map((part) => Buffer.from(part)));
}

describe('local store', () => {
  it('describes itself and resolves a relative directory against cwd', () => {
    expect(store.location).toBe(`local:${path.join(dir, 'backups')}`);
    expect(createLocalStore('.switchyard/backups', { cwd: dir }).location).toBe(
      `local:${path.join(dir, '.switchyard/backups')}`,
    );
  });

  it('stores parts under DIR/<id>/ and reads them back as often as asked', async () => {
    await store.writePart('20240501-1200-a1', 'file-uploads.tar.gz', chunks('one ', 'two ', 'three'));
    await store.writeManifest('20240501-1200-a1', '{"id":"20240501-1200-a1"}');
    expect(await readdir(path.join(dir, 'backups/20240501-1200-a1'))).toEqual([
      'file-uploads.tar.gz',
      'manifest.json',
    ]);
    expect(await text(await store.readPart('20240501-1200-a1', 'file-uploads.tar.gz'))).toBe('one two three');
    expect(await text(await store.readPart('20240501-1200-a1', 'file-uploads.tar.gz'))).toBe('one two three');
    expect(await store.readManifest('20240501-1200-a1')).toBe('{"id":"20240501-1200-a1"}');
    expect(await store.list()).toEqual(['20240501-1200-a1']);
  });

  it('lists only backups with a manifest: an interrupted one is neither listed nor readable', async () => {
    await store.writePart('done', 'part', chunks('x'));
    await store.writeManifest('done', '{}');
    await store.writePart('interrupted', 'part', chunks('x'));
    // What a crash in the middle of writeManifest leaves behind.
    await writeFile(path.join(dir, 'backups/interrupted/manifest.json.tmp'), '{"id":"interr');
    await mkdir(path.join(dir, 'backups/empty'));
    await writeFile(path.join(dir, 'backups/stray-file'), 'not a backup');

    expect(await store.list()).toEqual(['done']);
    expect(await store.readManifest('interrupted')).toBeUndefined();
    expect(await store.readManifest('unknown')).toBeUndefined();
    expect(await store.readManifest('stray-file')).toBeUndefined();
  });

  it('lists nothing when the directory does not exist yet', async () => {
    expect(await store.list()).toEqual([]);
  });

  it('never shows part of a manifest under its name, even while it is being replaced', async () => {
    const versions = ['a', 'b'].map((letter) => JSON.stringify({ fill: letter.repeat(8 * 1024 * 1024) }));
    await store.writeManifest('big', versions[0] as string);
    let writing = true;
    let reads = 0;
    const torn: string[] = [];
    const reader = (async () => {
      while (writing) {
        const manifest = await store.readManifest('big');
        reads++;
        if (manifest === undefined || !versions.includes(manifest))
          torn.push(`${manifest?.length ?? 'no'} bytes: ${manifest?.slice(0, 12) ?? ''}…`);
      }
    })();
    for (let round = 1; round <= 6; round++) await store.writeManifest('big', versions[round % 2] as string);
    writing = false;
    await reader;
    expect(torn).toEqual([]);
    expect(reads).toBeGreaterThan(0);
    expect(await readdir(path.join(dir, 'backups/big'))).toEqual(['manifest.json']);
  });

  it('leaves nothing under the part name when the data stream fails', async () => {
    const failing = new Readable({
      read() {
        this.push(Buffer.from('half a part'));
        this.destroy(new Error('connection reset by peer'));
      },
    });
    await expect(store.writePart('b1', 'postgres-shop.dump', failing)).rejects.toThrow(
      /cannot write part postgres-shop.dump of backup b1 in local:.*connection reset by peer/,
    );
    expect(await readdir(path.join(dir, 'backups/b1'))).toEqual([]);
  });

  it('refuses to read a part that is not there, naming it', async () => {
    await store.writeManifest('b1', '{}');
    await expect(store.readPart('b1', 'redis-0.rdb')).rejects.toThrow(
      /backup b1 in local:.* has no part redis-0.rdb/,
    );
  });

  it('removes a backup whole; removing an unknown one does nothing', async () => {
    await store.writePart('old', 'part', chunks('x'));
    await store.writeManifest('old', '{}');
    await store.writeManifest('new', '{}');
    await store.remove('old');
    await store.remove('never-existed');
    expect(await store.list()).toEqual(['new']);
    expect(await readdir(path.join(dir, 'backups'))).toEqual(['new']);
    expect(await store.readManifest('old')).toBeUndefined();
  });

  it.each(['../escape', 'a/b', '..', '.', '.hidden', '', 'a\\b', 'x'.repeat(201), 'a..b'])(
    'refuses the id %j as a bad "id" input',
    async (id) => {
      for (const attempt of [
        () => store.writePart(id, 'part', chunks('x')),
        () => store.readPart(id, 'part'),
        () => store.writeManifest(id, '{}'),
        () => store.readManifest(id),
        () => store.remove(id),
      ]) {
        const error = await attempt().then(
          () => undefined,
          (failure: unknown) => failure,
        );
        expect(error).toBeInstanceOf(InputError);
        expect((error as InputError).input).toBe('id');
        expect((error as Error).message).toMatch(/is not a backup id/);
      }
      expect(await readdir(dir)).toEqual([]);
    },
  );

  it.each(['../../outside', 'sub/part', 'manifest.json', 'manifest.json.tmp'])(
    'refuses the part name %j',
    async (name) => {
      await expect(store.writePart('b1', name, chunks('x'))).rejects.toThrow(UserError);
      await expect(store.writePart('b1', name, chunks('x'))).rejects.toThrow(/is not a part name/);
      await expect(store.readPart('b1', name)).rejects.toThrow(/is not a part name/);
      expect(await readFile(path.join(dir, 'outside')).catch(() => 'absent')).toBe('absent');
      expect(await store.readManifest('b1')).toBeUndefined();
    },
  );
});
