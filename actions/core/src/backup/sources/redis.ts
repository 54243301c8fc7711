import net from 'node:net';
import type { Readable, Writable } from 'node:stream';
import type { Redis, RedisOptions } from 'ioredis';
import { systemClock, type Clock } from '../../clock.js';
import { closeRedis, loadRedisClient } from '../../drivers.js';
import { InputError, messageOf, UserError } from '../../errors.js';
import { Secrets, redactUrl } from '../../mask.js';
import { decodeUrlPart } from '../../inputs.js';
import type { PatternSyntax, Selection } from '../patterns.js';
import {
  TargetInTheWay,
  urlSourceKind,
  type BackupSource,
  type PartSummary,
  type RestoreContext,
  type SourceContext,
  type SourceKind,
  type UrlSourceSpec,
} from '../source.js';
import {
  PART_MAGIC,
  PART_VERSION,
  PartFormatError,
  encodeEnd,
  encodeHeader,
  encodeKeys,
  readPart,
  type KeyRecord,
  type PartHeader,
} from './record-file.js';

/*
 * A Redis database, backed up with SCAN and DUMP/PTTL and restored with RESTORE, in batches.
 *
 * What a backup holds while keys change (it is NOT a point-in-time snapshot):
 * - SCAN returns every key that exists from the start to the end of the backup at least once.
 *   A key created or deleted meanwhile may or may not be in it; a key that is deleted or expires
 *   between SCAN and DUMP is left out and counted as `vanished`.
 * - Each key's value and TTL are read together: one Lua script per batch runs DUMP and PTTL for up
 *   to ~1000 keys with nothing in between, so every key is whole and a batch is a snapshot of its
 *   own keys. (Other clients wait while a script runs: about 2 ms for 1000 small keys, and a batch
 *   stops at 8 MiB of dumps.) Different batches are read at different moments, though: a change
 *   that spans keys (a MULTI moving an item from one list to another) can be caught half done when
 *   the two keys fall in different batches. Where scripting is not allowed, DUMP and PTTL go in a
 *   pipeline: other clients' commands may then come between a key's two reads.
 * - SCAN can list a key twice when the keyspace shrinks a lot during the backup (Redis then
 *   resizes its table and revisits buckets). Both copies are written: finding them would take
 *   memory in proportion to the keyspace, and the part stays streamed at any size. A restore
 *   tolerates them: in replace mode the later copy wins; otherwise the second RESTORE finds the
 *   key present and it is counted with the keys that already existed.
 * - TTLs are stored as the time left when the key was read and restored as that time left from
 *   the moment of the restore (RESTORE's relative TTL): the target's clock never matters, and a key
 *   backed up with 10 minutes to live gets 10 minutes again.
 * For a point-in-time copy of a whole server, Redis's own snapshot is the tool (`redis-cli --rdb`,
 * BGSAVE), without include/exclude or the choice of one database.
 *
 * Redis Cluster is refused: its keys are spread over primaries, and a SCAN sees one node only.
 */

export interface RedisSourceOptions {
  /** Keys per SCAN step and per batch of DUMPs or RESTOREs (default 1000). */
  batchKeys?: number;
  /**
   * Dump bytes per batch (default 8 MiB): a batch of large keys is cut short there, which bounds
   * both our memory and the time one script keeps the server busy.
   */
  batchBytes?: number;
  /** Batches as Lua scripts when the server allows them (default); false sends plain pipelines. */
  scripts?: boolean;
  /** A command that gets no answer for this long fails the backup (default 60 s). */
  commandTimeoutMs?: number;
  connectTimeoutMs?: number;
  /** Least time between two progress lines (default 2 s). */
  progressEveryMs?: number;
  clock?: Clock;
}

export function createRedisSource(url: URL, options: RedisSourceOptions = {}): BackupSource {
  return new RedisSource(url, options);
}

/** Batches sent ahead of the one being handled here. */
const IN_FLIGHT = 2;
/**
 * Keys per pipeline when Lua is not allowed: ioredis handles a pipeline of a few hundred commands
 * much faster per command than one of thousands (1M keys: 6.6 s with 250 keys per pipeline,
 * 11 s with 1000), and with less garbage.
 */
const PIPELINE_KEYS = 200;

const DEFAULTS = {
  batchKeys: 1000,
  batchBytes: 8 * 1024 * 1024,
  commandTimeoutMs: 60_000,
  connectTimeoutMs: 10_000,
  progressEveryMs: 2_000,
};

/** TYPE's names for the six data types; module types and anything newer count as "other". */
const TYPE_NAMES = new Set(['string', 'list', 'set', 'zset', 'hash', 'stream']);

class RedisSource implements BackupSource {
  readonly kind = 'redis';
  readonly display: string;
  readonly partName: string;
  private readonly source: Endpoint;
  private readonly secrets = new Secrets();
  private readonly settings: typeof DEFAULTS & { scripts: boolean; clock: Clock };
  private readonly open = new Set<Connection>();

  constructor(url: URL, options: RedisSourceOptions) {
    this.settings = {
      ...DEFAULTS,
      ...definedOnly(options),
      scripts: options.scripts ?? true,
      clock: options.clock ?? systemClock,
    };
    this.source = parseEndpoint(url, 'sources', this.settings);
    this.secrets.addFromUrl(url.href);
    this.display = this.source.display;
    // IPv6 colons and other characters a file or artifact name cannot hold become '_'.
    this.partName = `redis-${this.source.host.replace(/[^A-Za-z0-9.-]+/g, '_')}-${this.source.port}-db${this.source.db}`;
  }

