import { renderK6Markdown } from '../k6/report.js';
import { count, formatMs, formatPercent, markdownTable, mermaidLineChart } from '../summary.js';
import type { HealthCheckResult } from './check.js';

/** Targets drawn on the latency chart; more would be unreadable without a legend. */
const CHART_TARGETS = 6;

export function renderHealthCheckSummary(result: HealthCheckResult): string {
  const parts: string[] = [];
  const verdict =
    result.verdict === 'passed'
      ? '✅ healthy'
      : result.verdict === 'inconclusive'
        ? '⚠️ inconclusive — not enough evidence, so not healthy'
        : '❌ unhealthy';
  parts.push(`## Health check: ${verdict}\n`);
  parts.push(
    `Mode \`${result.mode}\`, ${result.targets.length} target${result.targets.length === 1 ? '' : 's'}, ` +
      `${count(result.overall.samples, 'probe')} in ${formatMs(result.elapsedMs)}, error rate ${formatPercent(result.overall.errorRate)}, ` +
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
        t.detail + describeFacts(t.facts),
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

/** Facts worth a reader's eye; the HTTP status is already in the detail. */
function describeFacts(facts: Record<string, string | number | boolean> | undefined): string {
  const shown = Object.entries(facts ?? {}).filter(([name]) => name !== 'status');
  return shown.length ? ` (${shown.map(([k, v]) => `${k}: ${v}`).join(', ')})` : '';
}

/** The slowest attempt of each target in each round, over the round's start time. */
function latencyChart(result: HealthCheckResult): string {
  const targets = result.targets.slice(0, CHART_TARGETS).map((t) => t.target);
  const rounds = new Map<number, { at: number; worst: Map<string, number> }>();
  for (const sample of result.samples) {
    const round = sample.round ?? 0;
    const entry = rounds.get(round) ?? { at: sample.at, worst: new Map<string, number>() };
    entry.at = Math.min(entry.at, sample.at);
    entry.worst.set(sample.target, Math.max(entry.worst.get(sample.target) ?? 0, sample.latencyMs));
    rounds.set(round, entry);
  }
  const ordered = [...rounds.values()].sort((a, b) => a.at - b.at);
  return mermaidLineChart({
    title: 'Probe latency (ms), slowest attempt per round',
    xLabel: 'seconds',
    x: ordered.map((r) => (r.at / 1000).toFixed(1)),
    yLabel: 'ms',
    series: targets.map((target) => ({
      name: target,
      values: ordered.map((r) => r.worst.get(target) ?? Number.NaN),
    })),
  });
}
