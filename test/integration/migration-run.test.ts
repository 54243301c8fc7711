// validate-migration run against a real PostgreSQL: files applied once each, in their own
// transaction, recorded in switchyard_migrations; drift refused; CREATE INDEX CONCURRENTLY run
// outside the transaction; a failure after earlier files committed restored from the run's backup,
// proven by pg_dump --schema-only and every table's checksum taken here, independently.
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import pg from 'pg';
import { runAction } from '../../actions/core/src/action.js';
import { memoryIO } from '../../actions/core/src/io.js';
import { fingerprint, fingerprintDifferences } from '../../actions/core/src/migrations/run/fingerprint.js';
import { systemRunner } from '../../actions/core/src/process.js';
import { snapshotPostgres } from '../../actions/core/src/migrations/snapshot/postgres.js';
import { validateMigrationAction } from '../../actions/validate-migration/src/main.js';
import { startPostgres, type RunningPostgres } from '../../scripts/servers/index.js';
import { postgresProgram } from '../../bench/postgres-programs.js';

const PASSWORD = 'run-M1gr@te-pw';
let postgres: RunningPostgres;
let workspace: string;
let databaseUrl: string;
let dbCounter = 0;

async function sql<R extends object = Record<string, unknown>>(
  text: string,
  url = databaseUrl,
): Promise<R[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const result = await client.query<R>(text);
    return (Array.isArray(result) ? (result.at(-1) as pg.QueryResult<R>) : result).rows;
  } finally {
    await client.end();
  }
}

/** A fresh database of orders and users for each test. */
async function freshDatabase(): Promise<void> {
  const name = `run_${++dbCounter}`;
  await sql(`CREATE DATABASE ${name}`, postgres.url);
  databaseUrl = postgres.url.replace(/\/[^/]+$/, `/${name}`);
  // As on most self-hosted servers: the application's role owns the tables, a superuser installed
  // pg_stat_statements (which the role may neither create nor drop).
  await sql(
    'CREATE EXTENSION pg_stat_statements',
    databaseUrl.replace(/\/\/[^@]+@/, `//postgres:run-su-pw@`),
  );
  await sql(`
    CREATE TABLE orders (id bigint PRIMARY KEY, total numeric NOT NULL, note text);
    INSERT INTO orders SELECT g, g * 1.5, 'n' || g FROM generate_series(1, 2000) g;
    CREATE TABLE users (id serial PRIMARY KEY, email text);
    INSERT INTO users (email) SELECT 'u' || g || '@example.com' FROM generate_series(1, 300) g;
    GRANT SELECT ON orders TO PUBLIC;`);
}

function migrations(files: Record<string, string>): void {
  rmSync(path.join(workspace, 'migrations'), { recursive: true, force: true });
  mkdirSync(path.join(workspace, 'migrations'), { recursive: true });
  for (const [name, text] of Object.entries(files))
    writeFileSync(path.join(workspace, 'migrations', name), text);
}

async function run(
  inputs: Record<string, string> = {},
  options: { echo?: (line: string) => void; signal?: AbortSignal } = {},
) {
  const { io, recorded } = memoryIO({
    inputs: { command: 'run', 'database-url': databaseUrl, migrations: 'migrations/*.sql', ...inputs },
    echo: options.echo,
  });
  const outcome = await runAction(validateMigrationAction, io, {
    cwd: workspace,
    ...(options.signal ? { cancellation: { signal: options.signal, dispose: () => undefined } } : {}),
  });
  return { ...recorded, result: outcome.result as Extract<typeof outcome.result, { command: 'run' }> };
}

/** The database as it is: the normalised schema dump and each table's rows and checksum. */
async function state(): Promise<{ schema: string; tables: Record<string, string> }> {
  const dump = spawnSync(postgresProgram('pg_dump'), ['--schema-only', '-d', databaseUrl], {
    encoding: 'utf8',
  });
  expect(dump.status).toBe(0);
  const schema = dump.stdout
    .split('\n')
    .filter((line) => line && !line.startsWith('--') && !line.startsWith('\\') && !line.startsWith('SET '))
    .join('\n');
  const snapshot = await snapshotPostgres(databaseUrl);
  return {
    schema,
    tables: Object.fromEntries(snapshot.tables.map((t) => [t.name, `${t.rows} ${t.checksum}`])),
  };
}

