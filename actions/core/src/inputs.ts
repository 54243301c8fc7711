import { z } from 'zod';
import { InputError } from './errors.js';
import { redactUrl, secretsInUrl } from './mask.js';
import { splitCommand } from './process.js';

/**
 * One action input: how its raw text is parsed, how it may be written in switchyard.yml, and
 * what it means. Each action declares its inputs once as a table of these; the parser, the
 * config file schema, the JSON Schema and the action.yml check all derive from that table.
 */
export interface InputDef<T = unknown> {
  /** Parses the trimmed raw text (from the workflow or the config file). */
  parse: z.ZodType<T, string>;
  /** What switchyard.yml accepts for it (also the source of the published JSON Schema). */
  file: z.ZodType;
  description: string;
  /** Raw default, applied when neither the workflow nor the config file sets it. */
  default?: string;
  required?: boolean;
  /** Never echoed in errors; registered as a secret. */
  secret?: boolean;
  /** The secrets inside a raw value (e.g. credential header values), registered before parsing. */
  secretsOf?: (raw: string) => string[];
  /** Holds URLs whose passwords must be masked. */
  urls?: boolean;
  /** An example of a valid value, shown in errors. */
  example: string;
  /**
   * Another action whose switchyard.yml section supplies this input when neither the workflow nor
   * this action's own section does: one `store` for the backup job and the migrate job.
   */
  sharedWith?: 'backup' | 'deploy' | 'health-check' | 'validate-migration';
  /**
   * A list: each error names the entry (or its line) at fault, so the whole value is never
   * quoted; and when required, a value of only comments and blank lines is as good as none.
   */
  listed?: boolean;
}

export type InputTable = Record<string, InputDef>;

/** Inputs with a default or marked required always have a value; the others may be undefined. */
export type InputValues<T extends InputTable> = {
  [K in keyof T]: T[K] extends InputDef<infer V>
    ? T[K] extends { default: string } | { required: true }
      ? V
      : V | undefined
    : never;
};

/** Carries `default` and `required: true` into the type of a built input, for InputValues. */
type Marks<O> = (O extends { default: string } ? { default: string } : unknown) &
  (O extends { required: true } ? { required: true } : unknown);

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
export const DURATION_PATTERN = /^(\d+(?:\.\d+)?)(ms|s|m|h)$/;
export const RATE_PATTERN = /^(?:\d+(?:\.\d+)?%|\d*\.?\d+)$/;

/** `500ms`, `10s`, `2m`, `1h` → milliseconds. */
export function parseDuration(text: string): number | undefined {
  const match = DURATION_PATTERN.exec(text.trim());
  if (!match) return undefined;
  return Number(match[1]) * (UNITS[match[2] as string] as number);
}

/** `5%` or `0.05` → 0.05. */
export function parseRate(text: string): number | undefined {
  const t = text.trim();
  if (!RATE_PATTERN.test(t)) return undefined;
  return t.endsWith('%') ? Number(t.slice(0, -1)) / 100 : Number(t);
}

/** Multi-line (and optionally comma-separated) lists; blank lines and `#` comments are skipped. */
export function splitList(text: string, commas: boolean): string[] {
  return listEntries(text, commas).map(({ entry }) => entry);
}

/** The entries of a list with the line each is on (from 1), so an error can point at it. */
export function listEntries(text: string, commas: boolean): { entry: string; line: number }[] {
  return text.split('\n').flatMap((content, index) =>
    (commas ? content.split(',') : [content])
      .map((item) => item.trim())
      .filter((item) => item !== '' && !item.startsWith('#'))
      .map((entry) => ({ entry, line: index + 1 })),
  );
}

function fail(ctx: z.RefinementCtx<string>, message: string): never {
  ctx.addIssue({ code: 'custom', message });
  return z.NEVER as never;
}

/** No duration input may exceed this: Node's timers overflow past 24.8 days, and nothing waits a day. */
const MAX_DURATION_MS = 24 * 3_600_000;

export function duration<const O extends { default?: string; min?: number }>(
  description: string,
  options: O = {} as O,
): InputDef<number> & Marks<O> {
  return {
    description,
    default: options.default,
    example: '10s',
    file: z.string().regex(DURATION_PATTERN),
    parse: z.string().transform((raw, ctx) => {
      const ms = parseDuration(raw);
      if (ms === undefined) return fail(ctx, 'expected a duration with a unit: 500ms, 10s, 2m or 1h');
      if (options.min !== undefined && ms < options.min)
        return fail(ctx, `must be at least ${options.min}ms`);
      if (ms > MAX_DURATION_MS) return fail(ctx, 'must be at most 24h');
      return ms;
    }),
  } as InputDef<number> & Marks<O>;
}

export function rate<const O extends { default?: string }>(
  description: string,
  options: O = {} as O,
): InputDef<number> & Marks<O> {
  return {
    description,
    default: options.default,
    example: '5%',
    file: z.union([z.string().regex(RATE_PATTERN), z.number().min(0).max(1)]),
    parse: z.string().transform((raw, ctx) => {
      const value = parseRate(raw);
      if (value === undefined) return fail(ctx, 'expected a rate such as 5% or 0.05');
      if (value < 0 || value > 1) return fail(ctx, 'must be between 0% and 100% (0 to 1)');
      return value;
    }),
  } as InputDef<number> & Marks<O>;
}

