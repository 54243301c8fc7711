/**
 * `${{ }}` in a workflow, evaluated by GitHub's own evaluator (@actions/expressions), so the
 * rehearsal agrees with GitHub on `||`, comparisons, `fromJSON`, `format`, `contains`, indexing,
 * case-insensitive names… What is ours: which contexts and functions each place of a workflow
 * may use (GitHub's "context availability" table; a workflow using another one is invalid on
 * GitHub, so it fails here too), the status functions, and turning a value into text.
 */
import { Evaluator, Lexer, Parser, data } from '@actions/expressions';
import type { FunctionDefinition } from '@actions/expressions/funcs/info';
import { TokenType } from '@actions/expressions/lexer';

/** Plain JSON values, as the runner's contexts are. */
export type Contexts = Record<string, unknown>;

/** The status functions of `if:`, for the job or step being decided. */
export interface Status {
  success(): boolean;
  failure(): boolean;
  cancelled(): boolean;
}

export interface Scope {
  contexts: Contexts;
  /** Only `if:` has the status functions. */
  status?: Status;
  /** Steps have hashFiles (not rehearsed: it fails loudly when called). */
  hashFiles?: boolean;
}

const STATUS_FUNCTIONS = ['success', 'failure', 'cancelled', 'always'];

export class ExpressionFailure extends Error {}

function toData(value: unknown): data.ExpressionData {
  if (value === undefined) return new data.Null();
  return JSON.parse(JSON.stringify(value), data.reviver) as data.ExpressionData;
}

function functionsOf(scope: Scope): FunctionDefinition[] {
  const fns: FunctionDefinition[] = [];
  const bool = (name: string, fn: () => boolean): FunctionDefinition => ({
    name,
    minArgs: 0,
    maxArgs: 0,
    call: () => new data.BooleanData(fn()),
  });
  const { status } = scope;
  if (status) {
    fns.push(
      bool('success', () => status.success()),
      bool('failure', () => status.failure()),
      bool('cancelled', () => status.cancelled()),
      bool('always', () => true),
    );
  }
  if (scope.hashFiles) {
    fns.push({
      name: 'hashFiles',
      minArgs: 1,
      maxArgs: 255,
      call: () => {
        throw new ExpressionFailure('hashFiles() is not rehearsed here');
      },
    });
  }
  return fns;
}

/** Evaluates one expression (the text between `${{` and `}}`, or a bare `if:`). */
export function evaluate(expression: string, scope: Scope): data.ExpressionData {
  const fns = functionsOf(scope);
  try {
    const { tokens } = new Lexer(expression).lex();
    const parsed = new Parser(tokens, Object.keys(scope.contexts), fns).parse();
    // Every context the parser allows is present (an empty one at worst): the evaluator reads
    // a missing one as undefined and would crash instead of answering null.
    const contexts = new data.Dictionary(
      ...Object.entries(scope.contexts).map(([key, value]) => ({ key, value: toData(value ?? {}) })),
    );
    return new Evaluator(parsed, contexts, new Map(fns.map((fn) => [fn.name.toLowerCase(), fn]))).evaluate();
  } catch (error) {
    if (error instanceof ExpressionFailure) throw error;
    throw new ExpressionFailure(`\${{ ${expression.trim()} }}: ${(error as Error).message}`);
  }
}

/** The runner's text for a value: null is empty, booleans and numbers as GitHub prints them. */
export function asText(value: data.ExpressionData, where: string): string {
  switch (value.kind) {
    case data.Kind.Null:
      return '';
    case data.Kind.Array:
    case data.Kind.Dictionary:
      // GitHub refuses an object where text is expected; toJSON() is how a workflow passes one.
      throw new ExpressionFailure(`${where}: an expression gave an object or array; wrap it in toJSON()`);
    default:
      return value.coerceString();
  }
}

/** Plain JSON of a value (for fromJSON results kept in contexts, say). */
export function asJson(value: data.ExpressionData): unknown {
  return JSON.parse(JSON.stringify(value, data.replacer));
}

export function isTruthy(value: data.ExpressionData): boolean {
  switch (value.kind) {
    case data.Kind.Null:
      return false;
    case data.Kind.Boolean:
      return (value as data.BooleanData).value;
    case data.Kind.Number:
      return value.number() !== 0 && !Number.isNaN(value.number());
    case data.Kind.String:
      return value.coerceString() !== '';
    default:
      return true;
  }
}

/** The `${{ … }}` parts of a text, with the literal text between them. */
function split(text: string): ({ literal: string } | { expression: string })[] {
  const parts: ({ literal: string } | { expression: string })[] = [];
  let at = 0;
  for (;;) {
    const start = text.indexOf('${{', at);
    if (start < 0) break;
    if (start > at) parts.push({ literal: text.slice(at, start) });
    // The closing braces are the first `}}` outside a 'string literal' ('' escapes a quote).
    let i = start + 3;
    let quoted = false;
    for (; i < text.length; i++) {
      if (text[i] === "'") quoted = !quoted;
      else if (!quoted && text.startsWith('}}', i)) break;
    }
    if (i >= text.length) throw new ExpressionFailure(`unclosed \${{ in: ${text}`);
    parts.push({ expression: text.slice(start + 3, i) });
    at = i + 2;
  }
  if (at < text.length) parts.push({ literal: text.slice(at) });
  return parts;
}

