import { randomBytes } from 'node:crypto';
import net from 'node:net';
import os from 'node:os';
import type { Redis, RedisOptions } from 'ioredis';
import { InputError, UserError } from '../../errors.js';
import { decodeUrlPart } from '../../inputs.js';
import { Secrets, redactUrl } from '../../mask.js';
import { loadRedisClient } from '../../drivers.js';
import {
  INITIAL_STATE,
  checkState,
  lockWaiter,
  startHeartbeat,
  type DeployState,
  type HeldLock,
  type LockHolderView,
  type LockOptions,
  type LockOwner,
  type StateStore,
  LockLostError,
} from './state.js';

/** Deploy state keys all start with this; the backup action leaves it out of Redis backups. */
export const KEY_NAMESPACE = 'switchyard:';
export const DEFAULT_KEY_PREFIX = `${KEY_NAMESPACE}default`;

/**
 * Deploy state in Redis: `redis://[user:password@]host:port[/db][/prefix]` (or `?prefix=` / `?key=`),
 * `rediss://` for TLS. Several services share one Redis by giving each its own prefix, always
 * under `switchyard:` (`my-service` becomes `switchyard:my-service`); the keys are
 *
 * - `<prefix>:state` — the DeployState as JSON. update() writes it with a compare-and-set script
 *   that only succeeds if the value is still the one `change` was given, and retries otherwise:
 *   `change` may therefore run more than once and must not have side effects.
 * - `<prefix>:lock` — the deploy lock: `SET NX PX staleAfterMs` of the owner as JSON with a random
 *   token. The heartbeat extends the expiry and release deletes it, each only while the token is
 *   ours (a Lua script, so the check and the change are one step). A holder killed mid-run stops
 *   beating and Redis removes its lock after staleAfterMs: that is the stale take-over, with no
 *   race between waiters because the next `SET NX` is the only way in.
 * - `<prefix>:lock:holder` — the same owner record without an expiry, deleted on release. When a
 *   new holder finds it present, the previous one never released: that is how `tookOverFrom` knows.
 *
 * The keys of one prefix must live on one node (no Redis Cluster slot spreading).
 */
export class RedisStateStore implements StateStore {
  readonly location: string;
  readonly prefix: string;
  private readonly keys: { state: string; lock: string; holder: string };
  private readonly lockLocation: string;
  private readonly secrets = new Secrets();
  private readonly connection: RedisOptions;
  private redis: Redis | undefined;
  private connecting: Promise<Redis> | undefined;
  /** The last error each client reported: ioredis rejects commands with a vaguer one ("Connection is closed."). */
  private readonly errors = new WeakMap<Redis, Error>();
  private readonly held = new Set<HeldLock>();
  private readonly tokens = new WeakMap<HeldLock, string>();

  constructor(url: URL) {
    this.secrets.addFromUrl(url.href);
    const shown = redactUrl(url.href);
    const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
    if (!host) throw new InputError('state', `${shown} needs a host, e.g. redis://cache.internal:6379/0`);
    const { db, prefix } = parsePath(url, shown);
    this.prefix = prefix;
    this.keys = { state: `${prefix}:state`, lock: `${prefix}:lock`, holder: `${prefix}:lock:holder` };
    const base = new URL(`${url.protocol}//${url.host}/${db}/${prefix}`);
    base.username = url.username;
    base.password = url.password;
    this.location = redactUrl(base.href);
    this.lockLocation = `${this.location} (key ${this.keys.lock})`;
    this.connection = {
      host,
      port: url.port ? Number(url.port) : 6379,
      username: url.username ? decodeUrlPart(url, 'username', 'state') : undefined,
      password: url.password ? decodeUrlPart(url, 'password', 'state') : undefined,
      db,
      tls: url.protocol === 'rediss:' ? { servername: net.isIP(host) ? undefined : host } : undefined,
      lazyConnect: true,
      connectTimeout: 10_000,
      commandTimeout: 10_000,
      // No reconnecting and queueing inside ioredis: a command fails at once with its reason, and
      // the next one opens a new connection (see client()), so a restarted Redis costs one heartbeat.
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      retryStrategy: () => null,
      connectionName: 'switchyard-deploy-state',
    };
  }