export function integer<const O extends { default?: string; min?: number; max?: number }>(
  description: string,
  options: O = {} as O,
): InputDef<number> & Marks<O> {
  const { min = 0, max = Number.MAX_SAFE_INTEGER } = options;
  return {
    description,
    default: options.default,
    example: String(Math.max(min, 1)),
    file: z.union([z.number().int().min(min).max(max), z.string().regex(/^\d+$/)]),
    parse: z.string().transform((raw, ctx) => {
      if (!/^-?\d+$/.test(raw)) return fail(ctx, 'expected a whole number');
      const value = Number(raw);
      if (value < min || value > max) {
        return fail(
          ctx,
          max === Number.MAX_SAFE_INTEGER ? `must be at least ${min}` : `must be ${min} to ${max}`,
        );
      }
      return value;
    }),
  } as InputDef<number> & Marks<O>;
}

export function boolean<const O extends { default?: string }>(
  description: string,
  options: O = {} as O,
): InputDef<boolean> & Marks<O> {
  return {
    description,
    default: options.default,
    example: 'true',
    file: z.union([z.boolean(), z.enum(['true', 'false'])]),
    parse: z.string().transform((raw, ctx) => {
      // The same words the toolkit's getBooleanInput accepts (YAML 1.2 core schema).
      if (['true', 'True', 'TRUE'].includes(raw)) return true;
      if (['false', 'False', 'FALSE'].includes(raw)) return false;
      return fail(ctx, 'expected true or false');
    }),
  } as InputDef<boolean> & Marks<O>;
}

/** Free text; `check` returns what is wrong with a value, if anything. */
export function text<
  const O extends {
    default?: string;
    required?: boolean;
    secret?: boolean;
    example?: string;
    check?: (raw: string) => string | undefined;
  },
>(description: string, options: O = {} as O): InputDef<string> & Marks<O> {
  const { check } = options;
  return {
    description,
    default: options.default,
    required: options.required,
    secret: options.secret,
    example: options.example ?? 'value',
    file: z.string(),
    parse: check
      ? z.string().transform((raw, ctx) => {
          const problem = check(raw);
          return problem === undefined ? raw : fail(ctx, problem);
        })
      : z.string(),
  } as InputDef<string> & Marks<O>;
}

export function oneOf<
  const V extends readonly [string, ...string[]],
  const O extends { default?: V[number] },
>(values: V, description: string, options: O = {} as O): InputDef<V[number]> & Marks<O> {
  return {
    description,
    default: options.default,
    example: values[0],
    file: z.enum(values),
    parse: z.string().transform((raw, ctx) => {
      if ((values as readonly string[]).includes(raw)) return raw as V[number];
      return fail(ctx, `expected one of: ${values.join(', ')}`);
    }),
  } as InputDef<V[number]> & Marks<O>;
}

/**
 * An input read by `parse`, which returns the value or, as a string, what is wrong with it. In
 * switchyard.yml it may be written as text, or as a number or a list where `file` says so.
 */
export function parsedBy<T, const O extends { default?: string; example: string }>(
  description: string,
  parse: (raw: string) => T | string,
  options: O & { file?: z.ZodType },
): InputDef<T> & Marks<O> {
  return {
    description,
    default: options.default,
    example: options.example,
    file: options.file ?? z.string(),
    parse: z.string().transform((raw, ctx) => {
      const value = parse(raw);
      return typeof value === 'string' ? fail(ctx, value) : value;
    }),
  } as InputDef<T> & Marks<O>;
}

/**
 * A list of items, one per line (and per comma when `commas`). Each entry is parsed by `item`,
 * which returns the value or, as a string, what is wrong with the entry; without `item` the
 * entries are kept as they are.
 */
export function list<
  T = string,
  const O extends {
    default?: string;
    required?: boolean;
    commas?: boolean;
    example: string;
    urls?: boolean;
  } = {
    example: string;
  },
>(
  description: string,
  item: ((entry: string, line: number) => T | string) | undefined,
  options: O,
): InputDef<T[]> & Marks<O> {
  return {
    description,
    default: options.default,
    required: options.required,
    urls: options.urls,
    example: options.example,
    listed: true,
    // Every line holding a URL is searched for secrets as a whole; entries of one line are URLs of their own.
    secretsOf: options.commas
      ? (raw: string) =>
          splitList(raw, true)
            .filter((entry) => entry.includes('://'))
            .flatMap(secretsInUrl)
      : undefined,
    file: z.union([z.string(), z.array(z.union([z.string(), z.number()]))]),
    parse: z.string().transform((raw, ctx) => {
      const parsed: T[] = [];
      for (const { entry, line } of listEntries(raw, options.commas ?? false)) {
        if (!item) {
          parsed.push(entry as T);
          continue;
        }
        const value = item(entry, line);
        if (typeof value === 'string') return fail(ctx, value);
        parsed.push(value);
      }
      return parsed;
    }),
  } as InputDef<T[]> & Marks<O>;
}