/**
 * A value from the workflow file: a whole `${{ x }}` keeps x's type (a boolean for
 * continue-on-error, say); text with expressions inside is text; YAML scalars are as written.
 */
export function evaluateValue(value: unknown, scope: Scope): data.ExpressionData {
  if (typeof value !== 'string') return toData(value);
  const parts = split(value);
  const only = parts.length === 1 ? parts[0] : undefined;
  if (only && 'expression' in only) return evaluate(only.expression, scope);
  return new data.StringData(
    parts
      .map((part) => ('literal' in part ? part.literal : asText(evaluate(part.expression, scope), value)))
      .join(''),
  );
}

/** A value as the text an input, env variable or output gets. */
export function interpolate(value: unknown, scope: Scope, where = 'value'): string {
  if (value === undefined || value === null) return '';
  return asText(evaluateValue(value, scope), where);
}

/** Whether an expression calls a status function (else GitHub reads `if: x` as `success() && (x)`). */
function callsStatusFunction(expression: string): boolean {
  const { tokens } = new Lexer(expression).lex();
  return tokens.some(
    (token, i) =>
      token.type === TokenType.IDENTIFIER &&
      STATUS_FUNCTIONS.includes(token.lexeme.toLowerCase()) &&
      tokens[i + 1]?.type === TokenType.LEFT_PAREN &&
      tokens[i - 1]?.type !== TokenType.DOT,
  );
}

/**
 * A job's or step's `if:` as GitHub decides it: no `if` is `success()`; `${{ }}` around the
 * whole condition is optional; one without a status function must also pass `success()`.
 */
export function condition(value: unknown, scope: Scope & { status: Status }): boolean {
  if (value === undefined || value === null || value === '') return scope.status.success();
  if (typeof value === 'boolean') return value && scope.status.success();
  let text = String(value).trim();
  const parts = split(text);
  const only = parts.length === 1 ? parts[0] : undefined;
  if (only && 'expression' in only) text = only.expression;
  else if (parts.some((part) => 'expression' in part)) {
    // Text around an expression makes a non-empty string: always true, as on GitHub.
    return isTruthy(evaluateValue(text, scope)) && scope.status.success();
  }
  const wrapped = callsStatusFunction(text) ? text : `success() && (${text})`;
  try {
    return isTruthy(evaluate(wrapped, scope));
  } catch (error) {
    // Name the condition as written, not as wrapped.
    throw new ExpressionFailure(
      `if: ${text.trim()}: ${(error as Error).message.replace(/^\$\{\{.*?\}\}: /s, '')}`,
    );
  }
}

/** Every context of a full step scope, for places that may use only some (GitHub's table). */
export type ContextName =
  | 'github'
  | 'inputs'
  | 'vars'
  | 'secrets'
  | 'env'
  | 'needs'
  | 'strategy'
  | 'matrix'
  | 'job'
  | 'jobs'
  | 'runner'
  | 'steps';

/** Which contexts each place of a workflow may use (docs: "Context availability"). */
export const AVAILABLE: Record<string, ContextName[]> = {
  'workflow.env': ['github', 'secrets', 'inputs', 'vars'],
  'workflow.concurrency': ['github', 'inputs', 'vars'],
  'input.default': ['github', 'inputs', 'vars'],
  'workflow.outputs': ['github', 'jobs', 'vars', 'inputs'],
  'job.if': ['github', 'needs', 'vars', 'inputs'],
  'job.env': ['github', 'needs', 'strategy', 'matrix', 'vars', 'secrets', 'inputs'],
  'job.with': ['github', 'needs', 'strategy', 'matrix', 'vars', 'inputs'],
  'job.secrets': ['github', 'needs', 'strategy', 'matrix', 'secrets', 'vars', 'inputs'],
  'job.environment': ['github', 'needs', 'strategy', 'matrix', 'vars', 'inputs'],
  'job.concurrency': ['github', 'needs', 'strategy', 'matrix', 'vars', 'inputs'],
  'job.runs-on': ['github', 'needs', 'strategy', 'matrix', 'vars', 'inputs'],
  'job.continue-on-error': ['github', 'needs', 'strategy', 'matrix', 'vars', 'inputs'],
  'job.defaults': ['github', 'needs', 'strategy', 'matrix', 'env', 'vars', 'inputs'],
  'job.outputs': [
    'github',
    'needs',
    'strategy',
    'matrix',
    'job',
    'runner',
    'env',
    'vars',
    'secrets',
    'steps',
    'inputs',
  ],
  'step.if': ['github', 'needs', 'strategy', 'matrix', 'job', 'runner', 'env', 'vars', 'steps', 'inputs'],
  step: [
    'github',
    'needs',
    'strategy',
    'matrix',
    'job',
    'runner',
    'env',
    'vars',
    'secrets',
    'steps',
    'inputs',
  ],
};

/** The contexts a place may use, taken from all the contexts known at that point. */
export function scopeFor(
  place: keyof typeof AVAILABLE,
  all: Partial<Record<ContextName, unknown>>,
): Contexts {
  return Object.fromEntries((AVAILABLE[place] ?? []).map((name) => [name, all[name] ?? {}]));
}
