import { spawn } from 'node:child_process';
import { Transform, type Readable, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';

/**
 * Runs a program as argv (never through a shell) whose input or output is a whole backup part:
 * the bytes stream through with backpressure, so a part of any size never sits in memory. The
 * ProcessRunner of process.ts buffers output, which is right for `--version` and wrong for a dump.
 */
export interface StreamOptions {
  env?: Record<string, string | undefined>;
  /** Piped into the program's stdin; without it the program's stdin is empty. */
  input?: Readable;
  /**
   * Receives the program's stdout. It is ended only once the program has exited with 0, and
   * destroyed with `failure(result)` otherwise, so whoever reads it never mistakes half a part for
   * a whole one. Without it, stdout is kept (up to `stdoutLimit` characters) in the result.
   */
  output?: Writable;
  /** Called with the size of each chunk of stdout on its way to `output` (progress lines). */
  onOutput?: (bytes: number) => void;
  /** The error `output` is destroyed with when the program fails. */
  failure?: (result: StreamedResult) => Error;
  /** Aborting kills the program (SIGTERM). */
  signal?: AbortSignal;
  stderrLimit?: number;
  stdoutLimit?: number;
}

export interface StreamedResult {
  /** 127 when the program could not be started (see `stderr`). */
  exitCode: number;
  /** The last `stderrLimit` characters of stderr: where programs put the reason they failed. */
  stderr: string;
  /** Only when no `output` was given. */
  stdout: string;
  /** `input` failed by itself (a store that could not be read), not because the program stopped reading. */
  inputError?: Error;
  /** `output` failed (a store that could not be written). */
  outputError?: Error;
  /** The run was cut short by `signal`. */
  aborted: boolean;
}

const STDERR_LIMIT = 16 * 1024;
const STDOUT_LIMIT = 32 * 1024 * 1024;

// What a pipe says when the program at its other end exits without reading everything: expected
// for `pg_restore --list`, which reads the table of contents and stops.
const PROGRAM_STOPPED_READING = new Set(['EPIPE', 'ERR_STREAM_PREMATURE_CLOSE', 'ERR_STREAM_DESTROYED']);

export async function runStreaming(
  argv: readonly string[],
  options: StreamOptions = {},
): Promise<StreamedResult> {
  const [program, ...args] = argv;
  if (!program) throw new Error('empty command');
  const child = spawn(program, args, {
    env: (options.env ?? process.env) as NodeJS.ProcessEnv,
    stdio: ['pipe', 'pipe', 'pipe'],
  });

  const stderrLimit = options.stderrLimit ?? STDERR_LIMIT;
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-stderrLimit);
  });
  let startError = '';
  child.on('error', (error: NodeJS.ErrnoException) => {
    startError = error.code === 'ENOENT' ? `command not found: ${program}` : error.message;
  });
  const closed = new Promise<number>((resolve) => {
    child.on('close', (code, signal) => resolve(code ?? (signal ? 128 : 1)));
  });

  let stdout = '';
  let inputError: Error | undefined;
  let outputError: Error | undefined;
  let aborted = false;
  const abort = (): void => {
    aborted = true;
    child.kill('SIGTERM');
  };
  if (options.signal?.aborted) abort();
  options.signal?.addEventListener('abort', abort, { once: true });

  const result = async (): Promise<StreamedResult> => {
    const code = await closed;
    return {
      exitCode: startError && code < 0 ? 127 : code,
      stderr: startError ? `${stderr}${stderr ? '\n' : ''}${startError}` : stderr,
      stdout,
      aborted,
      ...(inputError ? { inputError } : {}),
      ...(outputError ? { outputError } : {}),
    };
  };

  let feeding = Promise.resolve();
  if (options.input)
    feeding = pipeline(options.input, child.stdin).catch((error: NodeJS.ErrnoException) => {
      if (!PROGRAM_STOPPED_READING.has(error.code ?? '')) inputError = error;
    });
  else {
    child.stdin.on('error', () => undefined);
    child.stdin.end();
  }

  let draining: Promise<void>;
  if (options.output) {
    let gateError: Error | undefined;
    // Holds back the end of the output until the exit code says whether it is a whole part.
    const gate = new Transform({
      transform(chunk: Buffer, _encoding, callback) {
        options.onOutput?.(chunk.length);
        callback(null, chunk);
      },
      flush(callback) {
        result().then(
          (done) => {
            if (done.exitCode === 0 && !done.inputError) return callback();
            gateError = options.failure?.(done) ?? new Error(`${program} exited with ${done.exitCode}`);
            callback(gateError);
          },
          (error: Error) => callback(error),
        );
      },
    });
    draining = pipeline(child.stdout, gate, options.output).catch((error: Error) => {
      if (error !== gateError) {
        outputError = error;
        // The output is gone: the program would block on a full pipe forever.
        child.kill('SIGTERM');
      }
    });
  } else {
    const stdoutLimit = options.stdoutLimit ?? STDOUT_LIMIT;
    child.stdout.on('data', (chunk: Buffer) => {
      if (stdout.length < stdoutLimit) stdout += chunk.toString();
    });
    draining = Promise.resolve();
  }

  try {
    await Promise.all([closed, feeding, draining]);
    return await result();
  } finally {
    options.signal?.removeEventListener('abort', abort);
  }
}
