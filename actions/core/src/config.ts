import { readFileSync } from 'node:fs';
import { LineCounter, parseDocument } from 'yaml';
import { z } from 'zod';
import { InputError, UserError, UserErrors, messageOf } from './errors.js';
import { ACTION_INPUT_NAMES } from './input-names.js';
import type { ActionName } from './registry.js';

/**
 * switchyard.yml: one section per action (its inputs, by the names used in workflows), and
 * `environments.<name>.<action>` sections that override them. `${VAR}` and `${VAR:default}` are
 * replaced from the environment; `$${` writes a literal `${`.
 *
 *   health-check:
 *     timeout: 5s
 *   environments:
 *     production:
 *       health-check:
 *         targets: [https://example.com/health]
 */

/**
 * Values are only checked for their kind here; each is then parsed by its input's own parser, so
 * a bad value in the file gets the same message (what is valid, an example) as a bad input.
 */
const SCALAR = z.union([z.string(), z.number(), z.boolean()]);
const ANY_VALUE = z.union([
  SCALAR,
  z.array(z.union([z.string(), z.number()])),
  // A map (validate-migration's rules: rule → severity) reads as "key: value" lines.
  z.record(z.string(), SCALAR),
]);

function looseSection(names: readonly string[]) {
  return z.strictObject(Object.fromEntries(names.map((name) => [name, ANY_VALUE.optional()])));
}

function actionSections(): Record<string, z.ZodType> {
  const shape: Record<string, z.ZodType> = {};
  for (const [action, names] of Object.entries(ACTION_INPUT_NAMES))
    shape[action] = looseSection(names).optional();
  return shape;
}

/**
 * What the loader accepts: known keys, values of any input kind. Only the input names are needed
 * (input-names.ts, generated from the tables): an action does not load the other actions' parsers
 * (their routers, sources and drivers) to read its own section. The editors' schema, with every
 * value's form, is config-schema.ts.
 */
export const configSchema = fileSchema(actionSections);

/** switchyard.yml's shape around the action sections: the top level, and the same per environment. */
export function fileSchema(sections: () => Record<string, z.ZodType>) {
  return z.strictObject({
    $schema: z.string().optional().meta({ description: 'Where editors find this schema.' }),
    ...sections(),
    environments: z
      .record(z.string(), z.strictObject(sections()))
      .optional()
      .meta({ description: 'Per-environment overrides, chosen with the `environment` input.' }),
  });
}

/** A value taken from the config file, as the raw text an input would carry, and where it came from. */
export interface ConfigValue {
  raw: string;
  file: string;
  line?: number;
}

/**
 * How many copies aliases may make in all (the yaml package's own measure): ample for a config
 * that reuses a few blocks, and far below what a billion-laughs file needs to exhaust memory.
 */
const MAX_ALIAS_EXPANSION = 100;

const VARIABLE = /\$(\$?)\{([A-Za-z_][A-Za-z0-9_]*)(?::([^}]*))?\}/g;

function interpolate(
  value: string,
  env: Record<string, string | undefined>,
  missing: (name: string) => void,
): string {
  return value.replace(VARIABLE, (whole, escaped: string, name: string, fallback: string | undefined) => {
    if (escaped) return whole.slice(1);
    const found = env[name];
    if (found !== undefined && found !== '') return found;
    if (fallback !== undefined) return fallback;
    missing(name);
    return '';
  });
}

const firstLine = (text: string) => text.split('\n', 1)[0] as string;

function toRaw(value: unknown): string {
  if (Array.isArray(value)) return value.map(String).join('\n');
  if (typeof value === 'object' && value !== null)
    return Object.entries(value)
      .map(([key, each]) => `${key}: ${String(each)}`)
      .join('\n');
  return String(value);
}

/** Levenshtein distance, for "did you mean" on misspelt keys. */
function distance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let previous = row[0] as number;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const current = row[j] as number;
      row[j] = Math.min(current + 1, (row[j - 1] as number) + 1, previous + (a[i - 1] === b[j - 1] ? 0 : 1));
      previous = current;
    }
  }
  return row[b.length] as number;
}

function suggestion(key: string, known: string[]): string {
  const best = known.map((k) => ({ k, d: distance(key, k) })).sort((x, y) => x.d - y.d)[0];
  return best && best.d <= 3 ? ` Did you mean "${best.k}"?` : ` Known keys: ${known.join(', ')}.`;
}

/**
 * Reads `file` and returns the values for `action`, with the `environment` section applied.
 * Every problem in the file is reported at once, with its line.
 */
