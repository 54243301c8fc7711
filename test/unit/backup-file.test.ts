// The file backup source end to end on real directories: a tree with modes, an empty directory and
// links round-trips; archives crafted to escape the target are refused before anything is written;
// fail-if-exists, merge and replace; globs, include/exclude, counts.
import { createReadStream, createWriteStream } from 'node:fs';
import {
  chmod,
  lstat,
  mkdir,
  mkdtemp,
  readFile,
  readdir,
  readlink,
  rm,
  symlink,
  utimes,
  writeFile,
} from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { InputError, UserError } from '../../actions/core/src/errors.js';
import { createFileSource } from '../../actions/core/src/backup/sources/file.js';
import {
  TAR_END,
  encodeEntry,
  encodeHeader,
  padding,
  readTar,
  type TarHeader,
} from '../../actions/core/src/backup/sources/tar.js';
import type { PartSummary, RestoreContext, RestoreMode } from '../../actions/core/src/backup/source.js';

let tmp: string;
let cwd: string;
let part: string;
let logs: string[];

beforeEach(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), 'switchyard-file-'));
  cwd = path.join(tmp, 'work');
  part = path.join(tmp, 'part.tar');
  logs = [];
  await mkdir(cwd);
});

afterEach(async () => {
  await rm(tmp, { recursive: true, force: true });
});

const context = <T extends Partial<RestoreContext>>(extra: T = {} as T) => ({
  include: [],
  exclude: [],
  log: (line: string) => logs.push(line),
  ...extra,
});

const open = () => createReadStream(part);

async function backup(spec: string, extra: Partial<RestoreContext> = {}): Promise<PartSummary> {
  return createFileSource(spec, { cwd }).backup(createWriteStream(part), context(extra));
}

async function restore(spec: string, mode: RestoreMode, target: string): Promise<PartSummary> {
  return createFileSource(spec, { cwd }).restore(open, context({ mode, target }));
}

/** Every path below `root` with what a user would compare: type, mode, content or link, mtime. */
async function snapshot(root: string): Promise<Record<string, string>> {
  const result: Record<string, string> = {};
  const walk = async (directory: string, prefix: string) => {
    for (const name of (await readdir(directory)).sort()) {
      const absolute = path.join(directory, name);
      const relative = prefix ? `${prefix}/${name}` : name;
      const stats = await lstat(absolute);
      const mode = (stats.mode & 0o7777).toString(8);
      const mtime = Math.floor(stats.mtimeMs / 1000);
      if (stats.isSymbolicLink()) result[relative] = `link -> ${await readlink(absolute)}`;
      else if (stats.isDirectory()) {
        result[relative] = `dir ${mode} ${mtime}`;
        await walk(absolute, relative);
      } else result[relative] = `file ${mode} ${mtime} ${(await readFile(absolute)).toString('base64')}`;
    }
  };
  await walk(root, '');
  return result;
}

/** work/app: nested directories, three modes, an empty directory, a link inside and one pointing out. */
async function makeTree(): Promise<void> {
  const app = path.join(cwd, 'app');
  await mkdir(path.join(app, 'data/nested/deep'), { recursive: true });
  await mkdir(path.join(app, 'bin'));
  await mkdir(path.join(app, 'empty'));
  await writeFile(path.join(app, 'config.yml'), 'port: 8080\n');
  await chmod(path.join(app, 'config.yml'), 0o644);
  await writeFile(path.join(app, 'secret.key'), 'k3y');
  await chmod(path.join(app, 'secret.key'), 0o600);
  await writeFile(path.join(app, 'bin/run.sh'), '#!/bin/sh\necho run\n');
  await chmod(path.join(app, 'bin/run.sh'), 0o755);
  await writeFile(
    path.join(app, 'data/nested/deep/blob.bin'),
    Buffer.from(Array.from({ length: 70_000 }, (_, i) => i % 251)),
  );
  await chmod(path.join(app, 'empty'), 0o700);
  await chmod(path.join(app, 'data'), 0o750);
  await symlink('bin/run.sh', path.join(app, 'current'));
  await symlink('../shared.txt', path.join(app, 'shared'));
  await writeFile(path.join(cwd, 'shared.txt'), 'outside the backed-up folder');
  await utimes(path.join(app, 'config.yml'), 1_600_000_000, 1_600_000_000);
  await utimes(path.join(app, 'data'), 1_500_000_000, 1_500_000_000);
}

