// The backup action, run as the GitHub runner runs actions/backup/dist/index.js: a pgbench database
// with json, jsonb, bytea and array columns and a file tree come back equal after backup → delete →
// restore; an archive reaching out of its target or a damaged part is refused before anything is
// written; each bad input gets one error naming it; list, verify, prune and `id: latest` work
// together; and the outputs describe exactly what the store holds.
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readdirSync, statSync } from 'node:fs';
import type { ChildProcess } from 'node:child_process';
import {
  chmod,
  cp,
  lstat,
  mkdir,
  mkdtemp,
  readFile,
  readdir,
  readlink,
  rm,
  stat,
  symlink,
  utimes,
  writeFile,
} from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Redis } from 'ioredis';
import pg from 'pg';
import { MANIFEST_FORMAT, type Manifest } from '../../actions/core/src/backup/manifest.js';
import { connectionEnv } from '../../actions/core/src/backup/sources/postgres.js';
import { TAR_END, encodeEntry, type TarHeader } from '../../actions/core/src/backup/sources/tar.js';
import { annotations, runLikeTheRunner, type RunnerResult } from '../../scripts/run-action.js';
import { startPostgres, startRedis, type RunningPostgres } from '../../scripts/servers/index.js';
import { whileRunning } from '../support/while-running.js';

let scratch: string;

beforeAll(async () => {
  scratch = await mkdtemp(path.join(os.tmpdir(), 'switchyard-backup-e2e-'));
});

afterAll(async () => {
  if (scratch) await rm(scratch, { recursive: true, force: true });
});

/** A repository checkout to run the action in, and a store beside it (never inside what is backed up). */
interface Workspace {
  root: string;
  cwd: string;
  storeDir: string;
  store: string;
}

async function workspace(name: string): Promise<Workspace> {
  const root = path.join(scratch, name);
  const cwd = path.join(root, 'repo');
  await mkdir(cwd, { recursive: true });
  const storeDir = path.join(root, 'backups');
  return { root, cwd, storeDir, store: `local:${storeDir}` };
}

function backupAction(ws: Workspace, inputs: Record<string, string>): Promise<RunnerResult> {
  return runLikeTheRunner('backup', { store: ws.store, ...inputs }, {}, { cwd: ws.cwd });
}

/** A run that must have worked: on failure, its annotations make the test's message. */
function succeeded(result: RunnerResult): RunnerResult {
  expect({ exitCode: result.exitCode, errors: annotations(result.stdout) }).toEqual({
    exitCode: 0,
    errors: [],
  });
  return result;
}

function manifestOf(result: RunnerResult): Manifest {
  return JSON.parse(result.outputs.manifest ?? '') as Manifest;
}

function sha256(data: Buffer | string): string {
  return createHash('sha256').update(data).digest('hex');
}

/**
 * Everything under `root` as comparable text: type, permission bits, modification time, content
 * hash or link target. `exact` keeps sub-second times (to prove nothing was rewritten); tar keeps
 * whole seconds, so a restored tree is compared at that precision.
 */
async function walk(
  root: string,
  precision: 'seconds' | 'exact' = 'seconds',
): Promise<Record<string, string>> {
  const seen: Record<string, string> = {};
  const visit = async (directory: string, prefix: string) => {
    for (const name of (await readdir(directory)).sort()) {
      const absolute = path.join(directory, name);
      const relative = prefix ? `${prefix}/${name}` : name;
      const stats = await lstat(absolute);
      const mode = (stats.mode & 0o7777).toString(8).padStart(4, '0');
      const time = precision === 'exact' ? stats.mtimeMs : Math.floor(stats.mtimeMs / 1000);
      if (stats.isSymbolicLink()) seen[relative] = `link -> ${await readlink(absolute)}`;
      else if (stats.isDirectory()) {
        seen[relative] = `dir ${mode} ${time}`;
        await visit(absolute, relative);
      } else seen[relative] = `file ${mode} ${time} ${stats.size} ${sha256(await readFile(absolute))}`;
    }
  };
  await visit(root, '');
  return seen;
}

/**
 * app/ with nested directories, modes 0640/0755/0600/0750, links to a file and to a directory, an
 * empty file, a non-ASCII name and a file larger than one read chunk; every time set in the past.
 * Returns the records a backup of it should count.
 */
async function makeTree(cwd: string): Promise<Record<string, number>> {
  const app = path.join(cwd, 'app');
  const deeper = path.join(app, 'config', 'nested', 'deeper');
  await mkdir(deeper, { recursive: true });
  await mkdir(path.join(app, 'bin'));
  const files: [string, string | Buffer, number][] = [
    ['config/app.env', 'DATABASE=shop\n', 0o640],
    ['bin/start', '#!/bin/sh\nexec node server.js\n', 0o755],
    ['config/nested/deeper/key.pem', randomBytes(3_000), 0o600],
    ['Ünïcode ✓.txt', 'grüße, 世界\n', 0o644],
    ['empty', '', 0o644],
    ['uploads.bin', randomBytes(700 * 1024), 0o644],
  ];
  for (const [name, content, mode] of files) {
    await writeFile(path.join(app, name), content);
    await chmod(path.join(app, name), mode);
  }
  await symlink('config/app.env', path.join(app, 'current.env'));
  await symlink('../bin', path.join(app, 'config', 'bin-link'));
  await chmod(path.join(app, 'config', 'nested'), 0o750);
  // Directories last: adding entries to them moved their times.
  const directories = ['config/nested/deeper', 'config/nested', 'config', 'bin'];
  let time = 1_700_000_000;
  for (const name of [...files.map(([file]) => file), ...directories]) {
    time += 3_600;
    await utimes(path.join(app, name), time, time);
  }
  return {
    files: files.length,
    directories: directories.length + 1,
    symlinks: 2,
    bytes: files.reduce((sum, [, content]) => sum + Buffer.byteLength(content), 0),
  };
}

