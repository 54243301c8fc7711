import { UserError } from '../../errors.js';

/**
 * A small POSIX tar (ustar + pax extended headers) writer and reader, streamed both ways.
 *
 * Our own rather than the `tar` package: the file source must *refuse* unsafe archives before
 * writing anything, and needs every entry exactly as stored (names with `..`, absolute names,
 * device types) to say which one is at fault — general-purpose extractors quietly rewrite or skip
 * such entries instead. The writer never sanitises, so tests can build malicious archives with it.
 *
 * Written: regular files, directories, symbolic links (plus any type, for tests). pax headers carry
 * what ustar cannot: long or non-ASCII names and link targets, sizes ≥ 8 GiB, large ids.
 * Read: ustar, pax (`x`; `g` is skipped) and GNU long names (`L`/`K`), so archives from GNU tar or
 * bsdtar can be restored too.
 */

export type TarEntryType =
  'file' | 'directory' | 'symlink' | 'hardlink' | 'character-device' | 'block-device' | 'fifo' | 'other';

export interface TarHeader {
  /** The name as stored (`/`-separated; directories usually end in `/`). */
  name: string;
  type: TarEntryType;
  /** Permission bits (and setuid/setgid/sticky). */
  mode: number;
  /** Bytes of content that follow the header (files only when written by us). */
  size: number;
  /** Modification time, seconds since the epoch. */
  mtime: number;
  /** Target of a symbolic or hard link. */
  linkname?: string;
  uid?: number;
  gid?: number;
  devmajor?: number;
  devminor?: number;
  /** The raw type flag as read (e.g. `S` for a GNU sparse file when type is 'other'). */
  typeflag?: string;
}

export interface TarEntry {
  header: TarHeader;
  /** The entry's content; skipped automatically when not read before the next entry. */
  content(): AsyncGenerator<Buffer>;
}

const BLOCK = 512;
const MAX_OCTAL_11 = 0o77777777777; // size and mtime fields
const MAX_OCTAL_7 = 0o7777777; // mode, uid, gid, dev fields

/** The two zero blocks that end an archive. */
export const TAR_END = Buffer.alloc(BLOCK * 2);

const TYPEFLAGS: Record<Exclude<TarEntryType, 'other'>, string> = {
  file: '0',
  hardlink: '1',
  symlink: '2',
  'character-device': '3',
  'block-device': '4',
  directory: '5',
  fifo: '6',
};

/** Zero bytes that pad `size` bytes of content to a whole block. */
export function padding(size: number): Buffer {
  const rest = size % BLOCK;
  return Buffer.alloc(rest === 0 ? 0 : BLOCK - rest);
}

/**
 * The header block(s) for one entry: a pax extended header first when a field does not fit ustar.
 * Names are written as given — deciding what is a safe name is the caller's business.
 */
export function encodeHeader(header: TarHeader): Buffer {
  const pax: [string, string][] = [];
  const name = Buffer.from(header.name, 'utf8');
  const split = splitName(header.name);
  if (!split) pax.push(['path', header.name]);
  const linkname = header.linkname ?? '';
  const linkBytes = Buffer.from(linkname, 'utf8');
  if (linkBytes.length > 100 || !isAscii(linkname)) pax.push(['linkpath', linkname]);
  if (header.size > MAX_OCTAL_11) pax.push(['size', String(header.size)]);
  const mtime = Math.floor(header.mtime);
  if (mtime < 0 || mtime > MAX_OCTAL_11) pax.push(['mtime', String(header.mtime)]);
  for (const key of ['uid', 'gid'] as const) {
    const value = header[key] ?? 0;
    if (value > MAX_OCTAL_7) pax.push([key, String(value)]);
  }

  const main = ustarBlock({
    name: split ? split.name : name.subarray(0, 100),
    prefix: split ? split.prefix : Buffer.alloc(0),
    mode: header.mode & 0o7777,
    uid: Math.min(header.uid ?? 0, MAX_OCTAL_7),
    gid: Math.min(header.gid ?? 0, MAX_OCTAL_7),
    size: header.size > MAX_OCTAL_11 ? 0 : header.size,
    mtime: Math.min(Math.max(mtime, 0), MAX_OCTAL_11),
    typeflag: header.type === 'other' ? (header.typeflag ?? '0') : TYPEFLAGS[header.type],
    linkname: linkBytes.subarray(0, 100),
    devmajor: header.devmajor ?? 0,
    devminor: header.devminor ?? 0,
  });
  if (pax.length === 0) return main;

  const records = Buffer.from(pax.map(([key, value]) => paxRecord(key, value)).join(''), 'utf8');
  const base = header.name.replace(/\/+$/, '').split('/').pop() ?? '';
  const paxHeader = ustarBlock({
    name: Buffer.from(`PaxHeaders/${base}`, 'utf8').subarray(0, 100),
    prefix: Buffer.alloc(0),
    mode: 0o644,
    uid: 0,
    gid: 0,
    size: records.length,
    mtime: Math.min(Math.max(mtime, 0), MAX_OCTAL_11),
    typeflag: 'x',
    linkname: Buffer.alloc(0),
    devmajor: 0,
    devminor: 0,
  });
  return Buffer.concat([paxHeader, records, padding(records.length), main]);
}