async function entryNames(): Promise<string[]> {
  const names: string[] = [];
  for await (const entry of readTar(createReadStream(part))) names.push(entry.header.name);
  return names;
}

/** Writes an archive straight from headers: what a tampered or hostile backup could contain. */
async function craft(entries: (Partial<TarHeader> & { name: string; content?: string })[]): Promise<void> {
  const blocks: Buffer[] = [];
  for (const { content, ...fields } of entries) {
    const header: TarHeader = {
      type: 'file',
      mode: 0o644,
      mtime: 1_700_000_000,
      size: content === undefined ? 0 : Buffer.byteLength(content),
      ...fields,
    };
    for await (const block of encodeEntry(header, content === undefined ? undefined : [Buffer.from(content)]))
      blocks.push(block);
  }
  blocks.push(TAR_END);
  await writeFile(part, Buffer.concat(blocks));
}

describe('backup and restore', () => {
  it('round-trips a tree with modes, mtimes, an empty directory and links (stored, not followed)', async () => {
    await makeTree();
    const summary = await backup('file:app');
    expect(summary.records).toEqual({ files: 4, directories: 6, symlinks: 2, bytes: 11 + 3 + 19 + 70_000 });
    expect(summary.facts).toMatchObject({
      'links-outside-root': 1,
      'links-outside-base': 0,
      'links-outside': 'app/shared -> ../shared.txt',
    });
    expect(await entryNames()).toEqual([
      'app/',
      'app/bin/',
      'app/bin/run.sh',
      'app/config.yml',
      'app/current',
      'app/data/',
      'app/data/nested/',
      'app/data/nested/deep/',
      'app/data/nested/deep/blob.bin',
      'app/empty/',
      'app/secret.key',
      'app/shared',
    ]);

    const target = path.join(tmp, 'restored');
    await mkdir(target);
    const restored = await restore('file:app', 'fail-if-exists', target);

    expect(restored.records).toEqual(summary.records);
    expect(await snapshot(path.join(target, 'app'))).toEqual(await snapshot(path.join(cwd, 'app')));
    expect(await readdir(target)).toEqual(['app']); // shared.txt, the outside link's target, was not copied
    expect(await readlink(path.join(target, 'app/shared'))).toBe('../shared.txt');
    expect(
      await createFileSource('file:app', { cwd }).count({ ...context(), target } as RestoreContext),
    ).toEqual(summary.records);
  });

  it('restores over the source by default, into the base directory', async () => {
    await makeTree();
    await backup('file:app');
    const before = await snapshot(path.join(cwd, 'app'));
    await rm(path.join(cwd, 'app'), { recursive: true });
    await createFileSource('file:app', { cwd }).restore(open, context({ mode: 'fail-if-exists' }));
    expect(await snapshot(path.join(cwd, 'app'))).toEqual(before);
  });

  it('creates a missing target directory', async () => {
    await makeTree();
    await backup('file:app/bin');
    const target = path.join(tmp, 'new/dir');
    await restore('file:app/bin', 'fail-if-exists', target);
    expect(await readFile(path.join(target, 'app/bin/run.sh'), 'utf8')).toContain('echo run');
  });

  it('drops setuid and setgid bits on restore and says so', async () => {
    await mkdir(path.join(cwd, 'tools'));
    await writeFile(path.join(cwd, 'tools/su'), 'x');
    await chmod(path.join(cwd, 'tools/su'), 0o4755);
    await backup('file:tools');
    const target = path.join(tmp, 'out');
    const restored = await restore('file:tools', 'fail-if-exists', target);
    expect((await lstat(path.join(target, 'tools/su'))).mode & 0o7777).toBe(0o755);
    expect(restored.facts['setuid-setgid-dropped']).toBe(1);
  });

  it('flags a link pointing outside the base, which a restore will refuse', async () => {
    await makeTree();
    await symlink('/etc/hostname', path.join(cwd, 'app/host'));
    const summary = await backup('file:app');
    expect(summary.facts['links-outside-base']).toBe(1);
    expect(logs.join('\n')).toMatch(/app\/host -> \/etc\/hostname points outside .*a restore will refuse it/);
    const target = path.join(tmp, 'restored');
    await mkdir(target);
    await expect(restore('file:app', 'fail-if-exists', target)).rejects.toThrow(
      /"app\/host" is a link to "\/etc\/hostname", which points outside the target/,
    );
    expect(await readdir(target)).toEqual([]);
  });
});

