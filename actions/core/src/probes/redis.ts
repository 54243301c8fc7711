import { rate, type InputTable } from '../inputs.js';
import { formatBytes } from '../summary.js';
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import type { Redis, RedisOptions } from 'ioredis';
import { InputError } from '../errors.js';
import { decodeUrlPart } from '../inputs.js';
import { Secrets, redactUrl } from '../mask.js';
import { loadRedisClient } from '../drivers.js';
import {
  hostOf,
  isError,
  runAttempt,
  type Outcome,
  type Probe,
  type ProbeKind,
  type ProbeOptions,
  type ProbeResult,
} from './probe.js';

/** Where the round trip writes; a reader of `KEYS *` can tell what it is and that it goes away. */
export const HEALTH_KEY_PREFIX = 'switchyard:health:';
/** The key expires by itself should the DEL never arrive. */
const HEALTH_KEY_TTL_MS = 60_000;

/** The inputs only this probe reads. */
export const redisInputs = {
  'max-memory-usage': rate('Redis: fail when used memory exceeds this share of maxmemory.'),
} satisfies InputTable;

export const redisProbeKind: ProbeKind<typeof redisInputs> = {
  inputs: redisInputs,
  schemes: ['redis:', 'rediss:'],
  written: 'redis://',
  create: (target, options) => new RedisProbe(target, options),
};

/**
 * PING, a SET/GET/DEL round trip on a temporary key, and memory and keyspace facts from INFO.
 * One connection is kept across checks and opened again when it broke.
 */
export class RedisProbe implements Probe {
  readonly kind = 'redis';
  readonly target: string;
  private readonly secrets = new Secrets();
  private readonly connection: RedisOptions;
  private client: Redis | undefined;
  /** The last error the client reported: ioredis rejects commands with a vaguer one ("Connection is closed."). */
  private lastError: Error | undefined;

  constructor(
    url: URL,
    private readonly options: ProbeOptions,
  ) {
    this.target = redactUrl(url.href);
    this.secrets.addFromUrl(url.href);
    const host = hostOf(url);
    const path = url.pathname.replace(/^\//, '');
    if (!host)
      throw new InputError('targets', `${this.target} needs a host, e.g. redis://cache.internal:6379`);
    if (path !== '' && !/^\d+$/.test(path)) {
      throw new InputError(
        'targets',
        `the path of ${this.target} must be a database number (e.g. redis://${url.host}/2), not "/${path}"`,
      );
    }
    this.connection = {
      host,
      port: url.port ? Number(url.port) : 6379,
      username: url.username ? decodeUrlPart(url, 'username', 'targets') : undefined,
      password: url.password ? decodeUrlPart(url, 'password', 'targets') : undefined,
      db: path ? Number(path) : 0,
      tls:
        url.protocol === 'rediss:'
          ? { servername: net.isIP(host) ? undefined : host, rejectUnauthorized: !options.insecure }
          : undefined,
      lazyConnect: true,
      // Fail now instead of queueing or retrying: the caller decides about retries.
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      retryStrategy: () => null,
      // PING is the readiness check; ioredis's own (INFO before "ready") would hide NOAUTH behind "Connection is closed."
      enableReadyCheck: false,
      connectTimeout: options.timeoutMs,
      commandTimeout: options.timeoutMs,
      connectionName: 'switchyard-health-check',
    };
  }

  check(signal?: AbortSignal): Promise<ProbeResult> {
    return runAttempt(
      { timeoutMs: this.options.timeoutMs, signal, redact: (text) => this.secrets.redact(text) },
      async ({ signal: stop, elapsed }) => {
        // A connection cut off mid-command is in an unknown state: the next check opens a new one.
        stop.addEventListener('abort', () => this.disconnect(), { once: true });
        const reused = this.client?.status === 'ready';
        try {
          return await this.attempt(elapsed);
        } catch (error) {
          // The kept connection died while idle (server restarted, idle timeout): one go on a new one.
          if (!reused || isReplyError(error) || stop.aborted) throw error;
          return await this.attempt(elapsed);
        }
      },
    );
  }

  private async attempt(elapsed: () => number): Promise<Outcome> {
    this.lastError = undefined;
    try {
      return await this.inspect(await this.connect(), elapsed);
    } catch (error) {
      this.disconnect();
      throw isReplyError(error) ? error : (this.lastError ?? error);
    }
  }

  async close(): Promise<void> {
    const client = this.client;
    if (!client) return;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      client.quit().catch(() => undefined),
      new Promise((resolve) => (timer = setTimeout(resolve, this.options.timeoutMs))),
    ]);
    clearTimeout(timer);
    this.disconnect();
  }

  private async connect(): Promise<Redis> {
    if (this.client?.status === 'ready') return this.client;
    this.disconnect();
    // Loaded on first use: an HTTP-only check should not pay for parsing the Redis driver at start-up.
    const RedisClient = await loadRedisClient();
    const client = new RedisClient(this.connection);
    client.on('error', (error: Error) => (this.lastError = error));
    this.client = client;
    await client.connect();
    return client;
  }

  private disconnect(): void {
    const client = this.client;
    this.client = undefined;
    // A client that ended has no socket left; disconnecting it again arms a 2 s timer that never clears.
    if (!client || client.status === 'end') return;
    client.disconnect();
    // Now, not after ioredis's grace period for a polite close: nothing is waiting for a reply.
    client.stream?.destroy();
  }

  private async inspect(client: Redis, elapsed: () => number): Promise<Outcome> {
    const pong = await client.ping();
    if (pong !== 'PONG') {
      return { ok: false, detail: `PING answered ${JSON.stringify(pong)} instead of PONG` };
    }
    // ioredis sends SELECT when it connects and only reports a refusal as an event; PING came after it.
    const setup = this.lastError;
    if (setup) {
      this.lastError = undefined;
      throw new Error(`connection setup failed: ${setup.message}`);
    }
    // Read before the round trip, so the probe's own GET is not in the hit rate it reports.
    const info = parseInfo(await step('INFO', () => client.info()));
    const facts = describeInfo(info);
    const problems: string[] = [];
    const memory = memoryUse(info);
    if (memory && this.options.maxMemoryUsage !== undefined && memory.usage > this.options.maxMemoryUsage) {
      problems.push(
        `memory use ${formatPercent(memory.usage)} (${formatBytes(memory.used, 2)} of ${formatBytes(memory.max, 2)} maxmemory) ` +
          `is above max-memory-usage ${formatPercent(this.options.maxMemoryUsage)}`,
      );
    }
    const roundTrip = await this.roundTrip(client);
    if (roundTrip) problems.push(roundTrip);
    const latencyMs = elapsed();
    if (problems.length > 0) return { ok: false, detail: problems.join('; '), facts, latencyMs };
    const memoryNote = memory
      ? `, memory ${formatPercent(memory.usage)} of ${formatBytes(memory.max, 2)}`
      : '';
    return {
      ok: true,
      detail: `PONG, SET/GET/DEL ok${memoryNote} in ${Math.round(latencyMs)} ms`,
      facts,
      latencyMs,
    };
  }

  /** SET, GET and DEL a temporary key; what went wrong, or undefined. */
  private async roundTrip(client: Redis): Promise<string | undefined> {
    const key = `${HEALTH_KEY_PREFIX}${randomBytes(8).toString('hex')}`;
    const value = randomBytes(8).toString('hex');
    try {
      await step('SET', () => client.set(key, value, 'PX', HEALTH_KEY_TTL_MS));
    } catch (error) {
      // OOM or READONLY: the server answered, so it is an unhealthy result, not a broken connection.
      if (isReplyError(error)) return error.message;
      throw error;
    }
    let removed = false;
    try {
      const got = await step('GET', () => client.get(key));
      const deleted = await step('DEL', () => client.del(key));
      removed = deleted === 1;
      if (got !== value) return `GET returned ${JSON.stringify(got)} instead of the value just SET`;
      if (!removed) return `DEL removed ${deleted} keys instead of 1`;
      return undefined;
    } catch (error) {
      if (isReplyError(error)) return error.message;
      throw error;
    } finally {
      if (!removed) await client.del(key).catch(() => undefined);
    }
  }
}

