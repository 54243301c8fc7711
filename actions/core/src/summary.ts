/** Job-summary building blocks: GitHub-flavoured markdown tables and mermaid charts. */

/**
 * A markdown table cell holding any text: a `|` would end the cell and a line break the table, so
 * both are escaped (breaks shown as `<br>`); a backslash is doubled so it cannot escape our `\|`.
 * For tables built by hand (not through `markdownTable`).
 */
export function tableCell(value: unknown): string {
  const text = value === undefined || value === null ? '' : String(value);
  return text
    .replaceAll('\\', '\\\\')
    .replaceAll('|', '\\|')
    .replace(/\r\n|\r|\n/g, '<br>');
}

export function markdownTable(headers: string[], rows: unknown[][]): string {
  const line = (cells: unknown[]) => `| ${cells.map(tableCell).join(' | ')} |`;
  return [line(headers), `|${headers.map(() => ' --- ').join('|')}|`, ...rows.map(line)].join('\n') + '\n';
}

export interface ChartSeries {
  name: string;
  values: number[];
}

/** Mermaid draws at most this many points legibly on a job summary. */
const MAX_POINTS = 60;

/** Keeps the worst (largest) value of each bucket so a spike survives downsampling. */
function downsample(x: string[], series: ChartSeries[]): { x: string[]; series: ChartSeries[] } {
  if (x.length <= MAX_POINTS) return { x, series };
  const size = Math.ceil(x.length / MAX_POINTS);
  const buckets = Math.ceil(x.length / size);
  const pick = <T>(values: T[], reduce: (chunk: T[]) => T) =>
    Array.from({ length: buckets }, (_, b) => reduce(values.slice(b * size, (b + 1) * size)));
  return {
    x: pick(x, (chunk) => chunk[0] as string),
    series: series.map((s) => ({ name: s.name, values: pick(s.values, (chunk) => Math.max(...chunk)) })),
  };
}

// A line break would end the mermaid statement early, a `"` the label.
const quote = (text: string) => `"${text.replaceAll('"', "'").replace(/[\r\n]+/g, ' ')}"`;

/**
 * A mermaid `xychart-beta` line chart. Mermaid draws no legend, so the series names are listed
 * under the chart in drawing order.
 */
export function mermaidLineChart(chart: {
  title: string;
  xLabel: string;
  x: string[];
  yLabel: string;
  series: ChartSeries[];
}): string {
  const { x, series } = downsample(chart.x, chart.series);
  const max = Math.max(1, ...series.flatMap((s) => s.values.filter(Number.isFinite)));
  const lines = [
    '```mermaid',
    'xychart-beta',
    `  title ${quote(chart.title)}`,
    `  x-axis ${quote(chart.xLabel)} [${x.map(quote).join(', ')}]`,
    `  y-axis ${quote(chart.yLabel)} 0 --> ${Math.ceil(max * 1.1)}`,
    ...series.map(
      (s) =>
        `  line [${s.values.map((v) => (Number.isFinite(v) ? Math.round(v * 100) / 100 : 0)).join(', ')}]`,
    ),
    '```',
  ];
  const legend =
    series.length > 1 ? `\nLines, in order: ${series.map((s) => `\`${s.name}\``).join(', ')}.\n` : '';
  return lines.join('\n') + '\n' + legend;
}

export function formatMs(ms: number | undefined): string {
  if (ms === undefined || !Number.isFinite(ms)) return '–';
  if (ms >= 120_000) return `${Math.floor(ms / 60_000)}m${Math.round((ms % 60_000) / 1000)}s`;
  return ms >= 1000 ? `${(ms / 1000).toFixed(1)} s` : `${Math.round(ms)} ms`;
}

/** 1536 → "1.5 KiB": binary units, as sizes are counted. */
export function formatBytes(bytes: number, decimals = 1): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value.toFixed(unit === 0 ? 0 : decimals)} ${units[unit]}`;
}

/** "1 probe", "3 probes". */
export function count(n: number, noun: string): string {
  return `${n} ${noun}${n === 1 ? '' : 's'}`;
}

export function formatPercent(fraction: number | undefined): string {
  return fraction === undefined
    ? '–'
    : `${(fraction * 100).toFixed(fraction === 0 || fraction === 1 ? 0 : 2)}%`;
}
