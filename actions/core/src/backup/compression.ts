import { spawn } from 'node:child_process';
import { createHash, type Hash } from 'node:crypto';
import { Duplex, PassThrough, Transform, type TransformCallback } from 'node:stream';
import zlib from 'node:zlib';
import { UserError } from '../errors.js';

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
 * `zstd` as a stream through the program (argv, no shell). Its exit status decides the end: a
 * failed (de)compression errors the stream instead of ending it, so half a part is never taken
 * for a whole one.
 */
function zstdProgram(args: string[]): Duplex {
  const child = spawn('zstd', args, { stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
    stderr = (stderr + chunk).slice(-4000);
  });
  const output = new PassThrough();
  let failed = false;
  const fail = (error: Error) => {
    if (failed) return;
    failed = true;
    duplex.destroy(error);
  };
  child.on('error', (error: NodeJS.ErrnoException) =>
    fail(
      error.code === 'ENOENT'
        ? new UserError(
            'compression zstd needs Node 22.15 or newer, or the zstd program (sudo apt-get install -y zstd); or choose compression: gzip',
            'zstd not available',
          )
        : error,
    ),
  );
  child.stdout.pipe(output, { end: false });
  const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  child.stdout.on('end', () => {
    void exited.then((code) => {
      if (code === 0) output.end();
      else fail(new Error(`zstd failed (exit ${code}): ${stderr.trim() || 'no message'}`));
    });
  });
  // Input errors (EPIPE when zstd exits early) surface through the exit status instead.
  child.stdin.on('error', () => {});

  const duplex = new Duplex({
    write(chunk: Buffer, _encoding, callback) {
      if (child.stdin.write(chunk)) callback();
      else child.stdin.once('drain', () => callback());
    },
    final(callback) {
      child.stdin.end(callback);
    },
    read() {
      output.resume();
    },
    destroy(error, callback) {
      if (child.exitCode === null) child.kill();
      callback(error);
    },
  });
  output.on('data', (chunk: Buffer) => {
    if (!duplex.push(chunk)) output.pause();
  });
  output.on('end', () => duplex.push(null));
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
