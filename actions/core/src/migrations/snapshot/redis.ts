import net from 'node:net';
import type { Redis } from 'ioredis';
import { DEPLOY_STATE_PREFIX, parseInfo, unsupportedServer } from '../../backup/sources/redis.js';
import { closeRedis, loadRedisClient } from '../../drivers.js';
import { InputError, messageOf, UserError } from '../../errors.js';
import { decodeUrlPart } from '../../inputs.js';
import { Secrets, redactUrl } from '../../mask.js';
import type { KeyPatternSnapshot, Snapshot } from './snapshot.js';

/*
 * The Redis half of `validate-migration snapshot`: how many keys of which shape, type and expiry the
 * selected database holds. Keys are streamed with SCAN (COUNT 1000); per step one pipeline asks
 * TYPE and PTTL of its keys, while the next SCAN step is already on its way. Only the tally per
 * pattern is kept: memory grows with the number of patterns, never with the number of keys.
 *
 * A key's pattern is its name with every `:`-separated segment that is a number, a hex string of
 * at least 8 characters or a UUID replaced by `*` (see keyPattern). Should a keyspace have more
 * than MAX_PATTERNS of them (an id that is none of these, such as an e-mail address, makes every
 * key its own pattern), the tally falls back to the first segment (`user:*`), and past that
 * again to a single `*`: the bound holds whatever the keys look like.
 *
 * Like the backup, SCAN is not a point-in-time view: keys created or deleted during the snapshot
 * may or may not be counted, a key that vanishes between SCAN and TYPE is not, and SCAN can return
 * a key twice when the keyspace shrinks a lot meanwhile. On a database nobody writes to, the
 * counts are exact. Our own deploy state (`switchyard:*`) is left out, as the backup leaves it out.
 */

const SCAN_COUNT = 1000;
export const MAX_PATTERNS = 10_000;
const INPUT = 'redis-url';
const TYPE_NAMES = new Set(['string', 'list', 'set', 'zset', 'hash', 'stream']);
const DEPLOY_STATE = Buffer.from(DEPLOY_STATE_PREFIX);

const NUMBER = /^-?\d+$/;
const HEX = /^[0-9a-f]{8,}$/i;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** `user:123:profile` → `user:*:profile`; `session:9f86d081884c7d65` → `session:*`. */
export function keyPattern(key: string): string {
  return key
    .split(':')
    .map((segment) => (NUMBER.test(segment) || HEX.test(segment) || UUID.test(segment) ? '*' : segment))
    .join(':');
}

/** The coarser patterns a tally falls back to, level by level. */
const COARSER: ((pattern: string) => string)[] = [
  (pattern) => pattern,
  (pattern) => {
    const colon = pattern.indexOf(':');
    return colon < 0 ? pattern : `${pattern.slice(0, colon)}:*`;
  },
  () => '*',
];

interface Tally {
  keys: number;
  types: Map<string, number>;
  withTtl: number;
}

class Patterns {
  private level = 0;
  private readonly tallies = new Map<string, Tally>();

  add(key: string, type: string, expires: boolean): void {
    const pattern = COARSER[this.level]?.(keyPattern(key)) ?? '*';
    let tally = this.tallies.get(pattern);
    if (!tally) {
      tally = { keys: 0, types: new Map(), withTtl: 0 };
      this.tallies.set(pattern, tally);
      if (this.tallies.size > MAX_PATTERNS) this.coarsen();
      tally = this.tallies.get(COARSER[this.level]?.(pattern) ?? '*') ?? tally;
    }
    tally.keys++;
    tally.types.set(type, (tally.types.get(type) ?? 0) + 1);
    if (expires) tally.withTtl++;
  }

  /** Merges every tally into its coarser pattern until they fit (each level's pattern is a function of the finer one). */
  private coarsen(): void {
    while (this.tallies.size > MAX_PATTERNS && this.level < COARSER.length - 1) {
      this.level++;
      const coarser = COARSER[this.level] ?? (() => '*');
      const merged = new Map<string, Tally>();
      for (const [pattern, tally] of this.tallies) {
        const into = merged.get(coarser(pattern));
        if (!into) {
          merged.set(coarser(pattern), tally);
          continue;
        }
        into.keys += tally.keys;
        into.withTtl += tally.withTtl;
        for (const [type, n] of tally.types) into.types.set(type, (into.types.get(type) ?? 0) + n);
      }
      this.tallies.clear();
      for (const [pattern, tally] of merged) this.tallies.set(pattern, tally);
    }
  }

  list(): KeyPatternSnapshot[] {
    return [...this.tallies]
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([pattern, tally]) => ({
        pattern,
        keys: tally.keys,
        types: Object.fromEntries([...tally.types].sort(([a], [b]) => (a < b ? -1 : 1))),
        withTtl: tally.withTtl,
      }));
  }
}

