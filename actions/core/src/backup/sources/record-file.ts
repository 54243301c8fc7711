/**
 * The Redis part format: a small framed binary stream, written and read one batch at a time so a
 * part of any size never sits in memory. All integers are big-endian.
 *
 *   header   "switchyard-redis-part 1 " + JSON ({"redisVersion":"7.2.4","db":0}) + "\n"   (≤ 4 KiB)
 *   key      'K'  u32 key length · key bytes · i64 TTL in ms (-1 = no expiry) · u32 dump length · dump
 *   end      'E'  u64 number of key records
 *
 * The dump is Redis's own DUMP payload (RDB encoding, RDB version and CRC64 included), which
 * RESTORE takes back as it is. The end record and its count make a part cut short anywhere (a
 * store that lost its tail, a backup killed mid-write) detectable: reading fails instead of
 * restoring half the keys as if they were all.
 */
export const PART_MAGIC = 'switchyard-redis-part';
export const PART_VERSION = 1;

export interface PartHeader {
  /** The Redis that wrote the dumps: RESTORE refuses dumps from a newer RDB format than its own. */
  redisVersion: string;
  db: number;
}

export interface KeyRecord {
  key: Buffer;
  /** Remaining time to live in ms at the moment of the backup, -1 = no expiry. */
  ttlMs: number;
  dump: Buffer;
}

export type PartItem = { kind: 'header'; header: PartHeader } | { kind: 'keys'; keys: KeyRecord[] };

/** A part that is not a whole, well-formed Redis part; `offset` is the byte where reading stopped. */
export class PartFormatError extends Error {
  constructor(
    message: string,
    readonly offset: number,
    readonly keysRead: number,
  ) {
    super(message);
    this.name = 'PartFormatError';
  }
}

const KEY_TAG = 0x4b; // 'K'
const END_TAG = 0x45; // 'E'
const HEADER_LIMIT = 4096;
// Redis refuses longer keys, so a longer length can only be damage (and waiting for it would
// buffer the rest of the part).
const KEY_LIMIT = 512 * 1024 * 1024;
const TWO_32 = 2 ** 32;
const EMPTY: Buffer = Buffer.alloc(0);

export function encodeHeader(header: PartHeader): Buffer {
  const line = `${PART_MAGIC} ${PART_VERSION} ${JSON.stringify(header)}\n`;
  if (Buffer.byteLength(line) > HEADER_LIMIT) throw new Error('the Redis part header is too long');
  return Buffer.from(line);
}

/** One buffer for a whole batch: one write per batch instead of five per key. */
export function encodeKeys(records: readonly KeyRecord[]): Buffer {
  let size = 0;
  for (const { key, dump } of records) {
    if (dump.length >= TWO_32) throw new Error(`the dump of one key is ${dump.length} bytes, over 4 GiB`);
    size += 1 + 4 + key.length + 8 + 4 + dump.length;
  }
  const out = Buffer.allocUnsafe(size);
  let at = 0;
  for (const { key, ttlMs, dump } of records) {
    out[at] = KEY_TAG;
    out.writeUInt32BE(key.length, at + 1);
    at += 5 + key.copy(out, at + 5);
    // Two halves instead of BigInt: TTLs are safe integers, and this runs once per key.
    const high = Math.floor(ttlMs / TWO_32);
    out.writeInt32BE(high, at);
    out.writeUInt32BE(ttlMs - high * TWO_32, at + 4);
    out.writeUInt32BE(dump.length, at + 8);
    at += 12 + dump.copy(out, at + 12);
  }
  return out;
}

export function encodeEnd(keys: number): Buffer {
  const out = Buffer.allocUnsafe(9);
  out[0] = END_TAG;
  const high = Math.floor(keys / TWO_32);
  out.writeUInt32BE(high, 1);
  out.writeUInt32BE(keys - high * TWO_32, 5);
  return out;
}

/**
 * Reads a part: first its header, then the key records of each chunk as they become whole (a
 * record may span any number of chunks). Throws a PartFormatError when the part is not one, is
 * damaged, ends before its end record, or goes on after it.
 */
