import { UserError, UserErrors } from './errors.js';
import { memoryIO, type ActionIO, type RecordedRun } from './io.js';

/**
 * Runs an action body and turns failures into what a user can act on: one `::error::` per
 * problem (annotated with the file and line when known) and exit code 1. Unexpected errors show
 * their message only; the stack is printed solely with RUNNER_DEBUG=1.
 */
export async function runAction(io: ActionIO, body: () => Promise<void>): Promise<void> {
  try {
    await body();
  } catch (error) {
    reportFailure(io, error);
    io.setExitCode(1);
  }
}

function reportFailure(io: ActionIO, error: unknown): void {
  if (error instanceof UserErrors) {
    for (const each of error.errors) reportFailure(io, each);
    return;
  }
  if (error instanceof UserError) {
    io.error(error.message, { title: error.title, file: error.file, line: error.line });
    return;
  }
  const message = error instanceof Error ? error.message : String(error);
  io.error(`Unexpected error: ${message}. Re-run with debug logging (RUNNER_DEBUG=1) for details.`, {
    title: 'switchyard failed',
  });
  if (error instanceof Error && error.stack) io.debug(error.stack);
}

/** An action's entry point: everything it touches comes through the IO. */
export type ActionRun = (io: ActionIO) => Promise<void>;

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

/**
 * Aborts the returned signal on SIGINT or SIGTERM — what the runner sends when a workflow is
 * cancelled — so the engine can put traffic back before the process ends.
 */
export function cancellationOnSignals(): { signal: AbortSignal; dispose: () => void } {
  const controller = new AbortController();
  const abort = () => controller.abort();
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
