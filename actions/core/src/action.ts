import { readActionInputs } from './action-inputs.js';
import { systemClock, type Clock } from './clock.js';
import { messageOf, UserError, UserErrors } from './errors.js';
import type { InputTable, InputValues } from './inputs.js';
import { memoryIO, type ActionIO, type RecordedRun } from './io.js';
import { systemRunner, type ProcessRunner } from './process.js';
import type { ActionName } from './registry.js';
import { writeReport } from './report.js';

/** What every engine is given: the outside world, passed in (no hidden globals). */
export interface ActionDeps {
  io: ActionIO;
  clock: Clock;
  runner: ProcessRunner;
  /** Aborts on SIGINT/SIGTERM (a cancelled workflow); its reason says which. */
  signal: AbortSignal;
  cwd: string;
  /** The `environment` input: the config section and the GitHub deployment environment. */
  environment?: string;
}

/** One output of an action: what action.yml says about it, and its value from the result. */
export interface ActionOutput<R> {
  description: string;
  value: (result: R) => string;
  /**
   * The value when the run ended without a result (bad input, a refusal): without it the output
   * is set empty, so an `if: failure()` step reads a defined value either way.
   */
  whenFailed?: (errors: string[]) => string;
}

/** Why a finished run failed: printed as one `::error::` with this title (and file, line); exit 1. */
export interface ActionFailure {
  message: string;
  title: string;
  file?: string;
  line?: number;
  column?: number;
  endLine?: number;
  endColumn?: number;
}

/**
 * An action as a table: its inputs, its engine, its outputs. `main.ts` declares one; `runAction`
 * does the rest, the same way for every action, and scripts/action-yml.ts writes action.yml from it.
 */
export interface ActionDefinition<T extends InputTable = InputTable, R extends object = object> {
  name: ActionName;
  inputs: T;
  /**
   * Does the work. A failure the engine can describe comes back as a result (so every output is
   * still written) and `failure` tells it apart; a throw is for bad input found late or a bug.
   */
  engine: (inputs: InputValues<T>, deps: ActionDeps) => Promise<R>;
  /** Every output but `report`, in the order action.yml lists them. */
  outputs: Record<string, ActionOutput<R>>;
  /** The `report` output, always written: the JSON report of the result (by default all of it). */
  report: { description: string; body?: (result: R) => object };
  /** The job summary's markdown for a result. */
  summary: (result: R) => string;
  /**
   * Undefined when the result is a success. An error kept in the result may be given as it is: a
   * UserError (or UserErrors) is printed as when thrown, anything else as an unexpected error.
   * Several (a rollback, then the rollback pull request that could not be opened) are printed in order.
   */
  failure?: (result: R) => ActionFailure | Error | (ActionFailure | Error | undefined)[] | undefined;
}

/** Infers an action's input and result types from its table. */
export function defineAction<T extends InputTable, R extends object>(
  definition: ActionDefinition<T, R>,
): ActionDefinition<T, R> {
  if ('report' in definition.outputs) throw new Error(`${definition.name}: "report" is written by runAction`);
  return definition;
}

/** Replaces what `runAction` would otherwise take from the process (tests, the CLI, benches). */
export interface RunActionOptions {
  clock?: Clock;
  runner?: ProcessRunner;
  cwd?: string;
  /** Default: SIGINT/SIGTERM of this process. */
  cancellation?: Cancellation;
}

/** How a run ended: the engine's result when it returned one, and each error reported. */
export interface ActionRunOutcome<R> {
  result?: R;
  errors: string[];
  exitCode: 0 | 1;
}

/**
 * Runs an action: reads its inputs, runs its engine with cancellation on SIGINT/SIGTERM, then
 * writes every output, the report and the summary — on every path that has a result, failed ones
 * included; without one (bad input, an engine that threw), the report and a summary of the errors.
 * Failures become one `::error::` each and exit code 1; never a stack trace (RUNNER_DEBUG=1
 * prints it as a debug line).
 */
