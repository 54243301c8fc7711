import { createHash, type Hash } from 'node:crypto';
import { Duplex, PassThrough, Transform, type TransformCallback } from 'node:stream';
import zlib from 'node:zlib';
import { UserError } from '../errors.js';
import { systemRunner } from '../process.js';

export type Compression = 'gzip' | 'zstd' | 'none';

/** The part file's suffix for each compression. */
export const COMPRESSION_SUFFIX: Record<Compression, string> = { gzip: '.gz', zstd: '.zst', none: '' };

// Fast levels: a backup before a deploy is on the critical path, and the data is mostly
// already-dense (pg_dump -Fc, Redis DUMP payloads).
const GZIP_LEVEL = 3;
const ZSTD_LEVEL = 3;

/** zlib's zstd streams exist from Node 22.15 (the runner's node24 has them); older Nodes use the zstd program. */
type ZstdZlib = {
  createZstdCompress?: (options?: object) => Transform;
  createZstdDecompress?: () => Transform;
  constants: Record<string, number>;
};
const zstdZlib = zlib as unknown as ZstdZlib;

export function compressor(kind: Compression): Duplex {
  switch (kind) {
    case 'gzip':
      return zlib.createGzip({ level: GZIP_LEVEL });
    case 'zstd':
      return zstdZlib.createZstdCompress
        ? zstdZlib.createZstdCompress({
            params: { [zstdZlib.constants.ZSTD_c_compressionLevel as number]: ZSTD_LEVEL },
          })
        : zstdProgram(['-q', `-${ZSTD_LEVEL}`, '-c']);
    case 'none':
      return new PassThrough();
  }
}

export function decompressor(kind: Compression): Duplex {
  switch (kind) {
    case 'gzip':
      return zlib.createGunzip();
    case 'zstd':
      return zstdZlib.createZstdDecompress
        ? zstdZlib.createZstdDecompress()
        : zstdProgram(['-q', '-d', '-c']);
    case 'none':
      return new PassThrough();
  }
}

/**
 * `zstd` as a stream through the program, run by the one process runner (argv, no shell, its
 * whole process group stopped with the stream). Its exit status decides the end: a failed
 * (de)compression errors the stream instead of ending it, so half a part is never taken for a
 * whole one.
 */
function zstdProgram(args: string[]): Duplex {
  const input = new PassThrough();
  const output = new PassThrough();
  const stop = new AbortController();
  void systemRunner
    .stream(['zstd', ...args], {
      input,
      output,
      signal: stop.signal,
      failure: (result) =>
        result.exitCode === 127 && !result.cancelled
          ? new UserError(
              'compression zstd needs Node 22.15 or newer, or the zstd program (sudo apt-get install -y zstd); or choose compression: gzip',
              'zstd not available',
            )
          : new Error(`zstd failed (${result.outcome}): ${result.stderr.trim() || 'no message'}`),
    })
    .catch((error: unknown) => output.destroy(error instanceof Error ? error : new Error(String(error))));
  const duplex = Duplex.from({ writable: input, readable: output });
  // Whoever gives up on the stream (a store that failed) stops the program too.
  duplex.once('close', () => stop.abort());
  return duplex;
}

/** Passes bytes through while counting them and computing their sha256. */
export class Digest extends Transform {
  bytes = 0;
  private readonly hash: Hash | undefined;
  private hex: string | undefined;

  /** `hash: false` only counts. */
  constructor(options: { hash?: boolean } = {}) {
    super();
    this.hash = options.hash === false ? undefined : createHash('sha256');
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.bytes += chunk.length;
    this.hash?.update(chunk);
    callback(null, chunk);
  }

  override _flush(callback: TransformCallback): void {
    this.hex = this.hash?.digest('hex');
    callback();
  }

  /** The sha256 in hex, once every byte has passed. */
  get sha256(): string {
    if (this.hex === undefined) throw new Error('sha256 read before the stream ended');
    return this.hex;
  }
}
