import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { StringDecoder } from 'node:string_decoder';
import { Transform, type Readable, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { messageOf } from './errors.js';
import { formatMs } from './summary.js';

/**
 * External programs (nginx -t, haproxy, pg_dump, git, users' own commands) run as argv arrays,
 * never through a shell: an input can never become shell syntax. Commands are data, built where
 * they are needed and executed here, so tests can assert the argv and replace the runner.
 *
 * Every program runs in a process group of its own, so that stopping it (a timeout, or the
 * workflow being cancelled) reaches what it started too: a user's deploy script runs ssh, curl or
 * sleep, and signalling only the script would leave those running with nobody waiting for them.
 * Stopping is SIGTERM to the group, then SIGKILL once `killGraceMs` has passed.
 */
export type OutputStream = 'stdout' | 'stderr';

/** Called with each line a program writes, as it writes it (without the line break). */
export type LineHandler = (line: string, stream: OutputStream) => void;

export interface CommandResult {
  /** 127 when the program could not be started; 128 + n when signal n ended it. */
  exitCode: number;
  /** The last MAX_OUTPUT characters of each: where programs put the reason they failed. */
  stdout: string;
  stderr: string;
  /** Stopped because it ran past `timeoutMs`. */
  timedOut: boolean;
  /** Stopped because `signal` was aborted (or already was, and it never started). */
  cancelled?: boolean;
  /** How it ended, for messages: "exited with code 3", "timed out after 30.0 s", "cancelled". */
  outcome?: string;
}

export interface ProcessOptions {
  env?: Record<string, string | undefined>;
  cwd?: string;
  /** Stops the program (see the top of this file) once it has run this long. */
  timeoutMs?: number;
  /** Stops the program when aborted; an already aborted signal means it is never started. */
  signal?: AbortSignal;
  /** Each line of stdout and stderr as it comes (stream(): stderr only, when `output` takes stdout). */
  onLine?: LineHandler;
  /** Between SIGTERM and SIGKILL; default KILL_GRACE_MS. */
  killGraceMs?: number;
}

export interface RunOptions extends ProcessOptions {
  /** Written to the command's stdin, which is then closed. */
  input?: string;
}

export interface StreamOptions extends ProcessOptions {
  /** Piped into the program's stdin, with backpressure; without it the program's stdin is empty. */
  input?: Readable;
  /**
   * Receives the program's stdout, with backpressure. It is ended only once the program has exited
   * with 0, and destroyed with `failure(result)` otherwise, so whoever reads it never mistakes half
   * an output for a whole one. Without it, stdout is kept (up to `stdoutLimit` characters).
   */
  output?: Writable;
  /** Called with the size of each chunk of stdout on its way to `output` (progress lines). */
  onOutput?: (bytes: number) => void;
  /** The error `output` is destroyed with when the program fails. */
  failure?: (result: StreamedResult) => Error;
  stderrLimit?: number;
  stdoutLimit?: number;
}

export interface StreamedResult extends CommandResult {
  /** `input` failed by itself (a store that could not be read), not because the program stopped reading. */
  inputError?: Error;
  /** `output` failed (a store that could not be written). */
  outputError?: Error;
  /** Cut short: cancelled or timed out. */
  aborted: boolean;
  cancelled: boolean;
  outcome: string;
}

export interface ProcessRunner {
  /** Buffered: for commands whose whole output fits in memory (`--version`, `nginx -t`, users' hooks). */
  run(argv: readonly string[], options?: RunOptions): Promise<CommandResult>;
  /**
   * Streamed: for programs whose input or output is data of any size (pg_dump, zstd). Optional only
   * so that buffered fakes in tests stay valid; systemRunner has it.
   */
  stream?(argv: readonly string[], options?: StreamOptions): Promise<StreamedResult>;
}

/** Output kept per stream; a chatty command must not fill memory. */
const MAX_OUTPUT = 1 << 20;
const STREAM_STDERR_LIMIT = 16 * 1024;
const STREAM_STDOUT_LIMIT = 32 * 1024 * 1024;
/**
 * Time for a trapped SIGTERM to clean up. Short, because a cancelled workflow gives the action
 * about 10 s in all between its first signal and SIGKILL, and traffic must still be put back.
 */
export const KILL_GRACE_MS = 3_000;
/** A line longer than this is passed on in pieces rather than held back whole. */
const MAX_LINE = 16 * 1024;
/**
 * After the program exits, how long its pipes may stay open: a daemon it started in the background
 * can hold them for ever, and must not keep the deploy waiting.
 */
const EXIT_DRAIN_MS = 1_000;
const GROUP_POLL_MS = 20;

// What a pipe says when the program at its other end exits without reading everything: expected
// for `pg_restore --list`, which reads the table of contents and stops.
const PROGRAM_STOPPED_READING = new Set(['EPIPE', 'ERR_STREAM_PREMATURE_CLOSE', 'ERR_STREAM_DESTROYED']);

/** Process groups still running, killed if this process exits without waiting for them. */
const running = new Set<number>();
let exitHookInstalled = false;

function killGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // ESRCH: the whole group is gone.
  }
}

