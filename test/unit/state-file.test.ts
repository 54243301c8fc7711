// The file deploy state store within one process: reads, atomic updates, corrupt files, and the
// deploy lock (waiting, timing out with the holder's name, release, heartbeats, stale take-over).
// Separate processes (concurrent updaters, a SIGKILLed holder) are in test/integration/state-file.test.ts.
import { spawnSync } from 'node:child_process';
import { mkdtemp, readFile, readdir, rm, stat, utimes, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { systemClock } from '../../actions/core/src/clock.js';
import { UserError } from '../../actions/core/src/errors.js';
import { FileStateStore } from '../../actions/core/src/deploy/state/file.js';
import { openStateStore } from '../../actions/core/src/deploy/state/index.js';
import {
  INITIAL_STATE,
  type DeployState,
  type HeldLock,
  type LockOptions,
  type StateStore,
} from '../../actions/core/src/deploy/state/state.js';
import { FakeClock } from '../support/fake-clock.js';

let dir: string;
let file: string;
const stores: StateStore[] = [];

beforeEach(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'switchyard-state-'));
  file = path.join(dir, 'nested', 'state.json');
});

afterEach(async () => {
  await Promise.all(stores.splice(0).map((store) => store.close()));
  await rm(dir, { recursive: true, force: true });
});

function store(): StateStore {
  const created = openStateStore(`file:${path.relative(dir, file)}`, { cwd: dir });
  stores.push(created);
  return created;
}

const owner = (name: string) => ({ id: `${name}-id`, description: name });
const options = (overrides: Partial<LockOptions> = {}): LockOptions => ({
  timeoutMs: 300,
  staleAfterMs: 60_000,
  clock: systemClock,
  ...overrides,
});

function shiftTo(green: number) {
  return (state: DeployState): DeployState => ({
    ...state,
    weights: { blue: 100 - green, green },
    history: [
      ...state.history,
      {
        at: new Date().toISOString(),
        command: 'shift',
        actor: 'octocat',
        weights: { blue: 100 - green, green },
        verdict: 'succeeded',
      },
    ],
  });
}

/** A pid that belonged to a process which has exited. */
function deadPid(): number {
  const child = spawnSync(process.execPath, ['-e', 'console.log(process.pid)'], { encoding: 'utf8' });
  return Number(child.stdout.trim());
}

function lockRecord(fields: Partial<Record<string, string | number>> = {}): string {
  const now = new Date().toISOString();
  return JSON.stringify({
    id: 'run-41',
    description: 'run 41 (octocat) on build-host-7',
    token: 'feedface',
    pid: 4242,
    hostname: 'build-host-7',
    acquiredAt: now,
    heartbeatAt: now,
    ...fields,
  });
}