describe('files', () => {
  it.each([
    ['gzip', '.tar.gz', '1f8b'],
    ['zstd', '.tar.zst', '28b52ffd'],
    ['none', '.tar', undefined],
  ])(
    'compression %s: a tree with links and modes comes back the same after backup → delete → restore',
    async (compression, suffix, magic) => {
      const ws = await workspace(`files-${compression}`);
      const records = await makeTree(ws.cwd);
      const before = await walk(path.join(ws.cwd, 'app'));

      const taken = succeeded(await backupAction(ws, { sources: 'file:app', compression }));
      const manifest = manifestOf(taken);
      const id = taken.outputs['backup-id'] ?? '';
      expect(manifest.compression).toBe(compression);
      expect(manifest.parts).toHaveLength(1);
      const [part] = manifest.parts;
      expect(part?.name).toBe(`file-app${suffix}`);
      expect(part?.records).toEqual(records);
      const stored = await readFile(path.join(ws.storeDir, id, part?.name ?? ''));
      if (magic) expect(stored.subarray(0, magic.length / 2).toString('hex')).toBe(magic);
      // Uncompressed, the part is the tar itself: "ustar" at offset 257 of the first header.
      else expect(stored.subarray(257, 262).toString('latin1')).toBe('ustar');
      expect(part?.bytes).toBe(stored.length);
      expect(part?.sha256).toBe(sha256(stored));

      await rm(path.join(ws.cwd, 'app'), { recursive: true });
      const restored = succeeded(await backupAction(ws, { command: 'restore', id }));
      expect(restored.outputs['backup-id']).toBe(id);
      expect(await walk(path.join(ws.cwd, 'app'))).toEqual(before);
      expect(JSON.parse(restored.report ?? '').counts).toEqual(
        Object.entries(part?.records ?? {}).map(([group, n]) => ({
          part: part?.name,
          group,
          expected: n,
          found: n,
        })),
      );
    },
  );
});

describe('refusals that leave everything as it was', () => {
  it('an archive with a ../ entry is refused with one error naming it, and nothing is written', async () => {
    const ws = await workspace('dot-dot');
    const id = 'crafted';
    const now = Math.floor(Date.now() / 1000);
    const entries: [TarHeader, Buffer?][] = [
      [{ name: 'app/', type: 'directory', mode: 0o755, size: 0, mtime: now }],
      [{ name: 'app/ok.txt', type: 'file', mode: 0o644, size: 3, mtime: now }, Buffer.from('ok\n')],
      [{ name: '../evil.txt', type: 'file', mode: 0o644, size: 7, mtime: now }, Buffer.from('gotcha\n')],
      [{ name: 'app/after.txt', type: 'file', mode: 0o644, size: 6, mtime: now }, Buffer.from('after\n')],
    ];
    const blocks: Buffer[] = [];
    for (const [header, content] of entries)
      for await (const block of encodeEntry(header, content ? [content] : undefined)) blocks.push(block);
    blocks.push(TAR_END);
    const tar = Buffer.concat(blocks);
    const part = gzipSync(tar);
    const manifest: Manifest = {
      format: MANIFEST_FORMAT,
      id,
      createdAt: new Date().toISOString(),
      finishedAt: new Date().toISOString(),
      switchyard: '0.1.0',
      git: {},
      compression: 'gzip',
      sizeBytes: part.length,
      parts: [
        {
          name: 'file-app.tar.gz',
          kind: 'file',
          source: 'file:app',
          include: [],
          exclude: [],
          bytes: part.length,
          sha256: sha256(part),
          rawBytes: tar.length,
          records: { files: 3, directories: 1, symlinks: 0, bytes: 16 },
          facts: {},
          seconds: 0,
        },
      ],
    };
    await mkdir(path.join(ws.storeDir, id), { recursive: true });
    await writeFile(path.join(ws.storeDir, id, 'file-app.tar.gz'), part);
    await writeFile(path.join(ws.storeDir, id, 'manifest.json'), JSON.stringify(manifest, null, 2));
    // Its checksums are sound, so only the entry is at fault: verify refuses it too, and never
    // marks it verified (prune would otherwise keep it as the last good backup).
    const verified = await backupAction(ws, { command: 'verify', id });
    expect(verified.exitCode).toBe(1);
    expect(annotations(verified.stdout)).toEqual([
      expect.stringContaining('"../evil.txt" has a ".." segment'),
    ]);
    expect(existsSync(path.join(ws.storeDir, id, 'verified.mark.json'))).toBe(false);
    const everything = await walk(ws.root, 'exact');

    // Into a target below the workspace (../evil.txt would land beside it), then where it came from.
    for (const target of [path.join(ws.root, 'restore-here'), undefined]) {
      const refused = await backupAction(ws, {
        command: 'restore',
        id,
        mode: 'merge',
        ...(target ? { target } : {}),
      });
      expect(refused.exitCode).toBe(1);
      const errors = annotations(refused.stdout);
      expect(errors).toHaveLength(1);
      expect(errors[0]).toMatch(
        /^file:app: refusing to restore into .*: 1 entry is unsafe: "\.\.\/evil\.txt" has a "\.\." segment, which would leave the target\. Nothing was written\./,
      );
      expect(await walk(ws.root, 'exact')).toEqual(everything);
      expect(await readdir(path.dirname(ws.root))).not.toContain('evil.txt');
    }
    expect(existsSync(path.join(ws.root, 'restore-here'))).toBe(false);
  });

  it('a flipped byte in a part fails verify and restore, naming the part; the target and the store stay as they were', async () => {
    const ws = await workspace('flipped');
    await makeTree(ws.cwd);
    const taken = succeeded(await backupAction(ws, { sources: 'file:app' }));
    const id = taken.outputs['backup-id'] ?? '';
    const partFile = path.join(ws.storeDir, id, 'file-app.tar.gz');
    const bytes = await readFile(partFile);
    const middle = Math.floor(bytes.length / 2);
    bytes[middle] = (bytes[middle] ?? 0) ^ 0x01;
    await writeFile(partFile, bytes);

    const target = path.join(ws.root, 'staging');
    await mkdir(path.join(target, 'app'), { recursive: true });
    await writeFile(path.join(target, 'app', 'current.env'), 'what staging holds now\n');
    const targetBefore = await walk(target, 'exact');
    const storeBefore = await walk(ws.storeDir, 'exact');

    const verified = await backupAction(ws, { command: 'verify', id });
    expect(verified.exitCode).toBe(1);
    expect(annotations(verified.stdout)).toEqual([
      expect.stringMatching(
        new RegExp(
          `^Part file-app\\.tar\\.gz of backup ${id} is damaged: its sha256 is [0-9a-f]{64} .*the manifest says ${manifestOf(taken).parts[0]?.sha256}.*Do not restore this backup`,
        ),
      ),
    ]);

    // replace (with its safety backup) would overwrite staging: the checksum stops it first.
    const restored = await backupAction(ws, { command: 'restore', id, target, mode: 'replace' });
    expect(restored.exitCode).toBe(1);
    expect(annotations(restored.stdout)).toEqual([
      expect.stringMatching(
        new RegExp(
          `^Part file-app\\.tar\\.gz of backup ${id} is damaged: .*Nothing was restored and the target is untouched\\.`,
        ),
      ),
    ]);
    expect(await walk(target, 'exact')).toEqual(targetBefore);
    // No verified mark, no safety backup.
    expect(await walk(ws.storeDir, 'exact')).toEqual(storeBefore);
  });
});

