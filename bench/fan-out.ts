// Fan-out: 500 targets that each take 50 ms to answer, probed once with the default concurrency
// bound. The ideal is ⌈targets ÷ bound⌉ × one target's time; goal: within 1.5× of it.
import { run } from '../actions/health-check/src/main.js';
import { runWithInputs } from '../actions/core/src/action.js';
import { healthCheckInputs } from '../actions/core/src/health-check/inputs.js';
import { startSampleService, stopAllServers } from '../scripts/servers/index.js';
import { median, printTable } from './table.js';

const TARGETS = 500;
const LATENCY_MS = 50;
const RUNS = Number(process.env.BENCH_RUNS ?? 5);

export async function fanOut(): Promise<void> {
  const service = await startSampleService();
  try {
    const bound = Number(healthCheckInputs.concurrency.default);
    const targets = Array.from(
      { length: TARGETS },
      (_, i) => `${service.url}/delay/${LATENCY_MS}?target=${i}`,
    ).join('\n');
    // One request alone, for the real per-target time (50 ms plus loopback and parsing).
    const single = await measure(`${service.url}/delay/${LATENCY_MS}`);
    const totals: number[] = [];
    for (let i = 0; i < RUNS; i++) totals.push(await measure(targets));
    // The ideal uses the nominal 50 ms: all overhead (action start-up, parsing, the report) counts against us.
    const ideal = Math.ceil(TARGETS / bound) * LATENCY_MS;
    const total = median(totals);
    printTable(
      `Fan-out: ${TARGETS} targets × ${LATENCY_MS} ms, concurrency ${bound} (median of ${RUNS} runs)`,
      ['ideal ms (⌈500÷bound⌉ × 50)', 'measured ms', 'measured ÷ ideal', 'goal', 'one target alone, ms'],
      [[ideal.toFixed(0), total.toFixed(0), (total / ideal).toFixed(2), '≤ 1.50', single.toFixed(1)]],
    );
  } finally {
    await stopAllServers();
  }
}

async function measure(targets: string): Promise<number> {
  const started = performance.now();
  const result = await runWithInputs(
    run,
    { targets, retries: '0' },
    { env: { RUNNER_TEMP: process.env.TMPDIR ?? '/tmp' } },
  );
  const elapsed = performance.now() - started;
  if (result.outputs.healthy !== 'true')
    throw new Error(`fan-out run was unhealthy: ${result.log.slice(-3).join('\n')}`);
  return elapsed;
}
