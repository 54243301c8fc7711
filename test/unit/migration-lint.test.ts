import { afterEach, describe, expect, it } from '@jest/globals';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import Ajv04 from 'ajv-draft-04';
import addFormats from 'ajv-formats';
import { readActionInputs } from '../../actions/core/src/action-inputs.js';
import { memoryIO } from '../../actions/core/src/io.js';
import { validateMigrationInputs } from '../../actions/core/src/migrations/inputs.js';
import { LintRun, type LintResult } from '../../actions/core/src/migrations/lint.js';
import { parseMigration } from '../../actions/core/src/migrations/parser.js';
import { systemRunner } from '../../actions/core/src/process.js';
import { git } from '../support/git-repos.js';

let workspace: string;
afterEach(() => {
  if (workspace) rmSync(workspace, { recursive: true, force: true });
});

/** A workspace with these migration files (paths relative to it). */
function files(contents: Record<string, string>): string {
  workspace = mkdtempSync(join(tmpdir(), 'switchyard-lint-'));
  for (const [path, text] of Object.entries(contents)) {
    mkdirSync(dirname(join(workspace, path)), { recursive: true });
    writeFileSync(join(workspace, path), text);
  }
  return workspace;
}

async function lint(
  raw: Record<string, string> = {},
  cwd = workspace,
  env: Record<string, string> = {},
): Promise<LintResult> {
  const { io } = memoryIO({ inputs: raw, env: { RUNNER_TEMP: join(cwd, '.runner'), ...env } });
  const inputs = readActionInputs(io, 'validate-migration', validateMigrationInputs);
  return new LintRun(inputs, { io, runner: systemRunner, cwd }).execute();
}

const rulesOf = (result: LintResult) => result.violations.map((v) => `${v.file}:${v.line} ${v.rule}`);

describe('where a violation is', () => {
  it('counts lines and columns in characters after multibyte text and CRLF line ends', async () => {
    files({
      'migrations/001.sql':
        '-- Überprüfung der Spalten — ünïcödé 🚀\r\nSELECT 1;\r\n  /* ½ */ ALTER TABLE orders DROP COLUMN total;\r\n',
    });
    const [violation] = (await lint()).violations.filter((v) => v.rule === 'ban-drop-column');
    expect(violation).toMatchObject({ file: 'migrations/001.sql', line: 3, endLine: 3 });
    // "  /* ½ */ " is 10 characters (½ is two bytes): the statement starts at column 11.
    expect(violation?.column).toBeGreaterThanOrEqual(11);
    expect(violation?.endColumn).toBeLessThanOrEqual('  /* ½ */ ALTER TABLE orders DROP COLUMN total'.length);
    expect(violation?.statement).toBe('ALTER TABLE orders DROP COLUMN total');
  });

  it('puts a syntax error where PostgreSQL stopped, after multibyte text, and checks nothing else in that file', async () => {
    const parsed = await parseMigration('-- ünï ½\nSELECT 1;\nSELEC ünï FROM t;\n');
    expect(parsed.syntaxError).toMatchObject({ at: { line: 3, column: 1 } });
    files({ 'migrations/001.sql': '-- ünï\nALTER TABLE t DROP COLUMN c;\nSELEC 1;\n' });
    const result = await lint();
    expect(rulesOf(result)).toEqual(['migrations/001.sql:3 syntax-error']);
    expect(result.valid).toBe(false);
    expect(result.violations[0]?.message).toContain('syntax error at or near "SELEC"');
  });
});

