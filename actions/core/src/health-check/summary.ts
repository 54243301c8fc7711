import { renderK6Markdown } from '../k6/report.js';
import { formatMs, formatPercent, markdownTable, mermaidLineChart } from '../summary.js';
import type { HealthCheckResult } from './check.js';

/** Targets drawn on the latency chart; more would be unreadable without a legend. */
const CHART_TARGETS = 6;

export function renderHealthCheckSummary(result: HealthCheckResult): string {
  const parts: string[] = [];
  parts.push(`## Health check: ${result.healthy ? '✅ healthy' : '❌ unhealthy'}\n`);
  parts.push(
    `Mode \`${result.mode}\`, ${result.targets.length} target${result.targets.length === 1 ? '' : 's'}, ` +
      `${result.overall.samples} probes in ${formatMs(result.elapsedMs)}, error rate ${formatPercent(result.overall.errorRate)}, ` +
      `p95 ${formatMs(result.overall.p95)}.\n`,
  );
  if (result.reason) parts.push(`> **Why:** ${result.reason}\n`);
  parts.push(
    markdownTable(
      ['Target', 'Kind', 'Result', 'Probes', 'Error rate', 'p50', 'p95', 'p99', 'Last result'],
      result.targets.map((t) => [
        `\`${t.target}\``,
        t.kind,
        t.ok ? '✅' : '❌',
        t.samples,
        formatPercent(t.errorRate),
        formatMs(t.p50),
        formatMs(t.p95),
        formatMs(t.p99),
        t.detail +
          (t.facts
            ? ` (${Object.entries(t.facts)
                .map(([k, v]) => `${k}: ${v}`)
                .join(', ')})`
            : ''),
      ]),
    ),
  );
  if (result.mode === 'watch' && result.samples.length > 0) parts.push(latencyChart(result));
  if (result.k6)
    parts.push(
      `### k6 thresholds: ${result.k6.passed ? '✅ passed' : '❌ failed'}\n\n${renderK6Markdown(result.k6)}`,
    );
  return parts.join('\n');
}

/** Latency per target per round, over elapsed seconds. */
function latencyChart(result: HealthCheckResult): string {
  const targets = result.targets.slice(0, CHART_TARGETS).map((t) => t.target);
  const seconds = [...new Set(result.samples.map((s) => Math.floor(s.at / 1000)))].sort((a, b) => a - b);
  const series = targets.map((target) => ({
    name: target,
    values: seconds.map((second) => {
      const latencies = result.samples
        .filter((s) => s.target === target && Math.floor(s.at / 1000) === second)
        .map((s) => s.latencyMs);
      return latencies.length ? Math.max(...latencies) : Number.NaN;
    }),
  }));
  return mermaidLineChart({
    title: 'Probe latency (ms)',
    xLabel: 'seconds',
    x: seconds.map(String),
    yLabel: 'ms',
    series,
  });
}
