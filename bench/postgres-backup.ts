// PostgreSQL backup: the postgres source's backup() against a raw `pg_dump -Fc` of the same
// database, in the same run, interleaved so drift in machine load hits every contender alike.
//   npx tsx bench/postgres-backup.ts          (BENCH_SCALE=20 pgbench scale, BENCH_RUNS=3)
//
// The source runs pg_dump with --compress=0 because the backup engine compresses every part
// (gzip by default): keeping pg_dump's own zlib would compress the data twice. So the rows are:
// - raw `pg_dump -Fc -f file`: the goal's reference (pg_dump's default zlib compression);
// - raw `pg_dump -Fc -Z0 -f file`: the same work as our source minus our wrapping, so ours ÷
//   this is our overhead (snapshot export, row counts in that snapshot, piping through node);
// - our backup() → file: the part as the engine receives it, before its compression;
// - our backup() → gzip → file: what a default backup (compression gzip) does end to end;
// - `pg_dump -Fc` → gzip → file: the road not taken, pg_dump's compression plus the engine's.
import { spawn, spawnSync } from 'node:child_process';
import { createWriteStream, existsSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
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
import { median, printTable } from './table.js';

const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const SCALE = Number(process.env.BENCH_SCALE ?? 20);

function postgresProgram(name: string): string {
  const root = '/usr/lib/postgresql';
  const versions = existsSync(root)
    ? readdirSync(root).sort((a, b) => Number.parseFloat(b) - Number.parseFloat(a))
    : [];
  const found = ['/usr/bin', ...versions.map((v) => join(root, v, 'bin'))]
    .map((dir) => join(dir, name))
    .find((file) => existsSync(file));
  if (!found) throw new Error(`${name} is not installed: sudo apt-get install -y postgresql-contrib`);
  return found;
}

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

export async function postgresBackup(): Promise<void> {
  const db = await startPostgres();
  const scratch = mkdtempSync(join(tmpdir(), 'switchyard-bench-pg-'));
  try {
    const url = new URL(db.url);
    const env = { ...process.env, ...connectionEnv(url) };
    const init = spawnSync(postgresProgram('pgbench'), ['-i', '-q', '-s', String(SCALE)], {
      env,
      stdio: 'pipe',
    });
    if (init.status !== 0) throw new Error(`pgbench -i failed: ${init.stderr}`);
    spawnSync(postgresProgram('psql'), ['-X', '-q', '-c', 'VACUUM ANALYZE'], { env });

    const [client] = await findClients('pg_dump', (process.env.PATH ?? '').split(':'), systemRunner);
    if (!client) throw new Error('pg_dump is not installed');
    const pgDump = client.path;
    const source = createPostgresSource(url);
    const context = { include: [], exclude: [], log: () => undefined };
    const file = (name: string): string => join(scratch, name);

    const contenders: [string, () => Promise<string>][] = [
      [
        'raw `pg_dump -Fc -f file`',
        async () => (await rawDump(pgDump, ['-Fc', '-f', file('raw.dump')], env), file('raw.dump')),
      ],
      [
        'raw `pg_dump -Fc -Z0 -f file`',
        async () => (await rawDump(pgDump, ['-Fc', '-Z0', '-f', file('raw0.dump')], env), file('raw0.dump')),
      ],
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
        '`pg_dump -Fc` → gzip → file',
        async () => {
          const gzip = createGzip();
          const written = pipeline(gzip, createWriteStream(file('double.dump.gz')));
          await rawDump(pgDump, ['-Fc'], env, gzip);
          await written;
          return file('double.dump.gz');
        },
      ],
    ];

    const samples = new Map<string, number[]>(contenders.map(([name]) => [name, []]));
    const sizes = new Map<string, number>();
    // One warm-up round so every contender reads from a warm cache.
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
    const plain = median(samples.get('raw `pg_dump -Fc -Z0 -f file`') ?? []);
    printTable(
      `PostgreSQL backup, pgbench -i -s ${SCALE} (${(SCALE * 100_000).toLocaleString('en')} accounts), median of ${RUNS} runs`,
      ['contender', 'median s', 'size MB', '÷ raw pg_dump -Fc', '÷ raw pg_dump -Fc -Z0'],
      contenders.map(([name]) => {
        const m = median(samples.get(name) ?? []);
        return [
          name,
          (m / 1000).toFixed(2),
          ((sizes.get(name) ?? 0) / 1024 / 1024).toFixed(1),
          (m / reference).toFixed(2),
          (m / plain).toFixed(2),
        ];
      }),
    );
    console.log('\nGoal: source backup() ÷ raw `pg_dump -Fc` ≤ 1.10.');
  } finally {
    rmSync(scratch, { recursive: true, force: true });
    await db.stop();
    await stopAllServers();
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) await postgresBackup();
