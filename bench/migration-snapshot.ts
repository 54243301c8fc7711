// validate-migration snapshot (issue 11): the bundled action's `snapshot` of a `pgbench -i -s 20`
// database against `pg_dump` of the same database, in the same run, interleaved so drift in
// machine load hits every contender alike.
//   npx tsx bench/migration-snapshot.ts     (env: BENCH_SCALE=20 pgbench scale, BENCH_RUNS=3)
//
// - the action's snapshot (`node actions/validate-migration/dist/index.js`, as the runner runs
//   it): exact row counts and the in-database checksum of every row;
// - the same with `sample: 10%` (tables over 100,000 rows checksummed on a TABLESAMPLE);
// - `pg_dump -Fc -f file`: the baseline, what a backup of the database costs;
// - `pg_dump` plain to /dev/null: reading every row out, no compression, no file.
// Then the snapshot's row counts, as a sanity check (pgbench_accounts: SCALE × 100,000).
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { connectionEnv, findClients } from '../actions/core/src/backup/sources/postgres.js';
import type { Snapshot } from '../actions/core/src/migrations/snapshot/snapshot.js';
import { systemRunner } from '../actions/core/src/process.js';
import { runLikeTheRunner } from '../scripts/run-action.js';
import { startPostgres, stopAllServers } from '../scripts/servers/index.js';
import { postgresProgram } from './postgres-programs.js';
import { median, printTable } from './table.js';

const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const SCALE = Number(process.env.BENCH_SCALE ?? 20);

async function run(program: string, args: string[], env: NodeJS.ProcessEnv): Promise<void> {
  const child = spawn(program, args, { env, stdio: ['ignore', 'ignore', 'inherit'] });
  const code = await new Promise<number>((resolve) => child.on('close', (c) => resolve(c ?? 1)));
  if (code !== 0) throw new Error(`${program} exited ${code}`);
}

type Contender = [name: string, run: () => Promise<string | undefined>];

export async function migrationSnapshotBench(): Promise<void> {
  const db = await startPostgres();
  const scratch = mkdtempSync(join(tmpdir(), 'switchyard-bench-snapshot-'));
  try {
    const url = new URL(db.url);
    const env = { ...process.env, ...connectionEnv(url) };
    const [client] = await findClients('pg_dump', (process.env.PATH ?? '').split(':'), systemRunner);
    if (!client) throw new Error('pg_dump is not installed: sudo apt-get install -y postgresql-client');
    const pgDump = client.path;

    const init = spawnSync(postgresProgram('pgbench'), ['-i', '-q', '-s', String(SCALE)], { env });
    if (init.status !== 0) throw new Error(`pgbench -i failed: ${init.stderr}`);
    const vacuum = spawnSync(
      postgresProgram('psql'),
      ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-c', 'VACUUM ANALYZE'],
      { env },
    );
    if (vacuum.status !== 0) throw new Error(`psql failed: ${vacuum.stderr}`);

    const file = (name: string): string => join(scratch, name);
    const snapshot = (name: string, sample?: string): Contender => [
      name,
      async () => {
        const path = file(sample ? 'sampled.json' : 'full.json');
        const inputs: Record<string, string> = {
          command: 'snapshot',
          'database-url': url.href,
          snapshot: path,
        };
        if (sample) inputs.sample = sample;
        const result = await runLikeTheRunner('validate-migration', inputs);
        if (result.exitCode !== 0)
          throw new Error(`snapshot exited ${result.exitCode}:\n${result.stdout}\n${result.stderr}`);
        return path;
      },
    ];
    const BASELINE = '`pg_dump -Fc -f file` (baseline)';
    const contenders: Contender[] = [
      snapshot('the action, `snapshot`'),
      snapshot('the action, `snapshot` with `sample: 10%`', '10%'),
      [
        BASELINE,
        async () => {
          await run(pgDump, ['-Fc', '-f', file('db.dump')], env);
          return file('db.dump');
        },
      ],
      [
        '`pg_dump` plain → /dev/null',
        async () => {
          await run(pgDump, ['-f', '/dev/null'], env);
          return undefined;
        },
      ],
    ];

    const samples = new Map<string, number[]>(contenders.map(([name]) => [name, []]));
    const sizes = new Map<string, number>();
    // One warm-up round, so every contender reads from a warm cache.
    for (let round = -1; round < RUNS; round++) {
      for (const [name, contender] of contenders) {
        const started = performance.now();
        const written = await contender();
        const elapsed = performance.now() - started;
        if (round >= 0) samples.get(name)?.push(elapsed);
        if (written) sizes.set(name, statSync(written).size);
      }
    }

    const baseline = median(samples.get(BASELINE) ?? []);
    printTable(
      `validate-migration snapshot, \`pgbench -i -s ${SCALE}\` (${(SCALE * 100_000).toLocaleString('en')} accounts), median of ${RUNS} runs, interleaved`,
      ['contender', 'median s', 'output', '÷ pg_dump -Fc'],
      contenders.map(([name]) => {
        const m = median(samples.get(name) ?? []);
        const size = sizes.get(name);
        return [
          name,
          (m / 1000).toFixed(2),
          size === undefined
            ? ''
            : size < 1024 * 1024
              ? `${(size / 1024).toFixed(1)} kB`
              : `${(size / 1024 / 1024).toFixed(1)} MB`,
          `${(m / baseline).toFixed(2)}×`,
        ];
      }),
    );

    const read = (name: string): Snapshot => JSON.parse(readFileSync(file(name), 'utf8')) as Snapshot;
    const full = read('full.json');
    const sampled = read('sampled.json');
    const expected: Record<string, number> = {
      'public.pgbench_accounts': SCALE * 100_000,
      'public.pgbench_branches': SCALE,
      'public.pgbench_tellers': SCALE * 10,
      'public.pgbench_history': 0,
    };
    printTable(
      `The snapshot's row counts (PostgreSQL ${full.postgres?.server ?? '?'})`,
      [
        'table',
        'rows',
        'expected',
        'rows with sample: 10%',
        'rows checksummed with sample: 10%',
        'checksum (full)',
      ],
      (full.postgres?.tables ?? []).map((table) => {
        const other = sampled.postgres?.tables.find((t) => t.name === table.name);
        const want = expected[table.name];
        if (want !== undefined && (table.rows !== want || other?.rows !== want))
          throw new Error(`${table.name}: ${table.rows} / ${other?.rows} rows, expected ${want}`);
        return [
          table.name,
          table.rows.toLocaleString('en'),
          want === undefined ? '?' : want.toLocaleString('en'),
          (other?.rows ?? 0).toLocaleString('en'),
          other?.sampled === undefined
            ? 'all (whole table)'
            : `${other.sampled.rows.toLocaleString('en')} (${(other.sampled.fraction * 100).toFixed(0)}%)`,
          `${table.checksum.slice(0, 12)}…`,
        ];
      }),
    );
  } finally {
    rmSync(scratch, { recursive: true, force: true });
    await db.stop();
    await stopAllServers();
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) await migrationSnapshotBench();
