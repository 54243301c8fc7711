// Random and adversarial values for every input of every action, and what must hold of the run:
// shared by the property-based test (test/unit/inputs-fuzz.test.ts) and the longer bench/fuzz.ts.
//
// A case runs the action's real input table through runAction, with an engine that only builds
// what its inputs describe (probes, the state store, backup sources, k6 thresholds) without
// connecting anywhere: what is refused at parse time or by a constructor is covered, in memory.
import fc from 'fast-check';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { runAction, type ActionDefinition, type ActionDeps } from '../../actions/core/src/action.js';
import { openSource, openTarget } from '../../actions/core/src/backup/open.js';
import type { SourceSpec } from '../../actions/core/src/backup/inputs.js';
import { openStateStore } from '../../actions/core/src/deploy/state/index.js';
import type { InputTable } from '../../actions/core/src/inputs.js';
import { memoryIO, type RecordedRun } from '../../actions/core/src/io.js';
import { parseThresholdLines } from '../../actions/core/src/k6/thresholds.js';
import { createProbe } from '../../actions/core/src/probes/index.js';
import type { BodyMatcher, ProbeOptions, StatusRange } from '../../actions/core/src/probes/probe.js';
import { ACTION_INPUTS, type ActionName } from '../../actions/core/src/registry.js';

export const FUZZED_ACTIONS = Object.keys(ACTION_INPUTS) as ActionName[];

/** Put in URL passwords and tokens, which are registered as secrets wherever they appear. */
export const MARK = 'Hunter2Mark';
/** Put in header lines: a credential only when given to `headers`, where it must not print. */
export const HEADER_MARK = 'HeaderMark7';

/** Values that broke, or could break, something: shapes every parser should meet at least once. */
const ADVERSARIAL = [
  '',
  ' ',
  '#',
  '# only a comment\n\n  \n# and another',
  ',',
  ',,,\n,',
  '\n\n',
  '0',
  '-1',
  '1e309',
  'NaN',
  'Infinity',
  '99999999999999999999999',
  '0.0000001',
  '100%',
  '101%',
  '-5%',
  '5%%',
  '1.5.5s',
  '10',
  '0s',
  '25h',
  '9999999999h',
  'true',
  'yes',
  'null',
  '~',
  '[]',
  '{}',
  '${UNSET_VARIABLE}',
  '${HOME:fallback}',
  '$${literal}',
  '%zz',
  '%',
  '::error::injected',
  'line one\n::add-mask::injected\r\n::warning::again',
  '\u0000\u0007\u001b[31mred',
  '\u200b::error::zero-width',
  '##[error]legacy',
  'a'.repeat(5000),
  '🚀 ünïcödé ☃',
  '\\',
  '\\\\server\\share',
  '../../../../etc/passwd',
  '/dev/null',
  'file:',
  'file://',
  'file:/tmp/../x',
  'local:',
  'local: ',
  'redis://',
  'redis://:@',
  `redis://:${MARK}%zz@127.0.0.1:1/0`,
  `redis://us%zzer:${MARK}@127.0.0.1:1`,
  `redis://:${MARK}@127.0.0.1:1/%zz`,
  `redis://:${MARK}@127.0.0.1:1/0/pre%zzfix`,
  'redis://127.0.0.1:1/%zz',
  `redis://:${MARK}@127.0.0.1:1/0/a/b`,
  'redis://127.0.0.1:99999',
  `rediss://default:${MARK}@[::1]:1/15?prefix=x&key=y`,
  `postgres://app:${MARK}@127.0.0.1:1/db?sslmode=require`,
  `postgres://app:${MARK}%zz@127.0.0.1:1/db`,
  'postgres://[::1',
  `https://user:${MARK}@127.0.0.1:1/`,
  `https://${MARK}@127.0.0.1:1/`,
  'http://127.0.0.1:1/?token=' + MARK,
  'http://[::1]:1/',
  'http://127.0.0.1:0/',
  'http://-/',
  'http://a b/',
  'http:/127.0.0.1/',
  'tcp://127.0.0.1',
  'tcp://:1',
  'tcp://127.0.0.1:1/path',
  'ftp://127.0.0.1/',
  'javascript:alert(1)',
  'localhost:6379',
  '127.0.0.1:1, 127.0.0.1:2',
  '[::1]:1',
  '[::1]:0',
  'host:65536',
  'health',
  '@127.0.0.1:19006/x',
  '//127.0.0.1:19006/x',
  '/ok?x=1#frag',
  '/a b',
  `Authorization Bearer ${HEADER_MARK}`,
  `Authorization: Bearer ${HEADER_MARK}`,
  `X-Api-Key: ${HEADER_MARK}\nBad Header: x`,
  `: ${HEADER_MARK}`,
  `Cookie: session=${HEADER_MARK}\r\nX: y`,
  'X-Ok: fine\nno colon here',
  '/^(a+)+$/',
  '/(a)\\1/',
  '/a(?=b)/',
  '/(?<=(x))y/',
  '/[/',
  '/x/gimsuyv',
  '//',
  '/',
  '200-',
  '600',
  '399-200',
  '2xx,3xx',
  '1xx-5xx',
  'http_req_duration: p(95)<500',
  'http_req_duration p(95)<500',
  'http_req_failed: rate<',
  ': p(95)<1',
  'x{a:b}: count>1',
  '10,25,50,75,100',
  '100,50',
  '0,100',
  '10 25 100',
  'status',
  'promote',
  'nginx -t; rm -rf /',
  '"unterminated',
  "it's",
  'sudo nginx -t',
  '`whoami`',
  'latest',
  'public.orders, session:*',
];

