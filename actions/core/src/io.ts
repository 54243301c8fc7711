import * as actions from '@actions/core';
import { Secrets } from './mask.js';

/** Where an annotation points: the file and line at fault. */
export interface Annotation {
  title?: string;
  file?: string;
  line?: number;
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

function redacting(sink: Sink, secrets: Secrets): ActionIO {
  const r = (text: string) => secrets.redact(text);
  return {
    secrets,
    env: sink.env,
    getInput: (name) => sink.getInput(name),
    setOutput: (name, value) => sink.setOutput(name, r(value)),
    info: (message) => sink.info(r(message)),
    warning: (message, where) => sink.warning(r(message), where),
    error: (message, where) => sink.error(r(message), where),
    debug: (message) => sink.debug(r(message)),
    summary: (markdown) => sink.summary(r(markdown)),
    setExitCode: (code) => sink.setExitCode(code),
  };
}

function toProperties(where?: Annotation): actions.AnnotationProperties | undefined {
  if (!where) return undefined;
  return { title: where.title, file: where.file, startLine: where.line };
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
    new Secrets(),
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