export function loadConfigSection(
  file: string,
  action: ActionName,
  environment: string | undefined,
  env: Record<string, string | undefined>,
): Map<string, ConfigValue> {
  let source: string;
  try {
    source = readFileSync(file, 'utf8');
  } catch (error) {
    const reason = (error as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : String(error);
    throw new InputError('config', `cannot read "${file}" (${reason}); give the path of your switchyard.yml`);
  }
  const lines = new LineCounter();
  const refused = (why: string) => new UserError(`${file}: ${why}`, 'Invalid config', file);
  let doc: ReturnType<typeof parseDocument>;
  try {
    // logLevel: what yaml would print to stderr (a complex key stringified) is said as an error or not at all.
    doc = parseDocument(source, { lineCounter: lines, prettyErrors: false, logLevel: 'error' });
  } catch (error) {
    throw refused(`not valid YAML: ${firstLine(messageOf(error))}`);
  }
  const lineOf = (offset: number | undefined) =>
    offset === undefined ? undefined : lines.linePos(offset).line;
  if (doc.errors.length > 0) {
    throw new UserErrors(
      doc.errors.map(
        (e) =>
          new UserError(
            `${file}:${lineOf(e.pos[0])}: not valid YAML: ${e.message.split('\n')[0]}`,
            'Invalid config',
            file,
            lineOf(e.pos[0]),
          ),
      ),
    );
  }
  const lineAt = (path: (string | number)[]): number | undefined => {
    const node = doc.getIn(path, true) as { range?: [number, number, number] } | undefined;
    if (node?.range) return lineOf(node.range[0]);
    // A key with no value, or an unknown key: point at the parent mapping.
    return path.length > 0 ? lineAt(path.slice(0, -1)) : 1;
  };

  let tree: unknown;
  try {
    tree = doc.toJS({ maxAliasCount: MAX_ALIAS_EXPANSION }) ?? {};
  } catch (error) {
    const why = firstLine(messageOf(error));
    throw refused(
      /excessive alias count/i.test(why)
        ? `its aliases (*name) expand to more than ${MAX_ALIAS_EXPANSION} copies, which is how an alias bomb exhausts memory; write the values out or use fewer aliases`
        : `not valid YAML: ${why}`,
    );
  }
  const unset: UserError[] = [];
  const interpolated = interpolateTree(tree, env, (path, name) => {
    const line = lineAt(path);
    unset.push(
      new UserError(
        `${file}:${line}: ${path.join('.')}: environment variable ${name} is not set; set it or give a default: \${${name}:value}`,
        'Invalid config',
        file,
        line,
      ),
    );
  });
  if (unset.length > 0) throw new UserErrors(unset);
  const parsed = configSchema.safeParse(interpolated);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => {
      const path = issue.path.filter((p): p is string | number => typeof p !== 'symbol');
      let message = issue.message;
      if (issue.code === 'unrecognized_keys') {
        const parent = path.length === 0 ? configSchema : undefined;
        const known = parent
          ? Object.keys(configSchema.shape)
          : [...(ACTION_INPUT_NAMES[path[path.length - 1] as ActionName] ?? Object.keys(ACTION_INPUT_NAMES))];
        message = issue.keys.map((k) => `unknown key "${k}".${suggestion(k, known)}`).join(' ');
        const line = lineAt([...path, issue.keys[0] as string]);
        return new UserError(
          `${file}:${line}: ${path.join('.') || 'top level'}: ${message}`,
          'Invalid config',
          file,
          line,
        );
      }
      const line = lineAt(path);
      return new UserError(`${file}:${line}: ${path.join('.')}: ${message}`, 'Invalid config', file, line);
    });
    throw new UserErrors(problems.sort((a, b) => (a.line ?? 0) - (b.line ?? 0)));
  }

  const config = parsed.data as Record<string, unknown> & {
    environments?: Record<string, Record<string, unknown>>;
  };
  // A file without environments applies to every environment; one with them must name this one.
  if (environment && config.environments && !config.environments[environment]) {
    const known = Object.keys(config.environments ?? {});
    throw new InputError('environment', `"${environment}" is not in ${file}; it has: ${known.join(', ')}`);
  }
  const values = new Map<string, ConfigValue>();
  const take = (section: unknown, path: string[]) => {
    for (const [name, value] of Object.entries((section as Record<string, unknown> | undefined) ?? {})) {
      if (value !== undefined) values.set(name, { raw: toRaw(value), file, line: lineAt([...path, name]) });
    }
  };
  take(config[action], [action]);
  if (environment) take(config.environments?.[environment]?.[action], ['environments', environment, action]);
  return values;
}

function interpolateTree(
  value: unknown,
  env: Record<string, string | undefined>,
  missing: (path: (string | number)[], name: string) => void,
  path: (string | number)[] = [],
): unknown {
  if (typeof value === 'string') return interpolate(value, env, (name) => missing(path, name));
  if (Array.isArray(value)) return value.map((v, i) => interpolateTree(v, env, missing, [...path, i]));
  if (value && typeof value === 'object') {
    return Object.fromEntries(
      Object.entries(value).map(([k, v]) => [k, interpolateTree(v, env, missing, [...path, k])]),
    );
  }
  return value;
}