async function eventually(condition: () => Promise<boolean> | boolean, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`condition still false after ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

async function settle<T>(promise: Promise<T>): Promise<{ value?: T; error?: unknown }> {
  return promise.then(
    (value) => ({ value }),
    (error: unknown) => ({ error }),
  );
}

describe('file state: reading and updating', () => {
  it('names its location as an absolute file: path', () => {
    expect(store().location).toBe(`file:${file}`);
  });

  it('reads a missing file (and directory) as the initial state without creating anything', async () => {
    expect(await store().read()).toEqual(INITIAL_STATE);
    expect(await readdir(dir)).toEqual([]);
  });

  it('writes each update, counting revisions, and another store reads it back', async () => {
    const first = await store().update(shiftTo(10));
    const second = await store().update(shiftTo(25));
    expect(first.revision).toBe(1);
    expect(second).toMatchObject({ revision: 2, weights: { blue: 75, green: 25 } });
    const reread = await store().read();
    expect(reread).toEqual(second);
    expect(reread.history.map((entry) => entry.weights.green)).toEqual([10, 25]);
    expect(JSON.parse(await readFile(file, 'utf8'))).toEqual(second);
    // No temporary file, mutex or lock left beside it.
    expect(await readdir(path.dirname(file))).toEqual(['state.json']);
  });

  it('counts the revision itself, whatever the change returns', async () => {
    await store().update(shiftTo(10));
    const next = await store().update((state) => ({ ...state, revision: 77 }));
    expect(next.revision).toBe(2);
  });

  it('leaves the state as it was when the change throws, and the next update still works', async () => {
    await store().update(shiftTo(10));
    await expect(
      store().update(() => {
        throw new Error('change refused');
      }),
    ).rejects.toThrow('change refused');
    expect((await store().read()).revision).toBe(1);
    expect((await store().update(shiftTo(50))).revision).toBe(2);
  });

  it('refuses corrupt JSON, naming the file, and neither resets nor overwrites it', async () => {
    await store().update(shiftTo(10));
    await writeFile(file, '{"revision": 3, "active": "gre');
    const failure = await settle(store().read());
    expect(failure.error).toBeInstanceOf(UserError);
    expect((failure.error as UserError).message).toContain(`the deploy state file ${file} is not valid JSON`);
    expect((failure.error as UserError).message).toContain('It was left as it is');
    expect((failure.error as UserError).file).toBe(file);
    await expect(store().update(shiftTo(50))).rejects.toThrow(
      `the deploy state file ${file} is not valid JSON`,
    );
    expect(await readFile(file, 'utf8')).toBe('{"revision": 3, "active": "gre');
  });

  it('refuses JSON that is not a deploy state, saying what is missing', async () => {
    await store().update(shiftTo(10));
    await writeFile(
      file,
      JSON.stringify({ revision: 2, active: 'blue', weights: { blue: 100, green: 0 }, releases: {} }),
    );
    await expect(store().read()).rejects.toThrow(`the deploy state file ${file} has no "history"`);
    await writeFile(file, '[]');
    await expect(store().read()).rejects.toThrow(`the deploy state file ${file} does not hold a JSON object`);
  });

  it('says which file it could not write when the file system refuses', async () => {
    await writeFile(path.join(dir, 'nested'), 'a file where the directory should be');
    const failure = await settle(store().update(shiftTo(10)));
    expect(failure.error).toBeInstanceOf(UserError);
    expect((failure.error as UserError).message).toMatch(
      new RegExp(`^cannot use the deploy state at ${file}: E`),
    );
    expect((failure.error as UserError).file).toBe(file);
    await expect(store().lock(owner('run 1'), options())).rejects.toThrow(
      `cannot use the deploy state at ${file}`,
    );
  });

  it('updates even when a killed process left its update mutex behind', async () => {
    await store().update(shiftTo(10));
    await writeFile(
      `${file}.mutex`,
      JSON.stringify({ token: 'x', pid: deadPid(), hostname: os.hostname(), at: new Date().toISOString() }),
    );
    const started = Date.now();
    expect((await store().update(shiftTo(20))).revision).toBe(2);
    expect(Date.now() - started).toBeLessThan(2_000);
    expect(await readdir(path.dirname(file))).toEqual(['state.json']);
  });

  it('breaks a mutex from another host once it is older than any update could take', async () => {
    await store().update(shiftTo(10));
    const old = new Date(Date.now() - 5 * 60_000).toISOString();
    await writeFile(
      `${file}.mutex`,
      JSON.stringify({ token: 'x', pid: 4242, hostname: 'build-host-7', at: old }),
    );
    expect((await store().update(shiftTo(20))).revision).toBe(2);
  });
});

describe('file state: the deploy lock', () => {
  it('writes who holds it into PATH.lock and removes it on release', async () => {
    const lock = await store().lock(owner('run 1 (octocat)'), options());
    const record = JSON.parse(await readFile(`${file}.lock`, 'utf8')) as Record<string, unknown>;
    expect(record).toMatchObject({
      id: 'run 1 (octocat)-id',
      description: 'run 1 (octocat)',
      pid: process.pid,
      hostname: os.hostname(),
    });
    expect(Date.parse(record.acquiredAt as string)).not.toBeNaN();
    expect(Date.parse(record.heartbeatAt as string)).not.toBeNaN();
    expect(lock.tookOverFrom).toBeUndefined();
    await lock.release();
    await lock.release(); // idempotent
    expect(await readdir(path.dirname(file))).toEqual([]);
  });

  it('makes a second locker wait, then fail naming the holder', async () => {
    await store().lock(owner('run 1 (octocat)'), options());
    const acquiredAt = (JSON.parse(await readFile(`${file}.lock`, 'utf8')) as { acquiredAt: string })
      .acquiredAt;
    const started = Date.now();
    const failure = await settle(store().lock(owner('run 2 (hubot)'), options({ timeoutMs: 300 })));
    expect(Date.now() - started).toBeGreaterThanOrEqual(290);
    expect(failure.error).toBeInstanceOf(UserError);
    // Seconds since the heartbeat depend on how busy the machine is; the rest is exact.
    expect((failure.error as Error).message.replace(/heartbeat \d+ s ago/, 'heartbeat N s ago')).toBe(
      `the deploy lock at ${file}.lock is held by run 1 (octocat) since ${acquiredAt} (heartbeat N s ago); ` +
        'waited 300ms. Wait for it to finish or cancel that run.',
    );
  });

  it('reports the wait every 5 s of the injected clock and states the timeout in the input syntax', async () => {
    await store().lock(owner('run 1 (octocat)'), options());
    const reports: [string, number][] = [];
    const clock = new FakeClock();
    const failure = await settle(
      store().lock(
        owner('run 2'),
        options({ timeoutMs: 12_000, clock, onWait: (holder, waited) => reports.push([holder, waited]) }),
      ),
    );
    expect((failure.error as Error).message).toContain('waited 12s.');
    expect(reports.map(([holder]) => holder)).toEqual([
      'run 1 (octocat)',
      'run 1 (octocat)',
      'run 1 (octocat)',
    ]);
    expect(reports.map(([, waited]) => waited)).toEqual([0, 5_000, 10_000]);
    const tenMinutes = await settle(
      store().lock(owner('run 3'), options({ timeoutMs: 600_000, clock: new FakeClock() })),
    );
    expect((tenMinutes.error as Error).message).toContain('waited 10m.');
  });

  it('lets a waiter in as soon as the holder releases', async () => {
    const first = await store().lock(owner('run 1'), options());
    let waiting = false;
    const second = store().lock(
      owner('run 2'),
      options({ timeoutMs: 2_000, onWait: () => (waiting = true) }),
    );
    await eventually(() => waiting);
    await first.release();
    const held = await second;
    expect(held.tookOverFrom).toBeUndefined();
    expect(JSON.parse(await readFile(`${file}.lock`, 'utf8'))).toMatchObject({ description: 'run 2' });
  });

  it('keeps a live holder fresh with its heartbeat, so nobody takes it over', async () => {
    await store().lock(owner('run 1'), options({ staleAfterMs: 400 }));
    const heartbeat = async () =>
      (JSON.parse(await readFile(`${file}.lock`, 'utf8')) as { heartbeatAt: string }).heartbeatAt;
    const first = await heartbeat();
    await eventually(async () => (await heartbeat()) !== first);
    // Three times staleAfterMs: without heartbeats this waiter would have taken over.
    const failure = await settle(
      store().lock(owner('run 2'), options({ staleAfterMs: 400, timeoutMs: 1_200 })),
    );
    expect((failure.error as Error).message).toContain('is held by run 1 since');
  });

  it('takes over a lock from another host once its heartbeat is older than staleAfterMs', async () => {
    await store().update(shiftTo(10));
    await writeFile(`${file}.lock`, lockRecord());
    const started = Date.now();
    const lock = await store().lock(owner('run 42'), options({ staleAfterMs: 300, timeoutMs: 5_000 }));
    expect(Date.now() - started).toBeGreaterThanOrEqual(290);
    expect(lock.tookOverFrom).toMatch(/^run 41 \(octocat\) on build-host-7 \(no heartbeat for \d+ s\)$/);
    expect(JSON.parse(await readFile(`${file}.lock`, 'utf8'))).toMatchObject({
      description: 'run 42',
      pid: process.pid,
    });
  });

  it('takes over at once a lock whose process on this host is gone', async () => {
    const pid = deadPid();
    await store().update(shiftTo(10));
    await writeFile(`${file}.lock`, lockRecord({ pid, hostname: os.hostname() }));
    const lock = await store().lock(owner('run 42'), options({ staleAfterMs: 60_000, timeoutMs: 1_000 }));
    expect(lock.tookOverFrom).toBe(
      `run 41 (octocat) on build-host-7 (process ${pid} on ${os.hostname()} is gone)`,
    );
  });

  it('hands a stale lock to exactly one of the waiters racing for it', async () => {
    await store().update(shiftTo(10));
    for (let round = 0; round < 8; round++) {
      await writeFile(
        `${file}.lock`,
        lockRecord({ pid: deadPid(), hostname: os.hostname(), description: `stale ${round}` }),
      );
      const racers = [1, 2, 3, 4, 5].map((n) =>
        settle(new FileStateStore(file).lock(owner(`racer ${n}`), options({ timeoutMs: 150 }))),
      );
      const outcomes = await Promise.all(racers);
      const winners = outcomes.filter((outcome) => outcome.value);
      expect(winners).toHaveLength(1);
      const winner = winners[0]?.value as HeldLock;
      expect(winner.tookOverFrom).toContain(`stale ${round}`);
      const holder = (JSON.parse(await readFile(`${file}.lock`, 'utf8')) as { description: string })
        .description;
      for (const outcome of outcomes.filter((o) => o.error)) {
        expect((outcome.error as Error).message).toContain(`is held by ${holder} since`);
      }
      await winner.release();
    }
  });

  it('judges an unreadable lock file by when it was written', async () => {
    await store().update(shiftTo(10));
    await writeFile(`${file}.lock`, 'not a lock');
    const failure = await settle(
      store().lock(owner('run 2'), options({ timeoutMs: 100, staleAfterMs: 60_000 })),
    );
    expect((failure.error as Error).message).toContain(
      `is held by an unreadable lock file (${file}.lock) since`,
    );
    const anHourAgo = new Date(Date.now() - 3_600_000);
    await utimes(`${file}.lock`, anHourAgo, anHourAgo);
    const lock = await store().lock(owner('run 2'), options({ staleAfterMs: 60_000 }));
    expect(lock.tookOverFrom).toMatch(/^an unreadable lock file .* \(no heartbeat for 3600 s\)$/);
  });

  it('does not delete a lock on release once another run has taken it over', async () => {
    const lock = await store().lock(owner('run 1'), options());
    const takenOver = lockRecord({ description: 'run 2', token: 'someone-else' });
    await writeFile(`${file}.lock`, takenOver);
    await lock.release();
    expect(await readFile(`${file}.lock`, 'utf8')).toBe(takenOver);
  });

  it('releases the locks still held when the store is closed', async () => {
    const closing = store();
    await closing.lock(owner('run 1'), options());
    await closing.close();
    await expect(stat(`${file}.lock`)).rejects.toMatchObject({ code: 'ENOENT' });
  });
});
