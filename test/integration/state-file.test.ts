// The file deploy state store across real processes: concurrent updaters lose no update, a holder
// killed with SIGKILL leaves a lock the next run recognises as stale and takes over, and processes
// racing for one stale lock end with exactly one holder.
import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { systemClock } from '../../actions/core/src/clock.js';
import { openStateStore } from '../../actions/core/src/deploy/state/index.js';
import type { StateStore } from '../../actions/core/src/deploy/state/state.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const MODULES = `
import { openStateStore } from ${JSON.stringify(path.join(ROOT, 'actions/core/src/deploy/state/index.ts'))};
import { systemClock } from ${JSON.stringify(path.join(ROOT, 'actions/core/src/clock.ts'))};
`;

let dir: string;
let file: string;
const children: ChildProcessWithoutNullStreams[] = [];
const stores: StateStore[] = [];

beforeEach(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'switchyard-state-'));
  file = path.join(dir, 'state.json');
});

afterEach(async () => {
  for (const child of children.splice(0))
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  await Promise.all(stores.splice(0).map((store) => store.close()));
  await rm(dir, { recursive: true, force: true });
});

function store(): StateStore {
  const created = openStateStore(`file:${file}`);
  stores.push(created);
  return created;
}

/** A node process running `code` (TypeScript sources through tsx) with openStateStore and systemClock imported. */
function runChild(code: string) {
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', MODULES + code], {
    cwd: ROOT,
    env: { ...process.env, STATE: `file:${file}` },
  });
  children.push(child);
  const lines: string[] = [];
  let stdout = '';
  let stderr = '';
  const waiters: (() => void)[] = [];
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    stdout += chunk;
    const parts = stdout.split('\n');
    stdout = parts.pop() ?? '';
    lines.push(...parts);
    for (const wake of waiters.splice(0)) wake();
  });
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  void exited.then(() => waiters.splice(0).forEach((wake) => wake()));
  /** Resolves with the first line `match` accepts; rejects if the child exits first. */
  const line = async (match: (line: string) => boolean): Promise<string> => {
    for (;;) {
      const found = lines.find(match);
      if (found !== undefined) return found;
      if (child.exitCode !== null || child.signalCode !== null) {
        throw new Error(
          `child exited (${child.exitCode ?? child.signalCode}) before the line; stderr: ${stderr}`,
        );
      }
      await new Promise<void>((resolve) => waiters.push(resolve));
    }
  };
  return { child, line, exited, stderr: () => stderr };
}

function deadPid(): number {
  return Number(
    spawnSync(process.execPath, ['-e', 'console.log(process.pid)'], { encoding: 'utf8' }).stdout.trim(),
  );
}

describe('file state across processes', () => {
  it('loses no update when four processes each make 25 at once', async () => {
    const updaters = [1, 2, 3, 4].map((n) =>
      runChild(`
        const store = openStateStore(process.env.STATE);
        console.log('ready');
        await new Promise((resolve) => process.stdin.once('data', resolve));
        for (let i = 0; i < 25; i++) {
          await store.update((state) => ({
            ...state,
            history: [...state.history, { at: new Date().toISOString(), command: 'shift', actor: 'updater ${n}', weights: state.weights, verdict: 'succeeded' }],
          }));
        }
        await store.close();
        process.exit(0);
      `),
    );
    // Start them together, once all have loaded, so the updates really overlap.
    await Promise.all(updaters.map((u) => u.line((l) => l === 'ready')));
    for (const updater of updaters) updater.child.stdin.write('go\n');
    const codes = await Promise.all(updaters.map((u) => u.exited));
    expect({ codes, stderr: updaters.map((u) => u.stderr()).join('') }).toEqual({
      codes: [0, 0, 0, 0],
      stderr: '',
    });

    const state = await store().read();
    expect(state.revision).toBe(100);
    expect(state.history).toHaveLength(100);
    for (const n of [1, 2, 3, 4]) {
      expect(state.history.filter((entry) => entry.actor === `updater ${n}`)).toHaveLength(25);
    }
    // Every write went through a temporary file and the mutex; none is left behind.
    expect(await readdir(dir)).toEqual(['state.json']);
  });

  it('recognises the lock of a SIGKILLed holder as stale by its pid and takes it over', async () => {
    const holder = runChild(`
      const store = openStateStore(process.env.STATE);
      await store.lock({ id: 'run-7', description: 'run 7 (octocat)' }, { timeoutMs: 1000, staleAfterMs: 60000, clock: systemClock });
      await store.update((state) => ({
        ...state,
        promotion: { id: 'p7', from: 'blue', to: 'green', startedAt: new Date().toISOString(), step: 1, steps: [10, 50, 100], owner: 'run-7' },
      }));
      console.log('promoting');
      setInterval(() => {}, 60000);
    `);
    await holder.line((l) => l === 'promoting');

    // Alive, and far from staleAfterMs: the next run waits and is told who holds it.
    const blocked = await store()
      .lock(
        { id: 'run-8', description: 'run 8' },
        { timeoutMs: 200, staleAfterMs: 60_000, clock: systemClock },
      )
      .then(
        () => 'acquired',
        (error: Error) => error.message,
      );
    expect(blocked).toMatch(/^the deploy lock at .*state\.json\.lock is held by run 7 \(octocat\) since /);

    holder.child.kill('SIGKILL');
    await holder.exited;
    const pid = holder.child.pid;
    const lock = await store().lock(
      { id: 'run-8', description: 'run 8' },
      { timeoutMs: 2_000, staleAfterMs: 60_000, clock: systemClock },
    );
    expect(lock.tookOverFrom).toBe(`run 7 (octocat) (process ${pid} on ${os.hostname()} is gone)`);
    expect(JSON.parse(await readFile(`${file}.lock`, 'utf8'))).toMatchObject({
      description: 'run 8',
      pid: process.pid,
    });
    // The unfinished promotion is still there for rollback to find.
    expect((await store().read()).promotion).toMatchObject({ id: 'p7', step: 1, owner: 'run-7' });
    await lock.release();
  });

  it.each([
    [
      'its process is gone',
      () => ({ pid: deadPid(), hostname: os.hostname(), heartbeatAt: new Date().toISOString() }),
    ],
    [
      'its heartbeat is old',
      () => ({
        pid: 4242,
        hostname: 'build-host-7',
        heartbeatAt: new Date(Date.now() - 120_000).toISOString(),
      }),
    ],
  ])('hands a stale lock (%s) to exactly one of four processes racing for it', async (_why, staleFields) => {
    const racers = [1, 2, 3, 4].map((n) =>
      runChild(`
        const store = openStateStore(process.env.STATE);
        console.log('ready');
        await new Promise((resolve) => process.stdin.once('data', resolve));
        try {
          const lock = await store.lock({ id: 'racer-${n}', description: 'racer ${n}' }, { timeoutMs: 800, staleAfterMs: 60000, clock: systemClock });
          console.log(JSON.stringify({ won: ${n}, tookOverFrom: lock.tookOverFrom }));
          process.stdin.once('end', async () => { await lock.release(); process.exit(0); });
        } catch (error) {
          console.log(JSON.stringify({ lost: ${n}, message: error.message }));
          process.exit(0);
        }
      `),
    );
    await Promise.all(racers.map((r) => r.line((l) => l === 'ready')));
    const now = new Date().toISOString();
    await writeFile(
      `${file}.lock`,
      JSON.stringify({
        id: 'run-41',
        description: 'run 41',
        token: 'feedface',
        acquiredAt: now,
        ...staleFields(),
      }),
    );
    for (const racer of racers) racer.child.stdin.write('go\n');

    const outcomes = await Promise.all(
      racers.map(async (r) => JSON.parse(await r.line((l) => l.startsWith('{'))) as Record<string, unknown>),
    );
    const winners = outcomes.filter((o) => o.won !== undefined);
    expect(winners).toHaveLength(1);
    expect(winners[0]?.tookOverFrom).toMatch(/^run 41 \(/);
    const winner = `racer ${String(winners[0]?.won)}`;
    expect(JSON.parse(await readFile(`${file}.lock`, 'utf8'))).toMatchObject({ description: winner });
    for (const loser of outcomes.filter((o) => o.lost !== undefined)) {
      expect(loser.message).toContain(`is held by ${winner} since`);
    }
    for (const racer of racers) racer.child.stdin.end();
    await Promise.all(racers.map((r) => r.exited));
    // The winner released on its way out.
    expect(await readdir(dir)).toEqual([]);
  });
});

describe('a lost lock (issue 8, defect 4)', () => {
  const lockOptions = { timeoutMs: 300, staleAfterMs: 30_000, clock: systemClock };

  it('refuses a write once another run holds the lock, naming it, and leaves its state alone', async () => {
    const first = store();
    const lock = await first.lock({ id: 'a', description: 'run A' }, lockOptions);
    await first.update((s) => ({ ...s, weights: { blue: 90, green: 10 } }), lock);
    // Someone removed the lock file (or it went stale while we stalled), and run B took it.
    await rm(`${file}.lock`);
    const second = store();
    const theirs = await second.lock({ id: 'b', description: 'run B' }, lockOptions);
    await second.update((s) => ({ ...s, weights: { blue: 50, green: 50 } }), theirs);
    await expect(first.update((s) => ({ ...s, weights: { blue: 0, green: 100 } }), lock)).rejects.toThrow(
      /lost the deploy lock to run B/,
    );
    await expect(lock.check()).rejects.toThrow(/lost the deploy lock to run B/);
    expect((await second.read()).weights).toEqual({ blue: 50, green: 50 });
  });
});
