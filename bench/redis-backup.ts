// Redis backup and restore against Redis's own tools, on the same server in the same run:
// - backup: the switchyard Redis source (SCAN + DUMP/PTTL) vs `redis-cli --rdb` (a full RDB
//   snapshot over the replication protocol), goal: within 3×;
// - restore: RESTORE batches vs loading that RDB file (DEBUG RELOAD), for reference;
// - peak memory (max RSS) of a child process that runs only the backup, or only the restore, at
//   100k and 1M keys: goal under 200 MB and flat (the part is streamed, never held).
// The data set is the one the integration test uses: all six types, a share with TTLs, some keys
// large enough for the non-compact encodings.
//
//   npx tsx bench/redis-backup.ts [keys …]        (default: 100000 1000000)
//   BENCH_RUNS=3 (median of), BENCH_SCRIPTS=0 also measures the pipelined fallback (no Lua)
import { execFile, spawn } from 'node:child_process';
import { createReadStream, createWriteStream } from 'node:fs';
import { copyFile, mkdtemp, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import type { Redis } from 'ioredis';
import { loadRedisClient } from '../actions/core/src/drivers.js';
import { createRedisSource, parseInfo } from '../actions/core/src/backup/sources/redis.js';
import { startRedis, stopAllServers } from '../scripts/servers/index.js';
import { runBackupAction } from './backup-action.js';
import { median, printTable } from './table.js';

const execute = promisify(execFile);

/** Keys per EVAL while building: each call stays well under Redis's 5 s busy-script threshold. */
const BUILD_STEP = 20_000;

// Keys "<prefix><type>:<n>"; every 997th key is large (hashtable, quicklist, skiplist, big
// stream with a consumer group and pending entries), every ttlEvery-th gets a TTL between ttl and 2 × ttl.
const BUILD_SCRIPT = `
local from, to, prefix, ttlEvery, ttl = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3], tonumber(ARGV[4]), tonumber(ARGV[5])
local kinds = { 'string', 'hash', 'list', 'set', 'zset', 'stream' }
for i = from, to - 1 do
  local kind = kinds[i % 6 + 1]
  local key = prefix .. kind .. ':' .. i
  local n = (i % 997 == 0) and 300 or 4
  local args = {}
  if kind == 'string' then
    if i % 12 == 0 then redis.call('SET', key, i)
    elseif n > 4 then redis.call('SET', key, string.rep('payload-' .. i, 200))
    else redis.call('SET', key, 'value-' .. i) end
  elseif kind == 'hash' then
    for j = 1, n do args[#args + 1] = 'field' .. j; args[#args + 1] = 'v' .. (i * j) end
    redis.call('HSET', key, unpack(args))
  elseif kind == 'list' then
    for j = 1, n do args[#args + 1] = 'item-' .. i .. '-' .. j end
    redis.call('RPUSH', key, unpack(args))
  elseif kind == 'set' then
    for j = 1, n do args[#args + 1] = (i % 2 == 0) and tostring(i * 1000 + j) or ('m' .. j) end
    redis.call('SADD', key, unpack(args))
  elseif kind == 'zset' then
    for j = 1, n do args[#args + 1] = j * 1.5; args[#args + 1] = 'member-' .. j end
    redis.call('ZADD', key, unpack(args))
  else
    for j = 1, n do redis.call('XADD', key, '*', 'n', j, 'of', i) end
    if i % 5 == 0 then
      redis.call('XGROUP', 'CREATE', key, 'workers', '0')
      redis.call('XREADGROUP', 'GROUP', 'workers', 'w1', 'COUNT', 2, 'STREAMS', key, '>')
    end
  end
  if i % ttlEvery == 0 then redis.call('PEXPIRE', key, ttl + (i * 7919) % ttl) end
end
return to - from`;

export interface DatasetOptions {
  keys: number;
  /** Put before every key name (default "data:"). */
  prefix?: string;
  /** Every n-th key gets a TTL (default 4: a quarter of them). */
  ttlEvery?: number;
  /** The shortest TTL, ms (default 100 s); the longest is twice that. */
  ttlMs?: number;
  /** First key number (default 0), to add to an existing set. */
  from?: number;
}

/** Builds `keys` keys of all six types in the client's selected database. */
export async function buildDataset(client: Redis, options: DatasetOptions): Promise<void> {
  const from = options.from ?? 0;
  const to = from + options.keys;
  for (let start = from; start < to; start += BUILD_STEP) {
    const end = Math.min(start + BUILD_STEP, to);
    await client.eval(
      BUILD_SCRIPT,
      0,
      start,
      end,
      options.prefix ?? 'data:',
      options.ttlEvery ?? 4,
      options.ttlMs ?? 100_000,
    );
  }
}

// ---------------------------------------------------------------------------------------------

interface ChildResult {
  ms: number;
  maxRssMb: number;
  cpuMs: number;
  keys: number;
}

const SELF = fileURLToPath(import.meta.url);

/** Runs `backup` or `restore` alone in a child process, for its own time, CPU and peak memory. */
function inChild(
  role: 'backup' | 'restore' | 'idle' | 'action-backup' | 'action-restore',
  url: string,
  file: string,
  options: { scripts?: boolean; heapMb?: number } = {},
): Promise<ChildResult> {
  const heap = options.heapMb ? [`--max-old-space-size=${options.heapMb}`] : [];
  const argv = [
    ...heap,
    '--import',
    'tsx',
    SELF,
    '--child',
    role,
    url,
    file,
    String(options.scripts ?? true),
  ];
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, argv, { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      const line = out.trim().split('\n').pop() ?? '';
      if (code !== 0) return reject(new Error(`${role} child exited with ${code}: ${out}`));
      resolve(JSON.parse(line) as ChildResult);
    });
  });
}

