import { spawn } from 'node:child_process';

/**
 * External programs (nginx -t, haproxy, pg_dump, git, users' own commands) run as argv arrays,
 * never through a shell: an input can never become shell syntax. Commands are data, built where
 * they are needed and executed here, so tests can assert the argv and replace the runner.
 */
export interface CommandResult {
  exitCode: number;
  stdout: string;
  stderr: string;
  /** The command was killed because it ran past `timeoutMs`. */
  timedOut: boolean;
}

export interface RunOptions {
  env?: Record<string, string | undefined>;
  cwd?: string;
  timeoutMs?: number;
  /** Written to the command's stdin, which is then closed. */
  input?: string;
}

export interface ProcessRunner {
  run(argv: readonly string[], options?: RunOptions): Promise<CommandResult>;
}

/** Output kept per stream; a chatty command must not fill memory. */
const MAX_OUTPUT = 1 << 20;

export const systemRunner: ProcessRunner = {
  run(argv, options = {}) {
    return new Promise((resolve) => {
      const [program, ...args] = argv;
      if (!program) throw new Error('empty command');
      const child = spawn(program, args, {
        cwd: options.cwd,
        env: options.env ? (options.env as NodeJS.ProcessEnv) : process.env,
        stdio: ['pipe', 'pipe', 'pipe'],
      });
      let stdout = '';
      let stderr = '';
      let timedOut = false;
      child.stdout.on('data', (chunk: Buffer) => {
        if (stdout.length < MAX_OUTPUT) stdout += chunk.toString();
      });
      child.stderr.on('data', (chunk: Buffer) => {
        if (stderr.length < MAX_OUTPUT) stderr += chunk.toString();
      });
      const timer =
        options.timeoutMs === undefined
          ? undefined
          : setTimeout(() => {
              timedOut = true;
              child.kill('SIGKILL');
            }, options.timeoutMs);
      child.on('error', (error: NodeJS.ErrnoException) => {
        clearTimeout(timer);
        const why = error.code === 'ENOENT' ? `command not found: ${program}` : error.message;
        resolve({ exitCode: 127, stdout, stderr: stderr + why, timedOut });
      });
      child.on('close', (code, signal) => {
        clearTimeout(timer);
        resolve({ exitCode: code ?? (signal ? 128 : 1), stdout, stderr, timedOut });
      });
      child.stdin.on('error', () => undefined);
      child.stdin.end(options.input ?? '');
    });
  },
};

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