  async read(): Promise<DeployState> {
    const text = await this.command('GET', (client) => client.get(this.keys.state));
    return text === null ? structuredClone(INITIAL_STATE) : this.parseState(text);
  }

  async update(change: (state: DeployState) => DeployState, lock?: HeldLock): Promise<DeployState> {
    const token = lock && this.tokens.get(lock);
    if (lock && token === undefined) throw new LockLostError(this.lockLocation);
    const started = Date.now();
    let pause = 1;
    for (;;) {
      const before = await this.command('GET', (client) => client.get(this.keys.state));
      const current = before === null ? structuredClone(INITIAL_STATE) : this.parseState(before);
      const next = { ...change(structuredClone(current)), revision: current.revision + 1 };
      const text = JSON.stringify(next);
      const client = await this.client();
      let written: unknown;
      try {
        written =
          token === undefined
            ? await client.eval(COMPARE_AND_SET, 1, this.keys.state, before ?? '', text)
            : await client.eval(
                LOCKED_COMPARE_AND_SET,
                2,
                this.keys.state,
                this.keys.lock,
                before ?? '',
                text,
                token,
              );
      } catch (error) {
        if (isReplyError(error)) throw this.unreachable('EVAL', error, client);
        this.forget(client);
        // The connection broke, perhaps with the write sent: the value shows whether it happened.
        // (Trying again blindly could apply the change twice.)
        const after = await this.command('GET', (c) => c.get(this.keys.state));
        if (after === text) return next;
      }
      if (written === 1) return next;
      if (Array.isArray(written)) throw this.lost(written[1]);
      if (Date.now() - started > UPDATE_GIVE_UP_MS) {
        throw new UserError(
          `the deploy state at ${this.location} kept changing under us for ${UPDATE_GIVE_UP_MS / 1000} s; ` +
            `is something other than switchyard writing ${this.keys.state}?`,
          'Deploy state busy',
        );
      }
      // Another run wrote in between: start again from what it wrote.
      await delay(pause + Math.random() * pause);
      pause = Math.min(pause * 2, 50);
    }
  }

  async lock(owner: LockOwner, options: LockOptions): Promise<HeldLock> {
    const { staleAfterMs } = options;
    const token = randomBytes(12).toString('hex');
    const acquiredAt = new Date().toISOString();
    const value = () =>
      JSON.stringify({
        id: owner.id,
        description: owner.description,
        token,
        pid: process.pid,
        hostname: os.hostname(),
        acquiredAt,
        heartbeatAt: new Date().toISOString(),
      });
    const ttl = String(Math.max(1, Math.round(staleAfterMs)));
    const waitFor = lockWaiter(this.lockLocation, options);
    for (;;) {
      const [acquired, other] = (await this.command('EVAL', (client) =>
        client.eval(ACQUIRE, 2, this.keys.lock, this.keys.holder, value(), ttl, token),
      )) as [number, string];
      if (acquired === 1) {
        const previous = other ? describeHolder(other) : undefined;
        const tookOverFrom = previous && `${previous.description} (its lock expired without a heartbeat)`;
        return this.hold(token, value, ttl, staleAfterMs, tookOverFrom);
      }
      const holder = describeHolder(other);
      await waitFor(holder);
    }
  }

  async close(): Promise<void> {
    await Promise.all([...this.held].map((lock) => lock.release().catch(() => undefined)));
    await this.connecting?.catch(() => undefined);
    const client = this.redis;
    if (!client) return;
    if (!ended(client)) await client.quit().catch(() => undefined);
    this.forget(client);
  }

  /** Extends the lock every staleAfterMs/3 on a real timer: Redis expires it by its own clock. */
  private hold(
    token: string,
    value: () => string,
    ttl: string,
    staleAfterMs: number,
    tookOverFrom: string | undefined,
  ): HeldLock {
    const heartbeat = startHeartbeat(async () => {
      const kept = await this.command('EVAL', (client) =>
        client.eval(HEARTBEAT, 2, this.keys.lock, this.keys.holder, token, value(), ttl),
      );
      // Expired and taken by another run while we could not reach Redis: nothing of ours to keep alive.
      return kept === 1;
    }, staleAfterMs / 3);
    const lock: HeldLock = {
      tookOverFrom,
      check: async () => {
        const [ours, holder] = (await this.command('EVAL', (client) =>
          client.eval(CHECK, 1, this.keys.lock, token),
        )) as [number, string | null];
        if (ours !== 1) throw this.lost(holder);
      },
      release: async () => {
        if (!this.held.delete(lock)) return;
        await heartbeat.stop();
        await this.command('EVAL', (client) =>
          client.eval(RELEASE, 2, this.keys.lock, this.keys.holder, token),
        );
      },
    };
    this.held.add(lock);
    this.tokens.set(lock, token);
    return lock;
  }