describe('bad input', () => {
  let ws: Workspace;

  beforeAll(async () => {
    ws = await workspace('bad-input');
    await makeTree(ws.cwd);
    succeeded(await backupAction(ws, { sources: 'file:app' }));
  });

  it.each<[string, Record<string, string>, string, RegExp]>([
    [
      'sources: ftp://x',
      { sources: 'ftp://x' },
      'sources',
      /^Input "sources": "ftp:\/\/x\/?" has an unsupported scheme "ftp:"; use postgres:\/\/…, redis:\/\/… or file:PATH-OR-GLOB/,
    ],
    [
      'retention: 0',
      { sources: 'file:app', retention: '0' },
      'retention',
      /^Input "retention": "0" is not valid: must be at least 1\b/,
    ],
    [
      'command: restore without id',
      { command: 'restore' },
      'id',
      /^Input "id": is required for restore: name the backup to restore, or latest for the newest \(command: list shows them\)$/,
    ],
    [
      'command: restore of id: nope',
      { command: 'restore', id: 'nope' },
      'id',
      /^Input "id": there is no complete backup "nope" in local:\/.*; command: list shows the backups there$/,
    ],
    [
      'command: backup without sources',
      { command: 'backup' },
      'sources',
      /^Input "sources": is required for backup: one line per source\. Example: sources: postgres:\/\/\S+$/,
    ],
    [
      'include: redis:session:* with only a file source',
      { sources: 'file:app', include: 'redis:session:*' },
      'include',
      /^Input "include": "redis:session:\*" is a Redis key pattern, and sources has no redis:\/\/ source; remove it or add the source$/,
    ],
    [
      'exclude: postgres:public.audit with only a file source',
      { sources: 'file:app', exclude: 'postgres:public.audit' },
      'exclude',
      /^Input "exclude": "postgres:public\.audit" is a PostgreSQL table pattern, and sources has no postgres:\/\/ source; remove it or add the source$/,
    ],
  ])(
    '%s ⇒ one error naming the input and the fix, exit 1, the store unchanged',
    async (_name, inputs, input, says) => {
      const storeBefore = await walk(ws.storeDir, 'exact');
      const result = await backupAction(ws, inputs);
      expect(result.exitCode).toBe(1);
      const errors = annotations(result.stdout);
      expect(errors).toHaveLength(1);
      expect(errors[0]).toMatch(says);
      expect(result.stdout).toContain(`::error title=Invalid input%3A ${input}::`);
      expect(result.stderr).toBe('');
      expect(await walk(ws.storeDir, 'exact')).toEqual(storeBefore);
    },
  );
});