const SYNTAX = [...' :/@%?#[]{}\\\n,*!$()-+._=&;\'"\t0123456789abcxyzAZ'];

/** One raw input value: valid for its input, adversarial, or random text. */
function valueFor(name: string, table: InputTable): fc.Arbitrary<string> {
  const def = table[name];
  // A secret is masked wherever it appears, so a token that is also a word ("status") would mask
  // the word in every message: tokens are what real ones look like, or hostile.
  if (def?.secret) {
    return fc.oneof(
      fc.constant(`ghs_${MARK}0123456789`),
      fc.string({ unit: fc.constantFrom(...SYNTAX), minLength: 0, maxLength: 3 }),
      fc.constantFrom('', ' ', '::add-mask::x\n::error::y', `${MARK}\n${MARK}`),
    );
  }
  const valid = [def?.example, def?.default].filter((v): v is string => Boolean(v));
  const someExample = fc.constantFrom(...Object.values(table).map((d) => d.example));
  const lines = fc
    .array(fc.oneof(fc.constantFrom(...ADVERSARIAL, ...valid), someExample), { minLength: 1, maxLength: 4 })
    .chain((parts) => fc.constantFrom('\n', ',', ', ', '\r\n').map((sep) => parts.join(sep)));
  return fc.oneof(
    { arbitrary: fc.constantFrom(...(valid.length > 0 ? valid : ['x'])), weight: 3 },
    { arbitrary: fc.constantFrom(...ADVERSARIAL), weight: 4 },
    { arbitrary: someExample, weight: 1 },
    { arbitrary: lines, weight: 2 },
    { arbitrary: fc.string({ unit: fc.constantFrom(...SYNTAX), maxLength: 30 }), weight: 2 },
    { arbitrary: fc.string({ unit: 'binary', maxLength: 20 }), weight: 1 },
  );
}

