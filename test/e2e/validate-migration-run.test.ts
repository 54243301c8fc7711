// validate-migration run and rehearse from the bundle, as the runner runs them, against a real
// PostgreSQL with pg_stat_statements preloaded. An "old app" runs its queries; a migration renaming
// a column it reads fails the rehearsal naming that query; an expand-only one passes; the live
// database is unchanged by rehearsals (checksums) and no scratch database is left. run applies,
// and a failing file is one ::error file=,line= with the database restored.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { snapshotPostgres } from '../../actions/core/src/migrations/snapshot/postgres.js';
import { runLikeTheRunner, workflowCommands } from '../../scripts/run-action.js';
import { startPostgres, type RunningPostgres } from '../../scripts/servers/index.js';

const PASSWORD = 'e2e-Rehe@rse-pw';
const SUPERUSER_PASSWORD = 'e2e-Sup3r-pw';
let postgres: RunningPostgres;
let workspace: string;

async function sql<R extends object = Record<string, unknown>>(
  text: string,
  values?: unknown[],
  url = postgres.url,
): Promise<R[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<R>(text, values)).rows;
  } finally {
    await client.end();
  }
}

/** The application as deployed (blue): its queries, with parameters, as a driver sends them. */
async function oldApp(): Promise<void> {
  const client = new pg.Client({ connectionString: postgres.url });
  await client.connect();
  try {
    for (let i = 1; i <= 25; i++) {
      await client.query('SELECT id, email FROM users WHERE id = $1', [i]);
      await client.query('SELECT count(*) FROM orders WHERE user_id = $1 AND total > $2', [i, 10]);
    }
    for (let i = 1; i <= 5; i++) await client.query('UPDATE users SET name = $1 WHERE id = $2', [`n${i}`, i]);
  } finally {
    await client.end();
  }
}

function migrations(dir: string, files: Record<string, string>): string {
  rmSync(join(workspace, dir), { recursive: true, force: true });
  mkdirSync(join(workspace, dir), { recursive: true });
  for (const [name, text] of Object.entries(files)) writeFileSync(join(workspace, dir, name), text);
  return `${dir}/*.sql`;
}

const action = (inputs: Record<string, string>) =>
  runLikeTheRunner('validate-migration', inputs, { GITHUB_ACTIONS: 'true' }, { cwd: workspace });

async function liveState() {
  const snapshot = await snapshotPostgres(postgres.url);
  return snapshot.tables.map((t) => `${t.name} ${t.rows} ${t.checksum} ${t.schemaDigest}`);
}

const scratchDatabases = () =>
  sql<{ name: string }>(
    `SELECT datname AS name FROM pg_database WHERE datname LIKE 'switchyard_rehearsal_%'`,
  );

beforeAll(async () => {
  postgres = await startPostgres({
    password: PASSWORD,
    createDb: true,
    superuserPassword: SUPERUSER_PASSWORD,
    settings: { shared_preload_libraries: 'pg_stat_statements' },
    extensions: ['pg_stat_statements'],
  });
  workspace = mkdtempSync(join(tmpdir(), 'switchyard-rehearse-e2e-'));
  await sql(`
    CREATE TABLE users (id bigint PRIMARY KEY, email text NOT NULL, name text);
    INSERT INTO users SELECT g, 'u' || g || '@example.com', 'user ' || g FROM generate_series(1, 500) g;
    CREATE TABLE orders (id bigint PRIMARY KEY, user_id bigint REFERENCES users, total numeric NOT NULL);
    INSERT INTO orders SELECT g, 1 + g % 500, g * 2.5 FROM generate_series(1, 3000) g;`);
  await oldApp();
}, 120_000);

afterAll(async () => {
  await postgres?.stop();
  if (workspace) rmSync(workspace, { recursive: true, force: true });
});