beforeAll(async () => {
  postgres = await startPostgres({ password: PASSWORD, createDb: true, superuserPassword: 'run-su-pw' });
  workspace = mkdtempSync(path.join(tmpdir(), 'switchyard-run-'));
}, 120_000);

afterAll(async () => {
  await postgres?.stop();
  if (workspace) rmSync(workspace, { recursive: true, force: true });
});

beforeEach(freshDatabase);

const EXPAND = {
  'V1__phone.sql': 'ALTER TABLE users ADD COLUMN phone text;\n',
  'V2__index.sql':
    '-- a concurrent build cannot be in a transaction\nCREATE INDEX CONCURRENTLY users_phone ON users (phone);\n',
  'V3__audit.sql':
    'BEGIN;\nCREATE TABLE audit (id bigserial PRIMARY KEY, at timestamptz DEFAULT now());\nINSERT INTO audit DEFAULT VALUES;\nCOMMIT;\n',
};

describe('validate-migration run (real PostgreSQL)', () => {
  it('applies each pending file once, records it, runs CONCURRENTLY outside a transaction, and backs up first', async () => {
    migrations(EXPAND);
    const first = await run({ store: `local:${path.join(workspace, 'backups-1')}` });
    expect(first.errors).toEqual([]);
    expect(first.exitCode).toBe(0);
    expect(JSON.parse(first.outputs.applied ?? '[]').map((each: { file: string }) => each.file)).toEqual([
      'migrations/V1__phone.sql',
      'migrations/V2__index.sql',
      'migrations/V3__audit.sql',
    ]);
    expect(first.outputs.phase).toBe('expand');
    expect(first.outputs['backup-id']).toMatch(/\S/);
    expect(readdirSync(path.join(workspace, 'backups-1')).join(' ')).toContain(first.outputs['backup-id']);
    expect(first.log.join('\n')).toMatch(/line 2: CREATE INDEX CONCURRENTLY runs outside a transaction/);
    expect(first.log.join('\n')).toContain("the file's own BEGIN/COMMIT replaced");
    const index = await sql<{ valid: boolean }>(
      `SELECT indisvalid AS valid FROM pg_index WHERE indexrelid = 'users_phone'::regclass`,
    );
    expect(index).toEqual([{ valid: true }]);
    const tracked = await sql<{ file: string; sha256: string; backup_id: string }>(
      'SELECT file, sha256, backup_id FROM public.switchyard_migrations ORDER BY file',
    );
    expect(tracked.map((row) => row.file)).toEqual(Object.keys(EXPAND).map((name) => `migrations/${name}`));
    expect(
      tracked.every(
        (row) => /^[0-9a-f]{64}$/.test(row.sha256) && row.backup_id === first.outputs['backup-id'],
      ),
    ).toBe(true);

    const again = await run({ store: `local:${path.join(workspace, 'backups-1')}` });
    expect(again.exitCode).toBe(0);
    expect(again.outputs.applied).toBe('[]');
    expect(again.outputs['backup-id']).toBe('');
    expect(again.log.join('\n')).toContain('nothing to apply: the database is up to date');
  }, 120_000);

  it('refuses a changed applied file (drift), naming it, and applies nothing', async () => {
    migrations({ 'V1__phone.sql': EXPAND['V1__phone.sql'] });
    expect((await run({ backup: 'false' })).exitCode).toBe(0);
    migrations({
      'V1__phone.sql': 'ALTER TABLE users ADD COLUMN phone varchar(20);\n',
      'V2__more.sql': 'ALTER TABLE users ADD COLUMN city text;\n',
    });
    const drift = await run({ backup: 'false' });
    expect(drift.exitCode).toBe(1);
    expect(drift.errors).toHaveLength(1);
    expect(drift.errors[0]?.message).toMatch(
      /migrations\/V1__phone\.sql was applied on .* and has changed since/,
    );
    expect(drift.errors[0]?.where?.file).toBe('migrations/V1__phone.sql');
    const columns = await sql<{ name: string }>(
      `SELECT column_name AS name FROM information_schema.columns WHERE table_name = 'users' AND column_name = 'city'`,
    );
    expect(columns).toEqual([]);
  }, 60_000);

  it('restores the backup when a file fails after earlier ones committed: schema and checksums as before', async () => {
    const before = await state();
    migrations({
      ...EXPAND,
      'V4__type.sql':
        "CREATE TYPE status AS ENUM ('new', 'paid');\nALTER TABLE orders ADD COLUMN status status;\nUPDATE orders SET total = 0;\n",
      'V5__broken.sql':
        'ALTER TABLE orders\n  ADD COLUMN region text;\nUPDATE orders SET region = missing_column;\n',
    });
    const failed = await run({ store: `local:${path.join(workspace, 'backups-3')}` });
    expect(failed.exitCode).toBe(1);
    const failure = failed.errors.find((each) => each.where?.title === 'migration failed');
    expect(failure?.where).toMatchObject({ file: 'migrations/V5__broken.sql', line: 3 });
    expect(failure?.message).toContain('column "missing_column" does not exist');
    expect(failed.outputs.applied).toBe('[]');
    expect(failed.outputs.phase).toBe('none');
    expect(failed.log.join('\n')).toMatch(
      /restored: the schema and \d+ tables' checksums equal those before the run/,
    );
    expect(failed.result.restored).toMatchObject({ verified: true });
    expect(failed.result.undone).toHaveLength(4);
    expect(await state()).toEqual(before);
  }, 120_000);

  it('restores nothing when the first pending file fails inside its transaction', async () => {
    const before = await state();
    migrations({ 'V1__broken.sql': 'ALTER TABLE users ADD COLUMN phone text;\nSELECT 1/0;\n' });
    const failed = await run({ backup: 'false' });
    expect(failed.exitCode).toBe(1);
    expect(failed.errors[0]?.message).toMatch(/V1__broken\.sql:2: .*division by zero/);
    expect(failed.log.join('\n')).toContain('nothing was changed');
    expect(failed.result.restored).toBeUndefined();
    // Not even the tracking table: a first run creates it in its first file's transaction.
    expect(await state()).toEqual(before);
  }, 60_000);

  it('runs pre-checks before anything and post-checks after everything, restoring when a post-check fails', async () => {
    migrations({ 'V1__zero.sql': 'UPDATE orders SET total = -1 WHERE id = 7;\n' });
    const pre = await run({ 'pre-checks': 'SELECT 1 FROM orders WHERE id > 1999', backup: 'false' });
    expect(pre.exitCode).toBe(1);
    expect(pre.errors[0]?.message).toMatch(
      /pre-check "SELECT 1 FROM orders WHERE id > 1999" returned 1 row .*nothing was applied/,
    );
    expect(await sql('SELECT 1 FROM orders WHERE total < 0')).toEqual([]);

    const before = await state();
    const post = await run({
      'post-checks': 'SELECT id FROM orders WHERE total < 0;',
      store: `local:${path.join(workspace, 'backups-5')}`,
    });
    expect(post.exitCode).toBe(1);
    expect(post.errors[0]?.message).toContain(
      'post-check "SELECT id FROM orders WHERE total < 0" returned 1 row',
    );
    expect(post.result.restored).toMatchObject({ verified: true });
    expect((await state()).tables).toEqual(before.tables);
  }, 120_000);

  it('with backup: false, warns, and a failure after a commit says what was left and how to undo it', async () => {
    migrations({
      'V1__phone.sql': EXPAND['V1__phone.sql'],
      'V2__broken.sql': 'ALTER TABLE users ADD COLUMN phone text;\n',
    });
    const failed = await run({ backup: 'false' });
    expect(failed.exitCode).toBe(1);
    expect(failed.warnings.map((w) => w.message).join('\n')).toContain('backup: false');
    expect(failed.errors.map((e) => e.message).join('\n')).toContain(
      'the database is left as the failed run changed it: Applied and recorded in public.switchyard_migrations: migrations/V1__phone.sql.',
    );
    expect(JSON.parse(failed.outputs.applied ?? '[]')).toHaveLength(1);
  }, 60_000);

  it('refuses transaction control inside a file before anything runs, and sets lock_timeout in each transaction', async () => {
    migrations({
      'V1__ok.sql': 'ALTER TABLE users ADD COLUMN phone text;\n',
      'V2__commits.sql':
        'ALTER TABLE users ADD COLUMN a text;\nCOMMIT;\nALTER TABLE users ADD COLUMN b text;\n',
    });
    const refused = await run({ backup: 'false' });
    expect(refused.exitCode).toBe(1);
    expect(refused.errors[0]?.where).toMatchObject({ file: 'migrations/V2__commits.sql', line: 2 });
    expect(await sql(`SELECT 1 FROM information_schema.columns WHERE column_name = 'phone'`)).toEqual([]);

    migrations({ 'V1__lock.sql': 'ALTER TABLE orders ADD COLUMN flag boolean;\n' });
    const holder = new pg.Client({ connectionString: databaseUrl });
    await holder.connect();
    try {
      await holder.query('BEGIN; LOCK TABLE orders IN ACCESS SHARE MODE');
      const blocked = await run({ backup: 'false', 'lock-timeout': '300ms' });
      expect(blocked.exitCode).toBe(1);
      expect(blocked.errors[0]?.message).toMatch(/V1__lock\.sql:1: .*lock timeout/);
    } finally {
      await holder.end();
    }
  }, 60_000);

  it("the restore's fingerprint tells one changed value and a revoked grant from the database before", async () => {
    const client = new pg.Client({ connectionString: databaseUrl });
    await client.connect();
    try {
      const take = () => fingerprint(databaseUrl, client, systemRunner, process.env);
      const before = await take();
      expect(Object.keys(before.tables)).toEqual(['public.orders', 'public.users']);
      expect(fingerprintDifferences(before, await take())).toEqual([]);
      await client.query("UPDATE orders SET note = 'changed' WHERE id = 1500");
      expect(fingerprintDifferences(before, await take())).toEqual([
        expect.stringMatching(/^table public\.orders: 2000 rows \(checksum \S+\) before, 2000 \(\S+\) now$/),
      ]);
      await client.query("UPDATE orders SET note = 'n1500' WHERE id = 1500");
      expect(fingerprintDifferences(before, await take())).toEqual([]);
      await client.query('REVOKE SELECT ON orders FROM PUBLIC');
      expect(fingerprintDifferences(before, await take())).toEqual([
        expect.stringContaining('missing: GRANT SELECT ON TABLE public.orders TO PUBLIC;'),
      ]);
    } finally {
      await client.end();
    }
  }, 60_000);

  it('restores after a failed CREATE INDEX CONCURRENTLY: no INVALID index, no tracking table', async () => {
    const before = await state();
    migrations({ 'V1__unique.sql': 'CREATE UNIQUE INDEX CONCURRENTLY orders_total ON orders ((id % 2));\n' });
    const failed = await run({ store: `local:${path.join(workspace, 'backups-cic')}` });
    expect(failed.exitCode).toBe(1);
    expect(failed.log.join('\n')).toContain('outside a transaction: what it did stays until restored');
    expect(failed.result.restored).toMatchObject({ verified: true });
    expect(await sql(`SELECT 1 FROM pg_index WHERE NOT indisvalid`)).toEqual([]);
    expect(await state()).toEqual(before);
  }, 60_000);

  it("runs checks read only, and keeps one file's SET out of the next", async () => {
    migrations({
      'V1__path.sql': 'SET search_path = nowhere;\nSELECT 1;\n',
      'V2__table.sql': 'CREATE TABLE made_here (id int);\n',
    });
    const sneaky = await run({
      backup: 'false',
      'pre-checks': 'WITH d AS (DELETE FROM orders RETURNING 1) SELECT 1 WHERE false',
    });
    expect(sneaky.exitCode).toBe(1);
    expect(sneaky.errors[0]?.message).toMatch(/pre-check .* failed: .*read-only transaction/);
    expect(await sql<{ n: string }>('SELECT count(*) AS n FROM orders')).toEqual([{ n: '2000' }]);
    const applied = await run({ backup: 'false' });
    expect(applied.errors).toEqual([]);
    expect(await sql(`SELECT to_regclass('public.made_here') IS NOT NULL AS made`)).toEqual([{ made: true }]);
  }, 60_000);

  it('a restore that meets a held lock waits lock-timeout, tries again, and restores once the lock is gone', async () => {
    const before = await state();
    migrations({
      'V1__ok.sql': 'CREATE TABLE extra (id int);\n',
      'V2__blocked.sql': 'SELECT 1;\nALTER TABLE users\n  ADD COLUMN x int;\n',
    });
    const holder = new pg.Client({ connectionString: databaseUrl });
    await holder.connect();
    await holder.query('BEGIN; LOCK TABLE users IN ACCESS SHARE MODE');
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      void holder.end();
    };
    try {
      const failed = await run(
        { 'lock-timeout': '300ms', store: `local:${path.join(workspace, 'backups-lock')}` },
        { echo: (line) => (/could not take its locks .*trying again/.test(line) ? release() : undefined) },
      );
      expect(failed.errors[0]?.message).toMatch(/V2__blocked\.sql:2: .*lock timeout/);
      expect(released).toBe(true);
      expect(failed.result.restored).toMatchObject({ verified: true });
      expect(await state()).toEqual(before);
    } finally {
      release();
    }
  }, 60_000);

  it('a cancelled run cancels its statement on the server, and says what it kept', async () => {
    migrations({
      'V1__ok.sql': 'ALTER TABLE users ADD COLUMN phone text;\n',
      'V2__slow.sql': 'ALTER TABLE orders ADD COLUMN z int;\nSELECT pg_sleep(30);\n',
    });
    const cancel = new AbortController();
    const running = run({ backup: 'false' }, { signal: cancel.signal });
    const sleeping = async () =>
      (
        await sql(
          `SELECT 1 FROM pg_stat_activity WHERE application_name = 'switchyard-migrate' AND query LIKE 'SELECT pg_sleep%' AND state = 'active'`,
        )
      ).length > 0;
    for (let i = 0; i < 200 && !(await sleeping()); i++)
      await new Promise((resolve) => setTimeout(resolve, 50));
    expect(await sleeping()).toBe(true);
    cancel.abort(new Error('the workflow was cancelled'));
    const cancelled = await running;
    expect(cancelled.exitCode).toBe(1);
    expect(cancelled.errors[0]?.message).toMatch(
      /cancelled: .*Applied and recorded in public\.switchyard_migrations: migrations\/V1__ok\.sql\./,
    );
    expect(await sleeping()).toBe(false);
    expect(
      await sql(`SELECT 1 FROM information_schema.columns WHERE table_name = 'orders' AND column_name = 'z'`),
    ).toEqual([]);
  }, 60_000);

  it("puts an error inside a DO block at its line, with PostgreSQL's DETAIL", async () => {
    migrations({
      'V1__block.sql':
        "DO $$\nBEGIN\n  UPDATE orders SET total = total + 1;\n  RAISE EXCEPTION 'stop here' USING DETAIL = 'because';\nEND\n$$;\n",
    });
    const failed = await run({ backup: 'false' });
    expect(failed.errors[0]?.where).toMatchObject({ file: 'migrations/V1__block.sql', line: 4 });
    expect(failed.errors[0]?.message).toContain('stop here. because');
  }, 60_000);

  it('reports a contract-phase file as phase contract', async () => {
    migrations({ 'V1__drop.sql': '-- switchyard: contract\nALTER TABLE orders DROP COLUMN note;\n' });
    const done = await run({ backup: 'false' });
    expect(done.exitCode).toBe(0);
    expect(done.outputs.phase).toBe('contract');
  }, 60_000);
});