describe('files, their order, and bad input', () => {
  it('checks files in migration order (numbers as numbers) and leaves down migrations out', async () => {
    files({
      'migrations/V10__late.sql': 'ALTER TABLE a DROP COLUMN x;',
      'migrations/V2__early.sql': 'ALTER TABLE a DROP COLUMN y;',
      'migrations/000003_z.down.sql': 'DROP TABLE z;',
      'migrations/U3__undo.sql': 'DROP TABLE z;',
    });
    const result = await lint();
    expect(result.files.map((f) => f.file)).toEqual(['migrations/V2__early.sql', 'migrations/V10__late.sql']);
    expect(result.skipped.map((s) => s.file).sort()).toEqual([
      'migrations/000003_z.down.sql',
      'migrations/U3__undo.sql',
    ]);
  });

  it.each([
    [{ migrations: 'db/*.sql' }, 'migrations', 'matches no migration file'],
    [{ migrations: '../elsewhere/*.sql' }, 'migrations', 'reaches outside the workspace'],
    [{ migrations: '/etc/*.sql' }, 'migrations', 'is an absolute path'],
    [{ rules: 'ban-drop-colum: warning' }, 'rules', 'did you mean ban-drop-column?'],
    [{ rules: 'ban-drop-column: loud' }, 'rules', 'is not error, warning or off'],
    [{ ignore: 'no-such-rule' }, 'ignore', 'is not a rule'],
    [{ 'pg-version': '8' }, 'pg-version', 'must be 9 to 18'],
  ])('refuses %j, naming %s', async (raw, input, message) => {
    files({ 'migrations/001.sql': 'SELECT 1;' });
    const error = await lint(raw).catch((e: unknown) => e as Error);
    expect(error).toBeInstanceOf(Error);
    expect((error as Error).message).toContain(input);
    expect((error as Error).message).toContain(message);
  });

  it('refuses a file that a link takes outside the workspace', async () => {
    const outside = mkdtempSync(join(tmpdir(), 'switchyard-outside-'));
    try {
      writeFileSync(join(outside, 'secret.sql'), 'SELECT 1;');
      files({ 'migrations/001.sql': 'SELECT 1;' });
      symlinkSync(join(outside, 'secret.sql'), join(workspace, 'migrations', '002.sql'));
      await expect(lint()).rejects.toThrow('outside the workspace');
    } finally {
      rmSync(outside, { recursive: true, force: true });
    }
  });
});

describe('ignore comments', () => {
  it('silence a rule on the next statement only with a reason, and report an ignore that silences nothing', async () => {
    files({
      'migrations/001.sql': [
        '-- switchyard-ignore ban-drop-column: never read since v3 (PR #812)',
        'ALTER TABLE a DROP COLUMN x;',
        '-- switchyard-ignore ban-drop-column',
        'ALTER TABLE a DROP COLUMN y;',
        '-- switchyard-ignore ban-drop-table: stale',
        'SELECT 1;',
        '-- switchyard-ignore no-such-rule: typo',
        'SELECT 2;',
      ].join('\n'),
    });
    const result = await lint({ ignore: 'require-lock-timeout' });
    expect(rulesOf(result)).toEqual([
      'migrations/001.sql:3 ignore-without-reason',
      'migrations/001.sql:4 ban-drop-column',
      'migrations/001.sql:5 unused-ignore',
      'migrations/001.sql:7 unused-ignore',
    ]);
    expect(result.files[0]?.suppressed).toEqual([
      { rule: 'ban-drop-column', line: 2, reason: 'never read since v3 (PR #812)' },
    ]);
  });

  it('honour file-level ignores and squawk’s own comments', async () => {
    files({
      'migrations/001.sql': [
        '-- switchyard-ignore-file require-lock-timeout',
        '-- squawk-ignore ban-drop-column',
        'ALTER TABLE a DROP COLUMN x;',
        'ALTER TABLE a DROP COLUMN y;',
      ].join('\n'),
    });
    expect(rulesOf(await lint())).toEqual(['migrations/001.sql:4 ban-drop-column']);
  });
});

describe('phases', () => {
  it('allows breaking statements in a contract-phase file, and reports the phase', async () => {
    files({
      'migrations/001.sql': "SET lock_timeout = '2s';\nALTER TABLE a ADD COLUMN b int;",
      'migrations/002.sql':
        "-- switchyard: contract\nSET lock_timeout = '2s';\nALTER TABLE a DROP COLUMN legacy;",
    });
    const result = await lint();
    expect(result.violations).toEqual([]);
    expect(result.valid).toBe(true);
    expect(result.phase).toBe('contract');
    expect(result.files.map((f) => f.phase)).toEqual(['expand', 'contract']);
    expect(result.files[1]?.contract).toEqual([
      { line: 3, rules: ['ban-drop-column'], statement: 'ALTER TABLE a DROP COLUMN legacy' },
    ]);
  });

  it('refuses a contract-phase file that also expands the schema, and breaking statements anywhere else', async () => {
    files({
      'migrations/001.sql':
        "-- switchyard: contract\nSET lock_timeout = '2s';\nALTER TABLE a DROP COLUMN old;\nCREATE TABLE b (id bigint);",
      'migrations/002.sql': "SET lock_timeout = '2s';\nALTER TABLE a RENAME COLUMN x TO y;",
    });
    const result = await lint();
    expect(rulesOf(result)).toEqual([
      'migrations/001.sql:4 mixed-phases',
      'migrations/002.sql:2 renaming-column',
    ]);
    expect(result.violations.every((v) => v.severity === 'error')).toBe(true);
  });

  it('says none when the files change nothing', async () => {
    files({ 'migrations/001.sql': "SET lock_timeout = '1s';\nSELECT 1;" });
    expect((await lint()).phase).toBe('none');
  });
});

