import { resolve } from 'node:path';
import { loadConfigSection, type ConfigValue } from './config.js';
import { InputError, UserError, UserErrors } from './errors.js';
import { parseInput, type InputTable, type InputValues } from './inputs.js';
import type { ActionIO } from './io.js';
import type { ActionName } from './registry.js';

/** Inputs every action has, which choose the config file rather than live in it. */
export const COMMON_INPUTS = {
  config: 'Path to a switchyard.yml whose section for this action supplies defaults; inputs override it.',
  environment:
    'The environment this run is for (deploy names its GitHub deployment after it). With `config`, its section under `environments:` overrides the action section.',
} as const;

/**
 * An action's inputs, resolved in this order: the workflow input, the config file's environment
 * section, its action section, the built-in default. Every bad value is reported (each as its
 * own error) before anything runs; secrets are registered before any message is built.
 */
export function readActionInputs<T extends InputTable>(
  io: ActionIO,
  action: ActionName,
  table: T,
): InputValues<T> {
  const register = (def: InputTable[string], raw: string) => {
    // Every line, comments too: an error may quote the whole value, commented-out URL and all.
    for (const line of raw.split('\n').map((each) => each.trim())) {
      if (!line.includes('://')) continue;
      io.secrets.addFromUrl(line);
      // A value mistyped into the wrong input ("http://h/?token=…, 5%") is echoed in its error:
      // each URL-like word in it is searched on its own too, whatever the line parses as.
      for (const word of line.split(/[\s,]+/))
        if (word.includes('://') && word !== line) io.secrets.addFromUrl(word);
    }
    if (def.secret) io.secrets.add(raw);
    for (const secret of def.secretsOf?.(raw) ?? []) io.secrets.add(secret);
  };
  // The workflow's own values first: loading the config file can fail with a message, and none
  // may show a secret the workflow passed.
  for (const [name, def] of Object.entries(table)) register(def, io.getInput(name));

  const configPath = io.getInput('config');
  const environment = io.getInput('environment') || undefined;
  const fromFile = configPath
    ? loadConfigSection(resolve(configPath), action, environment, io.env)
    : new Map<string, ConfigValue>();

  const shared = new Map<string, Map<string, ConfigValue>>();
  const sharedSection = (other: ActionName) => {
    if (!configPath) return new Map<string, ConfigValue>();
    let section = shared.get(other);
    if (!section)
      shared.set(other, (section = loadConfigSection(resolve(configPath), other, environment, io.env)));
    return section;
  };
  const chosen = new Map<string, { raw: string; origin?: ConfigValue }>();
  for (const [name, def] of Object.entries(table)) {
    const given = io.getInput(name);
    const file = fromFile.get(name) ?? (def.sharedWith ? sharedSection(def.sharedWith).get(name) : undefined);
    const raw = given || file?.raw || def.default || '';
    // Values from switchyard.yml (after `${VAR}` interpolation) are secrets as much as inputs are.
    if (!given) register(def, raw);
    chosen.set(name, { raw, origin: given ? undefined : file });
  }

  const errors: UserError[] = [];
  const values: Record<string, unknown> = {};
  for (const [name, def] of Object.entries(table)) {
    const { raw, origin } = chosen.get(name) as { raw: string; origin?: ConfigValue };
    if (raw === '') {
      if (def.required) {
        errors.push(new InputError(name, `is required. Example: ${name}: ${def.example}`));
      }
      continue;
    }
    try {
      values[name] = parseInput(name, def, raw, origin);
    } catch (error) {
      if (!(error instanceof UserError)) throw error;
      errors.push(error);
    }
  }
  if (errors.length === 1) throw errors[0];
  if (errors.length > 1) throw new UserErrors(errors);
  return values as InputValues<T>;
}