  /** The lock is not ours: `holder` is the lock's value now (another run), or nothing (gone). */
  private lost(holder: unknown): LockLostError {
    return new LockLostError(
      this.lockLocation,
      typeof holder === 'string' && holder ? describeHolder(holder).description : undefined,
    );
  }

  private parseState(text: string): DeployState {
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (error) {
      throw this.corrupt(`is not valid JSON (${error instanceof Error ? error.message : String(error)})`);
    }
    const problem = checkState(value);
    if (problem) throw this.corrupt(problem);
    return value as DeployState;
  }

  private corrupt(problem: string): UserError {
    return new UserError(
      `the deploy state in key ${this.keys.state} at ${this.location} ${problem}. It was left as it is: repair it, ` +
        `or delete the key to start a new history (the colours' traffic and releases are then unknown to switchyard).`,
      'Deploy state unreadable',
    );
  }

  /** The open connection, or a new one when there is none or it broke (e.g. Redis restarted mid-promotion). */
  private client(): Promise<Redis> {
    if (this.redis?.status === 'ready') return Promise.resolve(this.redis);
    this.connecting ??= this.connect().finally(() => (this.connecting = undefined));
    return this.connecting;
  }

  private async connect(): Promise<Redis> {
    if (this.redis) this.forget(this.redis);
    // Loaded on first use: an action whose state is a file should not pay for parsing the Redis driver.
    const RedisClient = await loadRedisClient();
    const client = new RedisClient(this.connection);
    client.on('error', (error: Error) => this.errors.set(client, error));
    try {
      await client.connect();
    } catch (error) {
      this.forget(client);
      throw this.unreachable('connecting', error, client);
    }
    this.redis = client;
    return client;
  }

  /**
   * Runs one command that is safe to repeat; a failure becomes a UserError naming the store, with any
   * password blanked. A connection that died while idle (a restarted Redis, an idle timeout) can still
   * look ready until its close event arrives: then the command gets one more go on a new connection.
   */
  private async command<T>(name: string, run: (client: Redis) => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      const client = await this.client();
      try {
        return await run(client);
      } catch (error) {
        if (isReplyError(error) || attempt === 2) throw this.unreachable(name, error, client);
        this.forget(client);
      }
    }
  }

  /** Drops a connection that failed, so the next command opens a new one. */
  private forget(client: Redis): void {
    if (this.redis === client) this.redis = undefined;
    // Disconnecting a client whose socket is already gone arms a 2 s timer in ioredis that holds the process.
    if (!ended(client) && client.stream?.destroyed !== true) client.disconnect();
  }

  private unreachable(what: string, error: unknown, client: Redis): UserError {
    // ioredis rejects with a vague "Connection is closed." when the reason was reported as an event.
    const reason = isReplyError(error) ? error : (this.errors.get(client) ?? error);
    const text = reason instanceof Error ? reason.message : String(reason);
    return new UserError(
      `the deploy state at ${this.location}: ${what} failed: ${this.secrets.redact(text)}`,
      'Deploy state',
    );
  }
}

/** `/db`, `/db/prefix` or `/prefix`; `?prefix=` (or `?key=`) names the prefix too. */
function parsePath(url: URL, shown: string): { db: number; prefix: string } {
  const segments = url.pathname
    .split('/')
    .filter(Boolean)
    .map((segment) => decodeUrlPart(url, 'path', 'state', segment));
  const db = segments[0] !== undefined && /^\d+$/.test(segments[0]) ? Number(segments.shift()) : 0;
  if (segments.length > 1) {
    throw new InputError('state', `${shown}: the path is /db/prefix, e.g. redis://cache:6379/0/my-service`);
  }
  const fromQuery = url.searchParams.get('prefix') ?? url.searchParams.get('key') ?? undefined;
  if (segments[0] !== undefined && fromQuery !== undefined && fromQuery !== segments[0]) {
    throw new InputError(
      'state',
      `${shown} names the key prefix twice (in the path and the query): keep one`,
    );
  }
  const named = segments[0] ?? fromQuery;
  // Every key under `switchyard:`, whatever the prefix: backups leave that namespace out, so a
  // restored Redis never brings back an old deploy lock or history.
  const prefix =
    named === undefined
      ? DEFAULT_KEY_PREFIX
      : named.startsWith(KEY_NAMESPACE)
        ? named
        : `${KEY_NAMESPACE}${named}`;
  if (named === '' || /\s/.test(prefix)) {
    throw new InputError(
      'state',
      `${shown}: the key prefix must be non-empty without spaces, e.g. my-service`,
    );
  }
  return { db, prefix };
}