/** The first column of the backups table in a list or prune summary. */
function listedIds(summary: string): string[] {
  const table = summary.slice(summary.indexOf('| Backup |'));
  return table
    .split('\n')
    .filter((line) => line.startsWith('| ') && !line.startsWith('| Backup |') && !line.startsWith('| --- |'))
    .map((line) => line.split('|')[1]?.trim() ?? '');
}

describe('list, verify, prune and latest', () => {
  it('prune with retention 1 keeps the newest and the verified oldest; list is newest first; latest restores the newest', async () => {
    const ws = await workspace('lifecycle');
    await mkdir(path.join(ws.cwd, 'app'));
    // Named so that neither name order matches the order they were taken in.
    const ids = ['nightly-b', 'nightly-c', 'nightly-a'];
    for (const [index, id] of ids.entries()) {
      await writeFile(path.join(ws.cwd, 'app', 'version.txt'), `v${index + 1}\n`);
      expect(succeeded(await backupAction(ws, { sources: 'file:app', id })).outputs['backup-id']).toBe(id);
    }
    const [oldest, middle, newest] = ids as [string, string, string];

    const verified = succeeded(await backupAction(ws, { command: 'verify', id: oldest }));
    expect(verified.outputs['backup-id']).toBe(oldest);
    const mark = JSON.parse(await readFile(path.join(ws.storeDir, oldest, 'verified.mark.json'), 'utf8'));
    expect(Date.parse(mark.verifiedAt)).not.toBeNaN();

    const listed = succeeded(await backupAction(ws, { command: 'list' }));
    expect(listed.outputs['backup-id']).toBe(newest);
    expect(listedIds(listed.summary)).toEqual([newest, middle, oldest]);
    const oldestRow = listed.summary.split('\n').find((line) => line.startsWith(`| ${oldest} |`));
    expect(oldestRow?.trim().endsWith(`| ${mark.verifiedAt} |`)).toBe(true);

    const pruned = succeeded(await backupAction(ws, { command: 'prune', retention: '1' }));
    expect(pruned.stdout).toContain(`Keeping ${oldest} beyond retention 1: it is the newest verified backup`);
    expect(pruned.summary).toContain(`Pruned 1 backup: \`${middle}\`.`);
    expect(readdirSync(ws.storeDir).sort()).toEqual([oldest, newest].sort());
    expect(listedIds(succeeded(await backupAction(ws, { command: 'list' })).summary)).toEqual([
      newest,
      oldest,
    ]);

    const target = path.join(ws.root, 'restored');
    const restored = succeeded(await backupAction(ws, { command: 'restore', id: 'latest', target }));
    expect(restored.outputs['backup-id']).toBe(newest);
    expect(await readFile(path.join(target, 'app', 'version.txt'), 'utf8')).toBe('v3\n');
  });
});