/**
 * The processes of group `pgid` still running. Zombies do not count: in a container whose first
 * process reaps nothing, an orphan's zombie stays for ever, yet it runs nothing. Without /proc
 * (macOS), whether the group still answers a signal.
 */
export function groupMembers(pgid: number): number[] {
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    try {
      process.kill(-pgid, 0);
      return [pgid];
    } catch {
      return [];
    }
  }
  const members: number[] = [];
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      // The command name in parentheses may hold spaces: the fields after it are state, ppid, pgrp.
      const [state, , pgrp] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(pgrp) === pgid && state !== 'Z' && state !== 'X') members.push(Number(entry));
    } catch {
      // it exited while we looked
    }
  }
  return members;
}

/** How a run ended, for messages; results from fakes without `outcome` get one from their fields. */
export function outcomeOf(result: CommandResult): string {
  if (result.outcome) return result.outcome;
  if (result.cancelled) return 'cancelled';
  if (result.timedOut) return 'timed out';
  return `exited with code ${result.exitCode}`;
}

/** Whether the program ran to the end and said 0. */
export function succeeded(result: CommandResult): boolean {
  return result.exitCode === 0 && !result.timedOut && !result.cancelled;
}

/** The end of what a command said, indented, for an error message: programs put the reason last. */
export function outputTail(result: CommandResult, lines = 15): string {
  const said = (result.stderr.trim() || result.stdout.trim() || '(it printed nothing)').split('\n');
  return said
    .slice(-lines)
    .map((line) => `  ${line}`)
    .join('\n');
}

interface Ended {
  exitCode: number;
  timedOut: boolean;
  cancelled: boolean;
  outcome: string;
  /** Set when the program never started. */
  startError?: string;
}

/** Splits chunks into lines for `onLine`, holding a partial line until its end (or MAX_LINE) arrives. */
function lineSplitter(stream: OutputStream, onLine: LineHandler): { push(chunk: Buffer): void; end(): void } {
  const decoder = new StringDecoder('utf8');
  let partial = '';
  const emit = (line: string): void => onLine(line.endsWith('\r') ? line.slice(0, -1) : line, stream);
  return {
    push(chunk) {
      partial += decoder.write(chunk);
      let newline: number;
      while ((newline = partial.indexOf('\n')) >= 0) {
        emit(partial.slice(0, newline));
        partial = partial.slice(newline + 1);
      }
      while (partial.length > MAX_LINE) {
        emit(partial.slice(0, MAX_LINE));
        partial = partial.slice(MAX_LINE);
      }
    },
    end() {
      partial += decoder.end();
      if (partial !== '') emit(partial);
      partial = '';
    },
  };
}

/**
 * Starts `argv` in its own process group and watches it: the timeout, the signal, the escalation
 * from SIGTERM to SIGKILL. `ended` resolves once the program has exited, its pipes are drained, and
 * — when it was stopped — nothing of its group is left (or SIGKILL has been sent to what is).
 */
