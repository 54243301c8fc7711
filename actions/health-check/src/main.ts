import {
  githubIO,
  readActionInputs,
  runAction,
  systemClock,
  writeReport,
  type ActionIO,
} from '../../core/src/index.js';
import { healthCheck } from '../../core/src/health-check/check.js';
import { healthCheckInputs } from '../../core/src/health-check/inputs.js';
import { renderHealthCheckSummary } from '../../core/src/health-check/summary.js';

export async function run(io: ActionIO = githubIO()): Promise<void> {
  await runAction(io, async () => {
    const inputs = readActionInputs(io, 'health-check', healthCheckInputs);
    const result = await healthCheck(inputs, { io, clock: systemClock });

    io.setOutput('healthy', String(result.healthy));
    io.setOutput('failed', JSON.stringify(result.failed));
    // Six decimals: one failure in 30,000 probes still shows.
    io.setOutput('error-rate', String(Number(result.overall.errorRate.toFixed(6))));
    io.setOutput('p95-ms', result.overall.p95 === undefined ? '' : String(Math.round(result.overall.p95)));
    io.setOutput('report', await writeReport(io, 'health-check', result));
    await io.summary(renderHealthCheckSummary(result));
    if (!result.healthy) {
      io.error(`Unhealthy: ${result.reason}`, { title: 'Health check failed' });
      io.setExitCode(1);
    }
  });
}