/** Runs one command; a reply error names the command that got it ("SET failed: OOM …"). */
async function step<T>(name: string, command: () => Promise<T>): Promise<T> {
  try {
    return await command();
  } catch (error) {
    if (isReplyError(error)) error.message = `${name} failed: ${error.message}`;
    throw error;
  }
}

/** The server answered with an error (OOM, READONLY, NOAUTH, …), as opposed to a broken connection. */
function isReplyError(error: unknown): error is Error {
  return isError(error) && error.name === 'ReplyError';
}

function parseInfo(text: string): Map<string, string> {
  const fields = new Map<string, string>();
  for (const line of text.split(/\r?\n/)) {
    const colon = line.indexOf(':');
    if (colon > 0 && !line.startsWith('#')) fields.set(line.slice(0, colon), line.slice(colon + 1));
  }
  return fields;
}

function memoryUse(info: Map<string, string>): { used: number; max: number; usage: number } | undefined {
  const used = Number(info.get('used_memory'));
  const max = Number(info.get('maxmemory'));
  // maxmemory 0 means "no limit": there is no share to compare.
  if (!(max > 0) || !Number.isFinite(used)) return undefined;
  return { used, max, usage: used / max };
}

function describeInfo(info: Map<string, string>): Record<string, string | number> {
  const facts: Record<string, string | number> = {};
  const text = (name: string) => {
    const value = info.get(name);
    if (value !== undefined) facts[name] = value;
  };
  const number = (name: string) => {
    const value = Number(info.get(name));
    if (info.has(name) && Number.isFinite(value)) facts[name] = value;
  };
  text('redis_version');
  text('role');
  number('used_memory');
  text('used_memory_human');
  number('maxmemory');
  text('maxmemory_policy');
  const memory = memoryUse(info);
  if (memory) facts.memory_usage = round(memory.usage);
  number('keyspace_hits');
  number('keyspace_misses');
  const hits = Number(info.get('keyspace_hits') ?? 0);
  const misses = Number(info.get('keyspace_misses') ?? 0);
  facts.keyspace_hit_rate = hits + misses > 0 ? round(hits / (hits + misses)) : 'n/a';
  return facts;
}

const round = (n: number) => Math.round(n * 10_000) / 10_000;

/** 0.9 → "90%", 0.99361 → "99.4%": the threshold reads as the user wrote it. */
function formatPercent(fraction: number): string {
  return `${Number((fraction * 100).toFixed(1))}%`;
}
