/**
 * Errors a user can act on. The action runner prints `message` as one `::error::` line (with
 * `title` and, when known, the file and line) and exits 1 — never a stack trace.
 */
export class UserError extends Error {
  constructor(
    message: string,
    readonly title = 'switchyard',
    readonly file?: string,
    readonly line?: number,
  ) {
    super(message);
    this.name = 'UserError';
  }
}

/** A bad action input: the message names the input, says what was found and what would be valid. */
export class InputError extends UserError {
  constructor(
    readonly input: string,
    detail: string,
    file?: string,
    line?: number,
  ) {
    super(`Input "${input}": ${detail}`, `Invalid input: ${input}`, file, line);
    this.name = 'InputError';
  }
}

/** Several problems found at once (e.g. every bad input), each reported as its own `::error::`. */
export class UserErrors extends UserError {
  constructor(readonly errors: UserError[]) {
    super(errors.map((e) => e.message).join('\n'), errors[0]?.title);
    this.name = 'UserErrors';
  }
}

/**
 * The message of anything thrown. Duck-typed: errors made by Node itself (a refused connection)
 * come from another realm under a test runner's VM, where `instanceof Error` is false.
 */
export function messageOf(error: unknown): string {
  if (typeof error === 'object' && error !== null && typeof (error as Error).message === 'string') {
    return (error as Error).message;
  }
  return String(error);
}

/** A system error's code (`ENOENT`, `EEXIST`…), if it has one. */
export function errorCode(error: unknown): string | undefined {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  return typeof code === 'string' ? code : undefined;
}

/** `a, b or c`: the choices a message offers. */
export function alternatives(choices: readonly string[]): string {
  return choices.length < 2 ? choices.join('') : `${choices.slice(0, -1).join(', ')} or ${choices.at(-1)}`;
}
