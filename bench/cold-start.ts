// Cold start: the bundled health-check action probing one local healthy URL, against `curl -sf`
// and a bare `node -e 'fetch(…)'`, all in the same run. Prints medians and ratios.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startNginx, stopAllServers } from '../scripts/servers/index.js';
import { median, printTable } from './table.js';

const RUNS = Number(process.env.BENCH_RUNS ?? 20);

function time(argv: string[], env: Record<string, string>): number {
  const started = performance.now();
  const run = spawnSync(argv[0] as string, argv.slice(1), { env, stdio: 'pipe' });
  const elapsed = performance.now() - started;
  if (run.status !== 0) throw new Error(`${argv.join(' ')} exited ${run.status}: ${run.stdout}${run.stderr}`);
  return elapsed;
}

export async function coldStart(): Promise<void> {
  const nginx = await startNginx();
  const scratch = mkdtempSync(join(tmpdir(), 'switchyard-bench-'));
  try {
    const url = `${nginx.url}/`;
    const output = join(scratch, 'output');
    const base = { PATH: process.env.PATH ?? '' };
    const actionEnv = { ...base, INPUT_TARGETS: url, GITHUB_OUTPUT: output, RUNNER_TEMP: scratch };
    const contenders: [string, string[], Record<string, string>][] = [
      ['health-check dist', [process.execPath, 'actions/health-check/dist/index.js'], actionEnv],
      ['curl -sf', ['curl', '-sf', '-o', '/dev/null', url], base],
      [
        'node -e fetch',
        [process.execPath, '-e', `fetch(${JSON.stringify(url)}).then(r => process.exit(r.ok ? 0 : 1))`],
        base,
      ],
    ];
    const samples = new Map<string, number[]>(contenders.map(([name]) => [name, []]));
    // Interleaved, so drift in machine load hits every contender alike.
    for (let i = 0; i < RUNS; i++) {
      for (const [name, argv, env] of contenders) {
        writeFileSync(output, '');
        samples.get(name)?.push(time(argv, env));
      }
    }
    const action = median(samples.get('health-check dist') ?? []);
    printTable(
      `Cold start, one healthy local URL (median of ${RUNS} runs)`,
      ['command', 'median ms', 'action ÷ this'],
      contenders.map(([name]) => {
        const m = median(samples.get(name) ?? []);
        return [name, m.toFixed(1), (action / m).toFixed(2)];
      }),
    );
  } finally {
    rmSync(scratch, { recursive: true, force: true });
    await stopAllServers();
  }
}
