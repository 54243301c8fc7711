// The tar format under the file backup source: what it writes reads back exactly (long and
// non-ASCII names, long link targets, every entry type), broken archives are refused with a
// reason, content is streamed; and the globs that choose the files.
import { Readable } from 'node:stream';
import { describe, expect, it } from '@jest/globals';
import { UserError } from '../../actions/core/src/errors.js';
import { Glob } from '../../actions/core/src/backup/sources/file.js';
import {
  TAR_END,
  encodeEntry,
  encodeHeader,
  readTar,
  type TarHeader,
} from '../../actions/core/src/backup/sources/tar.js';

async function archive(entries: { header: TarHeader; content?: string }[]): Promise<Buffer> {
  const blocks: Buffer[] = [];
  for (const { header, content } of entries)
    for await (const block of encodeEntry(header, content === undefined ? undefined : [Buffer.from(content)]))
      blocks.push(block);
  blocks.push(TAR_END);
  return Buffer.concat(blocks);
}

async function read(
  bytes: Buffer,
  chunkSize = bytes.length,
): Promise<{ header: TarHeader; content: string }[]> {
  const chunks: Buffer[] = [];
  for (let at = 0; at < bytes.length; at += chunkSize) chunks.push(bytes.subarray(at, at + chunkSize));
  const entries: { header: TarHeader; content: string }[] = [];
  for await (const entry of readTar(Readable.from(chunks))) {
    const parts: Buffer[] = [];
    for await (const chunk of entry.content()) parts.push(chunk);
    entries.push({ header: entry.header, content: Buffer.concat(parts).toString('utf8') });
  }
  return entries;
}

const file = (name: string, content: string, extra: Partial<TarHeader> = {}) => ({
  header: {
    name,
    type: 'file' as const,
    mode: 0o644,
    size: Buffer.byteLength(content),
    mtime: 1_700_000_000,
    ...extra,
  },
  content,
});

