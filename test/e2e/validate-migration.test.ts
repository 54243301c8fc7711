// validate-migration's bundle, run as the GitHub runner runs it, from a copy of its dist/ in a
// temp dir with no node_modules above it: what the bundle needs at run time (libpg-query's .wasm)
// must be in dist/ itself. Build the bundle first: node scripts/bundle.js validate-migration.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import {
  annotations,
  runLikeTheRunner,
  workflowCommands,
  type RunnerResult,
} from '../../scripts/run-action.js';

let root: string;
let dist: string;

beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), 'switchyard-e2e-validate-migration-'));
  dist = join(root, 'validate-migration', 'dist');
  cpSync(join('actions', 'validate-migration', 'dist'), dist, { recursive: true });
});

afterAll(() => rmSync(root, { recursive: true, force: true }));

let workspaces = 0;

/** A workspace (the step's working directory) holding these files, beside the dist copy. */
function workspace(files: Record<string, string>): string {
  const dir = join(root, `workspace-${++workspaces}`);
  mkdirSync(dir);
  for (const [file, text] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, file)), { recursive: true });
    writeFileSync(join(dir, file), text);
  }
  return dir;
}

/** The action on a workspace; RUNNER_TEMP is ours, so the SARIF file outlives the run. */
async function lint(
  files: Record<string, string>,
  inputs: Record<string, string> = {},
  from = dist,
): Promise<RunnerResult & { runnerTemp: string }> {
  const cwd = workspace(files);
  const runnerTemp = mkdtempSync(join(root, 'runner-temp-'));
  const run = await runLikeTheRunner(
    'validate-migration',
    inputs,
    { RUNNER_TEMP: runnerTemp },
    { cwd, dist: from },
  );
  return { ...run, runnerTemp };
}

interface Violation {
  file: string;
  line: number;
  column: number;
  endLine: number;
  endColumn: number;
  rule: string;
  severity: 'error' | 'warning';
  message: string;
  fix: string;
}

const violationsOf = (run: RunnerResult) => JSON.parse(run.outputs.violations ?? 'null') as Violation[];

/** A stack trace's frame, as Node prints one: `    at fn (file:line:col)`. */
const STACK_FRAME = /^\s+at .+:\d+:\d+\)?$/m;

const CREATE_ACCOUNTS = `-- Kundenkonten: naïve café ☕, 顧客
CREATE TABLE accounts (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  email text NOT NULL
);
`;

