// The demo's migration chapter (npm run demo; --no-migrations leaves it out): a real PostgreSQL
// with pg_stat_statements, a small shop and the "old app" (blue) querying it, then the bundled
// backup and validate-migration actions as the runner runs them:
//   a. backup the shop;
//   b. rehearse an expand migration (a column, an index built CONCURRENTLY) → every statement of
//      the old app still prepares;
//   c. rehearse renaming a column the old app reads → fails naming its query: blue would break;
//   d. run the expand migration → applied, after a backup;
//   e. run a second batch whose first file applies and second fails on the data → the database
//      restored and proven equal to what it was before the run.
// The migration files are scripts/demo/migrations/*/*.sql, given as globs relative to the
// checkout (the demo's working directory), so the ::error file=… lines name them.
import { join } from 'node:path';
import pg from 'pg';
import { workflowCommands, type RunnerResult } from '../run-action.js';
import { startPostgres, type RunningPostgres } from '../servers/index.js';

/** How the demo runs one bundled action as a numbered step (printing its log, timing it, keeping the run). */
export type DemoStep = (
  name: string,
  action: string,
  inputs: Record<string, string>,
) => Promise<{ run: RunnerResult; seconds: number }>;

export interface MigrationChapterContext {
  step: DemoStep;
  /** Starts a new phase of the demo (a heading, and a new window of the user traffic). */
  phase(name: string): Promise<void>;
  /** Prints a line that stands out from the steps' logs. */
  highlight(line: string): void;
  /** A directory of the demo's, removed when it ends: the backups go under it. */
  scratch: string;
}

export interface MigrationChapterResult {
  /** Outcomes that were not what the chapter expects. */
  failures: number;
  /** For the summary and the HTML report. */
  lines: string[];
}

const MIGRATIONS = 'scripts/demo/migrations';
const EXPAND = `${MIGRATIONS}/expand/*.sql`;
const CONTRACT = `${MIGRATIONS}/contract/*.sql`;
const BATCH_2 = `${MIGRATIONS}/batch-2/*.sql`;

/** The queries of the app as deployed (blue), with parameters, as its driver sends them. */
const OLD_APP = {
  user: 'SELECT id, email, name FROM users WHERE id = $1',
  orders: 'SELECT count(*), sum(total) FROM orders WHERE user_id = $1',
  rename: 'UPDATE users SET name = $1 WHERE id = $2',
};

