import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  isLeftoverTemporary,
  makeDirectory,
  writeFileAtomic,
  writeTemporaryBeside,
} from '../../actions/core/src/atomic-write.js';
import { errorCode, messageOf } from '../../actions/core/src/errors.js';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'switchyard-atomic-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const fresh = () => {
  const folder = mkdtempSync(join(dir, 'case-'));
  return { folder, file: join(folder, 'upstream.conf') };
};

describe('makeDirectory', () => {
  it('makes every missing folder, and is content with one that exists', async () => {
    const { folder } = fresh();
    await makeDirectory(join(folder, 'a', 'b', 'c'));
    expect(statSync(join(folder, 'a', 'b', 'c')).isDirectory()).toBe(true);
    await makeDirectory(join(folder, 'a', 'b', 'c'));
    await makeDirectory(folder);
  });

  it('refuses a path through a file', async () => {
    const { file } = fresh();
    writeFileSync(file, 'x');
    await expect(makeDirectory(join(file, 'sub'))).rejects.toMatchObject({ code: 'ENOTDIR' });
  });

  // Node's own recursive mkdir never returns there (it spun a core, deaf to SIGTERM).
  (existsSync('/proc/self') ? it : it.skip)(
    'fails, not hangs, where the system says ENOENT under an existing folder',
    async () => {
      await expect(makeDirectory('/proc/switchyard-nope/backups')).rejects.toMatchObject({ code: 'ENOENT' });
    },
  );
});

describe('writeFileAtomic', () => {
  it('creates, then replaces, leaving nothing beside the file', async () => {
    const { folder, file } = fresh();
    await writeFileAtomic(file, 'one\n');
    await writeFileAtomic(file, Buffer.from('two\n'));
    expect(readFileSync(file, 'utf8')).toBe('two\n');
    expect(readdirSync(folder)).toEqual(['upstream.conf']);
  });

  it('writes a stream chunk by chunk', async () => {
    const { file } = fresh();
    async function* chunks() {
      yield 'a';
      yield Buffer.alloc(100_000, 'b');
      yield 'c';
    }
    await writeFileAtomic(file, chunks());
    const written = readFileSync(file, 'utf8');
    expect(written).toHaveLength(100_002);
    expect(written.startsWith('ab') && written.endsWith('bc')).toBe(true);
  });

  it('applies the mode whatever the umask', async () => {
    const { file } = fresh();
    const umask = process.umask(0o077);
    try {
      await writeFileAtomic(file, 'x', { mode: 0o644 });
    } finally {
      process.umask(umask);
    }
    expect(statSync(file).mode & 0o777).toBe(0o644);
  });

  it('on failure keeps the old content and leaves no temporary file', async () => {
    const { folder, file } = fresh();
    writeFileSync(file, 'old');
    mkdirSync(join(folder, 'taken'));
    // A directory in the way: the rename fails after the temporary file was written.
    await expect(writeFileAtomic(join(folder, 'taken'), 'new')).rejects.toMatchObject({ code: 'EISDIR' });
    await expect(writeFileAtomic(join(folder, 'missing', 'x'), 'new')).rejects.toMatchObject({
      code: 'ENOENT',
    });
    async function* broken() {
      yield 'half';
      throw new Error('source died');
    }
    await expect(writeFileAtomic(file, broken())).rejects.toThrow('source died');
    expect(readFileSync(file, 'utf8')).toBe('old');
    expect(readdirSync(folder).sort()).toEqual(['taken', 'upstream.conf']);
  });

  it('concurrent writers never interleave: the file is one of them, whole', async () => {
    const { folder, file } = fresh();
    const bodies = Array.from({ length: 20 }, (_, i) => `${i}`.repeat(10_000));
    await Promise.all(bodies.map((body) => writeFileAtomic(file, body)));
    expect(bodies).toContain(readFileSync(file, 'utf8'));
    expect(readdirSync(folder)).toEqual(['upstream.conf']);
  });
});

describe('temporary files', () => {
  it('are hidden, not *.conf, and recognisable when a killed run leaves one', async () => {
    const { file } = fresh();
    const temporary = await writeTemporaryBeside(file, 'x');
    const name = temporary.slice(temporary.lastIndexOf('/') + 1);
    expect(name.startsWith('.upstream.conf.switchyard-')).toBe(true);
    expect(name.endsWith('.tmp')).toBe(true);
    expect(isLeftoverTemporary(temporary)).toBe(true);
    expect(isLeftoverTemporary('upstream.conf')).toBe(false);
    expect(isLeftoverTemporary('.upstream.conf.tmp')).toBe(false);
  });
});

describe('messageOf and errorCode', () => {
  it('read any thrown value, including errors from another realm', () => {
    expect(messageOf(new Error('boom'))).toBe('boom');
    expect(messageOf({ message: 'from a VM context' })).toBe('from a VM context');
    expect(messageOf('plain')).toBe('plain');
    expect(messageOf(undefined)).toBe('undefined');
    expect(errorCode(Object.assign(new Error('x'), { code: 'ENOENT' }))).toBe('ENOENT');
    expect(errorCode({ code: 42 })).toBeUndefined();
    expect(errorCode(null)).toBeUndefined();
  });
});