describe('validate-migration, the bundle run from a copy of dist/ outside the repository', () => {
  it('runs from a directory with no node_modules above it, with the .wasm beside index.js', () => {
    expect(existsSync(join(dist, 'index.js'))).toBe(true);
    expect(existsSync(join(dist, 'libpg-query.wasm'))).toBe(true);
    for (let dir = dist; dir !== dirname(dir); dir = dirname(dir))
      expect(existsSync(join(dir, 'node_modules'))).toBe(false);
    expect(existsSync('/node_modules')).toBe(false);
  });

  it('a clean expand-only folder ⇒ exit 0, valid, phase expand, a SARIF file', async () => {
    const run = await lint({
      'migrations/V1__create_accounts.sql': CREATE_ACCOUNTS,
      'migrations/V2__add_nickname.sql': `-- expand: a nullable column, and an index that does not block writes
SET lock_timeout = '5s';
ALTER TABLE accounts ADD COLUMN nickname text;
CREATE INDEX CONCURRENTLY accounts_nickname_idx ON accounts (nickname);
`,
      'migrations/V2__add_nickname.down.sql': 'ALTER TABLE accounts DROP COLUMN nickname;\n',
    });
    expect(run.stderr).toBe('');
    expect(run.exitCode).toBe(0);
    expect(run.outputs.valid).toBe('true');
    expect(run.outputs.phase).toBe('expand');
    expect(violationsOf(run)).toEqual([]);
    expect(annotations(run.stdout)).toEqual([]);
    const sarif = run.outputs.sarif ?? '';
    expect(sarif.startsWith(run.runnerTemp)).toBe(true);
    expect(existsSync(sarif)).toBe(true);
    expect(JSON.parse(readFileSync(sarif, 'utf8'))).toMatchObject({
      version: '2.1.0',
      runs: [{ results: [] }],
    });
    const report = JSON.parse(run.report ?? '{}') as { files: { file: string; statements: number }[] };
    // The down migration is left out.
    expect(report.files.map((f) => [f.file, f.statements])).toEqual([
      ['migrations/V1__create_accounts.sql', 1],
      ['migrations/V2__add_nickname.sql', 3],
    ]);
  });

  it('an unsafe folder ⇒ exit 1, one ::error per error at the statement, titled with the rule', async () => {
    const run = await lint({
      'migrations/V1__create_accounts.sql': CREATE_ACCOUNTS,
      'migrations/V2__drop_email.sql': `-- ☕ café: naïve, 顧客のメール
SET lock_timeout = '5s';
ALTER TABLE accounts DROP COLUMN email;
  /* 日本語 */ CREATE INDEX accounts_id_idx ON accounts (id);
ALTER TYPE order_status ADD VALUE 'refunded';
`,
    });
    expect(run.exitCode).toBe(1);
    expect(run.outputs.valid).toBe('false');
    const violations = violationsOf(run);
    for (const v of violations) {
      expect(Object.keys(v)).toEqual(
        expect.arrayContaining([
          'file',
          'line',
          'column',
          'endLine',
          'endColumn',
          'rule',
          'severity',
          'message',
          'fix',
        ]),
      );
      expect(v.message.length).toBeGreaterThan(20);
      expect(v.fix.length).toBeGreaterThan(10);
    }
    const file = 'migrations/V2__drop_email.sql';
    expect(violations).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ file, line: 3, column: 1, rule: 'ban-drop-column', severity: 'error' }),
        // Columns count characters, not bytes: two spaces and a 9-character (15-byte) comment first.
        expect.objectContaining({
          file,
          line: 4,
          column: 13,
          rule: 'require-concurrent-index-creation',
          severity: 'error',
        }),
      ]),
    );

    const errors = violations.filter((v) => v.severity === 'error');
    const raised = workflowCommands(run.stdout, 'error');
    expect(raised).toHaveLength(errors.length);
    expect(annotations(run.stdout)).toHaveLength(errors.length);
    for (const v of errors) {
      const matching = raised.filter(
        (p) =>
          p.title === v.rule && p.file === v.file && p.line === String(v.line) && p.col === String(v.column),
      );
      expect(matching).toHaveLength(1);
      expect(matching[0]).toMatchObject({ endLine: String(v.endLine), endColumn: String(v.endColumn) });
      expect(annotations(run.stdout)).toContain(`${v.message} Fix: ${v.fix}`);
    }
    // A warning is in the outputs, never an ::error.
    expect(violations).toContainEqual(
      expect.objectContaining({ file, line: 5, rule: 'enum-value-added', severity: 'warning' }),
    );
    for (const v of violations.filter((each) => each.severity === 'warning'))
      expect(raised.some((p) => p.title === v.rule && p.line === String(v.line))).toBe(false);
    expect(run.summary).toContain('ban-drop-column');
    expect(existsSync(run.outputs.sarif ?? '')).toBe(true);
    expect(`${run.stdout}${run.stderr}`).not.toMatch(STACK_FRAME);
  });

  it('a syntax error ⇒ a syntax-error violation at its line and column, not a crash', async () => {
    const run = await lint({
      'migrations/V1__create_accounts.sql': CREATE_ACCOUNTS,
      'migrations/V2__typo.sql': `-- ☕ café, 日本語
SET lock_timeout = '5s';
ALTER TABLE accounts ADD COLUMN nickname text;
  CREATE TABLEE archive (id bigint);
SELECT 1;
`,
    });
    expect(run.exitCode).toBe(1);
    expect(run.outputs.valid).toBe('false');
    expect(violationsOf(run)).toEqual([
      expect.objectContaining({
        file: 'migrations/V2__typo.sql',
        line: 4,
        column: 10,
        rule: 'syntax-error',
        severity: 'error',
        message: expect.stringContaining('"TABLEE"'),
      }),
    ]);
    expect(workflowCommands(run.stdout, 'error')).toEqual([
      expect.objectContaining({
        title: 'syntax-error',
        file: 'migrations/V2__typo.sql',
        line: '4',
        col: '10',
      }),
    ]);
    expect(`${run.stdout}${run.stderr}`).not.toMatch(STACK_FRAME);
  });

  it('migrations matching nothing ⇒ one ::error:: naming migrations, exit 1, no stack trace', async () => {
    const run = await lint({ 'db/README.md': 'no migrations here\n' }, { migrations: 'db/migrate/*.sql' });
    expect(run.exitCode).toBe(1);
    const errors = annotations(run.stdout);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toContain('migrations');
    expect(errors[0]).toContain('db/migrate/*.sql');
    expect(run.outputs.valid).toBe('false');
    expect(run.outputs.violations).toBe('[]');
    expect(`${run.stdout}${run.stderr}`).not.toMatch(STACK_FRAME);
  });

  it('an unknown rule in rules ⇒ one error naming rules', async () => {
    const run = await lint(
      { 'migrations/V1__create_accounts.sql': CREATE_ACCOUNTS },
      { rules: 'ban-drop-colum: warning' },
    );
    expect(run.exitCode).toBe(1);
    const errors = annotations(run.stdout);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toContain('rules');
    expect(errors[0]).toContain('ban-drop-colum');
    expect(`${run.stdout}${run.stderr}`).not.toMatch(STACK_FRAME);
  });

  it('the same copy without its .wasm fails: nothing else supplies the parser', async () => {
    const bare = join(root, 'without-wasm', 'dist');
    cpSync(dist, bare, { recursive: true });
    rmSync(join(bare, 'libpg-query.wasm'));
    const run = await lint({ 'migrations/V1__create_accounts.sql': CREATE_ACCOUNTS }, {}, bare);
    expect(run.exitCode).toBe(1);
    expect(run.outputs.valid).toBe('false');
    expect(annotations(run.stdout).join('\n')).toContain('libpg-query.wasm');
  });
});