describe('rule settings', () => {
  it('lowers, turns off and keeps severities as configured', async () => {
    files({ 'migrations/001.sql': 'ALTER TABLE a DROP COLUMN x;\nCREATE INDEX i ON a (b);' });
    const result = await lint({
      rules: 'ban-drop-column: warning\nrequire-concurrent-index-creation: off',
      ignore: 'require-lock-timeout',
    });
    expect(result.violations.map((v) => [v.rule, v.severity])).toEqual([['ban-drop-column', 'warning']]);
    expect(result.valid).toBe(true);
  });
});

describe('baseline', () => {
  it('checks only what changed since the baseline, and refuses a new file that sorts before an old one', async () => {
    files({
      'db/migrations/001_old.sql': 'ALTER TABLE a DROP COLUMN x;',
      'db/migrations/005_old.sql': 'SELECT 1;',
    });
    git(workspace, 'init', '-q', '--initial-branch=main');
    git(workspace, 'add', '.');
    git(workspace, 'commit', '-q', '-m', 'the migrations so far');
    writeFileSync(join(workspace, 'db/migrations/003_new.sql'), 'SELECT 3;');
    writeFileSync(join(workspace, 'db/migrations/006_new.sql'), 'SELECT 6;');
    // The repository's top is above the workspace: paths must still line up.
    const result = await lint({ migrations: 'migrations/*.sql', baseline: 'main' }, join(workspace, 'db'));
    expect(result.files.map((f) => f.file)).toEqual(['migrations/003_new.sql', 'migrations/006_new.sql']);
    expect(rulesOf(result)).toEqual(['migrations/003_new.sql:1 migration-order']);
    expect(result.violations[0]?.message).toContain('sorts before migrations/005_old.sql');
    expect(result.skipped.map((s) => s.why)).toEqual(['unchanged since main', 'unchanged since main']);
  });

  it('names baseline when the ref is not in the checkout', async () => {
    files({ 'migrations/001.sql': 'SELECT 1;' });
    git(workspace, 'init', '-q', '--initial-branch=main');
    await expect(lint({ baseline: 'origin/main' })).rejects.toThrow(
      '"origin/main" is not a commit of the checkout',
    );
  });
});

describe('SARIF', () => {
  it('writes a log valid against the SARIF 2.1.0 schema, with every violation at its place', async () => {
    files({ 'migrations/001.sql': 'ALTER TABLE a DROP COLUMN x;\nCREATE INDEX i ON a (b);\nSELEC;' });
    files({
      'migrations/001.sql': 'ALTER TABLE a DROP COLUMN x;\nCREATE INDEX i ON a (b);',
      'migrations/002.sql': 'SELEC;',
    });
    const result = await lint();
    const log = JSON.parse(readFileSync(result.sarif, 'utf8')) as {
      runs: {
        results: { ruleId: string; locations: { physicalLocation: { region: { startLine: number } } }[] }[];
      }[];
    };
    const schema = createRequire(import.meta.url)(
      '@microsoft/jest-sarif/lib/schemas/sarif-2.1.0-rtm.5.json',
    ) as object;
    // SARIF's schema is draft-04, with a pattern only a non-unicode RegExp reads.
    const ajv = new Ajv04.default({ strict: false, unicodeRegExp: false });
    addFormats.default(ajv);
    const validate = ajv.compile(schema);
    expect(validate(log) ? [] : validate.errors).toEqual([]);
    expect(
      log.runs[0]?.results.map((r) => [r.ruleId, r.locations[0]?.physicalLocation.region.startLine]),
    ).toEqual(result.violations.map((v) => [v.rule, v.line]));
    expect(result.violations.length).toBeGreaterThanOrEqual(3);
  });
});

