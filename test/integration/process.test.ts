// The process runner against real programs: argv without a shell, lines as they are written, and
// stopping (timeout, cancellation) that reaches everything the program started.
import { afterAll, beforeEach, describe, expect, it } from '@jest/globals';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable, Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import {
  groupMembers,
  systemRunner,
  type LineHandler,
  type OutputStream,
} from '../../actions/core/src/process.js';

const FIXTURES = fileURLToPath(new URL('../fixtures/process/', import.meta.url));
const TRAP_TERM = path.join(FIXTURES, 'trap-term.sh');
const { run, stream } = systemRunner;

const dirs: string[] = [];
let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'switchyard-process-'));
  dirs.push(dir);
});
afterAll(async () => {
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

/** Collects the lines, and resolves `seen(text)` once a line equal to it has come. */
function lines(): { onLine: LineHandler; got: [OutputStream, string][]; seen(text: string): Promise<void> } {
  const got: [OutputStream, string][] = [];
  const waiting: { text: string; resolve: () => void }[] = [];
  return {
    got,
    onLine(line, from) {
      got.push([from, line]);
      for (const w of waiting.filter((w) => w.text === line)) w.resolve();
    },
    seen(text) {
      if (got.some(([, line]) => line === text)) return Promise.resolve();
      return new Promise((resolve) => waiting.push({ text, resolve }));
    },
  };
}

/** The trap-term.sh group: its leader's pid (= the group id) and its child's. */
async function trapGroup(): Promise<{ pgid: number; child: number }> {
  const read = async (name: string) => Number((await readFile(path.join(dir, name), 'utf8')).trim());
  return { pgid: await read('pgid'), child: await read('child') };
}

describe('run', () => {
  it('runs argv without a shell and returns what it said', async () => {
    const result = await run(
      ['sh', '-c', 'echo "$1"; echo "to stderr $X" >&2; cat; exit 3', 'sh', '$(id) ;|'],
      {
        env: { PATH: process.env.PATH, X: 'x' },
        input: 'from stdin\n',
      },
    );
    expect(result).toEqual({
      exitCode: 3,
      stdout: '$(id) ;|\nfrom stdin\n',
      stderr: 'to stderr x\n',
      timedOut: false,
      cancelled: false,
      outcome: 'exited with code 3',
    });
    const missing = await run([path.join(dir, 'nope')]);
    expect(missing).toMatchObject({
      exitCode: 127,
      outcome: `could not start (command not found: ${path.join(dir, 'nope')})`,
    });
  });

  it('hands over each line while the program still runs', async () => {
    const go = path.join(dir, 'go');
    const out = lines();
    // The program waits for a file the test writes only once it has seen the first line: were
    // lines held until the program exited, this would end in the timeout instead.
    const result = await run(
      [
        'sh',
        '-c',
        `printf 'first\\r\\n'; echo err >&2; while [ ! -e "$1" ]; do sleep 0.01; done; printf 'last'`,
        'sh',
        go,
      ],
      {
        timeoutMs: 10_000,
        onLine: (line, from) => {
          out.onLine(line, from);
          if (line === 'first') void writeFile(go, '');
        },
      },
    );
    expect(result).toMatchObject({ exitCode: 0, timedOut: false });
    expect(out.got).toEqual([
      ['stdout', 'first'],
      ['stderr', 'err'],
      ['stdout', 'last'],
    ]);
  });

  it('stops a program past its timeout, with what it started, and says so', async () => {
    const started = performance.now();
    const result = await run([TRAP_TERM, dir], { timeoutMs: 300 });
    expect(result).toMatchObject({
      timedOut: true,
      cancelled: false,
      exitCode: 143,
      outcome: 'timed out after 300 ms',
    });
    expect(performance.now() - started).toBeLessThan(3_000);
    expect(await readFile(path.join(dir, 'marker'), 'utf8')).toBe('got SIGTERM with weights none/none\n');
    const { pgid, child } = await trapGroup();
    expect(groupMembers(pgid)).toEqual([]);
    expect(groupMembers(pgid)).not.toContain(child);
  });

  it('cancels a running program when the signal aborts: SIGTERM to its whole group', async () => {
    const controller = new AbortController();
    const out = lines();
    const running = run([TRAP_TERM, dir], {
      signal: controller.signal,
      timeoutMs: 60_000,
      onLine: out.onLine,
    });
    await out.seen('ready');
    const { pgid, child } = await trapGroup();
    expect(groupMembers(pgid).sort()).toEqual([pgid, child].sort());
    controller.abort();
    expect(await running).toMatchObject({
      cancelled: true,
      timedOut: false,
      exitCode: 143,
      outcome: 'cancelled',
    });
    expect(existsSync(path.join(dir, 'marker'))).toBe(true);
    expect(groupMembers(pgid)).toEqual([]);
  });

  it('kills what ignores SIGTERM once the grace period is over', async () => {
    const controller = new AbortController();
    const out = lines();
    const started = performance.now();
    const running = run([TRAP_TERM, dir, 'ignore-term-child'], {
      signal: controller.signal,
      killGraceMs: 300,
      onLine: out.onLine,
    });
    await out.seen('ready');
    const { pgid } = await trapGroup();
    controller.abort();
    expect(await running).toMatchObject({ cancelled: true });
    expect(groupMembers(pgid)).toEqual([]);
    expect(performance.now() - started).toBeLessThan(5_000);
  });

  it('never starts a program whose signal is already aborted', async () => {
    const result = await run([TRAP_TERM, dir], { signal: AbortSignal.abort() });
    expect(result).toMatchObject({ cancelled: true, outcome: 'cancelled before it started' });
    expect(existsSync(path.join(dir, 'pgid'))).toBe(false);
  });

  it('does not wait for a daemon the program left holding its output', async () => {
    const started = performance.now();
    const result = await run(['sh', '-c', 'sleep 30 & echo $!']);
    expect(result).toMatchObject({ exitCode: 0, timedOut: false });
    expect(performance.now() - started).toBeLessThan(5_000);
    // Left alone on purpose (a stage command may start a service); the test cleans up after itself.
    process.kill(Number(result.stdout.trim()), 'SIGKILL');
  });
});

describe('a cancelled workflow', () => {
  it("passes the runner's SIGTERM on to the command's whole process group", async () => {
    // NODE_OPTIONS of a jest parent (--experimental-vm-modules) means nothing to the child.
    const { NODE_OPTIONS: _ignored, ...env } = process.env;
    const action = spawn(
      process.execPath,
      ['--import', 'tsx', path.join(FIXTURES, 'run-until-sigterm.ts'), TRAP_TERM, dir],
      { env, stdio: ['ignore', 'pipe', 'inherit'] },
    );
    let said = '';
    const exited = new Promise<number | null>((resolve) => action.once('close', resolve));
    await new Promise<void>((resolve) => {
      action.stdout.on('data', (chunk: Buffer) => {
        said += chunk.toString();
        if (said.includes('ready\n')) resolve();
      });
    });
    const { pgid } = await trapGroup();
    action.kill('SIGTERM');
    expect(await exited).toBe(0);
    const result = JSON.parse(said.trim().split('\n').pop() as string) as Record<string, unknown>;
    expect(result).toMatchObject({ cancelled: true, exitCode: 143, outcome: 'cancelled' });
    expect(existsSync(path.join(dir, 'marker'))).toBe(true);
    expect(groupMembers(pgid)).toEqual([]);
  });
});

describe('stream', () => {
  it('moves data of any size with backpressure: the source never runs far ahead of the sink', async () => {
    const CHUNK = 64 * 1024;
    const CHUNKS = 512; // 32 MiB
    let produced = 0;
    let consumed = 0;
    let maxAhead = 0;
    const source = new Readable({
      read() {
        if (produced >= CHUNKS * CHUNK) return this.push(null);
        produced += CHUNK;
        this.push(Buffer.alloc(CHUNK, 7));
      },
    });
    const sink = new Writable({
      highWaterMark: CHUNK,
      write(chunk: Buffer, _encoding, callback) {
        consumed += chunk.length;
        maxAhead = Math.max(maxAhead, produced - consumed);
        setImmediate(callback);
      },
    });
    const result = await stream(['cat'], { input: source, output: sink, timeoutMs: 60_000 });
    expect(result).toMatchObject({ exitCode: 0, aborted: false, outcome: 'exited with code 0' });
    expect(consumed).toBe(CHUNKS * CHUNK);
    // What sits in pipes and stream buffers on the way, not the whole 32 MiB.
    expect(maxAhead).toBeLessThan(4 * 1024 * 1024);
  });

  it('fails the output instead of ending it when the program fails, with its stderr lines live', async () => {
    const chunks: Buffer[] = [];
    let failure: Error | undefined;
    const sink = new Writable({
      write(chunk: Buffer, _encoding, callback) {
        chunks.push(chunk);
        callback();
      },
      final(callback) {
        callback();
      },
    });
    sink.on('error', (error) => (failure = error));
    const out = lines();
    const result = await stream(['sh', '-c', 'echo half; echo "disk full" >&2; exit 3'], {
      output: sink,
      onLine: out.onLine,
      failure: (r) => new Error(`dump failed: ${r.outcome}: ${r.stderr.trim()}`),
    });
    expect(result).toMatchObject({ exitCode: 3, stderr: 'disk full\n', aborted: false });
    expect(Buffer.concat(chunks).toString()).toBe('half\n');
    expect(failure?.message).toBe('dump failed: exited with code 3: disk full');
    expect(out.got).toEqual([['stderr', 'disk full']]);
  });

  it('stops a streaming program when cancelled', async () => {
    const controller = new AbortController();
    const out = lines();
    const running = stream([TRAP_TERM, dir], { signal: controller.signal, onLine: out.onLine });
    await out.seen('ready');
    const { pgid } = await trapGroup();
    controller.abort();
    expect(await running).toMatchObject({ cancelled: true, aborted: true, outcome: 'cancelled' });
    expect(existsSync(path.join(dir, 'marker'))).toBe(true);
    expect(groupMembers(pgid)).toEqual([]);
  });
});

describe('a program that cannot start', () => {
  it('is a result, not a throw, when spawn itself refuses (ENOTDIR)', async () => {
    const result = await systemRunner.run(['/etc/passwd/x']);
    expect(result.exitCode).toBe(127);
    expect(result.outcome).toMatch(/^could not start \(\/etc\/passwd\/x: .*ENOTDIR/);
  });
});
