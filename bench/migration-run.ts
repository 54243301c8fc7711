// validate-migration run and rehearse: the bundled action's `run` against plain
// `psql -1 -f` of the same files, and its `rehearse` against pg_restore of the same backup plus
// psql, on a `pgbench -i -s 20` database, in the same run, interleaved so drift in machine load
// hits every contender alike.
//   npx tsx bench/migration-run.ts   (or npm run bench -- migration-run; env: BENCH_SCALE=20 pgbench
//   scale, BENCH_RUNS=3, BENCH_ECHO=1 prints the action's log with timestamps)
//
// Ten migration files (columns added, tables created and backfilled with INSERT … SELECT from
// pgbench_accounts, an UPDATE of a fifth of the accounts, CREATE INDEX, a foreign key validated,
// a view, and CREATE INDEX CONCURRENTLY in a file of its own), applied to a fresh copy of the
// database for each contender (CREATE DATABASE … TEMPLATE, outside the timing):
// - `psql -X -q -v ON_ERROR_STOP=1 -1 -f file` per file in order (the baseline; the CONCURRENTLY
//   file without -1, which PostgreSQL refuses in a transaction);
// - the action's `run` with `backup: false` (its pure overhead);
// - the action's `run` as it comes (the backup and, for restore-on-failure, the fingerprint first);
// - the same with `restore-on-failure: false` (the backup, no fingerprint);
// - for the decomposition: the backup action alone (in this process, as the backup benches run
//   it), and the fingerprint alone (listObjects + fingerprint, the functions run calls, in this
//   process), each on a fresh copy too; and `run` once more on the migrated copy, nothing pending.
// Then, on a copy with pg_stat_statements and 63 application statements run beforehand, one
// backup taken, then in turn:
// - pg_restore of that backup's pg_dump archive into a fresh database, then psql applying the
//   files, then the database dropped (the baseline);
// - the action's `rehearse` (restores the latest backup into a scratch database, prepares every
//   statement before and after applying the files, drops it);
// - the same with `schema-only: true`.
import { spawn, spawnSync } from 'node:child_process';
import {
  cpSync,
  createReadStream,
  createWriteStream,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { pathToFileURL } from 'node:url';
import zlib from 'node:zlib';
import pg from 'pg';
import { connectionEnv } from '../actions/core/src/backup/sources/postgres.js';
import { fingerprint, schemaDump } from '../actions/core/src/migrations/run/fingerprint.js';
import { listObjects } from '../actions/core/src/migrations/run/restore.js';
import { systemRunner } from '../actions/core/src/process.js';
import { runLikeTheRunner } from '../scripts/run-action.js';
import { startPostgres, stopAllServers } from '../scripts/servers/index.js';
import { runBackupAction } from './backup-action.js';
import { postgresProgram } from './postgres-programs.js';
import { median, printTable } from './table.js';

const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const SCALE = Number(process.env.BENCH_SCALE ?? 20);
const SUPERUSER_PASSWORD = 'bench-Sup3r-pw';
const TEMPLATE = 'pgbench_template';

/** The migrations: realistic expand-phase files, every one of them work for PostgreSQL. */
const MIGRATIONS: Record<string, string> = {
  'V01__account_columns.sql': `ALTER TABLE pgbench_accounts ADD COLUMN email text;
ALTER TABLE pgbench_accounts ADD COLUMN created_at timestamptz NOT NULL DEFAULT now();
ALTER TABLE pgbench_accounts ADD COLUMN status smallint NOT NULL DEFAULT 0;
`,
  'V02__regions.sql': `CREATE TABLE regions (id integer PRIMARY KEY, name text NOT NULL);
INSERT INTO regions VALUES (1, 'north'), (2, 'east'), (3, 'south'), (4, 'west');
ALTER TABLE pgbench_branches ADD COLUMN region_id integer REFERENCES regions (id);
UPDATE pgbench_branches SET region_id = 1 + bid % 4;
`,
  'V03__account_balances.sql': `CREATE TABLE account_balances (
  aid integer PRIMARY KEY,
  bid integer NOT NULL,
  balance bigint NOT NULL,
  updated_at timestamptz NOT NULL DEFAULT now()
);
INSERT INTO account_balances (aid, bid, balance)
SELECT aid, bid, abalance FROM pgbench_accounts;
`,
  'V04__branch_totals.sql': `CREATE TABLE branch_totals (bid integer PRIMARY KEY, accounts bigint NOT NULL, balance bigint NOT NULL);
INSERT INTO branch_totals SELECT bid, count(*), sum(abalance) FROM pgbench_accounts GROUP BY bid;
`,
  'V05__backfill_status.sql': `-- A fifth of the accounts, in one statement.
UPDATE pgbench_accounts SET status = 1 WHERE aid % 5 = 0;
`,
  'V06__accounts_bid_index.sql': `CREATE INDEX pgbench_accounts_bid ON pgbench_accounts (bid);
`,
  'V07__history_note.sql': `ALTER TABLE pgbench_history ADD COLUMN note text;
CREATE INDEX pgbench_history_aid ON pgbench_history (aid);
`,
  'V08__account_balances_fk.sql': `ALTER TABLE account_balances
  ADD CONSTRAINT account_balances_aid_fkey FOREIGN KEY (aid) REFERENCES pgbench_accounts (aid) NOT VALID;
ALTER TABLE account_balances VALIDATE CONSTRAINT account_balances_aid_fkey;
`,
  'V09__teller_view.sql': `CREATE VIEW teller_balances AS
SELECT t.tid, t.bid, t.tbalance, b.bbalance FROM pgbench_tellers t JOIN pgbench_branches b USING (bid);
COMMENT ON VIEW teller_balances IS 'tellers with their branch''s balance';
`,
  'V10__accounts_status_index.sql': `CREATE INDEX CONCURRENTLY pgbench_accounts_status ON pgbench_accounts (status) WHERE status <> 0;
`,
};
const FILES = Object.keys(MIGRATIONS).sort();
/** psql -1 wraps the file in one transaction: PostgreSQL refuses CONCURRENTLY there. */
const outsideTransaction = (file: string) => /CONCURRENTLY/.test(MIGRATIONS[file] ?? '');

/** 63 distinct statements as an application sends them (parameters bound, so pg_stat_statements keeps them apart). */
function appQueries(): { text: string; values: (i: number) => unknown[] }[] {
  const aid = (i: number) => 1 + ((i * 7919) % (SCALE * 100_000));
  const queries: { text: string; values: (i: number) => unknown[] }[] = [
    // pgbench's own TPC-B-like transaction
    {
      text: 'UPDATE pgbench_accounts SET abalance = abalance + $1 WHERE aid = $2',
      values: (i) => [i % 9, aid(i)],
    },
    { text: 'SELECT abalance FROM pgbench_accounts WHERE aid = $1', values: (i) => [aid(i)] },
    {
      text: 'UPDATE pgbench_tellers SET tbalance = tbalance + $1 WHERE tid = $2',
      values: (i) => [1, 1 + (i % 10)],
    },
    {
      text: 'UPDATE pgbench_branches SET bbalance = bbalance + $1 WHERE bid = $2',
      values: (i) => [1, 1 + (i % SCALE)],
    },
    {
      text: 'INSERT INTO pgbench_history (tid, bid, aid, delta, mtime) VALUES ($1, $2, $3, $4, CURRENT_TIMESTAMP)',
      values: (i) => [1 + (i % 10), 1 + (i % SCALE), aid(i), i % 9],
    },
  ];
  const accountColumns = [
    'aid',
    'aid, abalance',
    'aid, bid',
    'aid, bid, abalance',
    'bid, abalance',
    '*',
    'aid, filler',
  ];
  const accountWhere: [string, (i: number) => unknown[]][] = [
    ['aid = $1', (i) => [aid(i)]],
    ['aid = ANY($1::integer[])', (i) => [[aid(i), aid(i + 1), aid(i + 2)]]],
    ['aid BETWEEN $1 AND $2 ORDER BY aid LIMIT $3', (i) => [aid(i), aid(i) + 50, 20]],
    ['aid >= $1 ORDER BY aid LIMIT $2', (i) => [aid(i), 10]],
  ];
  for (const columns of accountColumns)
    for (const [where, values] of accountWhere)
      queries.push({ text: `SELECT ${columns} FROM pgbench_accounts WHERE ${where}`, values });
  for (const columns of ['tid', 'tid, tbalance', 'bid, tbalance', '*'])
    for (const [where, values] of [
      ['tid = $1', (i: number) => [1 + (i % 10)]],
      ['bid = $1', (i: number) => [1 + (i % SCALE)]],
    ] as const)
      queries.push({ text: `SELECT ${columns} FROM pgbench_tellers WHERE ${where}`, values });
  for (const columns of ['bid, bbalance', '*'])
    queries.push({
      text: `SELECT ${columns} FROM pgbench_branches WHERE bid = $1`,
      values: (i) => [1 + (i % SCALE)],
    });
  for (const columns of ['a.aid, b.bbalance', 'a.abalance, b.bid', 'a.*, b.bbalance'])
    queries.push({
      text: `SELECT ${columns} FROM pgbench_accounts a JOIN pgbench_branches b USING (bid) WHERE a.aid = $1`,
      values: (i) => [aid(i)],
    });
  queries.push(
    {
      text: 'SELECT t.tid, t.tbalance, b.bbalance FROM pgbench_tellers t JOIN pgbench_branches b ON b.bid = t.bid WHERE t.tid = $1',
      values: (i) => [1 + (i % 10)],
    },
    {
      text: 'SELECT count(*), sum(tbalance) FROM pgbench_tellers WHERE bid = $1',
      values: (i) => [1 + (i % SCALE)],
    },
    { text: 'SELECT bid, sum(bbalance) FROM pgbench_branches GROUP BY bid ORDER BY bid', values: () => [] },
    { text: 'SELECT max(mtime) FROM pgbench_history WHERE aid = $1', values: (i) => [aid(i)] },
    {
      text: 'SELECT count(*) FROM pgbench_history WHERE tid = $1 AND delta > $2',
      values: (i) => [1 + (i % 10), 0],
    },
    {
      text: 'SELECT tid, delta, mtime FROM pgbench_history WHERE bid = $1 ORDER BY mtime DESC LIMIT $2',
      values: (i) => [1 + (i % SCALE), 5],
    },
    {
      text: 'SELECT sum(abalance) FROM pgbench_accounts WHERE aid BETWEEN $1 AND $2',
      values: (i) => [aid(i), aid(i) + 100],
    },
    { text: 'SELECT EXISTS (SELECT 1 FROM pgbench_accounts WHERE aid = $1)', values: (i) => [aid(i)] },
    { text: 'UPDATE pgbench_accounts SET filler = $1 WHERE aid = $2', values: (i) => [`note ${i}`, aid(i)] },
    {
      text: 'UPDATE pgbench_accounts SET abalance = $1 WHERE aid = $2 AND abalance = $3',
      values: (i) => [0, aid(i), 0],
    },
    { text: 'UPDATE pgbench_tellers SET filler = $1 WHERE tid = $2', values: (i) => [`t${i}`, 1 + (i % 10)] },
    {
      text: 'DELETE FROM pgbench_history WHERE aid = $1 AND mtime < $2',
      values: (i) => [aid(i), '2000-01-01'],
    },
    {
      text: 'INSERT INTO pgbench_history (tid, bid, aid, delta, mtime, filler) VALUES ($1, $2, $3, $4, now(), $5)',
      values: (i) => [1 + (i % 10), 1 + (i % SCALE), aid(i), 0, 'x'],
    },
    {
      text: 'INSERT INTO pgbench_history (tid, bid, aid, delta, mtime) SELECT tid, bid, $1, $2, now() FROM pgbench_tellers WHERE tid = $3',
      values: (i) => [aid(i), 1, 1 + (i % 10)],
    },
    {
      text: 'UPDATE pgbench_branches b SET bbalance = b.bbalance + $1 FROM pgbench_tellers t WHERE t.bid = b.bid AND t.tid = $2',
      values: (i) => [0, 1 + (i % 10)],
    },
    { text: 'SELECT aid, abalance FROM pgbench_accounts WHERE aid = $1 FOR UPDATE', values: (i) => [aid(i)] },
  );
  return queries;
}

async function run(program: string, args: string[], env: NodeJS.ProcessEnv): Promise<void> {
  const child = spawn(program, args, { env, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const code = await new Promise<number>((resolve) => child.on('close', (c) => resolve(c ?? 1)));
  if (code !== 0) throw new Error(`${program} ${args.join(' ')} exited ${code}: ${stderr}`);
}

async function query<R extends object = Record<string, unknown>>(url: string, text: string): Promise<R[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<R>(text)).rows;
  } finally {
    await client.end();
  }
}

const withDatabase = (url: string, database: string) => {
  const copy = new URL(url);
  copy.pathname = `/${database}`;
  return copy.href;
};

/** A contender: prepares outside the timing, then runs timed; what it found, for the table. */
interface Contender {
  name: string;
  /** Outside the timing: e.g. a fresh copy of the database. Returns what the timed part needs. */
  setup: () => Promise<string>;
  /** Timed; may return milliseconds of its own to leave out (a check inside it). */
  timed: (database: string) => Promise<number | void>;
  /** Outside the timing: checks and cleanup; may record extra timings. */
  teardown: (database: string) => Promise<void>;
}

export async function migrationRunBench(): Promise<void> {
  const db = await startPostgres({
    createDb: true,
    superuserPassword: SUPERUSER_PASSWORD,
    // Autovacuum off: it would wake on the freshly written copies at random moments of other
    // contenders (each copy is dropped right after its contender; the template is analysed).
    settings: { shared_preload_libraries: 'pg_stat_statements', autovacuum: 'off' },
  });
  const scratch = mkdtempSync(join(tmpdir(), 'switchyard-bench-migration-run-'));
  try {
    const superuser = db.superuserUrl ?? '';
    const appEnv = (database: string) => ({
      ...process.env,
      ...connectionEnv(new URL(withDatabase(db.url, database))),
    });
    const superEnv = (database: string) => ({
      ...process.env,
      ...connectionEnv(new URL(withDatabase(superuser, database))),
    });
    const psql = postgresProgram('psql');
    const pgRestore = postgresProgram('pg_restore');

    // The database every contender starts from.
    await query(db.url, `CREATE DATABASE ${TEMPLATE}`);
    const init = spawnSync(postgresProgram('pgbench'), ['-i', '-q', '-s', String(SCALE)], {
      env: appEnv(TEMPLATE),
    });
    if (init.status !== 0) throw new Error(`pgbench -i failed: ${init.stderr}`);
    await query(withDatabase(db.url, TEMPLATE), 'VACUUM ANALYZE');

    // The bundle as it is now: a `npm run bundle` while the bench runs cannot swap it half-way.
    const dist = join(scratch, 'dist');
    cpSync(join(process.cwd(), 'actions', 'validate-migration', 'dist'), dist, { recursive: true });
    const workspace = join(scratch, 'workspace');
    mkdirSync(join(workspace, 'migrations'), { recursive: true });
    for (const [name, text] of Object.entries(MIGRATIONS))
      writeFileSync(join(workspace, 'migrations', name), text);
    const glob = 'migrations/*.sql';

    let copies = 0;
    const freshCopy = async () => {
      const name = `bench_${++copies}`;
      await query(db.url, `CREATE DATABASE ${name} TEMPLATE ${TEMPLATE}`);
      // Nobody pays for another contender's dirty pages.
      await query(superuser, 'CHECKPOINT');
      return name;
    };
    const drop = (name: string) => query(db.url, `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    const psqlFiles = async (env: NodeJS.ProcessEnv) => {
      for (const file of FILES)
        await run(
          psql,
          [
            '-X',
            '-q',
            '-v',
            'ON_ERROR_STOP=1',
            ...(outsideTransaction(file) ? [] : ['-1']),
            '-f',
            join(workspace, 'migrations', file),
          ],
          env,
        );
    };
    /** Every file did its work: the backfilled rows, and the last file's index. */
    const checkMigrated = async (url: string, who: string) => {
      const [row] = await query<{ rows: string; indexed: boolean }>(
        url,
        `SELECT (SELECT count(*) FROM account_balances) AS rows, to_regclass('pgbench_accounts_status') IS NOT NULL AS indexed`,
      );
      if (Number(row?.rows) !== SCALE * 100_000 || !row?.indexed)
        throw new Error(`${who}: the migrations did not all apply (${JSON.stringify(row)})`);
    };
    const storeDir = join(scratch, 'store');
    /** The action as the runner runs it; `at(pattern)`: when (ms after its start) it logged a line matching it. */
    const action = async (inputs: Record<string, string>, what: string) => {
      const started = performance.now();
      const lines: [ms: number, line: string][] = [];
      const result = await runLikeTheRunner(
        'validate-migration',
        inputs,
        {},
        {
          cwd: workspace,
          dist,
          onLine: (line: string) => {
            const ms = performance.now() - started;
            lines.push([ms, line]);
            // BENCH_ECHO=1: the action's log, each line with the seconds since it started.
            if (process.env.BENCH_ECHO) console.error(`+${(ms / 1000).toFixed(2)} s ${line}`);
          },
        },
      );
      if (result.exitCode !== 0)
        throw new Error(`${what} exited ${result.exitCode}:\n${result.stdout}\n${result.stderr}`);
      const at = (pattern: RegExp) => lines.find(([, line]) => pattern.test(line))?.[0] ?? NaN;
      return { ...result, at };
    };

    const PSQL = '`psql -1 -f` per file (baseline)';
    const RUN = 'the action, `run` with `backup: false`';
    const RUN_BACKUP = 'the action, `run` (backup on: backup + before-fingerprint)';
    const RUN_NO_FINGERPRINT = 'the action, `run` with `restore-on-failure: false` (backup, no fingerprint)';
    const BACKUP = 'the backup action alone (in-process engine)';
    const FINGERPRINT = 'the before-fingerprint alone (listObjects + fingerprint, in-process)';
    const NOTHING = 'the action, `run` again, nothing pending (fixed cost)';
    const samples = new Map<string, number[]>();
    const record = (name: string, ms: number) => samples.set(name, [...(samples.get(name) ?? []), ms]);

    const onCopy = (
      name: string,
      timed: Contender['timed'],
      after: (database: string) => Promise<void> = async () => undefined,
    ): Contender => ({
      name,
      setup: freshCopy,
      timed,
      teardown: async (database) => {
        await after(database);
        await drop(database);
        rmSync(storeDir, { recursive: true, force: true });
      },
    });
    const withBackup = (name: string, extra: Record<string, string>) =>
      onCopy(
        name,
        async (database) => {
          const result = await action(
            {
              command: 'run',
              'database-url': withDatabase(db.url, database),
              migrations: glob,
              store: `local:${storeDir}`,
              ...extra,
            },
            name,
          );
          if (!result.outputs['backup-id']) throw new Error(`${name}: no backup-id:\n${result.stdout}`);
          // Where its time went, by when it logged what: up to "backing up" Node's start, the plan,
          // listObjects and (restore-on-failure) the fingerprint; then the backup; then the files.
          const backingUp = result.at(/^backing up /);
          const taken = result.at(/^backup \S+ taken/);
          record(`${name}: until the backup`, backingUp);
          record(`${name}: backup`, taken - backingUp);
          record(`${name}: files`, result.at(/^\d+ files applied in/) - taken);
        },
        (database) => checkMigrated(withDatabase(db.url, database), name),
      );
    const runContenders: Contender[] = [
      onCopy(
        PSQL,
        (database) => psqlFiles(appEnv(database)),
        (database) => checkMigrated(withDatabase(db.url, database), PSQL),
      ),
      onCopy(
        RUN,
        async (database) => {
          const result = await action(
            {
              command: 'run',
              'database-url': withDatabase(db.url, database),
              migrations: glob,
              backup: 'false',
            },
            RUN,
          );
          const first = result.at(/ pending \(tracked in /);
          record(`${RUN}: until the first file`, first);
          record(`${RUN}: files`, result.at(/^\d+ files applied in/) - first);
        },
        async (database) => {
          const url = withDatabase(db.url, database);
          await checkMigrated(url, RUN);
          const started = performance.now();
          const again = await action(
            { command: 'run', 'database-url': url, migrations: glob, backup: 'false' },
            NOTHING,
          );
          record(NOTHING, performance.now() - started);
          if (!again.stdout.includes('nothing to apply')) throw new Error(`${NOTHING}: ${again.stdout}`);
        },
      ),
      withBackup(RUN_BACKUP, {}),
      withBackup(RUN_NO_FINGERPRINT, { 'restore-on-failure': 'false' }),
      onCopy(BACKUP, async (database) => {
        await runBackupAction({
          command: 'backup',
          sources: withDatabase(db.url, database),
          store: `local:${storeDir}`,
        });
      }),
      onCopy(FINGERPRINT, async (database) => {
        const url = withDatabase(db.url, database);
        const client = new pg.Client({ connectionString: url });
        await client.connect();
        try {
          const started = performance.now();
          await listObjects(client);
          const listed = performance.now();
          const found = await fingerprint(url, client, systemRunner, process.env);
          const printed = performance.now();
          if (found.tables['public.pgbench_accounts']?.rows !== SCALE * 100_000)
            throw new Error(`${FINGERPRINT}: ${JSON.stringify(found.tables)}`);
          // Its parts: the schema dump again alone (left out of the timing), the rest is the checksums.
          await schemaDump(url, client, systemRunner, process.env);
          const dumped = performance.now() - printed;
          record(`${FINGERPRINT}: listObjects`, listed - started);
          record(`${FINGERPRINT}: pg_dump --schema-only`, dumped);
          record(`${FINGERPRINT}: table checksums`, printed - listed - dumped);
          return performance.now() - printed;
        } finally {
          await client.end();
        }
      }),
    ];

    // rehearse: the live database, its application's statements, and one backup of it.
    const LIVE = 'live';
    const liveUrl = withDatabase(db.url, LIVE);
    await query(db.url, `CREATE DATABASE ${LIVE} TEMPLATE ${TEMPLATE}`);
    await query(withDatabase(superuser, LIVE), 'CREATE EXTENSION pg_stat_statements');
    const statements = appQueries();
    /**
     * pg_stat_statements emptied, then the application's statements run: every rehearsal sees the
     * same ones (not the backup's or an earlier rehearsal's own reads of the live database).
     */
    const runTheApp = async () => {
      await query(withDatabase(superuser, LIVE), 'SELECT pg_stat_statements_reset()');
      const app = new pg.Client({ connectionString: liveUrl });
      await app.connect();
      try {
        for (const [index, each] of statements.entries())
          for (let call = 0; call < 2 + ((index * 5) % 11); call++)
            await app.query(each.text, each.values(index * 31 + call));
      } finally {
        await app.end();
      }
    };
    await runTheApp();
    const rehearseStore = join(scratch, 'rehearse-store');
    const backup = await runBackupAction({
      command: 'backup',
      sources: liveUrl,
      store: `local:${rehearseStore}`,
    });
    // The baseline restores the same pg_dump archive, decompressed from the backup's part beforehand.
    const partDir = join(rehearseStore, backup.id ?? '');
    const part = readdirSync(partDir).find((name) => name.startsWith('postgres'));
    if (!part) throw new Error(`no PostgreSQL part in ${partDir}: ${readdirSync(partDir).join(', ')}`);
    const dumpFile = join(scratch, 'live.dump');
    if (part.endsWith('.gz'))
      await pipeline(createReadStream(join(partDir, part)), zlib.createGunzip(), createWriteStream(dumpFile));
    else if (part.endsWith('.zst'))
      await run('sh', ['-c', `zstd -q -d -c "$0" > "$1"`, join(partDir, part), dumpFile], process.env);
    else await pipeline(createReadStream(join(partDir, part)), createWriteStream(dumpFile));

    const REHEARSE_BASELINE = '`pg_restore` of the backup + `psql` the files (baseline)';
    const REHEARSE = 'the action, `rehearse` (the latest backup restored)';
    const REHEARSE_SCHEMA = 'the action, `rehearse` with `schema-only: true`';
    const prepared = new Map<string, number>();
    const rehearse = (name: string, extra: Record<string, string>): Contender => ({
      name,
      setup: async () => {
        await runTheApp();
        await query(superuser, 'CHECKPOINT');
        return '';
      },
      timed: async () => {
        const result = await action(
          {
            command: 'rehearse',
            'database-url': liveUrl,
            'scratch-url': superuser,
            migrations: glob,
            store: `local:${rehearseStore}`,
            ...extra,
          },
          name,
        );
        const checked = /(\d+) statements? of (\d+) still prepare after the migration/.exec(result.stdout);
        if (!checked || checked[1] !== checked[2] || !result.stdout.includes(`${FILES.at(-1)} applied`))
          throw new Error(`${name}: not every file applied or statement prepared:\n${result.stdout}`);
        prepared.set(name, Number(checked[1]));
        // Where its time went, by its own log.
        const logged = (pattern: RegExp) => {
          const found = pattern.exec(result.stdout);
          return found ? Number(found[1]) * (found[2] === 's' ? 1000 : 1) : NaN;
        };
        record(`${name}: copy`, logged(/copy ready in ([\d.]+) (ms|s)\b/));
        record(`${name}: apply`, logged(/\d+ files applied in ([\d.]+) (ms|s)\b/));
      },
      teardown: async () => undefined,
    });
    const rehearseContenders: Contender[] = [
      {
        name: REHEARSE_BASELINE,
        setup: async () => {
          await query(superuser, 'CHECKPOINT');
          return `rehearsal_baseline_${++copies}`;
        },
        // As rehearse does: a fresh database, the backup restored as it restores it (same flags), the files, dropped.
        timed: async (database) => {
          const started = performance.now();
          await query(superuser, `CREATE DATABASE ${database} TEMPLATE template0`);
          await run(
            pgRestore,
            [
              '--no-password',
              '--no-owner',
              '--no-privileges',
              '--exit-on-error',
              '--single-transaction',
              `--dbname=${database}`,
              dumpFile,
            ],
            superEnv(database),
          );
          const restored = performance.now();
          record(`${REHEARSE_BASELINE}: copy`, restored - started);
          await psqlFiles(superEnv(database));
          record(`${REHEARSE_BASELINE}: apply`, performance.now() - restored);
          const checking = performance.now();
          await checkMigrated(withDatabase(superuser, database), REHEARSE_BASELINE);
          const checked = performance.now() - checking;
          await query(superuser, `DROP DATABASE ${database} WITH (FORCE)`);
          return checked;
        },
        teardown: async () => undefined,
      },
      rehearse(REHEARSE, {}),
      rehearse(REHEARSE_SCHEMA, { 'schema-only': 'true' }),
    ];

    const contenders = [...runContenders, ...rehearseContenders];
    for (let round = 0; round < RUNS; round++) {
      // Rotated each round: no contender always runs first, or always after the heaviest.
      const order = contenders.map((_, i) => contenders[(i + round) % contenders.length] as Contender);
      for (const contender of order) {
        const database = await contender.setup();
        const started = performance.now();
        const leftOut = (await contender.timed(database)) ?? 0;
        record(contender.name, performance.now() - started - leftOut);
        await contender.teardown(database);
      }
      console.error(`round ${round + 1} of ${RUNS} done`);
    }

    const m = (name: string) => median(samples.get(name) ?? []);
    const min = (name: string) => Math.min(...(samples.get(name) ?? [NaN]));
    const seconds = (ms: number) => (ms / 1000).toFixed(2);
    const ratio = (ms: number, base: number) => `${(ms / base).toFixed(2)}×`;
    const psqlMs = m(PSQL);
    const row = (name: string, label = name) => [
      label,
      seconds(m(name)),
      seconds(min(name)),
      ratio(m(name), psqlMs),
    ];
    const sub = (name: string, what: string) => row(`${name}: ${what}`, `↳ ${what}`);
    printTable(
      `validate-migration run, ${FILES.length} files on \`pgbench -i -s ${SCALE}\` (${(SCALE * 100_000).toLocaleString('en')} accounts), a fresh copy each, median of ${RUNS} runs, interleaved`,
      ['contender', 'median s', 'min s', '÷ psql -1 -f'],
      [
        row(PSQL),
        row(RUN),
        sub(RUN, 'until the first file'),
        sub(RUN, 'files'),
        row(RUN_BACKUP),
        sub(RUN_BACKUP, 'until the backup'),
        sub(RUN_BACKUP, 'backup'),
        sub(RUN_BACKUP, 'files'),
        row(RUN_NO_FINGERPRINT),
        sub(RUN_NO_FINGERPRINT, 'until the backup'),
        sub(RUN_NO_FINGERPRINT, 'backup'),
        sub(RUN_NO_FINGERPRINT, 'files'),
        row(BACKUP),
        row(FINGERPRINT),
        sub(FINGERPRINT, 'listObjects'),
        sub(FINGERPRINT, 'table checksums'),
        sub(FINGERPRINT, 'pg_dump --schema-only'),
        row(NOTHING),
        [
          '`run` with `backup: false` + backup alone + fingerprint alone',
          seconds(m(RUN) + m(BACKUP) + m(FINGERPRINT)),
          '',
          ratio(m(RUN) + m(BACKUP) + m(FINGERPRINT), psqlMs),
        ],
      ],
    );
    const baseMs = m(REHEARSE_BASELINE);
    printTable(
      `validate-migration rehearse, the same files on a copy of the same database, ${prepared.get(REHEARSE) ?? '?'} statements prepared before and after, median of ${RUNS} runs, interleaved`,
      [
        'contender',
        'median s',
        'min s',
        '÷ restore + apply',
        'copy s',
        'apply s',
        'the rest s',
        'statements prepared',
      ],
      [REHEARSE_BASELINE, REHEARSE, REHEARSE_SCHEMA].map((name) => [
        name,
        seconds(m(name)),
        seconds(min(name)),
        ratio(m(name), baseMs),
        seconds(m(`${name}: copy`)),
        seconds(m(`${name}: apply`)),
        seconds(m(name) - m(`${name}: copy`) - m(`${name}: apply`)),
        prepared.has(name) ? String(prepared.get(name)) : '',
      ]),
    );
    console.log(
      `\nEvery sample (s): ${[...samples].map(([name, values]) => `${name}: ${values.map(seconds).join(', ')}`).join('; ')}`,
    );
  } finally {
    rmSync(scratch, { recursive: true, force: true });
    await db.stop();
    await stopAllServers();
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) await migrationRunBench();