describe('squawk: true', () => {
  const withSquawk = { PATH: `${join(process.cwd(), 'node_modules/.bin')}:${process.env.PATH ?? ''}` };

  it('merges squawk’s findings, each statement and rule once', async () => {
    files({ 'migrations/001.sql': 'CREATE INDEX i ON a (b);' });
    const result = await lint({ squawk: 'true' }, workspace, withSquawk);
    const index = result.violations.filter((v) => v.rule === 'require-concurrent-index-creation');
    expect(index.map((v) => v.source)).toEqual(['switchyard']);
    // squawk's own rule, which we do not have, comes through at its place.
    expect(result.violations).toContainEqual(
      expect.objectContaining({
        rule: 'prefer-robust-stmts',
        source: 'squawk',
        line: 1,
        severity: 'warning',
      }),
    );
    expect(result.squawk).toMatchObject({ version: expect.stringMatching(/^\d+\.\d+/) });
  });

  it('goes on without squawk when it is not installed, saying so', async () => {
    files({ 'migrations/001.sql': 'SELECT 1;' });
    const result = await lint({ squawk: 'true' }, workspace, { PATH: '/nonexistent' });
    expect(result.squawk?.missing).toContain('squawk is not on PATH');
    expect(result.valid).toBe(true);
  });
});