/**
 * A whole entry as blocks: header(s), the content (exactly `header.size` bytes expected) and the
 * padding. Throws when the content is not the size the header announced.
 */
export async function* encodeEntry(
  header: TarHeader,
  content?: AsyncIterable<Buffer> | Iterable<Buffer>,
): AsyncGenerator<Buffer> {
  yield encodeHeader(header);
  let written = 0;
  if (content) {
    for await (const chunk of content) {
      written += chunk.length;
      if (written > header.size) throw new Error(`tar: ${header.name} has more content than its size`);
      yield chunk;
    }
  }
  if (written !== header.size) throw new Error(`tar: ${header.name} has less content than its size`);
  const pad = padding(header.size);
  if (pad.length > 0) yield pad;
}

/** A pax record `"<len> key=value\n"`, where len counts the whole record including itself. */
function paxRecord(key: string, value: string): string {
  const body = ` ${key}=${value}\n`;
  const bodyLength = Buffer.byteLength(body, 'utf8');
  let length = bodyLength + String(bodyLength).length;
  if (String(length).length + bodyLength !== length) length = bodyLength + String(length).length;
  return `${length}${body}`;
}

function isAscii(text: string): boolean {
  return /^[\x20-\x7e]*$/.test(text);
}

/** The ustar name/prefix split of a name, or undefined when only a pax `path` can hold it. */
function splitName(name: string): { name: Buffer; prefix: Buffer } | undefined {
  if (!isAscii(name)) return undefined;
  const bytes = Buffer.from(name, 'utf8');
  if (bytes.length <= 100) return { name: bytes, prefix: Buffer.alloc(0) };
  // The prefix ends at a '/', which is not stored: prefix + '/' + name.
  for (let slash = name.indexOf('/'); slash !== -1; slash = name.indexOf('/', slash + 1)) {
    const prefix = name.slice(0, slash);
    const rest = name.slice(slash + 1);
    if (prefix.length <= 155 && rest.length > 0 && rest.length <= 100)
      return { name: Buffer.from(rest), prefix: Buffer.from(prefix) };
    if (prefix.length > 155) break;
  }
  return undefined;
}

interface UstarFields {
  name: Buffer;
  prefix: Buffer;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  mtime: number;
  typeflag: string;
  linkname: Buffer;
  devmajor: number;
  devminor: number;
}

function ustarBlock(fields: UstarFields): Buffer {
  const block = Buffer.alloc(BLOCK);
  fields.name.copy(block, 0);
  writeOctal(block, 100, 8, fields.mode);
  writeOctal(block, 108, 8, fields.uid);
  writeOctal(block, 116, 8, fields.gid);
  writeOctal(block, 124, 12, fields.size);
  writeOctal(block, 136, 12, fields.mtime);
  block.write(fields.typeflag.slice(0, 1), 156, 'latin1');
  fields.linkname.copy(block, 157);
  block.write('ustar\u000000', 257, 'latin1');
  writeOctal(block, 329, 8, fields.devmajor);
  writeOctal(block, 337, 8, fields.devminor);
  fields.prefix.copy(block, 345);
  block.fill(0x20, 148, 156);
  const sum = checksum(block);
  block.write(`${sum.toString(8).padStart(6, '0')}\u0000 `, 148, 'latin1');
  return block;
}

function writeOctal(block: Buffer, offset: number, width: number, value: number): void {
  block.write(
    `${Math.trunc(value)
      .toString(8)
      .padStart(width - 1, '0')}\u0000`,
    offset,
    'latin1',
  );
}

function checksum(block: Buffer): number {
  let sum = 0;
  for (const byte of block) sum += byte;
  return sum;
}

// ---------------------------------------------------------------------------------------------
// Reading

/** A broken archive: the restore is refused before anything is written. */
function broken(detail: string): UserError {
  return new UserError(`the backup part is not a readable tar archive: ${detail}`, 'Backup part');
}

