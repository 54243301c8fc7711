import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import { readActionInputs } from '../../actions/core/src/action-inputs.js';
import { configJsonSchema, inputNamesSource } from '../../actions/core/src/config-schema.js';
import { UserError, UserErrors } from '../../actions/core/src/errors.js';
import { healthCheckInputs } from '../../actions/core/src/health-check/inputs.js';
import { validateMigrationInputs } from '../../actions/core/src/migrations/inputs.js';
import { memoryIO } from '../../actions/core/src/io.js';
import { renderInputs, withGeneratedTable, withRulesIndex } from '../../scripts/action-yml.js';
import { RULE_IDS } from '../../actions/core/src/migrations/rules/index.js';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'switchyard-config-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function configFile(text: string): string {
  const file = join(dir, `switchyard-${Math.random().toString(36).slice(2)}.yml`);
  writeFileSync(file, text);
  return file;
}

function read(inputs: Record<string, string>, env: Record<string, string> = {}) {
  const { io } = memoryIO({ inputs, env });
  return readActionInputs(io, 'health-check', healthCheckInputs);
}

function failure(inputs: Record<string, string>, env: Record<string, string> = {}): UserError[] {
  try {
    read(inputs, env);
  } catch (error) {
    if (error instanceof UserErrors) return error.errors;
    if (error instanceof UserError) return [error];
    throw error;
  }
  throw new Error('expected the config to be refused');
}

const FILE = `
health-check:
  targets:
    - http://\${SERVICE_HOST:127.0.0.1}:8080/health
  timeout: 2s
  mode: watch
environments:
  production:
    health-check:
      timeout: 10s
      max-error-rate: 1%
`;

describe('switchyard.yml', () => {
  it('supplies inputs, with ${VAR:default} interpolation', () => {
    const inputs = read({ config: configFile(FILE) });
    expect(inputs.targets?.[0]?.href).toBe('http://127.0.0.1:8080/health');
    expect(inputs.timeout).toBe(2000);
    expect(inputs.mode).toBe('watch');
    const fromEnv = read({ config: configFile(FILE) }, { SERVICE_HOST: 'app.internal' });
    expect(fromEnv.targets?.[0]?.hostname).toBe('app.internal');
  });

  it('lets the environment section override the action section, and inputs override both', () => {
    const file = configFile(FILE);
    const production = read({ config: file, environment: 'production' });
    expect(production.timeout).toBe(10_000);
    expect(production['max-error-rate']).toBeCloseTo(0.01);
    expect(production.mode).toBe('watch');
    const overridden = read({ config: file, environment: 'production', timeout: '3s' });
    expect(overridden.timeout).toBe(3000);
  });

  it('names an unknown environment and lists the known ones', () => {
    const [error] = failure({ config: configFile(FILE), environment: 'staging' });
    expect(error?.message).toContain('Input "environment": "staging" is not in');
    expect(error?.message).toContain('it has: production');
  });

  it('points at the file and line of a bad value', () => {
    const file = configFile('health-check:\n  targets: [http://x/]\n  timeout: abc\n');
    const [error] = failure({ config: file });
    expect(error?.file).toBe(file);
    expect(error?.line).toBe(3);
    expect(error?.message).toContain(`Input "timeout": "abc" is not valid: expected a duration with a unit`);
    expect(error?.message).toContain(`(from ${file}:3)`);
  });

  it('suggests the key meant by a misspelling', () => {
    const file = configFile('health-check:\n  targets: [http://x/]\n  timout: 5s\n');
    const [error] = failure({ config: file });
    expect(error?.message).toContain('unknown key "timout". Did you mean "timeout"?');
    expect(error?.line).toBe(3);
  });

  it('says which variable is missing when it has no default', () => {
    const file = configFile('health-check:\n  targets:\n    - http://${APP_HOST}/\n  timeout: ${TIMEOUT}\n');
    const errors = failure({ config: file });
    expect(errors.map((e) => e.message)).toEqual([
      `${file}:3: health-check.targets.0: environment variable APP_HOST is not set; set it or give a default: \${APP_HOST:value}`,
      `${file}:4: health-check.timeout: environment variable TIMEOUT is not set; set it or give a default: \${TIMEOUT:value}`,
    ]);
    expect(errors.map((e) => e.line)).toEqual([3, 4]);
  });

  it('reads numbers in the file as the input would, with the same advice', () => {
    const inputs = read({
      config: configFile('health-check:\n  targets: [http://x/]\n  expect-status: 200\n  retries: 4\n'),
    });
    expect(inputs['expect-status']).toEqual([{ min: 200, max: 200 }]);
    expect(inputs.retries).toBe(4);
    const [error] = failure({ config: configFile('health-check:\n  targets: [http://x/]\n  interval: 5\n') });
    expect(error?.message).toContain('Input "interval": "5" is not valid: expected a duration with a unit');
  });

  it('takes an environment without a config file, or with a file that has no environments', () => {
    expect(read({ targets: 'http://x/', environment: 'production' }).targets).toHaveLength(1);
    const plain = configFile('health-check:\n  targets: [http://x/]\n  timeout: 4s\n');
    expect(read({ config: plain, environment: 'production' }).timeout).toBe(4000);
  });

  it('refuses a missing file', () => {
    expect(failure({ config: join(dir, 'nope.yml') })[0]?.message).toContain('no such file');
  });

  it('refuses an alias bomb quickly, naming the file', () => {
    const levels = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]'];
    for (let i = 1; i < 9; i++) {
      const name = String.fromCharCode(97 + i);
      const previous = String.fromCharCode(96 + i);
      levels.push(`${name}: &${name} [${Array(9).fill(`*${previous}`).join(',')}]`);
    }
    const file = configFile(`${levels.join('\n')}\nhealth-check:\n  targets: *i\n`);
    const started = performance.now();
    const errors = failure({ config: file });
    expect(performance.now() - started).toBeLessThan(2_000);
    expect(errors).toHaveLength(1);
    expect(errors[0]?.message).toContain(file);
    expect(errors[0]?.message).toContain('alias');
    expect(errors[0]?.file).toBe(file);
  });

  it('names the file for an alias to an anchor that does not exist', () => {
    const file = configFile('health-check:\n  targets: *nowhere\n');
    const errors = failure({ config: file });
    expect(errors[0]?.message).toContain(file);
  });

  it('reports YAML syntax errors with their line', () => {
    const [error] = failure({ config: configFile('health-check:\n  targets: [http://x/\n  timeout: 5s\n') });
    expect(error?.message).toContain('not valid YAML');
    expect(error?.line).toBeGreaterThan(0);
  });
});