describe('refusing unsafe archives before writing anything', () => {
  let target: string;
  let outside: string;

  beforeEach(async () => {
    target = path.join(tmp, 'target');
    outside = path.join(tmp, 'outside');
    await mkdir(target);
    await mkdir(outside);
  });

  /** Both restore() and checkTarget() refuse, naming the entry; nothing appears anywhere. */
  async function expectRefused(
    entry: string | RegExp,
    mode: RestoreMode = 'fail-if-exists',
  ): Promise<string> {
    const before = await snapshot(tmp);
    const source = createFileSource('file:app', { cwd });
    const named = typeof entry === 'string' ? JSON.stringify(entry) : entry;
    let message = '';
    for (const attempt of [
      () => source.checkTarget(open, context({ mode, target })),
      () => source.restore(open, context({ mode, target })),
    ]) {
      const error = await attempt().then(
        () => undefined,
        (failure: unknown) => failure,
      );
      expect(error).toBeInstanceOf(UserError);
      message = (error as UserError).message;
      expect(message).toContain(typeof named === 'string' ? named : '');
      if (named instanceof RegExp) expect(message).toMatch(named);
      expect(message).toContain('Nothing was written');
    }
    expect(await snapshot(tmp)).toEqual(before);
    return message;
  }

  const harmless = [
    { name: 'app/', type: 'directory' as const, mode: 0o755 },
    { name: 'app/readme.txt', content: 'fine' },
  ];

  it('refuses a ".." entry even after harmless ones', async () => {
    await craft([...harmless, { name: '../escape', content: 'gotcha' }]);
    expect(await expectRefused('../escape')).toMatch(/"\.\." segment/);
  });

  it('refuses a name that a pax header changes to "../" behind an innocent-looking ustar name', async () => {
    const records = Buffer.from('20 path=../evil.txt\n');
    await writeFile(
      part,
      Buffer.concat([
        encodeHeader({
          name: 'PaxHeaders/x',
          type: 'other',
          typeflag: 'x',
          mode: 0o644,
          size: records.length,
          mtime: 0,
        }),
        records,
        padding(records.length),
        encodeHeader({ name: 'innocent.txt', type: 'file', mode: 0o644, size: 4, mtime: 0 }),
        Buffer.from('evil'),
        padding(4),
        TAR_END,
      ]),
    );
    await expectRefused('../evil.txt');
  });

  it('refuses a ".." in the middle of a name', async () => {
    await craft([...harmless, { name: 'app/../../outside/x', content: 'gotcha' }]);
    await expectRefused('app/../../outside/x');
  });

  it('refuses an absolute name', async () => {
    const victim = path.join(outside, 'victim.txt');
    await craft([...harmless, { name: victim, content: 'gotcha' }]);
    expect(await expectRefused(victim)).toMatch(/is an absolute path/);
  });

  it('refuses a link pointing out and an entry written through it', async () => {
    await craft([
      ...harmless,
      { name: 'link', type: 'symlink', linkname: '../outside' },
      { name: 'link/x', content: 'gotcha' },
    ]);
    const message = await expectRefused('link/x');
    expect(message).toMatch(/"link" is a link to "\.\.\/outside", which leads outside the target/);
    expect(message).toMatch(/"link\/x" goes through "link", a symbolic link in the same backup/);
  });

  it('refuses a -> /etc then a/passwd (an absolute link out, then an entry through it)', async () => {
    // `outside` stands in for /etc: tests may run as root, and a regression must not reach /etc.
    await craft([
      { name: 'a', type: 'symlink', linkname: outside },
      { name: 'a/passwd', content: 'root::0:0::/:/bin/sh\n' },
    ]);
    const message = await expectRefused('a/passwd');
    expect(message).toContain(`"a" is a link to ${JSON.stringify(outside)}, which points outside the target`);
    expect(message).toMatch(/"a\/passwd" goes through "a", a symbolic link in the same backup/);
  });

  it('refuses a link that escapes only through a chain of links, checked against the end result', async () => {
    // Each link looks harmless alone; `a` is checked when `b` does not exist yet.
    await craft([
      { name: 'a', type: 'symlink', linkname: 'b/..' },
      { name: 'sub/', type: 'directory' },
      { name: 'sub/deep', type: 'symlink', linkname: '..' },
      { name: 'b', type: 'symlink', linkname: 'sub/deep' },
    ]);
    expect(await expectRefused('a')).toMatch(/"a" is a link to "b\/\.\.", which leads outside the target/);
  });

  it('refuses a link loop', async () => {
    await craft([
      { name: 'x', type: 'symlink', linkname: 'y/z' },
      { name: 'y', type: 'symlink', linkname: 'x' },
    ]);
    expect(await expectRefused('x')).toMatch(/too many levels of symbolic links/);
  });

  it('refuses devices, FIFOs and hard links', async () => {
    await craft([
      ...harmless,
      { name: 'app/null', type: 'character-device', devmajor: 1, devminor: 3 },
      { name: 'app/sda', type: 'block-device', devmajor: 8 },
      { name: 'app/pipe', type: 'fifo' },
      { name: 'app/passwd', type: 'hardlink', linkname: '/etc/passwd' },
    ]);
    const message = await expectRefused('app/null');
    expect(message).toMatch(/"app\/null" is a character device/);
    expect(message).toMatch(/"app\/sda" is a block device/);
    expect(message).toMatch(/"app\/pipe" is a FIFO/);
    expect(message).toMatch(/"app\/passwd" is a hard link/);
    expect(message).toMatch(/4 entries are unsafe/);
  });

  it('refuses a char device alone', async () => {
    await craft([{ name: 'dev/tty', type: 'character-device', devmajor: 5 }]);
    await expectRefused('dev/tty');
  });

  it('refuses two entries for one path (a file could be swapped for a link halfway)', async () => {
    await craft([...harmless, { name: 'app/readme.txt', type: 'symlink', linkname: 'elsewhere' }]);
    expect(await expectRefused('app/readme.txt')).toMatch(/lands on the same path as "app\/readme.txt"/);
  });

  it('refuses to write through a link already in the target that leads out', async () => {
    await symlink('../outside', path.join(target, 'app'));
    await craft([{ name: 'app/readme.txt', content: 'gotcha' }]);
    const message = await expectRefused('app/readme.txt', 'merge');
    expect(message).toMatch(/leads outside the target \(through the link "app" -> "\.\.\/outside"\)/);
  });

  it('lists at most five problems and counts the rest', async () => {
    await craft(Array.from({ length: 8 }, (_, i) => ({ name: `../escape-${i}`, content: 'x' })));
    const message = await expectRefused('../escape-0');
    expect(message).toMatch(/8 entries are unsafe/);
    expect(message).toMatch(/and 3 more/);
    expect(message).not.toContain('escape-5');
  });

  it('follows a link already in the target when it stays inside', async () => {
    await mkdir(path.join(target, 'releases/42'), { recursive: true });
    await symlink('releases/42', path.join(target, 'current'));
    await craft([{ name: 'current/config.yml', content: 'port: 1\n' }]);
    await createFileSource('file:current', { cwd }).restore(open, context({ mode: 'merge', target }));
    expect(await readFile(path.join(target, 'releases/42/config.yml'), 'utf8')).toBe('port: 1\n');
    expect(await readlink(path.join(target, 'current'))).toBe('releases/42');
  });

  it('refuses a tampered archive that is not tar at all', async () => {
    await writeFile(part, 'definitely not a tar archive'.padEnd(2048, '\n'));
    const source = createFileSource('file:app', { cwd });
    await expect(source.restore(open, context({ mode: 'merge', target }))).rejects.toThrow(
      /not a readable tar archive/,
    );
    expect(await readdir(target)).toEqual([]);
  });
});