  async backup(out: Writable, context: SourceContext): Promise<PartSummary> {
    const selection = new KeySelection(context.include, context.exclude);
    const writer = new PartWriter(out);
    const tally = new Tally(selection);
    const progress = this.progress(context, `Redis backup of ${this.display}`);
    let connection: Connection | undefined;
    let vanished = 0;
    let rdbVersion = 0;
    try {
      connection = await this.connect(this.source, context);
      const client = connection.client;
      const dumper = connection.scripts ? dumpByScript : dumpByPipeline;
      await writer.write(encodeHeader({ redisVersion: connection.version, db: this.source.db }));

      const scan = scanKeys(client, selection.match, this.settings.batchKeys);
      let queue: Buffer[] = [];
      const keysPerStep = connection.scripts
        ? this.settings.batchKeys
        : Math.min(this.settings.batchKeys, PIPELINE_KEYS);
      let perStep = keysPerStep;
      // Two batches are in flight (and the next SCAN is on its way) while one is written out: the
      // server always has the next batch queued when it finishes one, and this process encodes and
      // writes meanwhile. With one in flight, each would wait for the other half of the time.
      let scanned = false;
      const request = async (): Promise<InFlight<Buffer, DumpedKeys> | undefined> => {
        // SCAN's COUNT is a hint and filters thin its steps out: gather a full batch, so that no
        // round trip carries a handful of keys.
        while (queue.length < perStep && !scanned) {
          const step = await scan.next();
          if (step.done) {
            scanned = true;
            break;
          }
          const taken = selection.everything
            ? step.value
            : step.value.filter((key) => selection.pick(key) >= 0);
          tally.excluded += step.value.length - taken.length;
          queue = queue.length === 0 ? taken : queue.concat(taken);
        }
        if (queue.length === 0) return undefined;
        const keys = queue.length > perStep ? queue.slice(0, perStep) : queue;
        queue = queue.length > perStep ? queue.slice(perStep) : [];
        return inFlight(keys, dumper(client, keys, this.settings.batchBytes));
      };

      const window: InFlight<Buffer, DumpedKeys>[] = [];
      const fill = async () => {
        while (window.length < IN_FLIGHT) {
          const batch = await request();
          if (!batch) return;
          window.push(batch);
        }
      };
      await fill();
      for (let current = window.shift(); current; current = window.shift()) {
        if (context.signal?.aborted) throw this.cancelled('Backup', tally.total);
        const { dumps, ttls } = await current.reply;
        // The script stops at the byte budget: the keys it did not reach go first in the next batch.
        if (dumps.length < current.keys.length) queue = [...current.keys.slice(dumps.length), ...queue];
        const keys = current.keys;
        await fill();
        const records: KeyRecord[] = [];
        let bytes = 0;
        for (let i = 0; i < dumps.length; i++) {
          const dump = dumps[i];
          const ttl = ttls[i] as number;
          if (!dump || ttl === -2) {
            vanished++;
            continue;
          }
          const key = keys[i] as Buffer;
          // PTTL 0 has a moment left; RESTORE would read 0 as "no expiry".
          records.push({ key, ttlMs: ttl === 0 ? 1 : ttl, dump });
          tally.add(key, typeOfDump(dump));
          rdbVersion = Math.max(rdbVersion, rdbVersionOf(dump));
          bytes += dump.length;
        }
        if (!connection.scripts && dumps.length > 0)
          perStep = stepFor(bytes / dumps.length, keysPerStep, this.settings.batchBytes);
        if (records.length > 0) await writer.write(encodeKeys(records));
        progress.add(records.length, bytes);
      }
      await writer.end(encodeEnd(tally.total));
      return {
        records: tally.records(),
        facts: {
          redis_version: connection.version,
          db: this.source.db,
          format: `${PART_MAGIC} v${PART_VERSION}`,
          rdb_version: rdbVersion,
          keys: tally.total,
          vanished,
          ...(selection.everything ? {} : { excluded: tally.excluded }),
          method: connection.scripts ? 'SCAN + Lua DUMP/PTTL batches' : 'SCAN + pipelined DUMP/PTTL',
          consistency: 'per key (SCAN): not a point-in-time snapshot',
        },
      };
    } catch (error) {
      const failure =
        writer.failure === error
          ? error
          : context.signal?.aborted
            ? this.cancelled('Backup', tally.total)
            : describe(
                error,
                connection,
                `Backup of ${this.display} failed after ${formatCount(tally.total)} keys`,
                'The part is incomplete. Check that Redis is running and reachable, then back up again.',
              );
      // Whoever reads the part must not take half of it for a whole one: with an error for those
      // listening, as a premature close for a pipeline.
      if (out.listenerCount('error') > 0) out.destroy(failure as Error);
      else out.destroy();
      throw failure;
    } finally {
      await this.release(connection);
    }
  }

  async checkTarget(open: () => Readable, context: RestoreContext): Promise<void> {
    const target = this.target(context);
    const selection = new KeySelection(context.include, context.exclude);
    const connection = await this.connect(target, context);
    try {
      const mustBeAbsent = context.mode === 'fail-if-exists';
      // An empty database has nothing in the way: the part is still read through, so that a
      // damaged one is refused before anything is written.
      const nothingInTheWay = !mustBeAbsent || (await connection.client.dbsize()) === 0;
      const inTheWay: string[] = [];
      let found = 0;
      let batch: Buffer[] = [];
      const look = async () => {
        const keys = batch;
        batch = [];
        if (nothingInTheWay || keys.length === 0) return;
        // One EXISTS for the whole batch; only a batch with hits is asked key by key.
        if ((await connection.client.exists(...keys)) === 0) return;
        const pipeline = connection.client.pipeline();
        for (const key of keys) pipeline.exists(key);
        const replies = (await pipeline.exec()) ?? [];
        replies.forEach(([error, exists], i) => {
          if (error) throw error;
          if (exists !== 1) return;
          found++;
          if (inTheWay.length < 5) inTheWay.push(showKey(keys[i] as Buffer));
        });
      };
      for await (const item of readPart(open())) {
        if (item.kind !== 'keys') continue;
        for (const { key } of item.keys) {
          if (!selection.everything && selection.pick(key) < 0) continue;
          batch.push(key);
          if (batch.length >= this.settings.batchKeys) await look();
        }
      }
      await look();
      if (found > 0) {
        throw new TargetInTheWay(
          `Cannot restore part ${this.partName} into ${target.display} in fail-if-exists mode: ` +
            `${formatCount(found)} of its keys already exist there (${inTheWay.join(', ')}${found > inTheWay.length ? ', …' : ''}). ` +
            `Nothing was changed. Restore into an empty database, choose mode "replace" to overwrite them or "merge" ` +
            `to keep them and restore the rest, or leave them out with "exclude".`,
        );
      }
    } catch (error) {
      if (error instanceof PartFormatError) throw this.damaged(error, target, 0);
      throw describe(
        error,
        connection,
        `Checking ${target.display} before restoring part ${this.partName} failed`,
        'Nothing was changed.',
      );
    } finally {
      await this.release(connection);
    }
  }