describe('what a black-box review found (each failed before its fix)', () => {
  const lockSet = "SET lock_timeout = '2s';\n";

  it('an ignore comment inside a function body or a statement silences nothing', async () => {
    files({
      'migrations/001.sql':
        lockSet +
        'CREATE OR REPLACE FUNCTION f() RETURNS void AS $$\n-- switchyard-ignore ban-drop-column: inside a body\nSELECT 1;\n$$ LANGUAGE sql;\n' +
        'ALTER TABLE orders DROP COLUMN b;\n',
    });
    expect(rulesOf(await lint())).toEqual(['migrations/001.sql:6 ban-drop-column']);
  });

  it('a table created IF NOT EXISTS may be the live one: what follows on it is checked', async () => {
    files({
      'migrations/001.sql':
        lockSet +
        'CREATE TABLE IF NOT EXISTS orders (id bigint PRIMARY KEY);\nALTER TABLE orders DROP COLUMN total;\n',
    });
    expect(rulesOf(await lint())).toEqual(['migrations/001.sql:3 ban-drop-column']);
  });

  it('leaves out only real down migrations: V12__tear_down.sql is an up migration', async () => {
    files({
      'migrations/V12__legacy_tear_down.sql': 'DROP TABLE legacy_orders;',
      'migrations/000002_x.down.sql': 'DROP TABLE x;',
      'migrations/2024-01-01_x/down.sql': 'DROP TABLE x;',
    });
    const result = await lint({ migrations: 'migrations/**/*.sql' });
    expect(result.files.map((f) => f.file)).toEqual(['migrations/V12__legacy_tear_down.sql']);
    expect(result.skipped).toHaveLength(2);
  });

  it('SET LOCAL lock_timeout outside a transaction sets nothing', async () => {
    files({
      'migrations/001.sql': "SET LOCAL lock_timeout = '2s';\nALTER TABLE orders ADD COLUMN note text;\n",
    });
    expect(rulesOf(await lint())).toContain('migrations/001.sql:2 require-lock-timeout');
  });

  it('a contract statement that also adds is mixed-phases; the marker may follow other header comments', async () => {
    files({
      'migrations/001.sql':
        '-- Migration: drop legacy\n-- switchyard: contract\n' +
        lockSet +
        'ALTER TABLE orders DROP COLUMN legacy_total, ADD COLUMN x int;\n',
    });
    const result = await lint();
    expect(result.phase).toBe('contract');
    expect(rulesOf(result)).toEqual(['migrations/001.sql:4 mixed-phases']);
  });

  it('an empty file is no syntax error; a BOM is no SQL; a latin-1 byte is named', async () => {
    files({
      'migrations/001.sql': '',
      'migrations/002.sql': `\uFEFF${lockSet}ALTER TABLE orders ADD COLUMN note text;`,
      'migrations/003.sql': Buffer.from([
        0x53, 0x45, 0x4c, 0x45, 0x43, 0x54, 0x20, 0x27, 0xe9, 0x27, 0x3b,
      ]).toString('latin1'),
    });
    writeFileSync(join(workspace, 'migrations/003.sql'), Buffer.from("SELECT 'caf\xe9';", 'latin1'));
    const result = await lint();
    expect(rulesOf(result)).toEqual(['migrations/003.sql:1 syntax-error']);
    expect(result.violations[0]?.message).toContain('is not UTF-8 (byte 0xe9 at line 1)');
    expect(result.files.map((f) => f.phase)).toEqual(['none', 'expand', 'none']);
  });

  it('a file that only changes data leaves the phase none', async () => {
    files({
      'migrations/001.sql':
        "INSERT INTO plans VALUES (1, 'pro');\nUPDATE plans SET name = 'Pro' WHERE id = 1;\n",
    });
    expect((await lint()).phase).toBe('none');
  });

  it('ignores silence the engine’s own findings too, and a partly unused one is reported', async () => {
    files({
      'migrations/001.sql':
        '-- switchyard: contract\n' +
        lockSet +
        '-- switchyard-ignore mixed-phases, ban-drop-table: the new table replaces the dropped one\nCREATE TABLE orders_v2 (id bigint);\n' +
        '-- switchyard-ignore ban-drop-column:\nSELECT 1;\n',
    });
    expect(rulesOf(await lint())).toEqual([
      'migrations/001.sql:3 unused-ignore',
      'migrations/001.sql:5 ignore-without-reason',
    ]);
  });

  it('orders new files per folder, and never Flyway’s repeatable ones', async () => {
    files({
      'a/migrations/V10__x.sql': 'SELECT 1;',
      'b/migrations/V1__x.sql': 'SELECT 1;',
      'b/migrations/R__views.sql': 'SELECT 1;',
    });
    git(workspace, 'init', '-q', '--initial-branch=main');
    git(workspace, 'add', '.');
    git(workspace, 'commit', '-q', '-m', 'services');
    writeFileSync(join(workspace, 'b/migrations/V2__y.sql'), 'SELECT 2;');
    writeFileSync(join(workspace, 'b/migrations/R__views.sql'), 'SELECT 3;');
    const result = await lint({ migrations: '*/migrations/*.sql', baseline: 'HEAD~0' });
    expect(result.files.map((f) => f.file).sort()).toEqual([
      'b/migrations/R__views.sql',
      'b/migrations/V2__y.sql',
    ]);
    expect(result.violations).toEqual([]);
  });

  it('explains a folder given as migrations, and a baseline outside git', async () => {
    files({ 'db/flyway/V1__x.sql': 'SELECT 1;' });
    await expect(lint({ migrations: 'db/flyway' })).rejects.toThrow(
      'give a glob of the files in it, e.g. db/flyway/*.sql',
    );
    await expect(lint({ migrations: 'db/flyway/*.sql', baseline: 'HEAD~1' })).rejects.toThrow(
      'needs a git checkout',
    );
  });

  it('percent-encodes file names in SARIF, and ends a statement before the comments after it', async () => {
    files({ 'migrations/2024 q1/V1__café #1.sql': 'ALTER TABLE orders DROP COLUMN x\n-- end of file\n' });
    const result = await lint({ migrations: 'migrations/**/*.sql', ignore: 'require-lock-timeout' });
    expect(result.violations.map((v) => [v.line, v.endLine])).toEqual([[1, 1]]);
    const log = JSON.parse(readFileSync(result.sarif, 'utf8')) as {
      runs: { results: { locations: { physicalLocation: { artifactLocation: { uri: string } } }[] }[] }[];
    };
    expect(log.runs[0]?.results[0]?.locations[0]?.physicalLocation.artifactLocation.uri).toBe(
      'migrations/2024%20q1/V1__caf%C3%A9%20%231.sql',
    );
  });
});