describe('validate-migration rehearse (bundle, real PostgreSQL with pg_stat_statements)', () => {
  it('fails a migration that renames a column the old code reads, naming the query; the live database is untouched', async () => {
    const before = await liveState();
    const backup = await runLikeTheRunner(
      'backup',
      { sources: postgres.url, store: 'local:backups' },
      { GITHUB_ACTIONS: 'true' },
      { cwd: workspace },
    );
    expect(backup.exitCode).toBe(0);
    const glob = migrations('rename', {
      'V1__rename.sql': '-- switchyard: contract\nALTER TABLE users RENAME COLUMN email TO email_address;\n',
    });
    // The application's role, which may create databases but not pg_stat_statements: the copy
    // leaves that extension out.
    const result = await action({
      command: 'rehearse',
      'database-url': postgres.url,
      migrations: glob,
      store: 'local:backups',
    });
    expect(result.exitCode).toBe(1);
    expect(result.outputs.valid).toBe('false');
    const violations = JSON.parse(result.outputs.violations ?? '[]') as {
      query: string;
      calls: number;
      error: string;
    }[];
    expect(violations).toEqual([
      expect.objectContaining({
        query: 'SELECT id, email FROM users WHERE id = $1',
        calls: 25,
        error: 'column "email" does not exist',
        source: 'pg_stat_statements',
      }),
    ]);
    const errors = workflowCommands(result.stdout, 'error');
    expect(
      errors.some((each) =>
        /SELECT id, email FROM users WHERE id = \$1.*\(25 calls\).*column "email" does not exist/.test(
          each.message,
        ),
      ),
    ).toBe(true);
    expect(result.summary).toContain('would fail');
    expect(result.stdout).not.toContain(PASSWORD);
    expect(result.stdout).not.toContain(SUPERUSER_PASSWORD);
    expect(await liveState()).toEqual(before);
    expect(await scratchDatabases()).toEqual([]);
  }, 180_000);

  it('passes an expand-only migration, from a schema-only copy made with the app role', async () => {
    const before = await liveState();
    const glob = migrations('expand', {
      'V1__phone.sql':
        'ALTER TABLE users ADD COLUMN phone text;\nCREATE INDEX CONCURRENTLY orders_user ON orders (user_id);\n',
    });
    const result = await action({
      command: 'rehearse',
      'database-url': postgres.url,
      migrations: glob,
      'schema-only': 'true',
    });
    expect(workflowCommands(result.stdout, 'error')).toEqual([]);
    expect(result.exitCode).toBe(0);
    expect(result.outputs.valid).toBe('true');
    expect(result.outputs.violations).toBe('[]');
    expect(result.stdout).toMatch(/[1-9]\d* statements of [1-9]\d* still prepare after the migration/);
    expect(result.stdout).toContain('V1__phone.sql applied');
    expect(await liveState()).toEqual(before);
    expect(await sql(`SELECT 1 FROM information_schema.columns WHERE column_name = 'phone'`)).toEqual([]);
    expect(await scratchDatabases()).toEqual([]);
  }, 180_000);

  it('without pg_stat_statements in the database, says how to install it and rehearses the queries-file alone', async () => {
    await sql('CREATE DATABASE plain', [], postgres.superuserUrl);
    const plainUrl = postgres.superuserUrl!.replace(/\/postgres$/, '/plain');
    await sql('CREATE TABLE items (id int PRIMARY KEY, label text)', [], plainUrl);
    writeFileSync(
      join(workspace, 'app-queries.sql'),
      'SELECT label FROM items WHERE id = $1;\n\nINSERT INTO items (id, label) VALUES ($1, $2);\n',
    );
    const glob = migrations('drop', { 'V1__drop.sql': 'ALTER TABLE items DROP COLUMN label;\n' });
    const result = await action({
      command: 'rehearse',
      'database-url': plainUrl,
      store: 'local:none',
      migrations: glob,
      'schema-only': 'true',
      'queries-file': 'app-queries.sql',
    });
    const warnings = workflowCommands(result.stdout, 'warning')
      .map((each) => each.message)
      .join('\n');
    // Preloaded on this server, not created in this database: the one step left is named.
    expect(warnings).toContain('pg_stat_statements is loaded but not installed in this database');
    expect(warnings).toContain('CREATE EXTENSION pg_stat_statements');
    expect(result.exitCode).toBe(1);
    const violations = JSON.parse(result.outputs.violations ?? '[]') as { line: number }[];
    expect(violations.map((each) => each.line)).toEqual([1, 3]);
    const errors = workflowCommands(result.stdout, 'error');
    expect(errors.map((each) => [each.file, each.line])).toEqual([
      ['app-queries.sql', '1'],
      ['app-queries.sql', '3'],
    ]);
  }, 180_000);
});