  async restore(open: () => Readable, context: RestoreContext): Promise<PartSummary> {
    const target = this.target(context);
    const selection = new KeySelection(context.include, context.exclude);
    const tally = new Tally(selection);
    const progress = this.progress(context, `Redis restore into ${target.display}`);
    const replace = context.mode === 'replace';
    let connection: Connection | undefined;
    let present = 0;
    let notSelected = 0;
    let header: PartHeader | undefined;
    // Batches sent and not yet counted, oldest first: the next is sent before the last is answered.
    const pending: InFlight<KeyRecord, RestoredKeys>[] = [];

    const settle = async () => {
      const batch = pending.shift();
      if (!batch) return;
      const { tried, existing, refused } = await batch.reply;
      let bytes = 0;
      for (let i = 0; i < tried; i++) {
        if (existing.has(i) || refused.has(i)) continue;
        const record = batch.keys[i] as KeyRecord;
        tally.add(record.key, typeOfDump(record.dump));
        bytes += record.dump.length;
      }
      present += existing.size;
      progress.add(tried - existing.size - refused.size, bytes);
      const [first] = refused;
      if (first) throw new KeyRefused(batch.keys[first[0]] as KeyRecord, first[1]);
    };

    try {
      connection = await this.connect(target, context);
      const client = connection.client;
      const restorer = connection.scripts ? restoreByScript : restoreByPipeline;
      const batchKeys = connection.scripts
        ? this.settings.batchKeys
        : Math.min(this.settings.batchKeys, PIPELINE_KEYS);
      let batch: KeyRecord[] = [];
      let batchBytes = 0;
      const send = async () => {
        const keys = batch;
        batch = [];
        batchBytes = 0;
        if (pending.length >= IN_FLIGHT) await settle();
        if (context.signal?.aborted) throw this.cancelled('Restore', tally.total);
        pending.push(inFlight(keys, restorer(client, keys, replace)));
      };
      for await (const item of readPart(open())) {
        if (item.kind === 'header') {
          header = item.header;
          continue;
        }
        for (const record of item.keys) {
          if (!selection.everything && selection.pick(record.key) < 0) {
            notSelected++;
            continue;
          }
          batch.push(record);
          batchBytes += record.dump.length;
          if (batch.length >= batchKeys || batchBytes >= this.settings.batchBytes) await send();
        }
      }
      if (batch.length > 0) await send();
      while (pending.length > 0) await settle();
      if (present > 0 && context.mode !== 'merge') {
        context.log(
          `${formatCount(present)} keys were already present in ${target.display} when their turn came and were left as ` +
            `they were (a key listed twice by SCAN during the backup, or one written by another client meanwhile).`,
        );
      }
      return {
        records: tally.records(),
        facts: {
          target: target.display,
          mode: context.mode,
          redis_version: connection.version,
          db: target.db,
          restored: tally.total,
          [context.mode === 'merge' ? 'skipped_existing' : 'already_present']: present,
          ...(selection.everything ? {} : { not_selected: notSelected }),
          ...(header ? { backed_up_from_redis: header.redisVersion } : {}),
          ttl: 'time left at backup, counted from the restore',
        },
      };
    } catch (error) {
      // What the batches in flight did still counts in "how much was restored".
      while (pending.length > 0) await settle().catch(() => undefined);
      if (context.signal?.aborted) throw this.cancelled('Restore', tally.total);
      if (error instanceof KeyRefused) throw this.refused(error, target, tally.total, header, connection);
      if (error instanceof PartFormatError) throw this.damaged(error, target, tally.total);
      throw describe(
        error,
        connection,
        `Restore of part ${this.partName} into ${target.display} failed after ${formatCount(tally.total)} keys`,
        tally.total > 0
          ? 'The keys restored so far were left in place; once the cause is fixed, restore again in replace mode.'
          : 'Nothing was changed.',
      );
    } finally {
      await this.release(connection);
    }
  }

  /**
   * Counts the keys the way backup() does (SCAN, then TYPE). Given a RestoreContext (which has a
   * `target`), it counts the restore target, so the engine can confirm a restore into another Redis.
   */
  async count(context: SourceContext & { target?: string }): Promise<Record<string, number>> {
    const endpoint = typeof context.target === 'string' ? this.target(context) : this.source;
    const selection = new KeySelection(context.include, context.exclude);
    const tally = new Tally(selection);
    const connection = await this.connect(endpoint, context);
    try {
      const typer = connection.scripts ? typesByScript : typesByPipeline;
      for await (const scanned of scanKeys(connection.client, selection.match, this.settings.batchKeys)) {
        const keys = selection.everything ? scanned : scanned.filter((key) => selection.pick(key) >= 0);
        if (keys.length === 0) continue;
        const types = await typer(connection.client, keys);
        types.forEach((type, i) => {
          // "none": gone since SCAN listed it.
          if (type !== 'none') tally.add(keys[i] as Buffer, TYPE_NAMES.has(type) ? type : 'other');
        });
      }
      return tally.records();
    } catch (error) {
      throw describe(error, connection, `Counting the keys of ${endpoint.display} failed`);
    } finally {
      await this.release(connection);
    }
  }