async function child(role: string, url: string, file: string, scripts: boolean): Promise<void> {
  const source = createRedisSource(new URL(url), { scripts });
  const context = { include: [], exclude: [], log: () => undefined };
  const started = performance.now();
  const cpu = process.cpuUsage();
  let keys = 0;
  if (role === 'backup') {
    const summary = await source.backup(createWriteStream(file), context);
    keys = Number(summary.facts.keys);
  } else if (role === 'restore') {
    const summary = await source.restore(() => createReadStream(file), { ...context, mode: 'replace' });
    keys = Number(summary.facts.restored);
  } else if (role === 'action-backup' || role === 'action-restore') {
    keys = await wholeAction(role, url, file);
  }
  const ms = performance.now() - started;
  const used = process.cpuUsage(cpu);
  await source.close();
  // maxRSS is in KiB: the high-water mark of the whole process, start-up included.
  const maxRssMb = process.resourceUsage().maxRSS / 1024;
  process.stdout.write(
    `${JSON.stringify({ ms, maxRssMb, cpuMs: (used.user + used.system) / 1000, keys })}\n`,
  );
}

/**
 * What a user runs: the backup action's engine with its defaults — gzip, sha256, the local store
 * (fsync, rename), the manifest — and for restore the checksum pass before and the count after.
 * `store` is the store's directory; every backup there is named "bench".
 */
async function wholeAction(
  role: 'action-backup' | 'action-restore',
  url: string,
  store: string,
): Promise<number> {
  if (role === 'action-backup') await rm(store, { recursive: true, force: true });
  const inputs: Record<string, string> =
    role === 'action-backup'
      ? { command: 'backup', sources: url, store: `local:${store}`, id: 'bench' }
      : {
          command: 'restore',
          sources: url,
          store: `local:${store}`,
          id: 'bench',
          mode: 'replace',
          'safety-backup': 'false',
        };
  const outcome = await runBackupAction(inputs);
  const records = outcome.parts[0]?.records ?? {};
  return Object.entries(records)
    .filter(([group]) => group.startsWith('keys:'))
    .reduce((sum, [, n]) => sum + n, 0);
}

async function timed<T>(work: () => Promise<T>): Promise<[number, T]> {
  const started = performance.now();
  const result = await work();
  return [performance.now() - started, result];
}

/** CPU time the Redis server has used so far, ms. */
async function serverCpuMs(client: Redis): Promise<number> {
  const info = parseInfo(await client.info('cpu'));
  return (Number(info.get('used_cpu_user')) + Number(info.get('used_cpu_sys'))) * 1000;
}

