// The Redis deploy state store against real Redis servers: atomic updates under parallel writers,
// corrupt values, the deploy lock (waiting, the timeout naming the holder, release, heartbeat,
// take-over once a killed holder's key expires, exactly one winner), and passwords kept out of
// everything it says.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { Redis } from 'ioredis';
import { systemClock } from '../../actions/core/src/clock.js';
import { UserError } from '../../actions/core/src/errors.js';
import { openStateStore } from '../../actions/core/src/deploy/state/index.js';
import {
  INITIAL_STATE,
  type DeployState,
  type LockOptions,
  type StateStore,
} from '../../actions/core/src/deploy/state/state.js';
import { freePort, startRedis, type RunningServer } from '../../scripts/servers/index.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const PASSWORD = 'hunter2/s3cret@x';

let redis: RunningServer & { url: string };
let guarded: RunningServer & { url: string };
let admin: Redis;
let prefix: string;
const stores: StateStore[] = [];

beforeAll(async () => {
  [redis, guarded] = await Promise.all([startRedis(), startRedis({ password: PASSWORD })]);
  admin = new Redis(`${redis.url}/0`);
});

afterEach(async () => {
  await Promise.all(stores.splice(0).map((store) => store.close()));
});

afterAll(async () => {
  admin?.disconnect();
  await Promise.all([redis?.stop(), guarded?.stop()]);
});

/** A store on its own prefix (so tests do not see each other's keys) and its own connection. */
function store(url = `${redis.url}/0/${prefix}`): StateStore {
  const created = openStateStore(url);
  stores.push(created);
  return created;
}

function newPrefix(): string {
  prefix = `test-${randomBytes(4).toString('hex')}`;
  return prefix;
}

const owner = (name: string) => ({ id: `${name}-id`, description: name });
const options = (overrides: Partial<LockOptions> = {}): LockOptions => ({
  timeoutMs: 300,
  staleAfterMs: 30_000,
  clock: systemClock,
  ...overrides,
});

const addEntry =
  (actor: string) =>
  (state: DeployState): DeployState => ({
    ...state,
    history: [
      ...state.history,
      { at: new Date().toISOString(), command: 'shift', actor, weights: state.weights, verdict: 'succeeded' },
    ],
  });

async function settle<T>(promise: Promise<T>): Promise<{ value?: T; error?: unknown }> {
  return promise.then(
    (value) => ({ value }),
    (error: unknown) => ({ error }),
  );
}