export async function snapshotRedis(url: string): Promise<NonNullable<Snapshot['redis']>> {
  const secrets = new Secrets();
  secrets.addFromUrl(url);
  const endpoint = parseEndpoint(url);
  const RedisClient = await loadRedisClient();
  const client = new RedisClient({
    host: endpoint.host,
    port: endpoint.port,
    username: endpoint.username,
    password: endpoint.password,
    db: 0,
    tls: endpoint.tls ? { servername: net.isIP(endpoint.host) ? undefined : endpoint.host } : undefined,
    lazyConnect: true,
    // A lost connection fails the snapshot at once: counts across a reconnect could miss keys.
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
    enableReadyCheck: false,
    connectTimeout: 10_000,
    commandTimeout: 60_000,
    connectionName: 'switchyard-snapshot',
  });
  let lastError: unknown;
  client.on('error', (error: unknown) => (lastError = error));
  let connected = false;
  let counted = 0;
  const explain = (error: unknown): string => {
    const reason = isReplyError(error) ? error : (lastError ?? error);
    const text = secrets.redact(messageOf(reason)).replace(/\.$/, '');
    return isReplyError(reason)
      ? `Redis answered "${text}"`
      : connected
        ? `the connection was lost (${text})`
        : `no connection (${text})`;
  };
  try {
    try {
      await client.connect();
      connected = true;
      const refusal = unsupportedServer(parseInfo(await client.info()), endpoint.display);
      if (refusal) throw refusal;
      if (endpoint.db !== 0) await client.select(endpoint.db);
    } catch (error) {
      if (error instanceof UserError) throw error;
      throw new UserError(
        `Connecting to ${endpoint.display} failed: ${explain(error)}.` +
          (connected ? '' : ' Check the host and port, and that Redis is running and reachable from here.'),
        'Redis',
      );
    }
    const patterns = new Patterns();
    try {
      for await (const keys of scanKeys(client)) {
        const ours = keys.filter((key) => !key.subarray(0, DEPLOY_STATE.length).equals(DEPLOY_STATE));
        if (ours.length === 0) continue;
        const pipeline = client.pipeline();
        for (const key of ours) pipeline.type(key).pttl(key);
        const replies = (await pipeline.exec()) ?? [];
        ours.forEach((key, i) => {
          const [typeError, type] = replies[2 * i] ?? [];
          const [ttlError, ttl] = replies[2 * i + 1] ?? [];
          if (typeError) throw typeError;
          if (ttlError) throw ttlError;
          // Gone between SCAN and TYPE (deleted, or expired).
          if (type === 'none' || ttl === -2) return;
          counted++;
          patterns.add(
            key.toString('utf8'),
            TYPE_NAMES.has(String(type)) ? String(type) : 'other',
            Number(ttl) >= 0,
          );
        });
      }
    } catch (error) {
      throw new UserError(
        `Snapshot of ${endpoint.display} failed after ${counted.toLocaleString('en-US')} keys: ${explain(error)}.`,
        'Redis',
      );
    }
    return { database: endpoint.db, keys: counted, patterns: patterns.list() };
  } finally {
    await closeRedis(client);
  }
}

/** SCAN steps, the next asked for as soon as the previous answer is in. */
async function* scanKeys(client: Redis): AsyncGenerator<Buffer[]> {
  const scan = (cursor: string) => {
    const reply = client.callBuffer('SCAN', cursor, 'COUNT', SCAN_COUNT) as Promise<[Buffer, Buffer[]]>;
    // Awaited below; an abandoned scan must not become an unhandled rejection.
    reply.catch(() => undefined);
    return reply;
  };
  let next: Promise<[Buffer, Buffer[]]> | undefined = scan('0');
  while (next) {
    const [cursor, keys]: [Buffer, Buffer[]] = await next;
    const position = cursor.toString();
    next = position === '0' ? undefined : scan(position);
    if (keys.length > 0) yield keys;
  }
}

interface Endpoint {
  display: string;
  host: string;
  port: number;
  db: number;
  username?: string;
  password?: string;
  tls: boolean;
}

function parseEndpoint(text: string): Endpoint {
  const display = redactUrl(text);
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new InputError(INPUT, `"${display}" is not a URL: expected redis://host:port/db or rediss://…`);
  }
  if (url.protocol !== 'redis:' && url.protocol !== 'rediss:')
    throw new InputError(INPUT, `${display} is not a Redis URL; expected redis://host:port/db or rediss://…`);
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  if (!host) throw new InputError(INPUT, `${display} needs a host, e.g. redis://cache.internal:6379/0`);
  const path = decodeUrlPart(url, 'path', INPUT, url.pathname.replace(/^\//, ''));
  if (path !== '' && !/^\d+$/.test(path))
    throw new InputError(
      INPUT,
      `the path of ${display} must be a database number (e.g. redis://${url.host}/2), not "/${path}"`,
    );
  return {
    display,
    host,
    port: url.port ? Number(url.port) : 6379,
    db: path ? Number(path) : 0,
    username: url.username ? decodeUrlPart(url, 'username', INPUT) : undefined,
    password: url.password ? decodeUrlPart(url, 'password', INPUT) : undefined,
    tls: url.protocol === 'rediss:',
  };
}

// Duck-typed: under a test runner's VM, errors from another realm fail `instanceof Error`.
function isReplyError(error: unknown): error is Error {
  return typeof error === 'object' && error !== null && (error as Error).name === 'ReplyError';
}