function start(
  argv: readonly string[],
  options: ProcessOptions,
  hooks: { stdout?: (chunk: Buffer) => void; stderr?: (chunk: Buffer) => void; lineStdout: boolean },
): { child: ChildProcess | undefined; ended: Promise<Ended> } {
  const [program, ...args] = argv;
  if (!program) throw new Error('empty command');
  if (options.signal?.aborted) {
    return {
      child: undefined,
      ended: Promise.resolve({
        exitCode: 130,
        timedOut: false,
        cancelled: true,
        outcome: 'cancelled before it started',
      }),
    };
  }

  let child: ChildProcess;
  try {
    child = spawn(program, args, {
      cwd: options.cwd,
      env: (options.env ?? process.env) as NodeJS.ProcessEnv,
      stdio: ['pipe', 'pipe', 'pipe'],
      // Its own process group (see the top of this file).
      detached: true,
    });
  } catch (error) {
    // Some refusals (ENOTDIR: a path through a file) come from spawn itself, not as an event.
    const startError = `${program}: ${messageOf(error)}`;
    return {
      child: undefined,
      ended: Promise.resolve({
        exitCode: 127,
        timedOut: false,
        cancelled: false,
        outcome: `could not start (${startError})`,
        startError,
      }),
    };
  }
  const pid = child.pid;
  if (pid !== undefined) {
    running.add(pid);
    if (!exitHookInstalled) {
      exitHookInstalled = true;
      process.once('exit', () => {
        for (const group of running) killGroup(group, 'SIGKILL');
      });
    }
  }

  const lines = options.onLine;
  const out = lines && hooks.lineStdout ? lineSplitter('stdout', lines) : undefined;
  const err = lines ? lineSplitter('stderr', lines) : undefined;
  child.stdout?.on('data', (chunk: Buffer) => {
    hooks.stdout?.(chunk);
    out?.push(chunk);
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    hooks.stderr?.(chunk);
    err?.push(chunk);
  });

  let stopping: 'timeout' | 'cancel' | undefined;
  let killTimer: NodeJS.Timeout | undefined;
  let killed = false;
  const grace = options.killGraceMs ?? KILL_GRACE_MS;
  const stop = (why: 'timeout' | 'cancel'): void => {
    if (stopping || pid === undefined) return;
    stopping = why;
    killGroup(pid, 'SIGTERM');
    killTimer = setTimeout(() => {
      killed = true;
      killGroup(pid, 'SIGKILL');
    }, grace);
  };
  const timeoutMs = options.timeoutMs;
  const timer =
    timeoutMs !== undefined && Number.isFinite(timeoutMs)
      ? setTimeout(() => stop('timeout'), timeoutMs)
      : undefined;
  const onAbort = (): void => stop('cancel');
  options.signal?.addEventListener('abort', onAbort, { once: true });

  const ended = new Promise<Ended>((resolve) => {
    let startError: string | undefined;
    child.once('error', (error: NodeJS.ErrnoException) => {
      startError = error.code === 'ENOENT' ? `command not found: ${program}` : error.message;
      // A program that never started emits no 'exit'.
      if (child.pid === undefined) finish(127, null);
    });

    let exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
    let drainTimer: NodeJS.Timeout | undefined;
    child.once('exit', (code, signal) => {
      exit = { code, signal };
      // See EXIT_DRAIN_MS.
      drainTimer = setTimeout(() => {
        child.stdout?.destroy();
        child.stderr?.destroy();
        finish(code, signal);
      }, EXIT_DRAIN_MS);
    });
    child.once('close', (code, signal) => finish(exit?.code ?? code, exit?.signal ?? signal));

    let finished = false;
    const finish = (code: number | null, signal: NodeJS.Signals | null): void => {
      if (finished) return;
      finished = true;
      clearTimeout(drainTimer);
      clearTimeout(timer);
      options.signal?.removeEventListener('abort', onAbort);
      out?.end();
      err?.end();
      const exitCode =
        startError && code === null ? 127 : (code ?? (signal ? 128 + signalNumber(signal) : 1));
      const result: Ended = {
        exitCode,
        timedOut: stopping === 'timeout',
        cancelled: stopping === 'cancel',
        outcome: startError
          ? `could not start (${startError})`
          : stopping === 'timeout'
            ? `timed out after ${formatMs(timeoutMs)}${killed ? ' (killed: it ignored SIGTERM)' : ''}`
            : stopping === 'cancel'
              ? `cancelled${killed ? ' (killed: it ignored SIGTERM)' : ''}`
              : signal
                ? `was killed by ${signal}`
                : `exited with code ${exitCode}`,
        ...(startError ? { startError } : {}),
      };
      if (pid === undefined || !stopping) {
        if (pid !== undefined) running.delete(pid);
        clearTimeout(killTimer);
        resolve(result);
        return;
      }
      // Stopped: what the program started got the same SIGTERM; wait for it to go too, or for SIGKILL.
      let killedAt: number | undefined;
      const poll = setInterval(() => {
        if (killed) killedAt ??= Date.now();
        const alive = groupMembers(pid).length > 0;
        if (alive && (killedAt === undefined || Date.now() - killedAt < GROUP_POLL_MS * 10)) return;
        clearInterval(poll);
        clearTimeout(killTimer);
        running.delete(pid);
        resolve(result);
      }, GROUP_POLL_MS);
    };
  });
  child.stdin?.on('error', () => undefined);
  return { child, ended };
}

const SIGNALS: Partial<Record<NodeJS.Signals, number>> = { SIGHUP: 1, SIGINT: 2, SIGKILL: 9, SIGTERM: 15 };
function signalNumber(signal: NodeJS.Signals): number {
  return SIGNALS[signal] ?? 0;
}

/** Keeps the last `limit` characters of what is appended. */
function tailKeeper(limit: number): { add(chunk: Buffer): void; text(): string } {
  let text = '';
  return {
    add(chunk) {
      text += chunk.toString();
      if (text.length > limit * 2) text = text.slice(-limit);
    },
    text: () => text.slice(-limit),
  };
}

