// PostgreSQL backup: the postgres source's backup() against a raw `pg_dump -Fc` of the same
// database, in the same run, interleaved so drift in machine load hits every contender alike.
//   npx tsx bench/postgres-backup.ts        (env: BENCH_SCALE=20 pgbench scale, BENCH_RUNS=5)
//
// Two databases: `pgbench -i -s 20` (the goal's), whose rows are nearly identical and compress
// 35-fold, and 1M "orders" rows (md5 text, numbers, jsonb), which compress 3-fold like most
// real data. The source runs pg_dump at --compress=1 and the backup engine then gzips the part
// (its default); these rows show why that level:
// - raw `pg_dump -Fc -f file`: the goal's reference (pg_dump's default compression, level 6);
// - raw `pg_dump -Fc -Z1 -f file`: what our source runs, without us: ours ÷ this is our own
//   overhead (snapshot export, exact row counts in that snapshot, the bytes passing through node);
// - source backup() → file: the part as the engine receives it;
// - source backup() → gzip → file: a default backup end to end, before checksums and the store;
// - raw `pg_dump -Fc -Z0` → gzip and raw `pg_dump -Fc` → gzip: the two other levels we could
//   have chosen, each followed by the engine's gzip (piped through node's zlib, as the engine);
// - raw `pg_dump -Fc -Z1` → node → file: the least any streaming source costs, the bytes read
//   by node from a pipe instead of written by pg_dump to a file; ours ÷ this is what is ours.
import { spawn, spawnSync } from 'node:child_process';
import { createWriteStream, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { pathToFileURL } from 'node:url';
import { createGzip } from 'node:zlib';
import {
  connectionEnv,
  createPostgresSource,
  findClients,
} from '../actions/core/src/backup/sources/postgres.js';
import { systemRunner } from '../actions/core/src/process.js';
import { startPostgres, stopAllServers } from '../scripts/servers/index.js';
import { runBackupAction } from './backup-action.js';
import { postgresProgram } from './postgres-programs.js';
import { median, printTable } from './table.js';

const RUNS = Number(process.env.BENCH_RUNS ?? 5);
const SCALE = Number(process.env.BENCH_SCALE ?? 20);

/** Runs pg_dump with its stdout going to `out` (a file or a gzip stream). */
async function rawDump(
  pgDump: string,
  args: string[],
  env: NodeJS.ProcessEnv,
  out?: Writable,
): Promise<void> {
  const child = spawn(pgDump, args, { env, stdio: ['ignore', out ? 'pipe' : 'ignore', 'inherit'] });
  const exited = new Promise<number>((resolve) => child.on('close', (code) => resolve(code ?? 1)));
  if (out && child.stdout) await pipeline(child.stdout, out);
  const code = await exited;
  if (code !== 0) throw new Error(`pg_dump exited ${code}`);
}

type Contender = [string, () => Promise<string>];

async function measure(title: string, url: URL, pgDump: string, scratch: string): Promise<void> {
  const env = { ...process.env, ...connectionEnv(url) };
  const source = createPostgresSource(url);
  const context = { include: [], exclude: [], log: () => undefined };
  const file = (name: string): string => join(scratch, name);
  const raw = (name: string, args: string[]): Contender => [
    name,
    async () => {
      await rawDump(pgDump, ['-Fc', ...args, '-f', file('raw.dump')], env);
      return file('raw.dump');
    },
  ];
  const rawThenGzip = (name: string, args: string[]): Contender => [
    name,
    async () => {
      const gzip = createGzip();
      const written = pipeline(gzip, createWriteStream(file('raw.dump.gz')));
      await rawDump(pgDump, ['-Fc', ...args], env, gzip);
      await written;
      return file('raw.dump.gz');
    },
  ];
  const contenders: Contender[] = [
    raw('raw `pg_dump -Fc -f file`', []),
    raw('raw `pg_dump -Fc -Z1 -f file`', ['-Z1']),
    [
      'source backup() → file',
      async () => {
        // A PassThrough in between, as the engine has its own streams between source and store.
        const through = new PassThrough();
        const written = pipeline(through, createWriteStream(file('ours.dump')));
        await source.backup(through, context);
        await written;
        return file('ours.dump');
      },
    ],
    [
      'source backup() → gzip → file',
      async () => {
        const gzip = createGzip();
        const written = pipeline(gzip, createWriteStream(file('ours.dump.gz')));
        await source.backup(gzip, context);
        await written;
        return file('ours.dump.gz');
      },
    ],
    [
      'the backup action (engine: gzip, sha256, local store, manifest)',
      async () => {
        const store = file('store');
        rmSync(store, { recursive: true, force: true });
        const inputs = { command: 'backup', sources: url.href, store: `local:${store}`, id: 'bench' };
        const outcome = await runBackupAction(inputs);
        return join(store, 'bench', outcome.parts[0]?.name ?? '');
      },
    ],
    rawThenGzip('raw `pg_dump -Fc -Z0` → gzip → file', ['-Z0']),
    [
      'raw `pg_dump -Fc -Z1` → node → file',
      async () => {
        await rawDump(pgDump, ['-Fc', '-Z1'], env, createWriteStream(file('piped.dump')));
        return file('piped.dump');
      },
    ],
    rawThenGzip('raw `pg_dump -Fc` → gzip → file', []),
  ];

  const samples = new Map<string, number[]>(contenders.map(([name]) => [name, []]));
  const sizes = new Map<string, number>();
  // One warm-up round, so every contender reads from a warm cache.
  for (let round = -1; round < RUNS; round++) {
    for (const [name, run] of contenders) {
      const started = performance.now();
      const written = await run();
      const elapsed = performance.now() - started;
      if (round >= 0) samples.get(name)?.push(elapsed);
      sizes.set(name, statSync(written).size);
    }
  }

  const reference = median(samples.get('raw `pg_dump -Fc -f file`') ?? []);
  const same = median(samples.get('raw `pg_dump -Fc -Z1 -f file`') ?? []);
  const piped = median(samples.get('raw `pg_dump -Fc -Z1` → node → file') ?? []);
  printTable(
    `${title} (median of ${RUNS} runs)`,
    ['contender', 'median s', 'size MB', '÷ raw pg_dump -Fc', '÷ raw pg_dump -Fc -Z1', '÷ … → node → file'],
    contenders.map(([name]) => {
      const m = median(samples.get(name) ?? []);
      return [
        name,
        (m / 1000).toFixed(2),
        ((sizes.get(name) ?? 0) / 1024 / 1024).toFixed(1),
        (m / reference).toFixed(2),
        (m / same).toFixed(2),
        (m / piped).toFixed(2),
      ];
    }),
  );
}

export async function postgresBackup(): Promise<void> {
  const db = await startPostgres();
  const scratch = mkdtempSync(join(tmpdir(), 'switchyard-bench-pg-'));
  try {
    const url = new URL(db.url);
    const env = { ...process.env, ...connectionEnv(url) };
    const sql = (text: string): void => {
      const run = spawnSync(postgresProgram('psql'), ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-c', text], {
        env,
      });
      if (run.status !== 0) throw new Error(`psql failed: ${run.stderr}`);
    };
    const [client] = await findClients('pg_dump', (process.env.PATH ?? '').split(':'), systemRunner);
    if (!client) throw new Error('pg_dump is not installed: sudo apt-get install -y postgresql-client');

    const init = spawnSync(postgresProgram('pgbench'), ['-i', '-q', '-s', String(SCALE)], { env });
    if (init.status !== 0) throw new Error(`pgbench -i failed: ${init.stderr}`);
    sql('VACUUM ANALYZE pgbench_accounts');
    await measure(
      `PostgreSQL backup, \`pgbench -i -s ${SCALE}\` (${(SCALE * 100_000).toLocaleString('en')} accounts)`,
      url,
      client.path,
      scratch,
    );
    console.log('\nGoal: the backup action ÷ raw `pg_dump -Fc` ≤ 1.10.');

    sql('DROP TABLE pgbench_accounts, pgbench_branches, pgbench_history, pgbench_tellers');
    sql(
      `CREATE TABLE orders AS SELECT g AS id, md5(g::text) AS ref, (random() * 1000)::numeric(10, 2) AS amount,
         now() - g * interval '1 minute' AS at,
         jsonb_build_object('sku', 'SKU-' || (g % 5000), 'qty', g % 7, 'note', md5((g * 7)::text)) AS doc
       FROM generate_series(1, 1000000) g`,
    );
    sql('VACUUM ANALYZE orders');
    await measure(
      'PostgreSQL backup, 1,000,000 orders rows (md5 text, numbers, jsonb)',
      url,
      client.path,
      scratch,
    );
  } finally {
    rmSync(scratch, { recursive: true, force: true });
    await db.stop();
    await stopAllServers();
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) await postgresBackup();