/** switchyard.yml texts: a section made of fuzzed values, or YAML that is hostile as a file. */
function configFor(action: ActionName, table: InputTable): fc.Arbitrary<string> {
  const names = Object.keys(table);
  const section = fc.record(
    Object.fromEntries([...names, 'not-an-input'].map((name) => [name, valueFor(name, table)])),
    { requiredKeys: [] },
  );
  const typed = fc.dictionary(
    fc.constantFrom(...names.filter((name) => !table[name]?.secret)),
    fc.oneof(
      fc.integer({ min: -5, max: 200 }),
      fc.boolean(),
      fc.array(fc.constantFrom(...ADVERSARIAL.slice(50, 80)), { maxLength: 3 }),
      fc.double({ noNaN: false }),
    ),
    { maxKeys: 3 },
  );
  const laughs = [`a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]`];
  for (let i = 1; i < 9; i++) {
    laughs.push(
      `${String.fromCharCode(97 + i)}: &${String.fromCharCode(97 + i)} [${Array(9)
        .fill(`*${String.fromCharCode(96 + i)}`)
        .join(',')}]`,
    );
  }
  return fc.oneof(
    fc
      .tuple(section, typed, fc.option(fc.constantFrom('production', 'staging')))
      .map(([values, more, environment]) =>
        stringify(
          environment
            ? { [action]: values, environments: { [environment]: { [action]: more } } }
            : { [action]: { ...values, ...more } },
        ),
      ),
    fc.constantFrom(
      `${laughs.join('\n')}\n${action}:\n  ${names[0]}: *i\n`,
      `${action}:\n  ${names[0]}: *nowhere\n`,
      `${action}: [unclosed\n`,
      `${action}:\n\t${names[0]}: x\n`,
      `${action}:\n  ${names[0]}: a\n  ${names[0]}: b\n`,
      `--- \n${action}: {}\n---\n${action}: {}\n`,
      `${action}:\n  ${names[0]}: !!binary aGVsbG8=\n`,
      `${action}:\n  ${names[0]}: !!js/function 'x'\n`,
      `${action}:\n  ${names[0]}: ${'['.repeat(2000)}${']'.repeat(2000)}\n`,
      `${action}:\n  ${names[0]}: \${UNSET_VARIABLE}\n`,
      `${action}:\n  ${names[0]}: {a: 1}\n`,
      `environments:\n  production: 5\n`,
      `- just\n- a list\n`,
      `"${'x'.repeat(100)}`,
      '\u0000\u0001binary',
      '',
      '? [complex, key]\n: value\n',
      `${action}:\n  <<: {x: 1}\n`,
    ),
  );
}

export interface FuzzCase {
  inputs: Record<string, string>;
  /** The text of a switchyard.yml to write and name in `config`. */
  config?: string;
  environment?: string;
}

export function fuzzCase(action: ActionName): fc.Arbitrary<FuzzCase> {
  const table = ACTION_INPUTS[action] as InputTable;
  const names = Object.keys(table);
  const inputs = fc.record(Object.fromEntries(names.map((name) => [name, valueFor(name, table)])), {
    requiredKeys: [],
  }) as fc.Arbitrary<Record<string, string>>;
  return fc.record(
    {
      inputs,
      config: configFor(action, table),
      environment: fc.constantFrom('production', 'nowhere', '::error::env', ''),
    },
    { requiredKeys: ['inputs'] },
  );
}

function probeOptions(inputs: Record<string, unknown>): ProbeOptions {
  return {
    timeoutMs: (inputs.timeout as number | undefined) ?? 5_000,
    expectStatus: (inputs['expect-status'] as StatusRange[] | undefined) ?? [],
    expectBody: inputs['expect-body'] as BodyMatcher | undefined,
    headers: Object.fromEntries((inputs.headers as [string, string][] | undefined) ?? []),
    followRedirects: true,
    insecure: false,
    maxMemoryUsage: inputs['max-memory-usage'] as number | undefined,
    query: inputs.query as string | undefined,
  };
}

/**
 * Builds what the inputs describe, connecting to nothing. `deep` also opens backup sources,
 * whose constructors are the backup engine's (bench/fuzz.ts runs with it).
 */
async function build(action: ActionName, inputs: Record<string, unknown>, cwd: string, deep: boolean) {
  const options = probeOptions(inputs);
  const urls = [...((inputs.targets as URL[] | undefined) ?? [])];
  if (action === 'deploy') {
    openStateStore(inputs.state as string, { cwd });
    for (const color of ['blue', 'green']) {
      for (const server of (inputs[color] as { address: string }[] | undefined) ?? []) {
        urls.push(new URL(`http://${server.address}${inputs['health-path'] as string}`));
      }
    }
  }
  for (const url of urls) await createProbe(url, options).close();
  if (action !== 'backup') parseThresholdLines((inputs['k6-thresholds'] as string[] | undefined) ?? []);
  if (action === 'backup' && deep) {
    const context = { cwd, env: {}, runner: undefined as never, log: () => undefined };
    for (const spec of (inputs.sources as SourceSpec[] | undefined) ?? []) {
      const source = openSource(spec, context);
      if (typeof inputs.target === 'string') openTarget(source.kind, inputs.target, context);
    }
  }
  return {};
}

const STACK_LINE = /^\s*at .+(:\d+:\d+\)?|\(native\)|\(<anonymous>\))$/m;