/** An item parser for URL lists: a URL with one of `schemes`, or a message saying what is wrong. */
export function urlItem(schemes: readonly string[]) {
  return (entry: string): URL | string => {
    let url: URL;
    const shown = redactUrl(entry);
    if (/\s/.test(entry)) return `"${shown}" contains a space; put one entry per line`;
    const scheme = /^([a-z][a-z0-9+.-]*:)\/\//i.exec(entry)?.[1]?.toLowerCase();
    try {
      url = new URL(entry);
    } catch {
      const like = schemes.includes(scheme ?? '') ? scheme : schemes[0];
      return (
        `"${shown}" is not a URL; write it like ${like}//host:port/path` +
        ' (percent-encode special characters in a password: @ as %40, / as %2F, % as %25)'
      );
    }
    if (!schemes.includes(url.protocol)) {
      const hostPort =
        /^[\w.-]+:\d+$/.test(entry) && schemes.includes('tcp:')
          ? ` (for a plain port, write tcp://${entry})`
          : '';
      return `"${shown}" has an unsupported scheme "${url.protocol}"; use ${schemes.map((s) => `${s}//`).join(', ')}${hostPort}`;
    }
    if (!url.hostname) return `"${redactUrl(entry)}" has no host`;
    if (!READS_STRAY_PERCENT.has(url.protocol)) {
      for (const part of ['username', 'password'] as const) {
        if (url[part] && !decodes(url[part])) return `"${shown}": ${badEscape(part)}`;
      }
    }
    return url;
  };
}

/**
 * pg reads a % that starts no escape (`50%off`) as itself; ioredis gets what we decode and Node's
 * http decodes the user info itself, and both would throw, so elsewhere such a URL is refused.
 */
const READS_STRAY_PERCENT = new Set(['postgres:', 'postgresql:']);

function decodes(text: string): boolean {
  try {
    decodeURIComponent(text);
    return true;
  } catch {
    return false;
  }
}

function badEscape(part: 'username' | 'password' | 'path'): string {
  const what = part === 'username' ? 'user name' : part;
  return `the ${what} has a % that does not start an escape like %40; write a literal % as %25 (and @ as %40, / as %2F, : as %3A)`;
}

/** Turns a raw value into the typed one, or an InputError that names the input and the fix. */
export function parseInput<T>(
  name: string,
  def: InputDef<T>,
  raw: string,
  origin?: { file: string; line?: number },
): T {
  const result = def.parse.safeParse(raw);
  const where = origin ? ` (from ${origin.file}${origin.line ? `:${origin.line}` : ''})` : '';
  if (result.success) {
    // A list whose lines were all commented out is a list someone forgot to fill, not a choice.
    if (def.required && def.listed && Array.isArray(result.data) && result.data.length === 0) {
      return throwInput(
        name,
        `has no entries (only comments or blank lines)${where}; give at least one. Example: ${name}: ${def.example}`,
        origin,
      );
    }
    return result.data;
  }
  const why = result.error.issues.map((issue) => issue.message).join('; ');
  const shown = def.secret ? '' : ` "${def.urls ? redactUrl(raw) : raw}"`;
  // List item messages already say which entry is at fault; don't quote the whole list again.
  const detail =
    def.listed || why.startsWith('"') ? why : `${shown.trim() || 'the value'} is not valid: ${why}`;
  return throwInput(name, `${detail}${where}. Example: ${name}: ${def.example}`, origin);
}

/**
 * The user name or password of a URL, percent-decoded. A malformed escape (`%zz`) is an input
 * error, never an exception, and the message leaves the value out: it may be the password.
 */
export function decodeUrlPart(
  url: URL,
  part: 'username' | 'password' | 'path',
  input: string,
  encoded: string = url[part === 'path' ? 'pathname' : part],
): string {
  try {
    return decodeURIComponent(encoded);
  } catch {
    return throwInput(input, `${redactUrl(url.href)}: ${badEscape(part)}`);
  }
}

function throwInput(name: string, detail: string, origin?: { file: string; line?: number }): never {
  throw new InputError(name, detail, origin?.file, origin?.line);
}

/** A command line, split into argv without a shell (never a shell string built from input). */
export function commandLine<const O extends { default?: string; example: string }>(
  description: string,
  options: O,
) {
  return parsedBy(
    description,
    (raw) => {
      const argv = splitCommand(raw);
      if (typeof argv === 'string') return argv;
      return argv.length > 0 ? argv : 'empty command';
    },
    options,
  );
}

/**
 * An input table's values from raw text, each missing one at its default: how one engine drives
 * another (run's backup through the backup engine) with exactly the parsing its users get.
 */
export function inputValues<T extends InputTable>(
  table: T,
  raw: Partial<Record<keyof T & string, string>>,
): InputValues<T> {
  const values: Record<string, unknown> = {};
  for (const [name, def] of Object.entries(table)) {
    const text = (raw as Record<string, string | undefined>)[name] ?? def.default;
    values[name] = text === undefined || text === '' ? undefined : parseInput(name, def, text);
  }
  return values as InputValues<T>;
}