describe('tar', () => {
  it('reads back what it wrote, in any chunking', async () => {
    const longName = `${'deep/'.repeat(40)}file.txt`; // 208 bytes: needs the ustar prefix or pax
    const longerName = `${'x'.repeat(180)}/${'y'.repeat(120)}`; // no ustar split fits: pax path
    const bytes = await archive([
      { header: { name: 'dir/', type: 'directory', mode: 0o750, size: 0, mtime: 1_600_000_000 } },
      file('dir/a.txt', 'hello', { mode: 0o600, uid: 1000, gid: 1000 }),
      file(longName, 'long'),
      file(longerName, 'longer'),
      file('naïve/ünïcödé.txt', 'utf-8'),
      { header: { name: 'dir/link', type: 'symlink', mode: 0o777, size: 0, mtime: 1, linkname: 'a.txt' } },
      {
        header: {
          name: 'far',
          type: 'symlink',
          mode: 0o777,
          size: 0,
          mtime: 1,
          linkname: `${'../'.repeat(50)}etc`,
        },
      },
      file('empty', ''),
    ]);
    for (const chunkSize of [bytes.length, 512, 7]) {
      const entries = await read(bytes, chunkSize);
      expect(entries.map((entry) => entry.header.name)).toEqual([
        'dir/',
        'dir/a.txt',
        longName,
        longerName,
        'naïve/ünïcödé.txt',
        'dir/link',
        'far',
        'empty',
      ]);
      expect(entries.map((entry) => entry.content)).toEqual([
        '',
        'hello',
        'long',
        'longer',
        'utf-8',
        '',
        '',
        '',
      ]);
      expect(entries[0]?.header).toMatchObject({ type: 'directory', mode: 0o750, mtime: 1_600_000_000 });
      expect(entries[1]?.header).toMatchObject({ type: 'file', mode: 0o600, size: 5, uid: 1000, gid: 1000 });
      expect(entries[5]?.header).toMatchObject({ type: 'symlink', linkname: 'a.txt' });
      expect(entries[6]?.header.linkname).toBe(`${'../'.repeat(50)}etc`);
    }
  });

  it('writes every entry type, so tests can build archives no honest backup contains', async () => {
    const bytes = await archive([
      { header: { name: '../escape', type: 'file', mode: 0o644, size: 0, mtime: 0 } },
      { header: { name: '/abs/path', type: 'file', mode: 0o644, size: 0, mtime: 0 } },
      { header: { name: 'dev/tty', type: 'character-device', mode: 0o666, size: 0, mtime: 0, devmajor: 5 } },
      { header: { name: 'dev/sda', type: 'block-device', mode: 0o660, size: 0, mtime: 0 } },
      { header: { name: 'pipe', type: 'fifo', mode: 0o644, size: 0, mtime: 0 } },
      { header: { name: 'hard', type: 'hardlink', mode: 0o644, size: 0, mtime: 0, linkname: '/etc/passwd' } },
      { header: { name: 'sparse', type: 'other', typeflag: 'S', mode: 0o644, size: 0, mtime: 0 } },
    ]);
    const headers = (await read(bytes)).map((entry) => entry.header);
    expect(headers.map((header) => [header.name, header.type])).toEqual([
      ['../escape', 'file'],
      ['/abs/path', 'file'],
      ['dev/tty', 'character-device'],
      ['dev/sda', 'block-device'],
      ['pipe', 'fifo'],
      ['hard', 'hardlink'],
      ['sparse', 'other'],
    ]);
    expect(headers[2]?.devmajor).toBe(5);
    expect(headers[6]?.typeflag).toBe('S');
  });

  it('announces sizes beyond the 8 GiB ustar limit in a pax header', async () => {
    const header = encodeHeader({
      name: 'huge.img',
      type: 'file',
      mode: 0o644,
      size: 10 * 1024 ** 3,
      mtime: 0,
    });
    expect(header.length).toBe(3 * 512); // pax header, its records, the entry's header
    expect(header.subarray(512, 1024).toString('utf8')).toContain(`size=${10 * 1024 ** 3}\n`);
    const entries = readTar(Readable.from([header, Buffer.alloc(512)]));
    const first = await entries.next();
    expect(first.done).toBe(false);
    expect(first.value?.header.size).toBe(10 * 1024 ** 3);
  });

  it('streams content: a header arrives before the rest of the archive is read', async () => {
    let pulled = 0;
    async function* slow(): AsyncGenerator<Buffer> {
      yield encodeHeader({ name: 'big', type: 'file', mode: 0o644, size: 10 * 1024 * 1024, mtime: 0 });
      for (let i = 0; i < 160; i++) {
        pulled++;
        yield Buffer.alloc(64 * 1024, 1);
      }
      yield TAR_END;
    }
    const entries = readTar(slow());
    const first = await entries.next();
    expect(first.value?.header.name).toBe('big');
    expect(pulled).toBeLessThanOrEqual(1);
  });

  it('refuses a truncated archive, a bad checksum and a non-tar file', async () => {
    const good = await archive([file('a.txt', 'x'.repeat(2000))]);
    await expect(read(good.subarray(0, 1024))).rejects.toThrow(
      /ends in the middle of the content of "a.txt"/,
    );
    await expect(read(good.subarray(0, good.length - 1024))).rejects.toThrow(
      /without the end-of-archive marker/,
    );
    const corrupt = Buffer.from(good);
    corrupt[10] = 0x41;
    await expect(read(corrupt)).rejects.toThrow(/bad header checksum at byte 0/);
    await expect(read(Buffer.from('{"not":"a tar"}'.padEnd(1024)))).rejects.toThrow(UserError);
  });

  it('skips content nobody read', async () => {
    const bytes = await archive([file('a', 'x'.repeat(3000)), file('b', 'bee')]);
    const names: string[] = [];
    for await (const entry of readTar(Readable.from([bytes]))) names.push(entry.header.name);
    expect(names).toEqual(['a', 'b']);
  });
});

describe('Glob', () => {
  it.each([
    ['*.db', 'app.db', true],
    ['*.db', 'dir/app.db', false],
    ['*.db', '.hidden.db', true],
    ['data/*', 'data/x', true],
    ['data/*', 'data/x/y', false],
    ['data/**', 'data', true],
    ['data/**', 'data/x/y/z', true],
    ['**/*.log', 'a.log', true],
    ['**/*.log', 'a/b/c.log', true],
    ['a/**/b', 'a/b', true],
    ['a/**/b', 'a/x/y/b', true],
    ['a/**/b', 'a/x/y/c', false],
    ['file?.txt', 'file1.txt', true],
    ['file?.txt', 'file10.txt', false],
    ['[ab].txt', '[ab].txt', true],
    ['[ab].txt', 'a.txt', false],
    ['a.b', 'axb', false],
  ])('%s matches %s: %s', (pattern, candidate, expected) => {
    expect(new Glob(pattern).matches(candidate)).toBe(expected);
  });

  it('knows which directories are worth descending into', () => {
    const glob = new Glob('data/*/uploads/*.jpg');
    expect(glob.couldMatchBelow('data')).toBe(true);
    expect(glob.couldMatchBelow('data/site')).toBe(true);
    expect(glob.couldMatchBelow('logs')).toBe(false);
    expect(glob.couldMatchBelow('data/site/cache')).toBe(false);
    expect(new Glob('**/x').couldMatchBelow('any/where')).toBe(true);
  });
});