export async function runAction<T extends InputTable, R extends object>(
  definition: ActionDefinition<T, R>,
  io: ActionIO,
  options: RunActionOptions = {},
): Promise<ActionRunOutcome<R>> {
  const errors: string[] = [];
  const fail = (error: unknown) => errors.push(...reportFailure(io, error));
  const cancellation = options.cancellation ?? cancellationOnSignals();
  let result: R | undefined;
  try {
    let inputs: InputValues<T> | undefined;
    try {
      inputs = readActionInputs(io, definition.name, definition.inputs);
    } catch (error) {
      fail(error);
    }
    if (inputs) {
      const deps: ActionDeps = {
        io,
        clock: options.clock ?? systemClock,
        runner: options.runner ?? systemRunner,
        signal: cancellation.signal,
        cwd: options.cwd ?? process.cwd(),
        environment: io.getInput('environment') || undefined,
      };
      try {
        result = await definition.engine(inputs, deps);
      } catch (error) {
        fail(error);
      }
    }
    // Each write on its own: one that fails (a full disk, a summary that cannot render) must not
    // cost the others.
    const attempt = async (write: () => unknown) => {
      try {
        await write();
      } catch (error) {
        fail(error);
      }
    };
    const done = result;
    for (const [name, output] of Object.entries(definition.outputs)) {
      await attempt(() =>
        io.setOutput(name, done ? output.value(done) : (output.whenFailed?.(errors) ?? '')),
      );
    }
    const body = done ? (definition.report.body?.(done) ?? done) : { errors: [...errors] };
    await attempt(async () => io.setOutput('report', await writeReport(io, definition.name, body)));
    await attempt(() => io.summary(done ? definition.summary(done) : errorSummary(definition.name, errors)));
    if (done) {
      const found = definition.failure?.(done);
      const failures = (Array.isArray(found) ? found : [found]).filter((each) => each !== undefined);
      for (const failure of failures) {
        if (failure instanceof Error) {
          fail(failure);
        } else {
          const { message, ...where } = failure;
          io.error(message, where);
          errors.push(failure.message);
        }
      }
      if (failures.length === 0 && cancellation.signal.aborted) {
        // A cancelled run never reads as a success, whatever the engine made of the time it had.
        fail(new UserError(`${definition.name}: ${messageOf(cancellation.signal.reason)}`, 'Cancelled'));
      }
    }
  } finally {
    cancellation.dispose();
  }
  const exitCode = errors.length > 0 ? 1 : 0;
  if (exitCode) io.setExitCode(1);
  return { result, errors, exitCode };
}

function errorSummary(action: string, errors: string[]): string {
  return `## switchyard ${action}: ❌ failed\n\n${errors.map((e) => `- ${e.replace(/\r?\n/g, ' ')}`).join('\n')}\n`;
}

/** Prints a failure as what a user can act on, and returns the messages printed. */
function reportFailure(io: ActionIO, error: unknown): string[] {
  if (error instanceof UserErrors) return error.errors.flatMap((each) => reportFailure(io, each));
  if (error instanceof UserError) {
    io.error(error.message, { title: error.title, file: error.file, line: error.line });
    return [error.message];
  }
  const message = `Unexpected error: ${messageOf(error)}. Re-run with debug logging (RUNNER_DEBUG=1) for details.`;
  io.error(message, { title: 'switchyard failed' });
  if (error instanceof Error && error.stack) io.debug(error.stack);
  return [message];
}

/** An action's entry point: everything it touches comes through the IO. */
export type ActionRun = (io: ActionIO) => Promise<unknown>;

/** Runs an action with the given inputs in memory — for tests and the CLI. */
export async function runWithInputs(
  run: ActionRun,
  inputs: Record<string, string>,
  options: { env?: Record<string, string | undefined>; echo?: (line: string) => void } = {},
): Promise<RecordedRun> {
  const { io, recorded } = memoryIO({ inputs, env: options.env ?? process.env, echo: options.echo });
  await run(io);
  return recorded;
}

/** A signal that aborts when the run is cancelled, and how to stop listening. */
export interface Cancellation {
  signal: AbortSignal;
  dispose: () => void;
}

/**
 * Aborts the returned signal on SIGINT or SIGTERM — what the runner sends when a workflow is
 * cancelled — so the engine can put traffic back before the process ends. A second signal does not
 * force an exit: the runner sends SIGINT then SIGTERM 7.5 s later while a rollback may still be
 * under way, and it ends the process itself (SIGKILL) when its patience runs out.
 */
export function cancellationOnSignals(): Cancellation {
  const controller = new AbortController();
  const abort = (signal: NodeJS.Signals) => controller.abort(new Error(`cancelled by ${signal}`));
  process.on('SIGINT', abort);
  process.on('SIGTERM', abort);
  return {
    signal: controller.signal,
    dispose: () => {
      process.off('SIGINT', abort);
      process.off('SIGTERM', abort);
    },
  };
}