describe('faults: what the store and the target look like afterwards', () => {
  /** Flips one byte in the middle of a stored part. */
  async function flipByte(file: string): Promise<void> {
    const bytes = await readFile(file);
    const middle = Math.floor(bytes.length / 2);
    bytes[middle] = (bytes[middle] ?? 0) ^ 0x01;
    await writeFile(file, bytes);
  }

  it('a verify that finds a flipped byte removes the backup’s verified mark, so prune retention 1 keeps the intact verified backup', async () => {
    const ws = await workspace('verify-unmarks');
    await mkdir(path.join(ws.cwd, 'app'));
    for (const [index, id] of ['intact', 'corrupted'].entries()) {
      await writeFile(path.join(ws.cwd, 'app', 'version.txt'), `v${index + 1}\n`);
      succeeded(await backupAction(ws, { sources: 'file:app', id }));
      succeeded(await backupAction(ws, { command: 'verify', id }));
      expect(existsSync(path.join(ws.storeDir, id, 'verified.mark.json'))).toBe(true);
    }
    await flipByte(path.join(ws.storeDir, 'corrupted', 'file-app.tar.gz'));

    const failed = await backupAction(ws, { command: 'verify', id: 'corrupted' });
    expect(failed.exitCode).toBe(1);
    expect(annotations(failed.stdout)).toEqual([
      expect.stringMatching(
        /^Part file-app\.tar\.gz of backup corrupted is damaged: .*Do not restore this backup/,
      ),
    ]);
    expect(failed.stdout).toContain('Removed the verified mark of backup corrupted: this verify failed');
    expect(existsSync(path.join(ws.storeDir, 'corrupted', 'verified.mark.json'))).toBe(false);

    const pruned = succeeded(await backupAction(ws, { command: 'prune', retention: '1' }));
    expect(pruned.stdout).toContain('Keeping intact beyond retention 1: it is the newest verified backup');
    expect(pruned.outputs['backup-id'] ?? '').toBe('');
    expect(readdirSync(ws.storeDir).sort()).toEqual(['corrupted', 'intact']);
    // The intact one still restores.
    const target = path.join(ws.root, 'restored');
    succeeded(await backupAction(ws, { command: 'restore', id: 'intact', target }));
    expect(await readFile(path.join(target, 'app', 'version.txt'), 'utf8')).toBe('v1\n');
  });

  /** A temporary part with data in it, in the folder of backup `id`. */
  function temporaryPart(ws: Workspace, id: string): string | undefined {
    const folder = path.join(ws.storeDir, id);
    const names = existsSync(folder) ? readdirSync(folder) : [];
    return names.find(
      (name) => /^\.file-app\.tar\.gz\.[0-9a-f]+\.tmp$/.test(name) && statSizeOf(path.join(folder, name)) > 0,
    );
  }

  function statSizeOf(file: string): number {
    return statSync(file, { throwIfNoEntry: false })?.size ?? 0;
  }

  it('a SIGKILLed backup leaves a .tmp part; prune removes it (its process is gone) and says so, and keeps the files of a backup still running', async () => {
    const ws = await workspace('sigkill');
    await mkdir(path.join(ws.cwd, 'app'));
    await writeFile(path.join(ws.cwd, 'app', 'big.bin'), randomBytes(48 * 1024 * 1024));
    succeeded(await backupAction(ws, { sources: 'file:app', id: 'complete', compression: 'none' }));

    const start = (id: string) => {
      let child: ChildProcess | undefined;
      const run = runLikeTheRunner(
        'backup',
        { store: ws.store, sources: 'file:app', id },
        {},
        { cwd: ws.cwd, onSpawn: (spawned) => (child = spawned) },
      );
      return { run, child: () => child as ChildProcess };
    };

    const killed = start('killed');
    const leftover = await whileRunning('a part being written', killed.run, () =>
      temporaryPart(ws, 'killed'),
    );
    killed.child().kill('SIGKILL');
    expect((await killed.run).exitCode).not.toBe(0);
    expect(readdirSync(path.join(ws.storeDir, 'killed'))).toContain(leftover);
    expect(existsSync(path.join(ws.storeDir, 'killed', 'manifest.json'))).toBe(false);

    // Stopped, not dead: a backup that may still go on.
    const paused = start('running');
    await whileRunning('a part being written', paused.run, () => temporaryPart(ws, 'running'));
    paused.child().kill('SIGSTOP');
    try {
      const running = await walk(path.join(ws.storeDir, 'running'), 'exact');
      const complete = await walk(path.join(ws.storeDir, 'complete'), 'exact');

      const pruned = succeeded(await backupAction(ws, { command: 'prune', retention: '5' }));
      expect(pruned.stdout).toMatch(
        /^Removed the leftovers of the interrupted backup killed \(no manifest; its process \d+ on this host is gone\): \d+ files?, [\d.]+ [KMG]?i?B$/m,
      );
      expect(pruned.stdout).toMatch(
        /^Kept running: no manifest yet, its process \d+ on this host is running$/m,
      );
      expect(readdirSync(ws.storeDir).sort()).toEqual(['complete', 'running']);
      expect(await walk(path.join(ws.storeDir, 'running'), 'exact')).toEqual(running);
      expect(await walk(path.join(ws.storeDir, 'complete'), 'exact')).toEqual(complete);
    } finally {
      paused.child().kill('SIGCONT');
    }
    succeeded(await paused.run);
    expect(readdirSync(path.join(ws.storeDir, 'running')).sort()).toEqual([
      'file-app.tar.gz',
      'manifest.json',
    ]);
  });

  it('prune removes a folder without a manifest left by another host only after 6 hours without a write', async () => {
    const ws = await workspace('leftovers-elsewhere');
    await makeTree(ws.cwd);
    succeeded(await backupAction(ws, { sources: 'file:app', id: 'complete' }));
    const hours = (n: number) => (Date.now() - n * 3_600_000) / 1000;
    for (const [id, age] of [
      ['stale', 7],
      ['fresh', 1],
      ['stale-unowned', 7],
    ] as const) {
      const folder = path.join(ws.storeDir, id);
      await mkdir(folder);
      await writeFile(path.join(folder, '.file-app.tar.gz.0a1b2c.tmp'), randomBytes(1000));
      if (id !== 'stale-unowned')
        await writeFile(
          path.join(folder, '.owner.json'),
          JSON.stringify({ pid: 4242, host: 'another-runner', startedAt: new Date().toISOString() }),
        );
      for (const name of readdirSync(folder)) await utimes(path.join(folder, name), hours(age), hours(age));
      await utimes(folder, hours(age), hours(age));
    }
    const pruned = succeeded(await backupAction(ws, { command: 'prune', retention: '5' }));
    expect(pruned.stdout).toMatch(
      /^Removed the leftovers of the interrupted backup stale \(no manifest; nothing written for 7\.0 h, by process 4242 on another-runner\): 2 files, /m,
    );
    expect(pruned.stdout).toMatch(
      /^Removed the leftovers of the interrupted backup stale-unowned \(no manifest; nothing written for 7\.0 h, by an unknown process\): 1 file, /m,
    );
    expect(pruned.stdout).toMatch(
      /^Kept fresh: no manifest yet, written 1\.0 h ago by process 4242 on another-runner \(removed after 6 h without a write\)$/m,
    );
    expect(readdirSync(ws.storeDir).sort()).toEqual(['complete', 'fresh']);
  });

  it('a tampered manifest naming a part ../../x: restore refuses the whole backup, verify too; the target and the store stay as they were', async () => {
    const ws = await workspace('tampered');
    await makeTree(ws.cwd);
    await mkdir(path.join(ws.cwd, 'db'));
    await writeFile(path.join(ws.cwd, 'db', 'app.sqlite'), randomBytes(5_000));
    const id = succeeded(await backupAction(ws, { sources: 'file:app\nfile:db', id: 'tampered' })).outputs[
      'backup-id'
    ] as string;
    const manifestFile = path.join(ws.storeDir, id, 'manifest.json');
    const manifest = JSON.parse(await readFile(manifestFile, 'utf8')) as Manifest;
    const db = manifest.parts.find((part) => part.source === 'file:db');
    if (!db) throw new Error('no db part');
    db.name = '../../x';
    await writeFile(manifestFile, JSON.stringify(manifest, null, 2));
    // What ../../x would reach from the backup's folder.
    await writeFile(path.join(ws.root, 'x'), 'not a part\n');

    const target = path.join(ws.root, 'staging');
    await mkdir(target);
    const targetBefore = await walk(target, 'exact');
    const storeBefore = await walk(ws.storeDir, 'exact');
    for (const inputs of [
      { command: 'restore', id, sources: 'file:app', target } as Record<string, string>,
      { command: 'restore', id, sources: 'file:app', target, mode: 'replace' },
      { command: 'verify', id },
    ]) {
      const refused = await backupAction(ws, inputs);
      expect(refused.exitCode).toBe(1);
      const errors = annotations(refused.stdout);
      expect(errors).toHaveLength(1);
      expect(errors[0]).toMatch(
        /^The manifest of backup tampered in local:\/.* cannot be used: part "\.\.\/\.\.\/x" is not a part name: .*\. Restore another backup \(command: list shows them\)\.$/,
      );
      expect(refused.stdout).not.toContain('Unexpected error');
      expect(await walk(target, 'exact')).toEqual(targetBefore);
      expect(await walk(ws.storeDir, 'exact')).toEqual(storeBefore);
    }
    const listed = succeeded(await backupAction(ws, { command: 'list' }));
    expect(listed.stdout).toContain('DAMAGED');
  });

  it('a tampered manifest whose sha256 was edited: restore refuses the part before writing anything', async () => {
    const ws = await workspace('tampered-sha');
    await makeTree(ws.cwd);
    const id = succeeded(await backupAction(ws, { sources: 'file:app', id: 'edited' })).outputs[
      'backup-id'
    ] as string;
    const manifestFile = path.join(ws.storeDir, id, 'manifest.json');
    const manifest = JSON.parse(await readFile(manifestFile, 'utf8')) as Manifest;
    const [part] = manifest.parts;
    if (!part) throw new Error('no part');
    part.sha256 = sha256('something else');
    await writeFile(manifestFile, JSON.stringify(manifest, null, 2));
    const target = path.join(ws.root, 'staging');
    const storeBefore = await walk(ws.storeDir, 'exact');
    const refused = await backupAction(ws, { command: 'restore', id, target, mode: 'replace' });
    expect(refused.exitCode).toBe(1);
    expect(annotations(refused.stdout)).toEqual([
      expect.stringMatching(/^Part file-app\.tar\.gz of backup edited is damaged: .*Nothing was restored/),
    ]);
    expect(existsSync(target)).toBe(false);
    expect(await walk(ws.storeDir, 'exact')).toEqual(storeBefore);
  });
});