function run(argv: readonly string[], options: RunOptions = {}): Promise<CommandResult> {
  const stdout = tailKeeper(MAX_OUTPUT);
  const stderr = tailKeeper(MAX_OUTPUT);
  const { child, ended } = start(argv, options, {
    stdout: (chunk) => stdout.add(chunk),
    stderr: (chunk) => stderr.add(chunk),
    lineStdout: true,
  });
  child?.stdin?.end(options.input ?? '');
  return ended.then((done) => ({
    exitCode: done.exitCode,
    stdout: stdout.text(),
    stderr: done.startError ? `${stderr.text()}${done.startError}` : stderr.text(),
    timedOut: done.timedOut,
    cancelled: done.cancelled,
    outcome: done.outcome,
  }));
}

async function stream(argv: readonly string[], options: StreamOptions = {}): Promise<StreamedResult> {
  const stderr = tailKeeper(options.stderrLimit ?? STREAM_STDERR_LIMIT);
  const stdoutLimit = options.stdoutLimit ?? STREAM_STDOUT_LIMIT;
  let stdout = '';
  const { child, ended } = start(argv, options, {
    stderr: (chunk) => stderr.add(chunk),
    ...(options.output
      ? {}
      : {
          stdout: (chunk: Buffer) => {
            if (stdout.length < stdoutLimit) stdout += chunk.toString();
          },
        }),
    lineStdout: !options.output,
  });
  let inputError: Error | undefined;
  let outputError: Error | undefined;
  const result = async (): Promise<StreamedResult> => {
    const done = await ended;
    return {
      exitCode: done.exitCode,
      stderr: done.startError
        ? `${stderr.text()}${stderr.text() ? '\n' : ''}${done.startError}`
        : stderr.text(),
      stdout,
      timedOut: done.timedOut,
      cancelled: done.cancelled,
      aborted: done.timedOut || done.cancelled,
      outcome: done.outcome,
      ...(inputError ? { inputError } : {}),
      ...(outputError ? { outputError } : {}),
    };
  };
  if (!child) {
    options.input?.destroy();
    options.output?.destroy(options.failure?.(await result()) ?? new Error(`${argv[0]} was cancelled`));
    return result();
  }

  let feeding = Promise.resolve();
  if (options.input) {
    feeding = pipeline(options.input, child.stdin as Writable).catch((error: NodeJS.ErrnoException) => {
      if (!PROGRAM_STOPPED_READING.has(error.code ?? '')) inputError = error;
    });
  } else {
    child.stdin?.end();
  }

  let draining = Promise.resolve();
  if (options.output) {
    let gateError: Error | undefined;
    // Holds back the end of the output until the exit code says whether it is whole.
    const gate = new Transform({
      transform(chunk: Buffer, _encoding, callback) {
        options.onOutput?.(chunk.length);
        callback(null, chunk);
      },
      flush(callback) {
        result().then(
          (done) => {
            if (done.exitCode === 0 && !done.inputError && !done.aborted) return callback();
            gateError =
              options.failure?.(done) ?? new Error(`${argv[0]} ${done.outcome}: ${done.stderr.trim()}`);
            callback(gateError);
          },
          (error: Error) => callback(error),
        );
      },
    });
    draining = pipeline(child.stdout as Readable, gate, options.output).catch((error: Error) => {
      if (error !== gateError) {
        outputError = error;
        // The output is gone: the program would block on a full pipe for ever.
        if (child.pid !== undefined) killGroup(child.pid, 'SIGTERM');
      }
    });
  }
  await Promise.all([ended, feeding, draining]);
  return result();
}

export const systemRunner: Required<ProcessRunner> = { run, stream };

/**
 * Splits a command line the way a shell splits words — whitespace separates, single and double
 * quotes group, backslash escapes — and does nothing else: no variables, globs or pipes. Returns
 * a message instead when the quotes do not balance.
 */
export function splitCommand(line: string): string[] | string {
  const words: string[] = [];
  let word = '';
  let inWord = false;
  let quote: '"' | "'" | undefined;
  for (let i = 0; i < line.length; i++) {
    const c = line[i] as string;
    if (quote) {
      if (c === quote) quote = undefined;
      else if (c === '\\' && quote === '"' && i + 1 < line.length) word += line[++i];
      else word += c;
    } else if (c === '"' || c === "'") {
      quote = c;
      inWord = true;
    } else if (c === '\\' && i + 1 < line.length) {
      word += line[++i];
      inWord = true;
    } else if (/\s/.test(c)) {
      if (inWord) words.push(word);
      word = '';
      inWord = false;
    } else {
      word += c;
      inWord = true;
    }
  }
  if (quote) return `unbalanced ${quote} quote`;
  if (inWord) words.push(word);
  return words;
}

/** The argv as one readable line, for logs (quoting words that need it). */
export function formatCommand(argv: readonly string[]): string {
  return argv
    .map((word) => (/^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replaceAll("'", `'\\''`)}'`))
    .join(' ');
}