export async function migrationChapter(ctx: MigrationChapterContext): Promise<MigrationChapterResult> {
  const lines: string[] = [];
  let failures = 0;
  /** Checks an outcome the story depends on; a surprise is counted and said. */
  const expect = (what: string, ok: boolean): boolean => {
    if (!ok) {
      failures++;
      ctx.highlight(`✗ unexpected: ${what}`);
    }
    return ok;
  };

  await ctx.phase('4. migrations: PostgreSQL with pg_stat_statements, a shop, and the old app using it');
  let postgres: RunningPostgres | undefined;
  try {
    postgres = await startPostgres({
      password: 'demo-Sh0p-pw',
      superuserPassword: 'demo-Adm1n-pw',
      createDb: true,
      settings: { shared_preload_libraries: 'pg_stat_statements' },
      extensions: ['pg_stat_statements'],
    });
    // Two roles, as on a managed database: the app's (`switchyard`, whose queries
    // pg_stat_statements holds) reads and writes the shop through grants; the admin role
    // (`postgres`) owns the tables, migrates, and creates the rehearsals' scratch databases. run's
    // restore brings the owner and the grants back as they were, and the old app's queries answer.
    const db = postgres.url;
    const admin = postgres.superuserUrl ?? '';
    const owner = admin.replace(/\/postgres$/, `/${postgres.database}`);
    await seedShop(owner, postgres.user);
    const calls = await oldApp(db);
    console.log(
      `  PostgreSQL on 127.0.0.1:${postgres.port}: users (500), orders (3000) owned by postgres; the old app (role ${postgres.user}) ran ${calls} queries`,
    );
    const store = `local:${join(ctx.scratch, 'backups')}`;

    const backup = await ctx.step('4a. back up the shop database', 'backup', { sources: db, store });
    expect('the backup did not succeed', backup.run.exitCode === 0 && !!backup.run.outputs['backup-id']);

    const expand = await ctx.step(
      '4b. rehearse the expand migration (users.phone, an index built CONCURRENTLY) on a scratch copy',
      'validate-migration',
      { command: 'rehearse', 'database-url': db, 'scratch-url': admin, migrations: EXPAND, store },
    );
    const stillPrepare = /(\d+) statements? of (\d+) still prepare after the migration/.exec(
      expand.run.stdout,
    );
    if (
      expect(
        'the expand migration did not rehearse clean',
        expand.run.exitCode === 0 &&
          expand.run.outputs.valid === 'true' &&
          !!stillPrepare &&
          stillPrepare[1] === stillPrepare[2],
      )
    )
      ctx.highlight(`✓ ${stillPrepare?.[0]}`);
    lines.push(
      `rehearse expand: ${expand.run.outputs.valid === 'true' ? 'passed' : 'FAILED'}, ${stillPrepare?.[0] ?? '?'}`,
    );

    const contract = await ctx.step(
      '4c. rehearse renaming users.email, which the old app still reads',
      'validate-migration',
      { command: 'rehearse', 'database-url': db, 'scratch-url': admin, migrations: CONTRACT, store },
    );
    const violations = JSON.parse(contract.run.outputs.violations ?? '[]') as {
      query: string;
      calls?: number;
      error: string;
    }[];
    const broken = violations.find((each) => each.query === OLD_APP.user);
    const error = workflowCommands(contract.run.stdout, 'error').find((each) =>
      each.message.includes(OLD_APP.user),
    );
    if (
      expect(
        `the rename's rehearsal did not fail naming "${OLD_APP.user}"`,
        contract.run.exitCode === 1 && contract.run.outputs.valid === 'false' && !!broken && !!error,
      )
    ) {
      ctx.highlight('⚡ blue would break: the old app would fail during the shift');
      ctx.highlight(`  ${rawLine(contract.run.stdout, '::error')}`);
    }
    lines.push(
      `rehearse rename: blue would break — ${broken ? `${broken.query} (${broken.calls} calls): ${broken.error}` : '?'}`,
    );

    const run = await ctx.step('4d. run the expand migration on the shop', 'validate-migration', {
      command: 'run',
      'database-url': owner,
      migrations: EXPAND,
      store,
    });
    const applied = JSON.parse(run.run.outputs.applied ?? '[]') as {
      file: string;
      phase?: string;
      statements?: number;
      outsideTransaction?: string[];
    }[];
    const backupId = run.run.outputs['backup-id'] ?? '';
    if (
      expect(
        'the expand migration was not applied after a backup',
        run.run.exitCode === 0 &&
          applied.length === 1 &&
          applied[0]?.file.endsWith('V1__user_phone.sql') === true &&
          backupId !== '',
      )
    ) {
      for (const each of applied)
        ctx.highlight(
          `✓ applied: ${each.file} (${each.phase}, ${each.statements} statements; outside a transaction: ${each.outsideTransaction?.join(', ') || 'none'})`,
        );
      ctx.highlight(`  backup-id: ${backupId}`);
    }
    lines.push(
      `run expand: applied ${applied.map((each) => each.file.split('/').pop()).join(', ') || 'nothing'} in ${run.seconds.toFixed(1)} s, after backup ${backupId || '?'}`,
    );

    const before = await schemaOf(owner);
    const failing = await ctx.step(
      '4e. run batch 2: V3 adds orders.status, then V4 makes users.postcode an integer',
      'validate-migration',
      { command: 'run', 'database-url': owner, migrations: `${EXPAND}\n${BATCH_2}`, store },
    );
    const annotation = workflowCommands(failing.run.stdout, 'error')[0];
    const restored =
      /restored: the schema and (\d+) tables?' checksums equal those before the run(?:; undone: (.+))?/.exec(
        failing.run.stdout,
      );
    const after = await schemaOf(owner);
    // The old app may still use everything it did: its queries answer.
    const appStillWorks = await oldApp(db).then(
      () => true,
      (error: Error) => (ctx.highlight(`✗ the old app after the restore: ${error.message}`), false),
    );
    if (
      expect(
        'batch 2 did not fail at V4 with the database restored as it was',
        failing.run.exitCode === 1 &&
          failing.run.outputs.applied === '[]' &&
          annotation?.file?.endsWith('V4__postcode_integer.sql') === true &&
          annotation.line === '2' &&
          !!restored &&
          after === before &&
          appStillWorks,
      )
    ) {
      ctx.highlight(`⚡ ${rawLine(failing.run.stdout, '::error')}`);
      ctx.highlight(`↺ ${restored?.[0]}`);
    }
    const refused = annotation?.message.replace(/^\S+:\d+: /, '').split('\n')[0];
    const undone = restored?.[2]?.split(', ').map((file) => file.split('/').pop());
    lines.push(
      `run batch 2: ${annotation ? `${annotation.file?.split('/').pop()}:${annotation.line} failed: ${refused}` : '?'}; ` +
        `${restored ? `restored: the schema and ${restored[1]} tables' checksums equal those before the run${undone ? `, ${undone.join(', ')} undone` : ''}` : 'NOT restored'}`,
    );
  } catch (error) {
    failures++;
    ctx.highlight(`✗ the migration chapter stopped: ${(error as Error).message}`);
    lines.push(`migrations: stopped — ${(error as Error).message}`);
  } finally {
    await postgres?.stop();
  }
  return { failures, lines: lines.map((line, i) => `${i === 0 ? 'migrations:' : ''}`.padEnd(20) + line) };
}

