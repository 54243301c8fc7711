import { defineAction, githubIO, runAction, type ActionIO } from '../../core/src/index.js';
import { healthCheck } from '../../core/src/health-check/check.js';
import { healthCheckInputs } from '../../core/src/health-check/inputs.js';
import { renderHealthCheckSummary } from '../../core/src/health-check/summary.js';

export const healthCheckAction = defineAction({
  name: 'health-check',
  inputs: healthCheckInputs,
  engine: (inputs, { io, clock, signal }) => healthCheck(inputs, { io, clock, signal }),
  outputs: {
    healthy: {
      description: 'true when every target passed (and the k6 gate, when given), else false.',
      value: (result) => String(result.healthy),
      whenFailed: () => 'false',
    },
    verdict: {
      description:
        'passed, failed or inconclusive (not enough evidence: too few samples, no data, cancelled); healthy is true only when passed.',
      value: (result) => result.verdict,
    },
    failed: {
      description: 'JSON array of the targets that failed (credentials redacted).',
      value: (result) => JSON.stringify(result.failed),
    },
    'error-rate': {
      description: 'Share of failed probe attempts over all attempts, as a fraction (0.0125 = 1.25%).',
      // Six decimals: one failure in 30,000 probes still shows.
      value: (result) => String(Number(result.overall.errorRate.toFixed(6))),
    },
    'p95-ms': {
      description: '95th percentile latency of all probe attempts, in milliseconds.',
      value: (result) => (result.overall.p95 === undefined ? '' : String(Math.round(result.overall.p95))),
    },
  },
  report: { description: 'Path of the JSON report (every sample, per-target statistics, the k6 verdicts).' },
  summary: renderHealthCheckSummary,
  failure: (result) =>
    result.healthy ? undefined : { message: `Unhealthy: ${result.reason}`, title: 'Health check failed' },
});

export const run = (io: ActionIO = githubIO()) => runAction(healthCheckAction, io);