/** `20261121-071502`, as the action names a backup taken at `date` (UTC, whole seconds). */
function stamp(date: Date): string {
  return date
    .toISOString()
    .replace(/\.\d+Z$/, '')
    .replace(/[-:]/g, '')
    .replace('T', '-');
}

describe('outputs', () => {
  it('sha256, size-bytes and backup-id describe what is stored; a backup in the same second gets another id', async () => {
    const ws = await workspace('outputs');
    await mkdir(path.join(ws.cwd, 'app'));
    await writeFile(path.join(ws.cwd, 'app', 'index.html'), '<h1>shop</h1>\n'.repeat(200));
    await mkdir(path.join(ws.cwd, 'db'));
    await writeFile(path.join(ws.cwd, 'db', 'app.sqlite'), randomBytes(5_000));
    const first = succeeded(await backupAction(ws, { sources: 'file:app\nfile:db' }));
    const id = first.outputs['backup-id'] ?? '';
    expect(id).toMatch(/^\d{8}-\d{6}$/);
    expect(readdirSync(ws.storeDir)).toEqual([id]);

    const folder = path.join(ws.storeDir, id);
    const manifestText = await readFile(path.join(folder, 'manifest.json'));
    expect(first.outputs.sha256).toBe(sha256(manifestText));
    expect(first.summary).toContain(`Manifest sha256 \`${sha256(manifestText)}\``);
    const parts = readdirSync(folder).filter((name) => name !== 'manifest.json');
    expect(parts.sort()).toEqual(['file-app.tar.gz', 'file-db.tar.gz']);
    let total = 0;
    for (const name of parts) total += (await stat(path.join(folder, name))).size;
    expect(first.outputs['size-bytes']).toBe(String(total));
    expect(manifestOf(first)).toEqual(JSON.parse(manifestText.toString('utf8')));

    // Every second the next backup could start in already has a backup (as `first` has its own).
    const taken = new Set([id]);
    for (let ahead = 0; ahead < 30; ahead++) {
      const occupied = stamp(new Date(Date.now() + ahead * 1000));
      if (taken.has(occupied)) continue;
      taken.add(occupied);
      await cp(folder, path.join(ws.storeDir, occupied), { recursive: true });
      const text = (await readFile(path.join(folder, 'manifest.json'), 'utf8')).replace(
        `"id": "${id}"`,
        `"id": "${occupied}"`,
      );
      await writeFile(path.join(ws.storeDir, occupied, 'manifest.json'), text);
    }
    const storeBefore = await walk(ws.storeDir, 'exact');

    const second = succeeded(await backupAction(ws, { sources: 'file:app\nfile:db' }));
    const secondId = second.outputs['backup-id'] ?? '';
    const [, same] = /^(\d{8}-\d{6})-2$/.exec(secondId) ?? [];
    expect([...taken]).toContain(same);
    const createdAt = new Date(manifestOf(second).createdAt);
    expect([stamp(createdAt), stamp(new Date(createdAt.getTime() - 1000))]).toContain(same);
    // The backup already there is left alone.
    const storeAfter = await walk(ws.storeDir, 'exact');
    for (const [name, entry] of Object.entries(storeBefore)) expect(storeAfter[name]).toBe(entry);
    expect(await readFile(path.join(ws.storeDir, secondId, 'manifest.json'))).toEqual(
      Buffer.from(`${JSON.stringify(manifestOf(second), null, 2)}\n`),
    );
  });

  // BUG (actions/core/src/backup/engine.ts, unusedId()/backup()): the id is checked free, then
  // written much later, so jobs sharing a store that start in the same second take the same id.
  // Seen: two runs both reporting success with one backup-id, or one run's cleanup removing the
  // other's part and leaving a manifest whose part is gone. Fails until ids are claimed atomically.
  it('backups started together each get their own id and a complete folder', async () => {
    const ws = await workspace('together');
    await makeTree(ws.cwd);
    const runs = await Promise.all([1, 2, 3, 4].map(() => backupAction(ws, { sources: 'file:app' })));
    for (const run of runs) succeeded(run);
    const ids = runs.map((run) => run.outputs['backup-id'] ?? '');
    expect(new Set(ids).size).toBe(ids.length);
    for (const [index, id] of ids.entries()) {
      expect(readdirSync(path.join(ws.storeDir, id)).sort()).toEqual(['file-app.tar.gz', 'manifest.json']);
      const stored = await readFile(path.join(ws.storeDir, id, 'manifest.json'));
      expect(sha256(stored)).toBe(runs[index]?.outputs.sha256);
    }
  });
});

