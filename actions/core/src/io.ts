import * as actions from '@actions/core';
import { Secrets } from './mask.js';

/** Where an annotation points: the file and line at fault. */
export interface Annotation {
  title?: string;
  file?: string;
  line?: number;
  /** 1-based, like `line`; GitHub draws the range from line:column to endLine:endColumn. */
  column?: number;
  endLine?: number;
  endColumn?: number;
}

/**
 * Everything an action does to the outside world, passed in (no hidden globals): the runner's
 * toolkit in production, an in-memory recorder in tests and the CLI. Every text goes through
 * `secrets` before it leaves.
 */
export interface ActionIO {
  readonly secrets: Secrets;
  /** The environment (GITHUB_*, RUNNER_TEMP, and variables for `${VAR}` in switchyard.yml). */
  readonly env: Readonly<Record<string, string | undefined>>;
  /** The raw input, trimmed; '' when not given. */
  getInput(name: string): string;
  setOutput(name: string, value: string): void;
  info(message: string): void;
  warning(message: string, where?: Annotation): void;
  error(message: string, where?: Annotation): void;
  debug(message: string): void;
  /** Appends markdown to the job summary. */
  summary(markdown: string): Promise<void>;
  setExitCode(code: number): void;
}

/** The pieces an IO must provide; `redacting` adds the secret handling around them. */
type Sink = Omit<ActionIO, 'secrets'>;

// The runner reads a step's output line by line (CR, LF or CRLF ends one) and acts on a line that,
// once leading whitespace is trimmed, starts with `::` — or that holds the legacy `##[` anywhere.
// It finds both with .NET's culture-sensitive StartsWith/IndexOf, which skip characters the
// collation gives no weight (controls, zero-width and other format characters): they are left out
// before looking, so `\u200b::error::` counts as a command here too.
const WEIGHTLESS = /[\p{Cc}\p{Cf}\p{Default_Ignorable_Code_Point}]/gu;
const LEADING_SPACE = /^\p{White_Space}*/u;

/** One line made inert: unchanged unless the runner would take it as a command. */
function inertLine(line: string): string {
  const bare = line.replace(WEIGHTLESS, (c) => (c === '\t' ? c : ''));
  const command = bare.replace(LEADING_SPACE, '').startsWith('::');
  if (!command && !bare.includes('##[')) return line;
  // A backslash, as if escaping the command: the line still reads as what was said.
  const out = bare.replaceAll('##[', '##\\[');
  return command ? out.replace(LEADING_SPACE, (space) => `${space}\\`) : out;
}

/**
 * Text for the log with no way to issue a workflow command: its lines are kept (CRLF becomes LF,
 * a lone CR, which the runner would also take as a line end, is dropped) and every line the runner
 * would act on is escaped. Every message an ActionIO prints goes through it.
 */
export function neutraliseLines(text: string): string {
  return text.replaceAll('\r\n', '\n').replaceAll('\r', '').split('\n').map(inertLine).join('\n');
}

/**
 * One line of text from input, state or a server, for places that build one-line texts (a history
 * line, a status row): line breaks shown as `\n`, and nothing the runner would act on.
 */
export function neutralise(text: string): string {
  return inertLine(text.replaceAll('\r\n', '\\n').replaceAll('\n', '\\n').replaceAll('\r', '\\r'));
}

function redacting(sink: Sink, secrets: Secrets): ActionIO {
  const r = (text: string) => secrets.redact(text);
  // Redacted first: a secret is matched as it was given, before any escaping changes it.
  const printable = (text: string) => neutraliseLines(r(text));
  return {
    secrets,
    env: sink.env,
    getInput: (name) => sink.getInput(name),
    // Outputs and the summary are files the runner does not scan for commands: only redacted.
    setOutput: (name, value) => sink.setOutput(name, r(value)),
    info: (message) => sink.info(printable(message)),
    warning: (message, where) => sink.warning(printable(message), where),
    error: (message, where) => sink.error(printable(message), where),
    debug: (message) => sink.debug(printable(message)),
    summary: (markdown) => sink.summary(r(markdown)),
    setExitCode: (code) => sink.setExitCode(code),
  };
}

function toProperties(where?: Annotation): actions.AnnotationProperties | undefined {
  if (!where) return undefined;
  return {
    title: where.title,
    file: where.file,
    startLine: where.line,
    endLine: where.endLine,
    // GitHub ignores columns on an annotation spanning several lines.
    ...(where.endLine === undefined || where.endLine === where.line
      ? { startColumn: where.column, endColumn: where.endColumn }
      : {}),
  };
}

/** The GitHub runner: INPUT_* variables, GITHUB_OUTPUT and GITHUB_STEP_SUMMARY files. */
export function githubIO(env: Record<string, string | undefined> = process.env): ActionIO {
  return redacting(
    {
      env,
      getInput: (name) => actions.getInput(name),
      setOutput: (name, value) => actions.setOutput(name, value),
      info: (message) => actions.info(message),
      warning: (message, where) => actions.warning(message, toProperties(where)),
      error: (message, where) => actions.error(message, toProperties(where)),
      // `::debug::` lines reach stdout even when the runner hides them: only emit them on request.
      debug: (message) => {
        if (env.RUNNER_DEBUG === '1') actions.debug(message);
      },
      summary: async (markdown) => {
        if (!env.GITHUB_STEP_SUMMARY) return;
        await actions.summary.addRaw(markdown, true).write();
      },
      setExitCode: (code) => {
        process.exitCode = code;
      },
    },
    // Registered with the runner as soon as found, so its masking also covers what child
    // processes write straight to the log.
    new Secrets((value) => actions.setSecret(value)),
  );
}

export interface RecordedRun {
  exitCode: number;
  outputs: Record<string, string>;
  /** Every log line as the runner would print it (`::error::…` for errors). */
  log: string[];
  errors: { message: string; where?: Annotation }[];
  warnings: { message: string; where?: Annotation }[];
  summary: string;
}

/** An in-memory IO for tests and the CLI; `echo` also prints each log line as it happens. */
export function memoryIO(options: {
  inputs?: Record<string, string>;
  env?: Record<string, string | undefined>;
  echo?: (line: string) => void;
}): { io: ActionIO; recorded: RecordedRun } {
  const recorded: RecordedRun = { exitCode: 0, outputs: {}, log: [], errors: [], warnings: [], summary: '' };
  const inputs = options.inputs ?? {};
  const line = (text: string) => {
    recorded.log.push(text);
    options.echo?.(text);
  };
  const io = redacting(
    {
      env: options.env ?? {},
      getInput: (name) => (inputs[name] ?? '').trim(),
      setOutput: (name, value) => {
        recorded.outputs[name] = value;
      },
      info: (message) => line(message),
      warning: (message, where) => {
        recorded.warnings.push({ message, where });
        line(`::warning::${message}`);
      },
      error: (message, where) => {
        recorded.errors.push({ message, where });
        line(`::error::${message}`);
      },
      debug: () => {},
      summary: async (markdown) => {
        recorded.summary += markdown;
      },
      setExitCode: (code) => {
        recorded.exitCode = code;
      },
    },
    new Secrets(),
  );
  return { io, recorded };
}