/** Reads exact byte counts from a stream of chunks without holding more than one chunk. */
class ByteReader {
  private chunks: Buffer[] = [];
  private buffered = 0;
  private ended = false;
  /** Bytes handed out so far: positions in error messages. */
  offset = 0;

  constructor(private readonly source: AsyncIterator<unknown>) {}

  private async fill(): Promise<boolean> {
    if (this.ended) return false;
    const next = await this.source.next();
    if (next.done) {
      this.ended = true;
      return false;
    }
    const value = next.value;
    const chunk = Buffer.isBuffer(value)
      ? value
      : typeof value === 'string'
        ? Buffer.from(value)
        : Buffer.from(value as Uint8Array);
    if (chunk.length > 0) {
      this.chunks.push(chunk);
      this.buffered += chunk.length;
    }
    return true;
  }

  /** Exactly `n` bytes; undefined at a clean end of input; throws when the input ends partway. */
  async exactly(n: number, what: string): Promise<Buffer | undefined> {
    while (this.buffered < n && (await this.fill()));
    if (this.buffered === 0 && n > 0) return undefined;
    if (this.buffered < n) throw broken(`it ends in the middle of ${what} (truncated?)`);
    return this.take(n);
  }

  /** Between 1 and `n` bytes, or undefined at the end of input. */
  async upTo(n: number): Promise<Buffer | undefined> {
    while (this.buffered === 0 && (await this.fill()));
    if (this.buffered === 0) return undefined;
    return this.take(Math.min(n, this.buffered));
  }

  private take(n: number): Buffer {
    this.offset += n;
    this.buffered -= n;
    const first = this.chunks[0];
    if (first && first.length >= n) {
      if (first.length === n) this.chunks.shift();
      else this.chunks[0] = first.subarray(n);
      return first.subarray(0, n);
    }
    const parts: Buffer[] = [];
    let needed = n;
    while (needed > 0) {
      const chunk = this.chunks[0] as Buffer;
      if (chunk.length <= needed) {
        parts.push(chunk);
        this.chunks.shift();
        needed -= chunk.length;
      } else {
        parts.push(chunk.subarray(0, needed));
        this.chunks[0] = chunk.subarray(needed);
        needed = 0;
      }
    }
    return Buffer.concat(parts, n);
  }
}

function field(block: Buffer, offset: number, width: number): Buffer {
  const bytes = block.subarray(offset, offset + width);
  const end = bytes.indexOf(0);
  return end === -1 ? bytes : bytes.subarray(0, end);
}

function text(block: Buffer, offset: number, width: number): string {
  return field(block, offset, width).toString('utf8');
}

function numeric(block: Buffer, offset: number, width: number, what: string): number {
  const bytes = block.subarray(offset, offset + width);
  const first = bytes[0] ?? 0;
  if (first & 0x80) {
    // GNU base-256: big-endian, the high bit of the first byte marks it; 0xff would be negative.
    if (first === 0xff) throw broken(`negative ${what} at byte ${offset}`);
    let value = first & 0x7f;
    for (const byte of bytes.subarray(1)) value = value * 256 + byte;
    if (!Number.isSafeInteger(value)) throw broken(`${what} too large`);
    return value;
  }
  const digits = field(block, offset, width).toString('latin1').trim();
  if (digits === '') return 0;
  if (!/^[0-7]+$/.test(digits)) throw broken(`${what} "${digits}" is not an octal number`);
  return parseInt(digits, 8);
}

function typeOf(flag: string): TarEntryType {
  switch (flag) {
    case '0':
    case '\u0000':
    case '7': // contiguous file: a regular file everywhere that matters
      return 'file';
    case '1':
      return 'hardlink';
    case '2':
      return 'symlink';
    case '3':
      return 'character-device';
    case '4':
      return 'block-device';
    case '5':
      return 'directory';
    case '6':
      return 'fifo';
    default:
      return 'other';
  }
}

/** pax records into key → value (later keys win, as the standard says). */
function parsePax(records: Buffer): Map<string, string> {
  const values = new Map<string, string>();
  let at = 0;
  while (at < records.length) {
    if (records[at] === 0) break; // some writers pad with NULs
    const space = records.indexOf(0x20, at);
    const length = space === -1 ? NaN : Number(records.subarray(at, space).toString('latin1'));
    if (!Number.isInteger(length) || length <= 0 || at + length > records.length)
      throw broken('a pax extended header has a malformed record');
    const record = records.subarray(space + 1, at + length - 1).toString('utf8');
    const equals = record.indexOf('=');
    if (equals === -1 || records[at + length - 1] !== 0x0a)
      throw broken('a pax extended header has a malformed record');
    values.set(record.slice(0, equals), record.slice(equals + 1));
    at += length;
  }
  return values;
}