describe('modes', () => {
  let target: string;

  beforeEach(async () => {
    await makeTree();
    await backup('file:app');
    target = path.join(tmp, 'target');
    await mkdir(path.join(target, 'app/bin'), { recursive: true });
    await writeFile(path.join(target, 'app/config.yml'), 'mine\n');
    await writeFile(path.join(target, 'app/bin/run.sh'), 'mine too\n');
    await writeFile(path.join(target, 'app/extra.txt'), 'not in the backup\n');
  });

  it('fail-if-exists refuses over existing paths, naming them, and writes nothing', async () => {
    const before = await snapshot(target);
    const error = await restore('file:app', 'fail-if-exists', target).catch((failure: unknown) => failure);
    expect(error).toBeInstanceOf(UserError);
    expect((error as Error).message).toMatch(
      /4 paths exist already in .*: "app", "app\/bin", "app\/bin\/run.sh", "app\/config.yml"\. Nothing was written/,
    );
    expect((error as Error).message).toMatch(/set "mode" to merge .* or replace/);
    expect(await snapshot(target)).toEqual(before);
  });

  it('merge keeps what exists and adds the rest', async () => {
    const restored = await restore('file:app', 'merge', target);
    expect(await readFile(path.join(target, 'app/config.yml'), 'utf8')).toBe('mine\n');
    expect(await readFile(path.join(target, 'app/bin/run.sh'), 'utf8')).toBe('mine too\n');
    expect(await readFile(path.join(target, 'app/secret.key'), 'utf8')).toBe('k3y');
    expect(await readlink(path.join(target, 'app/current'))).toBe('bin/run.sh');
    expect(restored.records.files).toBe(2);
    expect(restored.facts['skipped-existing']).toBe(4);
  });

  it('replace overwrites what the backup has and leaves other files alone', async () => {
    await restore('file:app', 'replace', target);
    const source = await snapshot(path.join(cwd, 'app'));
    const restored = await snapshot(path.join(target, 'app'));
    expect(restored['extra.txt']).toBeDefined();
    delete restored['extra.txt'];
    expect(restored).toEqual(source);
  });

  it('replace refuses to put a file where the target has a directory', async () => {
    await rm(path.join(target, 'app/config.yml'));
    await mkdir(path.join(target, 'app/config.yml'));
    const before = await snapshot(target);
    await expect(restore('file:app', 'replace', target)).rejects.toThrow(
      /"app\/config.yml" is a file in the backup but a directory in the target; remove "app\/config.yml" first/,
    );
    expect(await snapshot(target)).toEqual(before);
  });

  it('replace swaps a link in the target for the directory in the backup, without writing through it', async () => {
    await rm(path.join(target, 'app/bin'), { recursive: true });
    await mkdir(path.join(target, 'elsewhere'));
    await symlink('../elsewhere', path.join(target, 'app/bin'));
    await restore('file:app', 'replace', target);
    expect((await lstat(path.join(target, 'app/bin'))).isDirectory()).toBe(true);
    expect(await readdir(path.join(target, 'elsewhere'))).toEqual([]);
    expect(await readFile(path.join(target, 'app/bin/run.sh'), 'utf8')).toContain('echo run');
  });
});