async function eventually(condition: () => Promise<boolean> | boolean, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`condition still false after ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** Closes, server-side, every connection the stores opened; how many there were. */
async function dropStoreConnections(): Promise<number> {
  const list = (await admin.client('LIST')) as string;
  const ids = list
    .split('\n')
    .filter((line) => line.includes(' name=switchyard-deploy-state '))
    .map((line) => /\bid=(\d+)/.exec(line)?.[1])
    .filter((id): id is string => id !== undefined);
  for (const id of ids) await admin.client('KILL', 'ID', id);
  return ids.length;
}

describe('redis state: reading and updating', () => {
  it('reads a missing key as the initial state, and keeps updates under <prefix>:state', async () => {
    newPrefix();
    expect(await store().read()).toEqual(INITIAL_STATE);
    const written = await store().update(addEntry('octocat'));
    expect(written).toMatchObject({ revision: 1, history: [{ actor: 'octocat' }] });
    expect(JSON.parse((await admin.get(`switchyard:${prefix}:state`)) ?? 'null')).toEqual(written);
    expect(await store().read()).toEqual(written);
  });

  it('names its location with the database and prefix, defaulting to switchyard:default', () => {
    newPrefix();
    expect(store().location).toBe(`${redis.url}/0/switchyard:${prefix}`);
    expect(store(redis.url).location).toBe(`${redis.url}/0/switchyard:default`);
  });

  it('loses no update when four clients each make 25 at once', async () => {
    newPrefix();
    const writers = [1, 2, 3, 4].map((n) => ({ n, store: store() }));
    await Promise.all(
      writers.map(async ({ n, store: writer }) => {
        for (let i = 0; i < 25; i++) await writer.update(addEntry(`writer ${n}`));
      }),
    );
    const state = await store().read();
    expect(state.revision).toBe(100);
    for (const n of [1, 2, 3, 4])
      expect(state.history.filter((e) => e.actor === `writer ${n}`)).toHaveLength(25);
  });

  it('loses no update when one store is asked for many at once', async () => {
    newPrefix();
    const shared = store();
    await Promise.all(Array.from({ length: 30 }, (_, i) => shared.update(addEntry(`call ${i}`))));
    const state = await store().read();
    expect(state.revision).toBe(30);
    expect(new Set(state.history.map((e) => e.actor)).size).toBe(30);
  });

  it('refuses a corrupt value, naming the key, and leaves it as it is', async () => {
    newPrefix();
    await admin.set(`switchyard:${prefix}:state`, '{"revision": 1, "act');
    const failure = await settle(store().read());
    expect(failure.error).toBeInstanceOf(UserError);
    expect((failure.error as Error).message).toContain(
      `the deploy state in key switchyard:${prefix}:state at ${redis.url}/0/switchyard:${prefix} is not valid JSON`,
    );
    await expect(store().update(addEntry('x'))).rejects.toThrow('is not valid JSON');
    expect(await admin.get(`switchyard:${prefix}:state`)).toBe('{"revision": 1, "act');
  });
});

describe('redis state: the deploy lock', () => {
  it('makes a second locker wait, then fail naming the holder', async () => {
    newPrefix();
    await store().lock(owner('run 1 (octocat)'), options());
    const held = JSON.parse((await admin.get(`switchyard:${prefix}:lock`)) ?? '{}') as { acquiredAt: string };
    const started = Date.now();
    const failure = await settle(store().lock(owner('run 2'), options({ timeoutMs: 300 })));
    expect(Date.now() - started).toBeGreaterThanOrEqual(290);
    expect((failure.error as Error).message.replace(/heartbeat \d+ s ago/, 'heartbeat N s ago')).toBe(
      `the deploy lock at ${redis.url}/0/switchyard:${prefix} (key switchyard:${prefix}:lock) is held by run 1 (octocat) since ${held.acquiredAt} ` +
        '(heartbeat N s ago); waited 300ms. Wait for it to finish or cancel that run.',
    );
  });

  it('lets a waiter in when the holder releases, and leaves no keys behind', async () => {
    newPrefix();
    const first = await store().lock(owner('run 1'), options());
    let waiting = false;
    const second = store().lock(
      owner('run 2'),
      options({ timeoutMs: 2_000, onWait: () => (waiting = true) }),
    );
    await eventually(() => waiting);
    await first.release();
    const lock = await second;
    expect(lock.tookOverFrom).toBeUndefined();
    await lock.release();
    expect(await admin.keys(`switchyard:${prefix}:*`)).toEqual([]);
  });

  it('keeps a live holder with its heartbeat past the expiry it set', async () => {
    newPrefix();
    await store().lock(owner('run 1'), options({ staleAfterMs: 400 }));
    const failure = await settle(
      store().lock(owner('run 2'), options({ staleAfterMs: 400, timeoutMs: 1_200 })),
    );
    expect((failure.error as Error).message).toContain('is held by run 1 since');
    expect(await admin.pttl(`switchyard:${prefix}:lock`)).toBeGreaterThan(0);
  });

  it('takes over once the lock of a SIGKILLed holder expires, naming it', async () => {
    newPrefix();
    const modules = (name: string) => JSON.stringify(path.join(ROOT, 'actions/core/src', name));
    const code = `
      import { openStateStore } from ${modules('deploy/state/index.ts')};
      import { systemClock } from ${modules('clock.ts')};
      const store = openStateStore(process.env.STATE);
      await store.lock({ id: 'run-7', description: 'run 7 (octocat)' }, { timeoutMs: 1000, staleAfterMs: 600, clock: systemClock });
      console.log('locked');
      setInterval(() => {}, 60000);
    `;
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], {
      cwd: ROOT,
      env: { ...process.env, STATE: `${redis.url}/0/${prefix}` },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const exited = new Promise((resolve) => child.once('exit', resolve));
    try {
      await new Promise<void>((resolve, reject) => {
        child.stdout.setEncoding('utf8').on('data', (chunk: string) => chunk.includes('locked') && resolve());
        void exited.then(() => reject(new Error('holder exited before locking')));
      });
      // Beating: still held well past its 600 ms expiry.
      const blocked = await settle(store().lock(owner('run 8'), options({ timeoutMs: 1_000 })));
      expect((blocked.error as Error).message).toContain('is held by run 7 (octocat) since');
    } finally {
      child.kill('SIGKILL');
      await exited;
    }
    const started = Date.now();
    const lock = await store().lock(owner('run 8'), options({ timeoutMs: 5_000 }));
    expect(Date.now() - started).toBeLessThan(2_000);
    expect(lock.tookOverFrom).toBe('run 7 (octocat) (its lock expired without a heartbeat)');
    expect(JSON.parse((await admin.get(`switchyard:${prefix}:lock`)) ?? '{}')).toMatchObject({
      description: 'run 8',
    });
  });

  it('hands an expiring lock to exactly one of the waiters racing for it', async () => {
    for (let round = 0; round < 3; round++) {
      newPrefix();
      const stale = JSON.stringify({
        description: `run 41 round ${round}`,
        token: 'feedface',
        acquiredAt: new Date().toISOString(),
        heartbeatAt: new Date().toISOString(),
      });
      await admin.set(`switchyard:${prefix}:lock`, stale, 'PX', 150);
      await admin.set(`switchyard:${prefix}:lock:holder`, stale);
      const outcomes = await Promise.all(
        [1, 2, 3, 4].map((n) => settle(store().lock(owner(`racer ${n}`), options({ timeoutMs: 500 })))),
      );
      const winners = outcomes.filter((o) => o.value);
      expect(winners).toHaveLength(1);
      expect(winners[0]?.value?.tookOverFrom).toBe(
        `run 41 round ${round} (its lock expired without a heartbeat)`,
      );
      const holder = (
        JSON.parse((await admin.get(`switchyard:${prefix}:lock`)) ?? '{}') as { description: string }
      ).description;
      for (const loser of outcomes.filter((o) => o.error)) {
        expect((loser.error as Error).message).toContain(`is held by ${holder} since`);
      }
    }
  });

  it('does not delete a lock on release once another run has taken it', async () => {
    newPrefix();
    const lock = await store().lock(owner('run 1'), options());
    const other = JSON.stringify({
      description: 'run 2',
      token: 'someone-else',
      acquiredAt: 'x',
      heartbeatAt: 'x',
    });
    await admin.set(`switchyard:${prefix}:lock`, other, 'PX', 30_000);
    await lock.release();
    expect(await admin.get(`switchyard:${prefix}:lock`)).toBe(other);
  });

  it('carries on over a new connection when Redis drops the old one, heartbeat included', async () => {
    newPrefix();
    const holder = store();
    await holder.lock(owner('run 1'), options({ staleAfterMs: 600 }));
    const killed = await dropStoreConnections();
    expect(killed).toBeGreaterThan(0);
    expect((await holder.update(addEntry('after the drop'))).revision).toBe(1);
    await dropStoreConnections();
    // The heartbeat reconnects by itself: the lock outlives its 600 ms expiry twice over.
    const failure = await settle(store().lock(owner('run 2'), options({ timeoutMs: 1_200 })));
    expect((failure.error as Error).message).toContain('is held by run 1 since');
  });

  it('releases the locks still held when the store is closed', async () => {
    newPrefix();
    const closing = openStateStore(`${redis.url}/0/${prefix}`);
    await closing.lock(owner('run 1'), options());
    await closing.close();
    expect(await admin.exists(`switchyard:${prefix}:lock`)).toBe(0);
  });
});

describe('redis state: passwords', () => {
  const encoded = encodeURIComponent(PASSWORD);

  it('works with the password and never shows it', async () => {
    newPrefix();
    const url = `${guarded.url}/0/${prefix}`;
    expect(url).toContain(encoded);
    const guardedStore = store(url);
    expect(guardedStore.location).toBe(`${guarded.url.replace(encoded, '***')}/0/switchyard:${prefix}`);
    await guardedStore.update(addEntry('octocat'));
    await guardedStore.lock(owner('run 1'), options());
    const failure = await settle(store(url).lock(owner('run 2'), options({ timeoutMs: 100 })));
    const message = (failure.error as Error).message;
    expect(message).toContain('is held by run 1');
    expect(message).toContain(':***@');
    expect(message).not.toContain(encoded);
    expect(message).not.toContain(PASSWORD);
  });

  it('says a wrong password was refused without showing it', async () => {
    const wrong = 'not-the-password-123';
    const failure = await settle(store(guarded.url.replace(encoded, wrong)).read());
    expect(failure.error).toBeInstanceOf(UserError);
    const message = (failure.error as Error).message;
    expect(message).toMatch(/WRONGPASS/);
    expect(message).not.toContain(wrong);
  });

  it('fails with the reason, promptly, when nothing listens', async () => {
    const url = `redis://user:${encoded}@127.0.0.1:${await freePort()}/0`;
    const started = Date.now();
    const failure = await settle(store(url).read());
    expect(Date.now() - started).toBeLessThan(5_000);
    const message = (failure.error as Error).message;
    expect(message).toMatch(
      /^the deploy state at redis:\/\/user:\*\*\*@127\.0\.0\.1:\d+\/0\/switchyard:default: connecting failed: .*ECONNREFUSED/,
    );
    expect(message).not.toContain(encoded);
  });
});