// ---------------------------------------------------------------------------------------------

const PASSWORD = 'Pg/s3cr3t@pw#9';

/** pgbench: on the PATH (Debian's wrapper), else in the newest /usr/lib/postgresql/<version>/bin. */
function pgbenchProgram(): string {
  const root = '/usr/lib/postgresql';
  const versions = existsSync(root)
    ? readdirSync(root).sort((a, b) => Number.parseFloat(b) - Number.parseFloat(a))
    : [];
  const found = ['/usr/bin', ...versions.map((v) => path.join(root, v, 'bin'))]
    .map((dir) => path.join(dir, 'pgbench'))
    .find((file) => existsSync(file));
  if (!found) throw new Error('pgbench is not installed: sudo apt-get install -y postgresql-contrib');
  return found;
}

async function sql<T extends pg.QueryResultRow = pg.QueryResultRow>(
  url: string,
  text: string,
  values: unknown[] = [],
): Promise<T[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<T>(text, values)).rows;
  } finally {
    await client.end();
  }
}

/** Per table: its rows and an md5 of every row's text in a fixed order; equal means equal content. */
async function checksums(url: string): Promise<Record<string, { rows: number; md5: string }>> {
  const tables = await sql<{ name: string }>(
    url,
    `SELECT table_schema || '.' || table_name AS name FROM information_schema.tables
      WHERE table_type = 'BASE TABLE' AND table_schema NOT IN ('pg_catalog', 'information_schema')
      ORDER BY 1`,
  );
  const out: Record<string, { rows: number; md5: string }> = {};
  for (const { name } of tables) {
    const [row] = await sql<{ rows: string; md5: string | null }>(
      url,
      `SELECT count(*) AS rows, md5(string_agg(t::text, E'\\n' ORDER BY t::text)) AS md5 FROM ${name} t`,
    );
    out[name] = { rows: Number(row?.rows), md5: row?.md5 ?? '' };
  }
  return out;
}

