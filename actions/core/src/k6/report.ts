/**
 * The k6 gate as plain markdown: one table per metric that had thresholds — its statistics in the
 * first row, then one row per threshold with ✅/❌ and the compared value under its statistic.
 */
import type { K6GateMetric, K6GateResult, ThresholdVerdict } from './thresholds.js';

const ORDER = ['value', 'avg', 'min', 'med', 'max', 'rate', 'passes', 'fails', 'count'];

function percentileOf(key: string): number | undefined {
  const match = /^p\((.+)\)$/.exec(key);
  return match ? Number(match[1]) : undefined;
}

/** k6's own order: value, avg min med max, p(…) ascending, then the rest. */
function columnsOf(metric: K6GateMetric): string[] {
  const rank = (key: string): number => {
    const p = percentileOf(key);
    if (p !== undefined) return 5 + p / 1000;
    const at = ORDER.indexOf(key);
    return at < 0 ? 100 : at < 5 ? at : at + 1;
  };
  return Object.keys(metric.values).sort((a, b) => rank(a) - rank(b) || a.localeCompare(b));
}

function plain(n: number): string {
  if (Number.isInteger(n)) return String(n);
  if (Math.abs(n) >= 1) return String(Number(n.toFixed(2)));
  return String(Number(n.toPrecision(3)));
}

function formatValue(metric: K6GateMetric, statistic: string, n: number): string {
  if (metric.type === 'rate') {
    return statistic === 'rate' ? `${plain(n)} (${(n * 100).toFixed(2)}%)` : plain(n);
  }
  if (metric.type === 'counter' && statistic === 'rate') return `${plain(n)}/s`;
  if (metric.type === 'counter' && metric.contains === 'data') return `${plain(n)} B`;
  if (metric.contains === 'time' && statistic !== 'count') return `${plain(n)} ms`;
  if (metric.contains === 'data' && statistic !== 'count') return `${plain(n)} B`;
  return plain(n);
}

function cell(text: string): string {
  return text.replace(/\|/g, '\\|').replace(/\n/g, ' ');
}

function verdictLabel(verdict: ThresholdVerdict): string {
  const icon = verdict.ok ? '✅' : '❌';
  const source = verdict.source === 'file' ? 'recorded by k6' : 'k6-thresholds';
  const extra: string[] = [];
  if (verdict.note) extra.push(verdict.note);
  else if (verdict.actual === undefined && verdict.statistic !== undefined)
    extra.push(`${verdict.statistic} not in file`);
  return `${icon} \`${cell(verdict.expression)}\` · ${source}${extra.length > 0 ? ` (${cell(extra.join('; '))})` : ''}`;
}

function renderMetric(metric: K6GateMetric, verdicts: ThresholdVerdict[], showFile: boolean): string {
  const columns = columnsOf(metric);
  const unit = metric.contains === 'time' ? ', ms' : metric.contains === 'data' ? ', bytes' : '';
  const where = showFile ? ` — ${cell(metric.file)}` : '';
  const lines = [
    `**${cell(metric.name)}** (${metric.type}${unit})${where}`,
    '',
    `| | ${columns.map(cell).join(' | ')} |`,
    `| --- | ${columns.map(() => '---:').join(' | ')} |`,
    `| statistics | ${columns.map((c) => formatValue(metric, c, metric.values[c] ?? NaN)).join(' | ')} |`,
  ];
  for (const verdict of verdicts) {
    const cells = columns.map((c) =>
      c === verdict.statistic && verdict.actual !== undefined
        ? `${verdict.ok ? '' : '**'}${formatValue(metric, c, verdict.actual)}${verdict.ok ? '' : '**'}`
        : '',
    );
    lines.push(`| ${verdictLabel(verdict)} | ${cells.join(' | ')} |`);
  }
  if (metric.type === 'rate') {
    lines.push(
      '',
      `\`passes\` counts samples that were true${metric.name.startsWith('http_req_failed') ? ' — here, failed requests' : ''}; \`rate\` = passes / (passes + fails).`,
    );
  }
  return lines.join('\n');
}

export function renderK6Markdown(result: K6GateResult): string {
  const total = result.verdicts.length;
  const failed = result.verdicts.filter((v) => !v.ok).length;
  const headline =
    total === 0
      ? 'k6: no thresholds were recorded or given.'
      : failed === 0
        ? `✅ k6: all ${total} threshold${total === 1 ? '' : 's'} passed.`
        : `❌ k6: ${failed} of ${total} threshold${total === 1 ? '' : 's'} failed.`;
  const files = new Set(result.metrics.map((m) => m.file));
  // k6 lists metrics alphabetically; handleSummary() files come in Go's random map order.
  const metrics = [...result.metrics].sort(
    (a, b) => [...files].indexOf(a.file) - [...files].indexOf(b.file) || a.name.localeCompare(b.name),
  );
  const sections = metrics.map((metric) =>
    renderMetric(
      metric,
      result.verdicts.filter((v) => v.file === metric.file && v.metric === metric.name),
      files.size > 1,
    ),
  );
  return [headline, ...sections].join('\n\n') + '\n';
}