  async close(): Promise<void> {
    await Promise.all([...this.open].map((connection) => this.release(connection)));
  }

  /** The restore target: `context.target` (another Redis), else the source itself. */
  private target(context: { target?: string }): Endpoint {
    if (context.target === undefined) return this.source;
    let url: URL;
    try {
      url = new URL(context.target);
    } catch {
      throw new InputError(
        'target',
        `"${redactUrl(context.target)}" is not a Redis URL; expected e.g. redis://cache.internal:6379/0`,
      );
    }
    this.secrets.addFromUrl(url.href);
    return parseEndpoint(url, 'target', this.settings);
  }

  private async connect(endpoint: Endpoint, context: SourceContext): Promise<Connection> {
    const connection = await Connection.open(endpoint, this.secrets, context, this.settings.scripts);
    this.open.add(connection);
    return connection;
  }

  private async release(connection: Connection | undefined): Promise<void> {
    if (!connection) return;
    this.open.delete(connection);
    await connection.close();
  }

  /** A part that is not whole: which one, where, and how much of it was restored before that. */
  private damaged(error: PartFormatError, target: Endpoint, restored: number): UserError {
    return new UserError(
      `Part ${this.partName} cannot be restored into ${target.display}: it is damaged at byte ${formatCount(error.offset)} ` +
        `(${error.message}). ` +
        (restored > 0
          ? `${formatCount(restored)} keys were restored before that point and left in place; restore a whole backup in replace mode to overwrite them.`
          : 'Nothing was changed. Restore from another backup.'),
      'Redis part damaged',
    );
  }

  private refused(
    { reply, record }: KeyRefused,
    target: Endpoint,
    restored: number,
    header: PartHeader | undefined,
    connection: Connection | undefined,
  ): UserError {
    const message = this.secrets.redact(reply).replace(/\.$/, '');
    const versions =
      /payload version/i.test(message) && header && connection
        ? ` The part was written by Redis ${header.redisVersion} and the target runs ${connection.version}: a dump ` +
          'restores only into a Redis that reads its RDB format (the same version or a newer one), and is refused ' +
          'if it was damaged.'
        : '';
    return new UserError(
      `Restore of part ${this.partName} into ${target.display} failed after ${formatCount(restored)} keys: Redis refused ` +
        `key ${showKey(record.key)}: ${message}.${versions} ` +
        (restored > 0
          ? 'The keys restored so far were left in place; once the cause is fixed, restore again in replace mode.'
          : 'Nothing was changed.'),
      'Redis restore',
    );
  }

  private cancelled(what: 'Backup' | 'Restore', keys: number): UserError {
    return new UserError(
      `${what} of ${this.display} was cancelled after ${formatCount(keys)} keys.`,
      `Redis ${what}`,
    );
  }

  private progress(context: SourceContext, label: string): Progress {
    return new Progress(context.log, this.settings.clock, label, this.settings.progressEveryMs);
  }
}

// ---------------------------------------------------------------------------------------------
// Batches: one Lua script each where the server allows it, a pipeline otherwise. A script spares
// this process a command object and a promise per key (what limits ioredis pipelines) and the
// server the parsing of a request per key: 1M keys back up in 2.9 s instead of 7.1 s and restore
// in 2.7 s instead of 4.6 s (bench/redis-backup.ts).

interface DumpedKeys {
  /** For the first dumps.length keys of the batch (fewer than asked when the byte budget ran out). */
  dumps: (Buffer | null)[];
  /** PTTL: -1 no expiry, -2 gone. */
  ttls: number[];
}

interface RestoredKeys {
  /** Keys 0 … tried-1 of the batch were sent to RESTORE (a script stops at the first refusal). */
  tried: number;
  /** Indexes of the keys that were already present and left as they were. */
  existing: Set<number>;
  /** Keys Redis refused for another reason (a damaged dump, OOM), with its answer. */
  refused: Map<number, string>;
}

/** A key Redis would not restore; reported once the batches still in flight are counted. */
class KeyRefused extends Error {
  constructor(
    readonly record: KeyRecord,
    readonly reply: string,
  ) {
    super(reply);
  }
}

// Redis has no other way to read a key and its TTL with nothing in between. The byte budget is
// checked after each key, so a batch always makes progress.
const DUMP_SCRIPT = `
local budget = tonumber(ARGV[1])
local out, size = {}, 0
for _, key in ipairs(KEYS) do
  local dump = redis.call('DUMP', key)
  out[#out + 1] = dump
  out[#out + 1] = redis.call('PTTL', key)
  if dump then size = size + #dump end
  if size >= budget then break end
end
return out`;

const RESTORE_SCRIPT = `
local replace = ARGV[1] == 'REPLACE'
local out = { 0, '' }
for i, key in ipairs(KEYS) do
  local reply
  if replace then
    reply = redis.pcall('RESTORE', key, ARGV[2 * i], ARGV[2 * i + 1], 'REPLACE')
  else
    reply = redis.pcall('RESTORE', key, ARGV[2 * i], ARGV[2 * i + 1])
  end
  if type(reply) == 'table' and reply.err then
    if string.sub(reply.err, 1, 8) == 'BUSYKEY ' then
      out[#out + 1] = i
    else
      out[1] = i
      out[2] = reply.err
      return out
    end
  end
end
return out`;

const TYPE_SCRIPT = `
local out = {}
for i, key in ipairs(KEYS) do out[i] = redis.call('TYPE', key).ok end
return out`;

async function dumpByScript(client: Redis, keys: Buffer[], budget: number): Promise<DumpedKeys> {
  const reply = (await client.callBuffer('EVAL', DUMP_SCRIPT, keys.length, ...keys, budget)) as (
    Buffer | number | null
  )[];
  const dumps: (Buffer | null)[] = [];
  const ttls: number[] = [];
  for (let i = 0; i < reply.length; i += 2) {
    dumps.push(reply[i] as Buffer | null);
    ttls.push(reply[i + 1] as number);
  }
  return { dumps, ttls };
}