describe('postgres', () => {
  let postgres: RunningPostgres;

  beforeAll(async () => {
    postgres = await startPostgres({ password: PASSWORD });
    await promisify(execFile)(pgbenchProgram(), ['-i', '-q', '-s', '5'], {
      env: { ...process.env, ...connectionEnv(new URL(postgres.url)) },
    });
    await sql(
      postgres.url,
      String.raw`
      CREATE TABLE kinds (id serial PRIMARY KEY, j json, jb jsonb, b bytea, ints int[], texts text[], note text);
      INSERT INTO kinds (j, jb, b, ints, texts, note) VALUES
        ('{"a": [1, 2, {"b": null}], "s": "tab\there"}', '{"z": "ü€😀", "n": 1.50}', '\x00ff00fe80'::bytea,
         '{1,2,NULL,-3}', ARRAY['a b', 'quote"d', NULL, 'ü', '', 'back\slash'], 'Grüße, 世界 😀'),
        (NULL, NULL, NULL, NULL, NULL, NULL),
        ('[]', '{}', ''::bytea, '{}', '{}', '');
      INSERT INTO kinds (j, jb, b, ints, texts)
        SELECT json_build_object('n', g), jsonb_build_object('g', g, 'h', md5(g::text)),
               decode(md5(g::text), 'hex'), ARRAY[g, -g, g * g], ARRAY[md5(g::text), 'row ' || g]
          FROM generate_series(1, 2000) g;
      `,
    );
    await sql(postgres.url, 'INSERT INTO kinds (b, note) VALUES ($1, $2)', [
      randomBytes(4 * 1024 * 1024),
      'big',
    ]);
  }, 60_000);

  afterAll(async () => {
    await postgres?.stop();
  });

  it('include public.pgbench_branches, session:* with a PostgreSQL and a Redis source: each source takes its own patterns', async () => {
    const redis = await startRedis();
    const keys = new Redis(`${redis.url}/0`);
    try {
      await keys.mset('session:1', 'a', 'session:2', 'b', 'cart:1', 'c', 'switchyard:default:lock', 'held');
      const ws = await workspace('patterns');
      const sources = `${postgres.url}\nredis://127.0.0.1:${redis.port}/0`;

      const taken = succeeded(
        await backupAction(ws, {
          sources,
          include: 'public.pgbench_branches, session:*',
          exclude: 'redis:session:2',
        }),
      );
      const [pgPart, redisPart] = manifestOf(taken).parts;
      expect(pgPart).toMatchObject({ kind: 'postgres', include: ['public.pgbench_branches'], exclude: [] });
      expect(Object.keys(pgPart?.records ?? {})).toEqual(['public.pgbench_branches']);
      expect(redisPart).toMatchObject({
        kind: 'redis',
        include: ['session:*'],
        exclude: ['session:2', 'switchyard:*'],
      });
      expect(redisPart?.facts).toMatchObject({ keys: 1 });

      // A bare name could be a table or a key pattern: the user says which.
      const ambiguous = await backupAction(ws, { sources, include: 'audit_*' });
      expect(ambiguous.exitCode).toBe(1);
      expect(annotations(ambiguous.stdout)).toEqual([
        'Input "include": "audit_*" could be a PostgreSQL table pattern or a Redis key pattern; write postgres:audit_* or redis:audit_*',
      ]);
      expect(readdirSync(ws.storeDir)).toEqual([taken.outputs['backup-id']]);
    } finally {
      keys.disconnect();
      await redis.stop();
    }
  });

  it('a pgbench -s 5 database with json, jsonb, bytea and array columns: backup → drop → restore ⇒ equal checksums; the password shows nowhere', async () => {
    const ws = await workspace('postgres');
    const before = await checksums(postgres.url);
    expect(Object.keys(before)).toEqual([
      'public.kinds',
      'public.pgbench_accounts',
      'public.pgbench_branches',
      'public.pgbench_history',
      'public.pgbench_tellers',
    ]);
    expect(before['public.pgbench_accounts']?.rows).toBe(500_000);

    const taken = succeeded(await backupAction(ws, { sources: postgres.url }));
    const id = taken.outputs['backup-id'] ?? '';
    const manifest = manifestOf(taken);
    expect(manifest.parts).toHaveLength(1);
    expect(manifest.parts[0]?.source).toBe(
      `postgres://switchyard:***@127.0.0.1:${postgres.port}/${postgres.database}`,
    );
    expect(manifest.parts[0]?.records).toEqual(
      Object.fromEntries(Object.entries(before).map(([table, { rows }]) => [table, rows])),
    );
    const storedManifest = await readFile(path.join(ws.storeDir, id, 'manifest.json'), 'utf8');

    await sql(
      postgres.url,
      'DROP TABLE kinds, pgbench_accounts, pgbench_branches, pgbench_history, pgbench_tellers',
    );
    expect(await checksums(postgres.url)).toEqual({});

    // The manifest holds no password, so a restore to where the backup came from needs it in sources.
    const withoutCredentials = await backupAction(ws, { command: 'restore', id });
    expect(withoutCredentials.exitCode).toBe(1);
    expect(annotations(withoutCredentials.stdout)).toEqual([
      expect.stringMatching(
        /^Input "sources": part postgres-\S+\.pgdump\.gz came from postgres:\/\/switchyard:\*\*\*@\S+, whose credentials a manifest never holds: list that source in sources, with them$/,
      ),
    ]);
    expect(await checksums(postgres.url)).toEqual({});

    const restored = succeeded(await backupAction(ws, { command: 'restore', id, sources: postgres.url }));
    expect(await checksums(postgres.url)).toEqual(before);
    const counts = (JSON.parse(restored.report ?? '').counts as { group: string }[]).sort((a, b) =>
      a.group.localeCompare(b.group),
    );
    expect(counts).toEqual(
      Object.entries(before).map(([table, { rows }]) => ({
        part: manifest.parts[0]?.name,
        group: table,
        expected: rows,
        found: rows,
      })),
    );

    const everythingShown = [taken, withoutCredentials, restored]
      .flatMap((run) => [
        run.stdout,
        run.stderr,
        run.summary,
        run.report ?? '',
        ...Object.values(run.outputs),
      ])
      .concat(storedManifest);
    for (const text of everythingShown) {
      expect(text).not.toContain(PASSWORD);
      expect(text).not.toContain(encodeURIComponent(PASSWORD));
      expect(text).not.toContain('s3cr3t');
    }
  });
});