describe('generated files are current', () => {
  it('input-names.ts names every input of every table, in order (run `npm run schema`)', async () => {
    const { ACTION_INPUT_NAMES } = await import('../../actions/core/src/input-names.js');
    const { ACTION_INPUTS } = await import('../../actions/core/src/registry.js');
    expect(ACTION_INPUT_NAMES).toEqual(
      Object.fromEntries(
        Object.entries(ACTION_INPUTS).map(([action, table]) => [action, Object.keys(table)]),
      ),
    );
    expect(inputNamesSource()).toContain('export const ACTION_INPUT_NAMES');
  });

  it('schema/switchyard.schema.json matches the input tables (run `npm run schema`)', () => {
    const committed = JSON.parse(readFileSync('schema/switchyard.schema.json', 'utf8'));
    expect(committed).toEqual(JSON.parse(JSON.stringify(configJsonSchema())));
  });

  it('the schema describes every health-check input with its default', () => {
    const schema = configJsonSchema() as {
      properties: Record<string, { properties?: Record<string, { default?: string }> }>;
    };
    const section = schema.properties['health-check']?.properties ?? {};
    expect(Object.keys(section).sort()).toEqual(Object.keys(healthCheckInputs).sort());
    expect(section['timeout']?.default).toBe('5s');
  });

  const actions = ['health-check', 'deploy', 'backup', 'validate-migration'] as const;

  it.each(actions)(
    'actions/%s/action.yml declares exactly the inputs the code reads (run `npm run schema`)',
    (action) => {
      const actionYml = parse(readFileSync(`actions/${action}/action.yml`, 'utf8'));
      expect(actionYml.inputs).toEqual(parse(renderInputs(action)).inputs);
      expect(actionYml.runs).toEqual({ using: 'node24', main: 'dist/index.js' });
    },
  );

  it.each(actions)('docs/%s.md lists exactly those inputs and defaults (run `npm run schema`)', (action) => {
    const doc = readFileSync(`docs/${action}.md`, 'utf8');
    expect(doc === withGeneratedTable(doc, action) ? 'current' : 'stale: run npm run schema').toBe('current');
  });

  it('docs/validate-migration.md indexes every rule, and each rule has its page (run `npm run schema`)', () => {
    const doc = readFileSync('docs/validate-migration.md', 'utf8');
    expect(doc === withRulesIndex(doc) ? 'current' : 'stale: run npm run schema').toBe('current');
    const missing = RULE_IDS.filter((id) => !existsSync(`docs/rules/${id}.md`));
    expect(missing).toEqual([]);
  });
});

describe('an input shared with another section', () => {
  const store = (inputs: Record<string, string>) => {
    const { io } = memoryIO({ inputs });
    return readActionInputs(io, 'validate-migration', validateMigrationInputs).store;
  };

  it("validate-migration's store comes from the backup section when its own names none", () => {
    const config = configFile(
      'backup:\n  store: local:/var/backups/shop\nvalidate-migration:\n  pg-version: 16\n',
    );
    expect(store({ config })).toEqual({ kind: 'local', dir: '/var/backups/shop' });
  });

  it('its own section, then the workflow input, win over the shared one', () => {
    const config = configFile(
      'backup:\n  store: local:/var/backups/shop\nvalidate-migration:\n  store: actions-cache\n',
    );
    expect(store({ config })).toEqual({ kind: 'actions-cache' });
    expect(store({ config, store: 'artifact' })).toEqual({ kind: 'artifact' });
    expect(store({})).toEqual({ kind: 'local', dir: '.switchyard/backups' });
  });
});