function paxNumber(values: Map<string, string>, key: string): number | undefined {
  const value = values.get(key);
  if (value === undefined) return undefined;
  const number = Number(value);
  if (value.trim() === '' || !Number.isFinite(number) || number < 0)
    throw broken(`pax ${key} "${value}" is not a number`);
  return number;
}

/**
 * The entries of an archive read from `input`, one at a time: each entry's content must be read
 * (or is skipped) before the next one arrives, so nothing but one chunk is ever held. Requires the
 * end-of-archive marker, so a truncated archive is refused rather than half-restored.
 */
export async function* readTar(input: AsyncIterable<unknown>): AsyncGenerator<TarEntry> {
  const reader = new ByteReader(input[Symbol.asyncIterator]());
  let pax = new Map<string, string>();
  let longName: string | undefined;
  let longLink: string | undefined;

  for (;;) {
    const at = reader.offset;
    const block = await reader.exactly(BLOCK, 'a header');
    if (!block) throw broken('it ends without the end-of-archive marker (truncated?)');
    if (block.every((byte) => byte === 0)) return; // end of archive (a lone zero block is accepted)

    const stored = numeric(block, 148, 8, 'checksum');
    const unsigned = checksum(
      Buffer.concat([block.subarray(0, 148), Buffer.alloc(8, 0x20), block.subarray(156)]),
    );
    let signed = 0;
    for (let i = 0; i < BLOCK; i++) signed += i >= 148 && i < 156 ? 0x20 : ((block[i] as number) << 24) >> 24;
    if (stored !== unsigned && stored !== signed) throw broken(`bad header checksum at byte ${at}`);
    const magic = block.subarray(257, 263).toString('latin1');
    if (magic !== 'ustar\u0000' && magic !== 'ustar ')
      throw broken(`the header at byte ${at} is not ustar, pax or GNU tar`);
    const gnu = magic === 'ustar ';

    const flag = String.fromCharCode(block[156] as number);
    const size = numeric(block, 124, 12, 'size');
    if (flag === 'x' || flag === 'g' || flag === 'L' || flag === 'K') {
      if (size > 1024 * 1024) throw broken(`an extended header of ${size} bytes at byte ${at}`);
      const data = (await reader.exactly(size, 'an extended header')) ?? Buffer.alloc(0);
      await reader.exactly(padding(size).length, 'an extended header');
      // 'g' (global) headers are read past: names are taken from each entry's own headers.
      if (flag === 'x') pax = new Map([...pax, ...parsePax(data)]);
      if (flag === 'L') longName = field(data, 0, data.length).toString('utf8');
      if (flag === 'K') longLink = field(data, 0, data.length).toString('utf8');
      continue;
    }

    const prefix = gnu ? '' : text(block, 345, 155);
    const ownName = text(block, 0, 100);
    const header: TarHeader = {
      name: pax.get('path') ?? longName ?? (prefix ? `${prefix}/${ownName}` : ownName),
      type: typeOf(flag),
      typeflag: flag,
      mode: numeric(block, 100, 8, 'mode') & 0o7777,
      size: paxNumber(pax, 'size') ?? size,
      mtime: paxNumber(pax, 'mtime') ?? numeric(block, 136, 12, 'mtime'),
      uid: paxNumber(pax, 'uid') ?? numeric(block, 108, 8, 'uid'),
      gid: paxNumber(pax, 'gid') ?? numeric(block, 116, 8, 'gid'),
      devmajor: numeric(block, 329, 8, 'devmajor'),
      devminor: numeric(block, 337, 8, 'devminor'),
    };
    const linkname = pax.get('linkpath') ?? longLink ?? text(block, 157, 100);
    if (linkname !== '') header.linkname = linkname;
    pax = new Map();
    longName = undefined;
    longLink = undefined;
    if (!Number.isSafeInteger(header.size)) throw broken(`${header.name} has an invalid size`);

    let remaining = header.size;
    const what = `the content of ${JSON.stringify(header.name)}`;
    const content = async function* (): AsyncGenerator<Buffer> {
      while (remaining > 0) {
        const chunk = await reader.upTo(Math.min(remaining, 1024 * 1024));
        if (!chunk) throw broken(`it ends in the middle of ${what} (truncated?)`);
        remaining -= chunk.length;
        yield chunk;
      }
    };
    yield { header, content };
    while (remaining > 0) {
      const chunk = await reader.upTo(Math.min(remaining, 1024 * 1024));
      if (!chunk) throw broken(`it ends in the middle of ${what} (truncated?)`);
      remaining -= chunk.length;
    }
    await reader.exactly(padding(header.size).length, what);
  }
}