export async function* readPart(input: AsyncIterable<Buffer | string>): AsyncGenerator<PartItem> {
  let buffer: Buffer = EMPTY;
  let at = 0;
  /** Stream offset of buffer[0]. */
  let base = 0;
  /** Bytes needed from `at` before the next item can be parsed. */
  let needed = 1;
  // Chunks kept aside while one large record arrives: joined once it is all there, so a 100 MB
  // dump costs one copy instead of one per chunk.
  const waiting: Buffer[] = [];
  let waitingBytes = 0;
  let header: PartHeader | undefined;
  let keysRead = 0;
  let ended = false;
  const fail = (problem: string, offset = base + at): never => {
    throw new PartFormatError(problem, offset, keysRead);
  };

  for await (const chunk of input) {
    const bytes = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    if (bytes.length === 0) continue;
    if (ended) fail(`it goes on after its end record (${bytes.length}+ more bytes)`);
    if (buffer.length - at + waitingBytes + bytes.length < needed) {
      waiting.push(bytes);
      waitingBytes += bytes.length;
      continue;
    }
    base += at;
    buffer =
      at === buffer.length && waiting.length === 0
        ? bytes
        : Buffer.concat([buffer.subarray(at), ...waiting, bytes]);
    at = 0;
    waiting.length = 0;
    waitingBytes = 0;

    if (!header) {
      const newline = buffer.indexOf(0x0a);
      if (newline < 0) {
        if (
          buffer.length >= HEADER_LIMIT ||
          !PART_MAGIC.startsWith(buffer.toString('latin1', 0, PART_MAGIC.length))
        )
          fail('it does not start with a switchyard Redis part header', 0);
        needed = buffer.length + 1;
        continue;
      }
      header = parseHeader(buffer.toString('utf8', 0, newline), fail);
      at = newline + 1;
      yield { kind: 'header', header };
    }

    const keys: KeyRecord[] = [];
    while (!ended) {
      const available = buffer.length - at;
      if (available < 1) {
        needed = 1;
        break;
      }
      const tag = buffer[at];
      if (tag === END_TAG) {
        if (available < 9) {
          needed = 9;
          break;
        }
        const count = buffer.readUInt32BE(at + 1) * TWO_32 + buffer.readUInt32BE(at + 5);
        if (count !== keysRead + keys.length)
          fail(`its end record counts ${count} keys but ${keysRead + keys.length} were read`);
        at += 9;
        ended = true;
        if (at < buffer.length) fail(`it goes on after its end record (${buffer.length - at} more bytes)`);
        break;
      }
      if (tag !== KEY_TAG)
        fail(`byte 0x${(tag ?? 0).toString(16).padStart(2, '0')} where a record should start`);
      if (available < 5) {
        needed = 5;
        break;
      }
      const keyLength = buffer.readUInt32BE(at + 1);
      if (keyLength > KEY_LIMIT) fail(`a key length of ${keyLength} bytes, over Redis's 512 MiB limit`);
      const dumpLengthAt = at + 5 + keyLength + 8;
      if (available < 5 + keyLength + 12) {
        needed = 5 + keyLength + 12;
        break;
      }
      const dumpLength = buffer.readUInt32BE(dumpLengthAt);
      const size = 5 + keyLength + 12 + dumpLength;
      if (available < size) {
        needed = size;
        break;
      }
      const ttlAt = at + 5 + keyLength;
      keys.push({
        key: buffer.subarray(at + 5, ttlAt),
        ttlMs: buffer.readInt32BE(ttlAt) * TWO_32 + buffer.readUInt32BE(ttlAt + 4),
        dump: buffer.subarray(dumpLengthAt + 4, dumpLengthAt + 4 + dumpLength),
      });
      at += size;
    }
    if (keys.length > 0) {
      keysRead += keys.length;
      yield { kind: 'keys', keys };
    }
  }

  if (!header) fail(base + buffer.length === 0 ? 'it is empty' : 'it ends inside its header');
  if (!ended) {
    const partial = buffer.length - at + waitingBytes;
    fail(
      partial > 0
        ? `it ends in the middle of a record (${partial} bytes of it) after ${keysRead} keys, without its end record`
        : `it ends after ${keysRead} keys without its end record`,
    );
  }
}

function parseHeader(line: string, fail: (problem: string, offset?: number) => never): PartHeader {
  const [magic, version, ...rest] = line.split(' ');
  if (magic !== PART_MAGIC) fail('it does not start with a switchyard Redis part header', 0);
  if (version !== String(PART_VERSION))
    fail(
      `it is format version ${version}, and this switchyard reads version ${PART_VERSION}: use a newer switchyard`,
      0,
    );
  let fields: unknown;
  try {
    fields = JSON.parse(rest.join(' '));
  } catch {
    fail('its header is damaged', 0);
  }
  const { redisVersion, db } = (fields ?? {}) as Partial<PartHeader>;
  if (typeof redisVersion !== 'string' || typeof db !== 'number') fail('its header is damaged', 0);
  return { redisVersion: redisVersion as string, db: db as number };
}