async function dumpByPipeline(client: Redis, keys: Buffer[]): Promise<DumpedKeys> {
  const pipeline = client.pipeline();
  for (const key of keys) pipeline.dumpBuffer(key).pttl(key);
  const replies = (await pipeline.exec()) ?? [];
  const dumps: (Buffer | null)[] = [];
  const ttls: number[] = [];
  for (let i = 0; i < replies.length; i += 2) {
    const [dumpError, dump] = replies[i] ?? [];
    const [ttlError, ttl] = replies[i + 1] ?? [];
    if (dumpError ?? ttlError) throw dumpError ?? ttlError;
    dumps.push((dump as Buffer | null) ?? null);
    ttls.push(ttl as number);
  }
  return { dumps, ttls };
}

async function restoreByScript(client: Redis, records: KeyRecord[], replace: boolean): Promise<RestoredKeys> {
  const args: (Buffer | string)[] = records.map((record) => record.key);
  args.push(replace ? 'REPLACE' : 'KEEP');
  for (const { ttlMs, dump } of records) args.push(String(ttlMs < 0 ? 0 : ttlMs), dump);
  const reply = (await client.callBuffer('EVAL', RESTORE_SCRIPT, records.length, ...args)) as (
    Buffer | number
  )[];
  const failedAt = reply[0] as number;
  return {
    tried: failedAt > 0 ? failedAt : records.length,
    existing: new Set(reply.slice(2).map((index) => (index as number) - 1)),
    refused: failedAt > 0 ? new Map([[failedAt - 1, String(reply[1])]]) : new Map(),
  };
}

async function restoreByPipeline(
  client: Redis,
  records: KeyRecord[],
  replace: boolean,
): Promise<RestoredKeys> {
  const pipeline = client.pipeline();
  for (const { key, ttlMs, dump } of records) {
    const ttl = ttlMs < 0 ? 0 : ttlMs;
    if (replace) pipeline.restore(key, ttl, dump, 'REPLACE');
    else pipeline.restore(key, ttl, dump);
  }
  const replies = (await pipeline.exec()) ?? [];
  const existing = new Set<number>();
  const refused = new Map<number, string>();
  replies.forEach(([error], i) => {
    if (!error) return;
    if (!isReplyError(error)) throw error;
    if (error.message.startsWith('BUSYKEY ')) existing.add(i);
    else refused.set(i, error.message);
  });
  return { tried: records.length, existing, refused };
}

async function typesByScript(client: Redis, keys: Buffer[]): Promise<string[]> {
  const reply = (await client.callBuffer('EVAL', TYPE_SCRIPT, keys.length, ...keys)) as Buffer[];
  return reply.map((type) => type.toString());
}

async function typesByPipeline(client: Redis, keys: Buffer[]): Promise<string[]> {
  const pipeline = client.pipeline();
  for (const key of keys) pipeline.type(key);
  const replies = (await pipeline.exec()) ?? [];
  return replies.map(([error, type]) => {
    if (error) throw error;
    return String(type);
  });
}

/** Keys per pipeline once dumps are known to be large: about one byte budget per round trip. */
function stepFor(averageDump: number, most: number, budget: number): number {
  return Math.max(1, Math.min(most, Math.floor(budget / Math.max(1, averageDump))));
}

/** SCAN steps, each asked for as soon as the previous answer is in (not when its keys are done). */
async function* scanKeys(client: Redis, match: string | undefined, count: number): AsyncGenerator<Buffer[]> {
  const filter = match === undefined ? [] : ['MATCH', match];
  const scan = (cursor: string) => {
    const reply = client.callBuffer('SCAN', cursor, ...filter, 'COUNT', count) as Promise<[Buffer, Buffer[]]>;
    // Awaited below; an abandoned scan must not become an unhandled rejection.
    reply.catch(() => undefined);
    return reply;
  };
  let next: Promise<[Buffer, Buffer[]]> | undefined = scan('0');
  while (next) {
    const [cursor, keys]: [Buffer, Buffer[]] = await next;
    const position: string = cursor.toString();
    next = position === '0' ? undefined : scan(position);
    if (keys.length > 0) yield keys;
  }
}

/** A batch sent and not yet answered. */
interface InFlight<K, T> {
  keys: K[];
  reply: Promise<T>;
}

function inFlight<K, T>(keys: K[], reply: Promise<T>): InFlight<K, T> {
  // Awaited later; until then a rejection must not count as unhandled.
  reply.catch(() => undefined);
  return { keys, reply };
}

// ---------------------------------------------------------------------------------------------
// Connections.

interface Endpoint {
  /** The URL as it may be shown: password blanked. */
  display: string;
  host: string;
  port: number;
  db: number;
  options: RedisOptions;
}