describe('a lost lock (issue 8, defect 4)', () => {
  it('refuses the write, in the same step, once Redis lost the lock (restarted empty)', async () => {
    newPrefix();
    const first = store();
    const lock = await first.lock(owner('run A'), options());
    await first.update((s) => ({ ...s, weights: { blue: 90, green: 10 } }), lock);
    await admin.flushall();
    await expect(first.update((s) => ({ ...s, weights: { blue: 75, green: 25 } }), lock)).rejects.toThrow(
      /lost the deploy lock: it is gone from/,
    );
    await expect(lock.check()).rejects.toThrow(/lost the deploy lock: it is gone/);
    // Nothing was written on the lost lock's word.
    expect(await admin.get(`switchyard:${prefix}:state`)).toBeNull();
  });

  it('names the run that holds it now, and never overwrites that run’s state', async () => {
    newPrefix();
    const first = store();
    const lock = await first.lock(owner('run A'), options());
    await admin.flushall();
    const second = store();
    const theirs = await second.lock(owner('run B'), options());
    await second.update((s) => ({ ...s, weights: { blue: 50, green: 50 } }), theirs);
    await expect(first.update((s) => ({ ...s, weights: { blue: 0, green: 100 } }), lock)).rejects.toThrow(
      /lost the deploy lock to run B/,
    );
    expect((await second.read()).weights).toEqual({ blue: 50, green: 50 });
  });
});