async function main(sizes: number[]): Promise<void> {
  const runs = Number(process.env.BENCH_RUNS ?? 3);
  const pipelinesToo = process.env.BENCH_SCRIPTS === '0';
  const dir = await mkdtemp(path.join(os.tmpdir(), 'switchyard-bench-redis-'));
  // Redis waits 5 s for more replicas before a diskless transfer by default, which is most of what
  // a plain `redis-cli --rdb` takes on a small data set; without the wait the comparison is fair.
  const redis = await startRedis({ config: { 'repl-diskless-sync-delay': '0' } });
  const RedisClient = await loadRedisClient();
  const client = new RedisClient(redis.url);
  const times: string[][] = [];
  const cpu: string[][] = [];
  const memory: string[][] = [];
  const whole: string[][] = [];
  const part = path.join(dir, 'redis.part');
  const rdbFile = path.join(dir, 'dump.rdb');
  const storeDir = path.join(dir, 'store');
  try {
    const idle = await inChild('idle', redis.url, '');
    for (const keys of sizes) {
      await client.flushall();
      // TTLs of hours: none may expire while the runs compare digests.
      const [buildMs] = await timed(() => buildDataset(client, { keys, ttlMs: 3_600_000 }));
      const digest = await client.call('DEBUG', 'DIGEST');
      const used = parseInfo(await client.info('memory')).get('used_memory_human');
      console.error(`${keys} keys built in ${(buildMs / 1000).toFixed(1)} s (${used} in Redis)`);

      for (const scripts of pipelinesToo ? [true, false] : [true]) {
        const rdb: number[] = [];
        const load: number[] = [];
        const backups: ChildResult[] = [];
        const restores: ChildResult[] = [];
        const serverBackup: number[] = [];
        const serverRestore: number[] = [];
        const actionBackups: ChildResult[] = [];
        const actionRestores: ChildResult[] = [];
        for (let run = 0; run < runs; run++) {
          rdb.push((await timed(() => execute('redis-cli', ['-u', redis.url, '--rdb', rdbFile])))[0]);
          await client.flushall();
          await copyFile(rdbFile, path.join(redis.dir, 'dump.rdb'));
          load.push((await timed(() => client.call('DEBUG', 'RELOAD', 'NOSAVE')))[0]);
          await expectDigest(client, digest, 'DEBUG RELOAD');

          let before = await serverCpuMs(client);
          backups.push(await inChild('backup', redis.url, part, { scripts }));
          serverBackup.push((await serverCpuMs(client)) - before);
          await client.flushall();
          before = await serverCpuMs(client);
          restores.push(await inChild('restore', redis.url, part, { scripts }));
          serverRestore.push((await serverCpuMs(client)) - before);
          await expectDigest(client, digest, 'backup and restore');
          if (scripts) {
            actionBackups.push(await inChild('action-backup', redis.url, storeDir));
            await client.flushall();
            actionRestores.push(await inChild('action-restore', redis.url, storeDir));
            await expectDigest(client, digest, 'the backup action and its restore');
          }
          if (backups.at(-1)?.keys !== keys || restores.at(-1)?.keys !== keys)
            throw new Error(
              `${keys} keys: ${backups.at(-1)?.keys} backed up, ${restores.at(-1)?.keys} restored`,
            );
        }
        const [rdbMs, loadMs] = [median(rdb), median(load)];
        const backupMs = median(backups.map((r) => r.ms));
        const restoreMs = median(restores.map((r) => r.ms));
        const method = scripts ? 'Lua batches' : 'pipelines';
        const label = keys.toLocaleString('en-US');
        times.push([
          label,
          method,
          mb((await stat(rdbFile)).size),
          mb((await stat(part)).size),
          ms(rdbMs),
          ms(backupMs),
          ratio(backupMs / rdbMs),
          ms(restoreMs),
          ratio(restoreMs / rdbMs),
          ms(loadMs),
          ratio(restoreMs / loadMs),
        ]);
        cpu.push([
          label,
          method,
          ms(median(backups.map((r) => r.cpuMs))),
          ms(median(serverBackup)),
          ms(median(restores.map((r) => r.cpuMs))),
          ms(median(serverRestore)),
        ]);
        if (actionBackups.length > 0) {
          const [b, r] = [median(actionBackups.map((x) => x.ms)), median(actionRestores.map((x) => x.ms))];
          whole.push([
            label,
            ms(rdbMs),
            ms(b),
            ratio(b / rdbMs),
            ms(r),
            ratio(r / rdbMs),
            Math.max(...actionBackups.map((x) => x.maxRssMb)).toFixed(0),
            Math.max(...actionRestores.map((x) => x.maxRssMb)).toFixed(0),
          ]);
        }
        // With the heap held small, a backup that buffered the part would run out of memory.
        const tight = await inChild('backup', redis.url, part, { scripts, heapMb: TIGHT_HEAP_MB });
        await client.flushall();
        const tightRestore = await inChild('restore', redis.url, part, { scripts, heapMb: TIGHT_HEAP_MB });
        await expectDigest(client, digest, `restore with a ${TIGHT_HEAP_MB} MB heap`);
        memory.push([
          label,
          method,
          Math.max(...backups.map((r) => r.maxRssMb)).toFixed(0),
          Math.max(...restores.map((r) => r.maxRssMb)).toFixed(0),
          `${tight.maxRssMb.toFixed(0)} / ${tightRestore.maxRssMb.toFixed(0)}`,
          idle.maxRssMb.toFixed(0),
        ]);
      }
    }
    const load = os.loadavg()[0]?.toFixed(1);
    printTable(
      `Redis backup and restore vs redis-cli --rdb (same server, same run; median of ${runs}; ${os.cpus().length} CPUs, load ${load})`,
      [
        'keys',
        'method',
        'RDB MB',
        'part MB',
        'redis-cli --rdb ms',
        'backup ms',
        'backup ÷ --rdb (goal ≤ 3)',
        'restore ms',
        'restore ÷ --rdb (goal ≤ 3)',
        'RDB load ms (DEBUG RELOAD)',
        'restore ÷ RDB load',
      ],
      times,
    );
    printTable(
      'Where the time goes (CPU ms, median): the Redis server is the busy side',
      [
        'keys',
        'method',
        'backup: switchyard',
        'backup: redis-server',
        'restore: switchyard',
        'restore: redis-server',
      ],
      cpu,
    );
    printTable(
      `Peak memory (max RSS of a child process running only that step, MB; goal < 200 and flat)`,
      [
        'keys',
        'method',
        'backup',
        'restore',
        `backup / restore with --max-old-space-size=${TIGHT_HEAP_MB}`,
        'same child, idle (node + tsx)',
      ],
      memory,
    );
    printTable(
      'The whole backup action (engine defaults: gzip, sha256, local store, manifest; restore: checksum pass, RESTORE, count pass), median',
      [
        'keys',
        'redis-cli --rdb ms',
        'action backup ms',
        'backup ÷ --rdb (goal ≤ 3)',
        'action restore ms',
        'restore ÷ --rdb (goal ≤ 3)',
        'backup peak MB',
        'restore peak MB',
      ],
      whole,
    );
    console.log('\nEvery round trip above ended with DEBUG DIGEST equal to the original.');
  } finally {
    client.disconnect();
    await stopAllServers();
    await rm(dir, { recursive: true, force: true });
  }
}

const TIGHT_HEAP_MB = 32;

async function expectDigest(client: Redis, digest: unknown, after: string): Promise<void> {
  const now = await client.call('DEBUG', 'DIGEST');
  if (now !== digest)
    throw new Error(`DEBUG DIGEST changed after ${after}: ${String(digest)} → ${String(now)}`);
}

/** For `npm run bench -- redis-backup`: 100k and 1M keys. */
export async function redisBackup(): Promise<void> {
  await main([100_000, 1_000_000]);
}

const mb = (bytes: number) => (bytes / 1e6).toFixed(1);
const ms = (value: number) => value.toFixed(0);
const ratio = (value: number) => `${value.toFixed(2)}×`;

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const args = process.argv.slice(2);
  if (args[0] === '--child') {
    const [, role = '', url = '', file = '', scripts = 'true'] = args;
    await child(role, url, file, scripts === 'true');
  } else {
    await main(args.length > 0 ? args.map(Number) : [100_000, 1_000_000]);
  }
}
