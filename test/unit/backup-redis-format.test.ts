// The Redis part format: what is written reads back the same however the bytes are split into
// chunks, and a part that is cut short, damaged, not a part, or from a newer format is refused
// with a reason (never read as if it were whole).
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from '@jest/globals';
import {
  PartFormatError,
  encodeEnd,
  encodeHeader,
  encodeKeys,
  readPart,
  type KeyRecord,
  type PartHeader,
} from '../../actions/core/src/backup/sources/record-file.js';

const HEADER: PartHeader = { redisVersion: '7.0.15', db: 3 };

const RECORDS: KeyRecord[] = [
  { key: Buffer.from('user:1'), ttlMs: -1, dump: Buffer.from('\x00\x05hello\x0a\x00checksum', 'latin1') },
  { key: Buffer.alloc(0), ttlMs: 1, dump: Buffer.from('empty key') },
  { key: Buffer.from([0, 255, 10, 13]), ttlMs: 2 ** 40 + 12345, dump: randomBytes(300_000) },
  { key: Buffer.from('clé'), ttlMs: 86_400_000, dump: Buffer.alloc(0) },
];

function part(records = RECORDS, header = HEADER): Buffer {
  return Buffer.concat([encodeHeader(header), encodeKeys(records), encodeEnd(records.length)]);
}

async function* chunks(bytes: Buffer, size: number): AsyncGenerator<Buffer> {
  for (let at = 0; at < bytes.length; at += size) yield bytes.subarray(at, at + size);
}

async function read(bytes: Buffer, size = 65_536): Promise<{ header?: PartHeader; keys: KeyRecord[] }> {
  const result: { header?: PartHeader; keys: KeyRecord[] } = { keys: [] };
  for await (const item of readPart(chunks(bytes, size))) {
    if (item.kind === 'header') result.header = item.header;
    else result.keys.push(...item.keys);
  }
  return result;
}

async function failure(bytes: Buffer, size = 65_536): Promise<PartFormatError> {
  try {
    await read(bytes, size);
  } catch (error) {
    if (error instanceof PartFormatError) return error;
    throw error;
  }
  throw new Error('the part was read as if it were whole');
}

const plain = (records: KeyRecord[]) =>
  records.map(({ key, ttlMs, dump }) => ({ key: key.toString('hex'), ttlMs, dump: dump.toString('hex') }));

describe('Redis part format', () => {
  it.each([1, 7, 4096, 65_536, 10_000_000])(
    'reads back keys, TTLs and dumps in chunks of %i bytes',
    async (size) => {
      // Binary and empty keys, no expiry, a TTL beyond 32 bits, an empty dump, and a dump spanning many chunks.
      const back = await read(part(), size);
      expect(back.header).toEqual(HEADER);
      expect(plain(back.keys)).toEqual(plain(RECORDS));
    },
  );

  it('reads a part with no keys', async () => {
    expect(await read(part([]))).toEqual({ header: HEADER, keys: [] });
  });

  it('refuses a part cut short at any byte', async () => {
    const whole = part(RECORDS.slice(0, 2));
    for (let cut = 0; cut < whole.length; cut++) {
      const error = await failure(whole.subarray(0, cut), 5);
      expect(error.message).toMatch(/empty|ends/);
    }
  });

  it('says how many keys it read and that the end record is missing', async () => {
    const whole = part();
    const error = await failure(whole.subarray(0, whole.length - 9));
    expect(error.message).toBe('it ends after 4 keys without its end record');
    const mid = await failure(whole.subarray(0, whole.length - 1000));
    expect(mid.message).toMatch(
      /^it ends in the middle of a record \(\d+ bytes of it\) after 2 keys, without its end record$/,
    );
    expect(mid.keysRead).toBe(2);
  });

  it('refuses bytes after the end record', async () => {
    const error = await failure(Buffer.concat([part(), Buffer.from('more')]));
    expect(error.message).toMatch(/goes on after its end record/);
  });

  it('refuses an end record whose count disagrees with the keys read', async () => {
    const bytes = Buffer.concat([encodeHeader(HEADER), encodeKeys(RECORDS), encodeEnd(RECORDS.length + 1)]);
    expect((await failure(bytes)).message).toBe('its end record counts 5 keys but 4 were read');
  });

  it('refuses a damaged record boundary and says at which byte', async () => {
    const bytes = part();
    const second = encodeHeader(HEADER).length + encodeKeys(RECORDS.slice(0, 1)).length;
    bytes[second] = 0x00;
    const error = await failure(bytes);
    expect(error.message).toBe('byte 0x00 where a record should start');
    expect(error.offset).toBe(second);
  });

  it('refuses something that is not a Redis part', async () => {
    expect((await failure(Buffer.from('PGDMP\x01\x0e\x00 a pg_dump archive'))).message).toBe(
      'it does not start with a switchyard Redis part header',
    );
    expect((await failure(Buffer.alloc(0))).message).toBe('it is empty');
    expect((await failure(Buffer.alloc(10_000, 'x'))).message).toMatch(
      /does not start with a switchyard Redis part/,
    );
  });

  it('refuses a newer format version, saying what to do', async () => {
    const bytes = Buffer.from(`switchyard-redis-part 2 ${JSON.stringify(HEADER)}\n`);
    expect((await failure(bytes)).message).toBe(
      'it is format version 2, and this switchyard reads version 1: use a newer switchyard',
    );
  });

  it('refuses a damaged header', async () => {
    expect((await failure(Buffer.from('switchyard-redis-part 1 {"redisVersion":\n'))).message).toBe(
      'its header is damaged',
    );
  });
});