function parseEndpoint(
  url: URL,
  input: 'sources' | 'target',
  settings: { commandTimeoutMs: number; connectTimeoutMs: number },
): Endpoint {
  const display = redactUrl(url.href);
  if (url.protocol !== 'redis:' && url.protocol !== 'rediss:')
    throw new InputError(input, `${display} is not a Redis URL; expected redis://host:port/db or rediss://…`);
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  if (!host) throw new InputError(input, `${display} needs a host, e.g. redis://cache.internal:6379/0`);
  const path = decodeUrlPart(url, 'path', input, url.pathname.replace(/^\//, ''));
  if (path !== '' && !/^\d+$/.test(path)) {
    throw new InputError(
      input,
      `the path of ${display} must be a database number (e.g. redis://${url.host}/2), not "/${path}"`,
    );
  }
  const port = url.port ? Number(url.port) : 6379;
  return {
    display,
    host,
    port,
    db: path ? Number(path) : 0,
    options: {
      host,
      port,
      username: url.username ? decodeUrlPart(url, 'username', input) : undefined,
      password: url.password ? decodeUrlPart(url, 'password', input) : undefined,
      // Selected once connected (see Connection.open), so that a refusal is an answer, not an event.
      db: 0,
      tls: url.protocol === 'rediss:' ? { servername: net.isIP(host) ? undefined : host } : undefined,
      lazyConnect: true,
      // A lost connection fails the backup at once, with its reason: a part written across a
      // reconnect could miss keys, and ioredis would otherwise queue and retry for a long time.
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      retryStrategy: () => null,
      // INFO right after connecting does the job, and reports NOAUTH instead of "Connection is closed."
      enableReadyCheck: false,
      connectTimeout: settings.connectTimeoutMs,
      commandTimeout: settings.commandTimeoutMs,
      connectionName: 'switchyard-backup',
    },
  };
}

class Connection {
  /** The last error the client reported: ioredis rejects commands with a vaguer one ("Connection is closed."). */
  lastError: Error | undefined;
  connected = false;
  version = 'unknown';
  scripts = false;

  private constructor(
    readonly client: Redis,
    readonly endpoint: Endpoint,
    private readonly secrets: Secrets,
  ) {
    client.on('error', (error: Error) => (this.lastError = error));
  }

  static async open(
    endpoint: Endpoint,
    secrets: Secrets,
    context: SourceContext,
    scripts: boolean,
  ): Promise<Connection> {
    const RedisClient = await loadRedisClient();
    const connection = new Connection(new RedisClient(endpoint.options), endpoint, secrets);
    const { client } = connection;
    const cancel = () => connection.drop();
    context.signal?.addEventListener('abort', cancel, { once: true });
    client.once('end', () => context.signal?.removeEventListener('abort', cancel));
    try {
      await client.connect();
      connection.connected = true;
      const info = parseInfo(await client.info());
      connection.version = info.get('redis_version') ?? 'unknown';
      const refusal = unsupportedServer(info, endpoint.display);
      if (refusal) throw refusal;
      if (info.get('loading') === '1')
        throw new UserError(
          `${endpoint.display} is still loading its data set; try again once it has finished.`,
          'Redis',
        );
      if (endpoint.db !== 0) await selectDatabase(client, endpoint);
      if (scripts) connection.scripts = await scriptsAllowed(client, context, endpoint);
      return connection;
    } catch (error) {
      const failure = describe(
        error,
        connection,
        `Connecting to ${endpoint.display} failed`,
        connection.connected
          ? ''
          : 'Check the host and port, and that Redis is running and reachable from here.',
      );
      await connection.close();
      throw failure;
    }
  }

  /** A UserError saying what failed, with any password blanked. */
  explain(error: unknown): string {
    // A refused AUTH or SELECT at connection time arrives as an event, the command after it as a
    // closed connection: the event has the reason.
    const reason = isReplyError(error) ? error : (this.lastError ?? error);
    if (isReplyError(reason))
      return `Redis answered "${this.secrets.redact(reason.message).replace(/\.$/, '')}"`;
    const text = messageOf(reason);
    if (/timed out/i.test(text)) return `${this.endpoint.display} did not answer in time (${text})`;
    if (!this.connected) return `no connection (${this.secrets.redact(text)})`;
    return `the connection to ${this.endpoint.display} was lost (${this.secrets.redact(text)})`;
  }

  async close(): Promise<void> {
    await closeRedis(this.client);
  }

  /** Now, not after ioredis's grace period: nothing is waiting for a reply worth having. */
  private drop(): void {
    // A client that ended has no socket left; disconnecting it again arms a 2 s timer that never clears.
    if (this.client.status === 'end') return;
    this.client.disconnect();
    this.client.stream?.destroy();
  }
}

async function selectDatabase(client: Redis, endpoint: Endpoint): Promise<void> {
  try {
    await client.select(endpoint.db);
  } catch (error) {
    if (!isReplyError(error)) throw error;
    const limit = ((await client.config('GET', 'databases').catch(() => [])) as string[])[1];
    throw new UserError(
      `${endpoint.display}: database ${endpoint.db} cannot be selected (${error.message})` +
        (limit ? `; this server has databases 0 to ${Number(limit) - 1}.` : '.'),
      'Redis',
    );
  }
}

/** Lua scripts, unless the server or this user is not allowed them (ACL without @scripting, EVAL renamed). */
async function scriptsAllowed(client: Redis, context: SourceContext, endpoint: Endpoint): Promise<boolean> {
  try {
    await client.callBuffer('EVAL', 'return 1', 0);
    return true;
  } catch (error) {
    if (!isReplyError(error) || !/NOPERM|unknown command|disabled|not allowed/i.test(error.message))
      throw error;
    context.log(
      `${endpoint.display} does not run Lua scripts for this user (${error.message.split('.')[0]}); using pipelined commands ` +
        `instead: slower (about 2× for small keys), and a key's value and TTL are then read by two separate commands.`,
    );
    return false;
  }
}

export function parseInfo(text: string): Map<string, string> {
  const fields = new Map<string, string>();
  for (const line of text.split(/\r?\n/)) {
    const colon = line.indexOf(':');
    if (colon > 0 && !line.startsWith('#')) fields.set(line.slice(0, colon), line.slice(colon + 1).trim());
  }
  return fields;
}

/** Why this server cannot be backed up or restored key by key over one connection, if it cannot. */
export function unsupportedServer(info: Map<string, string>, display: string): UserError | undefined {
  if (info.get('cluster_enabled') === '1' || info.get('redis_mode') === 'cluster') {
    return new UserError(
      `${display} is a Redis Cluster node, and Redis Cluster is not supported: its keys are spread over several ` +
        `primaries and a SCAN sees one of them. Back up each primary separately as a plain Redis, or take ` +
        `snapshots with the cluster's own tooling (BGSAVE on every primary).`,
      'Redis Cluster not supported',
    );
  }
  if (info.get('redis_mode') === 'sentinel') {
    return new UserError(
      `${display} is a Redis Sentinel, which holds no data: back up the primary it monitors ` +
        `(SENTINEL GET-MASTER-ADDR-BY-NAME tells its address).`,
      'Redis Sentinel',
    );
  }
  return undefined;
}

/** Errors of this module pass as they are; a driver's error becomes one a person can act on. */
function describe(error: unknown, connection: Connection | undefined, what: string, advice = ''): unknown {
  if (error instanceof UserError) return error;
  // A bug here is not the user's to fix: keep its stack.
  if (isError(error) && ['TypeError', 'RangeError', 'ReferenceError'].includes(error.name)) return error;
  const reason = connection ? connection.explain(error) : messageOf(error);
  return new UserError(`${what}: ${reason}.${advice ? ` ${advice}` : ''}`, 'Redis');
}

// Duck-typed: errors made by Node itself (a refused connection) come from another realm under a
// test runner's VM, where \`instanceof Error\` is false.
function isError(error: unknown): error is Error {
  return typeof error === 'object' && error !== null && typeof (error as Error).message === 'string';
}

function isReplyError(error: unknown): error is Error {
  return isError(error) && error.name === 'ReplyError';
}

// ---------------------------------------------------------------------------------------------
// Which keys: include/exclude patterns with Redis's own glob rules.

/**
 * Where `deploy` with `state: redis://…` keeps its lock and history. A backup leaves it out unless
 * include names it: restoring an old copy would bring back an old lock. (The deploy state store
 * uses the same prefix; this source owns its own copy so the backup needs nothing from deploy.)
 */
export const DEPLOY_STATE_PREFIX = 'switchyard:';
const DEPLOY_STATE_KEYS = `${DEPLOY_STATE_PREFIX}*`;

/** The deploy state's keys excluded, unless include asks for them (or it says so already). */
function leaveOutDeployState(selection: Selection): Selection {
  const { include, exclude } = selection;
  if (
    include.some((pattern) => pattern.startsWith(DEPLOY_STATE_PREFIX)) ||
    exclude.includes(DEPLOY_STATE_KEYS)
  )
    return selection;
  return { include, exclude: [...exclude, DEPLOY_STATE_KEYS] };
}

/** include/exclude entries a Redis source takes: any key pattern; a `:` is what marks one. */
export const redisPatterns: PatternSyntax = {
  kind: 'redis',
  label: 'Redis key pattern',
  scheme: 'redis://',
  fits: (pattern) => (pattern.includes(':') ? 'strong' : 'weak'),
  complete: leaveOutDeployState,
};

export const redisSourceKind: SourceKind<UrlSourceSpec, 'redis'> = {
  ...urlSourceKind('redis', ['redis:', 'rediss:']),
  written: 'redis://…',
  suffix: '.redis',
  patterns: redisPatterns,
  open: (spec) => createRedisSource(spec.url),
};

class KeySelection {
  /** Every key, nothing to test. */
  readonly everything: boolean;
  /** SCAN's MATCH when there is exactly one include pattern: the server then filters. */
  readonly match: string | undefined;
  private readonly includes: KeyMatcher[];
  private readonly excludes: KeyMatcher[];

  readonly include: string[];

  constructor(include: string[], exclude: string[]) {
    // Also here, not only where the engine records the selection: every backup, restore and count
    // of this source leaves the deploy state alone, whatever a manifest says.
    ({ include, exclude } = leaveOutDeployState({ include, exclude }));
    this.include = include;
    this.everything = include.length === 0 && exclude.length === 0;
    this.match = include.length === 1 ? include[0] : undefined;
    this.includes = include.map(redisGlob);
    this.excludes = exclude.map(redisGlob);
  }

  /**
   * The include pattern a key counts under (the first it matches; 0 without include patterns),
   * or -1 when it is not taken. Overlapping patterns never take a key twice.
   */
  pick(key: Buffer): number {
    if (this.excludes.some((matches) => matches(key))) return -1;
    if (this.includes.length === 0) return 0;
    return this.includes.findIndex((matches) => matches(key));
  }
}

/** Tells whether a key matches a pattern. */
export type KeyMatcher = (key: Buffer) => boolean;

const STAR = 0x2a;
const QUESTION = 0x3f;
const OPEN = 0x5b;
const CLOSE = 0x5d;
const CARET = 0x5e;
const DASH = 0x2d;
const BACKSLASH = 0x5c;

/**
 * A Redis glob pattern as KEYS and SCAN MATCH read it, matched on bytes like Redis does (`?` is
 * one byte, not one character): `*` any bytes, `?` one byte, `[abc]` `[^a]` `[a-z]` (a reversed
 * range works, an unclosed `[` runs to the end of the pattern), `\x` is x itself. A port of
 * Redis's stringmatchlen (util.c), including its early stop, so a pattern of many stars costs
 * time in proportion to the key, not exponential in the stars as a regular expression would.
 */
export function redisGlob(pattern: string): KeyMatcher {
  // SCAN and KEYS skip matching for a lone star (the only way the empty key matches "*").
  if (pattern === '*') return () => true;
  const bytes = Buffer.from(pattern, 'utf8');
  return (key) => matchFrom(bytes, 0, key, 0, { giveUp: false });
}

function matchFrom(p: Buffer, pi: number, s: Buffer, si: number, state: { giveUp: boolean }): boolean {
  while (pi < p.length && si < s.length) {
    const c = p[pi];
    if (c === STAR) {
      while (p[pi + 1] === STAR) pi++;
      if (pi + 1 === p.length) return true;
      for (; si < s.length; si++) {
        if (matchFrom(p, pi + 1, s, si, state)) return true;
        if (state.giveUp) return false;
      }
      // The rest of the pattern matches nowhere in the rest of the key: a longer match for an
      // earlier star cannot help either.
      state.giveUp = true;
      return false;
    } else if (c === QUESTION) {
      si++;
    } else if (c === OPEN) {
      pi++;
      const not = p[pi] === CARET;
      if (not) pi++;
      let match = false;
      for (;;) {
        if (p[pi] === BACKSLASH && p.length - pi >= 2) {
          pi++;
          if (p[pi] === s[si]) match = true;
        } else if (p[pi] === CLOSE) {
          break;
        } else if (pi >= p.length) {
          pi--;
          break;
        } else if (p.length - pi >= 3 && p[pi + 1] === DASH) {
          const [a, b] = [p[pi] as number, p[pi + 2] as number];
          const byte = s[si] as number;
          if (byte >= Math.min(a, b) && byte <= Math.max(a, b)) match = true;
          pi += 2;
        } else if (p[pi] === s[si]) {
          match = true;
        }
        pi++;
      }
      if (not) match = !match;
      if (!match) return false;
      si++;
    } else {
      if (c === BACKSLASH && p.length - pi >= 2) pi++;
      if (p[pi] !== s[si]) return false;
      si++;
    }
    pi++;
    if (si === s.length) {
      while (p[pi] === STAR) pi++;
      break;
    }
  }
  return pi === p.length && si === s.length;
}

// ---------------------------------------------------------------------------------------------
// Counting and progress.

class Tally {
  total = 0;
  excluded = 0;
  private readonly byType = new Map<string, number>();
  private readonly byPattern: number[];

  constructor(private readonly selection: KeySelection) {
    this.byPattern = selection.include.map(() => 0);
  }

  add(key: Buffer, type: string): void {
    this.total++;
    this.byType.set(type, (this.byType.get(type) ?? 0) + 1);
    if (this.byPattern.length === 0) return;
    const pattern = this.byPattern.length === 1 ? 0 : this.selection.pick(key);
    if (pattern >= 0) this.byPattern[pattern] = (this.byPattern[pattern] ?? 0) + 1;
  }

  /** "keys:<type>" for each data type present, and "pattern:<p>" for each include pattern. */
  records(): Record<string, number> {
    const records: Record<string, number> = {};
    for (const [type, n] of [...this.byType].sort(([a], [b]) => a.localeCompare(b)))
      records[`keys:${type}`] = n;
    this.selection.include.forEach((pattern, i) => (records[`pattern:${pattern}`] = this.byPattern[i] ?? 0));
    return records;
  }
}

// The first byte of a DUMP payload is the RDB object type (rdb.h); every encoding of a type says
// the same as TYPE does.
const RDB_TYPES: Record<number, string> = {
  0: 'string',
  1: 'list',
  2: 'set',
  3: 'zset',
  4: 'hash',
  5: 'zset',
  9: 'hash',
  10: 'list',
  11: 'set',
  12: 'zset',
  13: 'hash',
  14: 'list',
  15: 'stream',
  16: 'hash',
  17: 'zset',
  18: 'list',
  19: 'stream',
  20: 'set',
  21: 'stream',
  22: 'hash',
  23: 'hash',
  24: 'hash',
  25: 'hash',
};

/** The data type of a dumped key, without asking the server (6 and 7 are module types). */
export function typeOfDump(dump: Buffer): string {
  return RDB_TYPES[dump[0] ?? -1] ?? 'other';
}

/** A DUMP payload ends with its RDB version (2 bytes, little-endian) and a CRC64 (8 bytes). */
function rdbVersionOf(dump: Buffer): number {
  return dump.length >= 10 ? dump.readUInt16LE(dump.length - 10) : 0;
}

class Progress {
  private readonly started: number;
  private last: number;
  private keys = 0;
  private bytes = 0;

  constructor(
    private readonly log: (line: string) => void,
    private readonly clock: Clock,
    private readonly label: string,
    private readonly everyMs: number,
  ) {
    this.started = this.last = clock.now();
  }

  add(keys: number, bytes: number): void {
    this.keys += keys;
    this.bytes += bytes;
    const now = this.clock.now();
    if (now - this.last < this.everyMs) return;
    this.last = now;
    const seconds = Math.max((now - this.started) / 1000, 0.001);
    const mb = this.bytes / 1e6;
    this.log(
      `${this.label}: ${formatCount(this.keys)} keys, ${mb.toFixed(1)} MB ` +
        `(${formatCount(Math.round(this.keys / seconds))} keys/s, ${(mb / seconds).toFixed(1)} MB/s)`,
    );
  }
}

// ---------------------------------------------------------------------------------------------
// Writing the part.

/** Writes with backpressure; remembers the stream's own failure, which passes through unchanged. */
class PartWriter {
  failure: unknown;

  constructor(private readonly out: Writable) {}

  async write(chunk: Buffer): Promise<void> {
    if (this.out.write(chunk)) return;
    await this.settled('drain');
  }

  async end(chunk: Buffer): Promise<void> {
    this.out.end(chunk);
    await this.settled('finish');
  }

  private settled(event: 'drain' | 'finish'): Promise<void> {
    const out = this.out;
    return new Promise<void>((resolve, reject) => {
      const done = (error?: unknown) => {
        out.off(event, ok);
        out.off('error', failed);
        out.off('close', closed);
        if (error === undefined) return resolve();
        this.failure = error;
        reject(error);
      };
      const ok = () => done();
      const failed = (error: Error) => done(error);
      const closed = () =>
        done(out.errored ?? new Error('the backup part was closed before it was complete'));
      if (out.errored) return failed(out.errored);
      if (event === 'finish' && out.writableFinished) return resolve();
      if (out.destroyed) return closed();
      out.on(event, ok);
      out.on('error', failed);
      out.on('close', closed);
    });
  }
}

function showKey(key: Buffer): string {
  const text = key.toString('utf8');
  return JSON.stringify(text.length > 80 ? `${text.slice(0, 80)}…` : text);
}

function formatCount(n: number): string {
  return n.toLocaleString('en-US');
}

function definedOnly<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}