/** What is wrong with how a run ended; an empty list when it ended as it must. */
export function problemsOf(
  action: ActionName,
  recorded: RecordedRun,
  fuzz: FuzzCase,
  configFile?: string,
): string[] {
  const headerSecret =
    (fuzz.inputs.headers ?? '').includes(HEADER_MARK) ||
    new RegExp(`headers:[^\n]*${HEADER_MARK}`).test(fuzz.config ?? '');
  const problems: string[] = [];
  const names = new Set([...Object.keys(ACTION_INPUTS[action]), 'config', 'environment']);
  const texts = [...recorded.log, recorded.summary, ...Object.values(recorded.outputs)];
  if (recorded.exitCode !== 0 && recorded.exitCode !== 1) problems.push(`exit code ${recorded.exitCode}`);
  for (const text of texts) {
    if (text.includes('Unexpected error')) problems.push(`unexpected error: ${text}`);
    if (STACK_LINE.test(text)) problems.push(`stack trace: ${text}`);
    if (text.includes(MARK)) problems.push(`credential printed: ${text}`);
  }
  for (const entry of recorded.log) {
    // The first line's `::error::` is the memory IO's own prefix; no later line may start a command.
    const later = entry.split(/\r\n|\r|\n/).slice(1);
    if (later.some((line) => line.trim().startsWith('::'))) problems.push(`workflow command in: ${entry}`);
  }
  if (recorded.exitCode === 1 && recorded.errors.length === 0) problems.push('exit 1 without an error');
  if (recorded.exitCode === 0 && recorded.errors.length > 0) problems.push('errors but exit 0');
  for (const { message } of recorded.errors) {
    const named = /^Input "([^"]+)"/.exec(message)?.[1];
    const blamesFile = configFile !== undefined && message.includes(configFile);
    if (!(named && names.has(named)) && !blamesFile) problems.push(`names no input: ${message}`);
    // Other inputs may quote their own values; what is said about `headers` never quotes a credential.
    if (headerSecret && named === 'headers' && message.includes(HEADER_MARK)) {
      problems.push(`header credential printed: ${message}`);
    }
  }
  return problems;
}

/** Where cases write their reports: memory when the machine has it, as every run writes one. */
export function fuzzScratch(): string {
  return existsSync('/dev/shm') ? '/dev/shm' : tmpdir();
}

const idle = { signal: new AbortController().signal, dispose: () => undefined };

/**
 * Runs every case, `parallel` at a time (each in its own folder under `base`): a run spends most
 * of its time waiting on the report file, which other runs can use. Calls `each` per case.
 */
export async function runCases(
  action: ActionName,
  cases: FuzzCase[],
  base: string,
  each: (fuzz: FuzzCase, problems: string[]) => void,
  options: { deep?: boolean; parallel?: number } = {},
): Promise<void> {
  let next = 0;
  const worker = async (slot: number) => {
    const dir = join(base, String(slot));
    mkdirSync(dir, { recursive: true });
    while (next < cases.length) {
      const fuzz = cases[next++] as FuzzCase;
      each(fuzz, (await runCase(action, fuzz, dir, options)).problems);
    }
  };
  await Promise.all(Array.from({ length: options.parallel ?? 16 }, (_, slot) => worker(slot)));
}

/** Runs one case in `dir` (its own: the config file is written there): its problems, and the run. */
export async function runCase(
  action: ActionName,
  fuzz: FuzzCase,
  dir: string,
  options: { deep?: boolean } = {},
): Promise<{ problems: string[]; recorded: RecordedRun }> {
  const inputs = { ...fuzz.inputs };
  let configFile: string | undefined;
  if (fuzz.config !== undefined) {
    configFile = join(dir, 'switchyard.yml');
    writeFileSync(configFile, fuzz.config);
    inputs.config = configFile;
  }
  if (fuzz.environment !== undefined) inputs.environment = fuzz.environment;
  const { io, recorded } = memoryIO({ inputs, env: { RUNNER_TEMP: dir, HOME: '/home/fuzz' } });
  const definition: ActionDefinition<InputTable, object> = {
    name: action,
    inputs: ACTION_INPUTS[action] as InputTable,
    engine: (values, deps: ActionDeps) =>
      build(action, values as Record<string, unknown>, deps.cwd, options.deep ?? false),
    outputs: {},
    report: { description: 'fuzz', body: () => ({}) },
    summary: () => '',
  };
  await runAction(definition, io, { cwd: dir, cancellation: idle });
  return { problems: problemsOf(action, recorded, fuzz, configFile), recorded };
}