describe('validate-migration rehearse on a stale backup', () => {
  it('refuses to judge a backup older than the live schema, and says how to get a current one', async () => {
    const applied = await action({
      command: 'run',
      'database-url': postgres.url,
      migrations: migrations('since', { 'V1__since.sql': 'ALTER TABLE orders ADD COLUMN coupon text;\n' }),
      backup: 'false',
    });
    expect(applied.exitCode).toBe(0);
    const result = await action({
      command: 'rehearse',
      'database-url': postgres.url,
      'scratch-url': postgres.superuserUrl ?? '',
      migrations: migrations('since-more', {
        'V1__since.sql': 'ALTER TABLE orders ADD COLUMN coupon text;\n',
        'V2__more.sql': 'ALTER TABLE orders ADD COLUMN discount numeric;\n',
      }),
      store: 'local:backups',
    });
    expect(result.exitCode).toBe(1);
    expect(result.outputs.valid).toBe('false');
    const errors = workflowCommands(result.stdout, 'error').map((each) => each.message);
    expect(errors).toEqual([
      expect.stringMatching(
        /^backup \S+ is not the live database as it is now: 1 migration applied since it was taken \(since\/V1__since\.sql\).*use schema-only: true$/,
      ),
    ]);
    expect(await scratchDatabases()).toEqual([]);
  }, 180_000);
});

describe('validate-migration run (bundle, real PostgreSQL)', () => {
  it('applies the pending files, then restores the database when a later file fails, with the error at its line', async () => {
    await sql('CREATE DATABASE shop_run', [], postgres.superuserUrl);
    const url = postgres.url.replace(/\/[^/]+$/, '/shop_run');
    await sql(
      `GRANT ALL ON DATABASE shop_run TO switchyard; ALTER DATABASE shop_run OWNER TO switchyard`,
      [],
      postgres.superuserUrl,
    );
    await sql(
      `CREATE TABLE items (id int PRIMARY KEY, label text); INSERT INTO items SELECT g, 'i' || g FROM generate_series(1, 100) g`,
      [],
      url,
    );
    const good = migrations('run-good', { 'V1__price.sql': 'ALTER TABLE items ADD COLUMN price numeric;\n' });
    const applied = await action({
      command: 'run',
      'database-url': url,
      migrations: good,
      store: 'local:run-backups',
    });
    expect(workflowCommands(applied.stdout, 'error')).toEqual([]);
    expect(applied.exitCode).toBe(0);
    expect(JSON.parse(applied.outputs.applied ?? '[]')).toEqual([
      expect.objectContaining({ file: 'run-good/V1__price.sql', phase: 'expand' }),
    ]);
    expect(applied.outputs['backup-id']).toMatch(/\S/);
    expect(applied.summary).toContain('validate-migration run: ✅ 1 file applied');

    const before = (await snapshotPostgres(url)).tables;
    const bad = migrations('run-good', {
      'V1__price.sql': 'ALTER TABLE items ADD COLUMN price numeric;\n',
      'V2__stock.sql':
        'CREATE TABLE stock (item int REFERENCES items, n int);\nINSERT INTO stock SELECT id, 1 FROM items;\n',
      'V3__broken.sql':
        'UPDATE items SET price = 1;\nALTER TABLE items\n  ALTER COLUMN label TYPE int USING label::int;\n',
    });
    const failed = await action({
      command: 'run',
      'database-url': url,
      migrations: bad,
      store: 'local:run-backups',
    });
    expect(failed.exitCode).toBe(1);
    const errors = workflowCommands(failed.stdout, 'error');
    expect(errors).toEqual([
      expect.objectContaining({ file: 'run-good/V3__broken.sql', line: '2', title: 'migration failed' }),
    ]);
    expect(errors[0]?.message).toContain('invalid input syntax for type integer');
    expect(failed.outputs.applied).toBe('[]');
    expect(failed.outputs.valid).toBe('false');
    expect(failed.stdout).toContain("tables' checksums equal those before the run");
    expect(failed.summary).toContain('database restored');
    expect((await snapshotPostgres(url)).tables).toEqual(before);
    expect(await sql(`SELECT to_regclass('public.stock') AS t`, [], url)).toEqual([{ t: null }]);
    expect(failed.stdout).not.toContain(PASSWORD);
  }, 180_000);
});