const ended = (client: Redis) => client.status === 'end';

/** The server answered with an error (OOM, READONLY, NOAUTH…), as opposed to a broken connection. */
const isReplyError = (error: unknown): error is Error =>
  error instanceof Error && error.name === 'ReplyError';

function describeHolder(value: string): LockHolderView {
  try {
    const parsed = JSON.parse(value) as Partial<LockHolderView> | null;
    if (
      typeof parsed?.description === 'string' &&
      typeof parsed.acquiredAt === 'string' &&
      typeof parsed.heartbeatAt === 'string'
    ) {
      return {
        description: parsed.description,
        acquiredAt: parsed.acquiredAt,
        heartbeatAt: parsed.heartbeatAt,
      };
    }
  } catch {
    // falls through
  }
  const now = new Date().toISOString();
  return { description: 'an unreadable lock value', acquiredAt: now, heartbeatAt: now };
}

/** KEYS: state. ARGV: the value read ('' for none), the new value. 1 when written. */
const COMPARE_AND_SET = `
local current = redis.call('GET', KEYS[1])
if (current or '') ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[2])
return 1`;

const OWNS = `
local function owns(key, token)
  local value = redis.call('GET', key)
  if not value then return false end
  local ok, decoded = pcall(cjson.decode, value)
  return ok and type(decoded) == 'table' and decoded.token == token
end`;

/**
 * KEYS: lock, holder record. ARGV: our value, ttl, our token. {1, previous unreleased holder or ''}
 * or {0, current holder}. Already ours counts as acquired: the command is repeated when a reply is lost.
 */
const ACQUIRE = `${OWNS}
local holder = redis.call('GET', KEYS[1])
if holder then
  if owns(KEYS[1], ARGV[3]) then return {1, ''} end
  return {0, holder}
end
local previous = redis.call('GET', KEYS[2]) or ''
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
redis.call('SET', KEYS[2], ARGV[1])
return {1, previous}`;

/**
 * KEYS: state, lock. ARGV: the value read ('' for none), the new value, our lock token. 1 when
 * written; 0 when the state changed since it was read; {-1, the lock's value or false} when the
 * lock is not ours — in the same step as the write, so no other run can slip in between.
 */
const LOCKED_COMPARE_AND_SET = `${OWNS}
if not owns(KEYS[2], ARGV[3]) then return {-1, redis.call('GET', KEYS[2])} end
local current = redis.call('GET', KEYS[1])
if (current or '') ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[2])
return 1`;

/** KEYS: lock. ARGV: token. {1} while ours, else {0, the lock's value or false}. */
const CHECK = `${OWNS}
if owns(KEYS[1], ARGV[1]) then return {1} end
return {0, redis.call('GET', KEYS[1])}`;

/** KEYS: lock, holder record. ARGV: token, our value with a new heartbeat, ttl. 1 while the lock is ours. */
const HEARTBEAT = `${OWNS}
if not owns(KEYS[1], ARGV[1]) then return 0 end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
redis.call('SET', KEYS[2], ARGV[2])
return 1`;

/** KEYS: lock, holder record. ARGV: token. Deletes only what is ours: a take-over's lock stays. */
const RELEASE = `${OWNS}
local released = 0
if owns(KEYS[1], ARGV[1]) then redis.call('DEL', KEYS[1]); released = 1 end
if owns(KEYS[2], ARGV[1]) then redis.call('DEL', KEYS[2]) end
return released`;

/** Updates are a few per command: this long losing every compare-and-set means something is wrong. */
const UPDATE_GIVE_UP_MS = 60_000;

const delay = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