describe('what a spec selects', () => {
  beforeEach(makeTree);

  it('takes a glob relative to the working directory', async () => {
    const summary = await backup('file:app/**/*.sh');
    expect(await entryNames()).toEqual(['app/bin/run.sh']);
    expect(summary.records).toEqual({ files: 1, directories: 0, symlinks: 0, bytes: 19 });
  });

  it('takes a matching directory whole', async () => {
    await backup('file:app/d*');
    expect(await entryNames()).toEqual([
      'app/data/',
      'app/data/nested/',
      'app/data/nested/deep/',
      'app/data/nested/deep/blob.bin',
    ]);
  });

  it('excludes by glob; a name without "/" matches at any depth, and an excluded directory is skipped whole', async () => {
    await backup('file:app', { exclude: ['*.key', 'app/data'] });
    const names = await entryNames();
    expect(names).not.toContain('app/secret.key');
    expect(names.filter((name) => name.startsWith('app/data'))).toEqual([]);
    expect(names).toContain('app/config.yml');
  });

  it('includes by glob, with the directories that lead to what is included', async () => {
    await backup('file:app', { include: ['*.bin'] });
    expect(await entryNames()).toEqual([
      'app/',
      'app/data/',
      'app/data/nested/',
      'app/data/nested/deep/',
      'app/data/nested/deep/blob.bin',
    ]);
  });

  it('names a path outside the working directory relative to its parent', async () => {
    const elsewhere = path.join(tmp, 'elsewhere');
    await mkdir(path.join(elsewhere, 'uploads'), { recursive: true });
    await writeFile(path.join(elsewhere, 'uploads/a.jpg'), 'jpg');
    const summary = await backup(`file:${path.join(elsewhere, 'uploads')}`);
    expect(summary.facts.base).toBe(elsewhere);
    expect(await entryNames()).toEqual(['uploads/', 'uploads/a.jpg']);
  });

  it('refuses a missing path and a glob that selects nothing', async () => {
    await expect(backup('file:nope')).rejects.toThrow(/nope does not exist; check the path in "sources"/);
    await expect(backup('file:app/*.nothing')).rejects.toThrow(
      /file:app\/\*\.nothing selects nothing to back up/,
    );
  });

  it('refuses an empty spec as a bad "sources" input', () => {
    expect(() => createFileSource('file:', { cwd })).toThrow(InputError);
    expect(() => createFileSource('file:', { cwd })).toThrow(/Input "sources": file: needs a path or a glob/);
  });

  it('names its part after the spec, file-name-safe and distinct', () => {
    expect(createFileSource('file:app/data', { cwd }).partName).toMatch(/^file-app-data-[0-9a-f]{8}$/);
    const a = createFileSource('file:data/*', { cwd }).partName;
    const b = createFileSource('file:data/?', { cwd }).partName;
    expect(a).toMatch(/^file-data-[0-9a-f]{8}$/);
    expect(a).not.toBe(b);
    expect(createFileSource('file:uploads', { cwd }).partName).toBe('file-uploads');
    expect(createFileSource('file:uploads', { cwd }).display).toBe('file:uploads');
  });

  it('counts nothing in a target that has none of it', async () => {
    const counts = await createFileSource('file:app', { cwd }).count({
      ...context(),
      target: path.join(tmp, 'none'),
    } as RestoreContext);
    expect(counts).toEqual({ files: 0, directories: 0, symlinks: 0, bytes: 0 });
  });

  it('streams the part into any writable and ends it', async () => {
    const chunks: Buffer[] = [];
    const { Writable } = await import('node:stream');
    const sink = new Writable({
      write(chunk: Buffer, _encoding, done) {
        chunks.push(chunk);
        done();
      },
    });
    await createFileSource('file:app/config.yml', { cwd }).backup(sink, context());
    expect(sink.writableFinished).toBe(true);
    const names: string[] = [];
    for await (const entry of readTar(Readable.from(chunks))) names.push(entry.header.name);
    expect(names).toEqual(['app/config.yml']);
  });
});