/** users and orders, with postcodes that are mostly digits — and a few that are not; the app's role may use them. */
async function seedShop(url: string, appRole: string): Promise<void> {
  await withClient(url, (client) =>
    client.query(`
      CREATE TABLE users (id bigint PRIMARY KEY, email text NOT NULL, name text, postcode text);
      INSERT INTO users
        SELECT g, 'u' || g || '@example.com', 'user ' || g,
               CASE WHEN g % 100 = 0 THEN 'SW1A 1AA' ELSE lpad((10000 + g)::text, 5, '0') END
          FROM generate_series(1, 500) g;
      CREATE TABLE orders (id bigint PRIMARY KEY, user_id bigint NOT NULL REFERENCES users, total numeric NOT NULL);
      INSERT INTO orders SELECT g, 1 + g % 500, g * 2.5 FROM generate_series(1, 3000) g;
      GRANT SELECT, INSERT, UPDATE, DELETE ON users, orders TO "${appRole}";`),
  );
}

/** The old app at work, so pg_stat_statements knows its statements; how many it ran. */
async function oldApp(url: string): Promise<number> {
  return withClient(url, async (client) => {
    let calls = 0;
    for (let id = 1; id <= 25; id++) {
      await client.query(OLD_APP.user, [id]);
      await client.query(OLD_APP.orders, [id]);
      calls += 2;
    }
    for (let id = 1; id <= 5; id++, calls++) await client.query(OLD_APP.rename, [`user ${id}`, id]);
    return calls;
  });
}

/** The columns of the shop's tables, for a check of our own that the failed run left them as they were. */
async function schemaOf(url: string): Promise<string> {
  return withClient(url, async (client) => {
    const { rows } = await client.query<{ column: string }>(
      `SELECT table_name || '.' || column_name || ' ' || data_type AS column FROM information_schema.columns
        WHERE table_schema = 'public' ORDER BY table_name, ordinal_position`,
    );
    return rows.map((row) => row.column).join(', ');
  });
}

async function withClient<T>(url: string, use: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await use(client);
  } finally {
    await client.end();
  }
}

/** The first workflow command of this kind in a step's stdout, as the runner reads it. */
function rawLine(stdout: string, prefix: string): string {
  return stdout.split('\n').find((line) => line.startsWith(prefix)) ?? '';
}
