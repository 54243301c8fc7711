// A self-contained HTML report of the demo: no scripts, no external assets — an inline SVG of the
// green weight and the analysis error rate over time for each promotion, and the numbers.

export interface ReportSeries {
  title: string;
  verdict: string;
  /** Points in ms since that promotion started. */
  points: { at: number; green: number; errorRate?: number; event?: string }[];
}

const escape = (text: string) =>
  text.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;').replaceAll('"', '&quot;');

function chart(series: ReportSeries): string {
  const width = 760;
  const height = 240;
  const pad = { left: 44, right: 16, top: 16, bottom: 32 };
  const end = Math.max(1, ...series.points.map((p) => p.at));
  const x = (at: number) => pad.left + (at / end) * (width - pad.left - pad.right);
  const y = (percent: number) => pad.top + (1 - percent / 100) * (height - pad.top - pad.bottom);
  const line = (values: { at: number; v: number }[]) =>
    values.map((p) => `${x(p.at).toFixed(1)},${y(p.v).toFixed(1)}`).join(' ');
  // Weights change in steps: draw them as a staircase.
  const stairs: { at: number; v: number }[] = [];
  for (const point of series.points) {
    const last = stairs[stairs.length - 1];
    if (last) stairs.push({ at: point.at, v: last.v });
    stairs.push({ at: point.at, v: point.green });
  }
  const errors = series.points
    .filter((p) => p.errorRate !== undefined)
    .map((p) => ({ at: p.at, v: (p.errorRate ?? 0) * 100 }));
  const ticks = [0, 25, 50, 75, 100]
    .map(
      (t) =>
        `<line x1="${pad.left}" x2="${width - pad.right}" y1="${y(t)}" y2="${y(t)}" class="grid"/><text x="${pad.left - 6}" y="${y(t) + 4}" text-anchor="end">${t}%</text>`,
    )
    .join('');
  const events = series.points
    .filter((p) => p.event)
    .map((p) => `<text x="${x(p.at)}" y="${height - 8}" text-anchor="middle">${escape(p.event ?? '')}</text>`)
    .join('');
  return `<svg viewBox="0 0 ${width} ${height}" role="img" aria-label="${escape(series.title)}">
  ${ticks}
  <polyline points="${line(stairs)}" class="green"/>
  <polyline points="${line(errors)}" class="errors"/>
  ${events}
</svg>`;
}

export function renderHtmlReport(report: {
  title: string;
  lines: string[];
  series: ReportSeries[];
  table: { headers: string[]; rows: string[][] };
}): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${escape(report.title)}</title>
<style>
body { font: 15px/1.5 system-ui, sans-serif; max-width: 820px; margin: 2em auto; color: #1b1f24; }
svg { width: 100%; height: auto; background: #fafbfc; border: 1px solid #d0d7de; border-radius: 6px; }
svg text { font-size: 11px; fill: #57606a; }
.grid { stroke: #d0d7de; stroke-width: 0.5; }
.green { fill: none; stroke: #1a7f37; stroke-width: 2.5; }
.errors { fill: none; stroke: #cf222e; stroke-width: 1.5; }
.key span { display: inline-block; width: 1em; height: 0.3em; vertical-align: middle; margin: 0 0.3em 0 1em; }
table { border-collapse: collapse; width: 100%; } td, th { border-bottom: 1px solid #d0d7de; padding: 4px 8px; text-align: left; }
pre { background: #f6f8fa; padding: 1em; border-radius: 6px; }
</style></head><body>
<h1>${escape(report.title)}</h1>
<pre>${report.lines.map(escape).join('\n')}</pre>
<p class="key"><span style="background:#1a7f37"></span>green weight <span style="background:#cf222e"></span>analysis error rate</p>
${report.series.map((s) => `<h2>${escape(s.title)} — ${escape(s.verdict)}</h2>\n${chart(s)}`).join('\n')}
<h2>Steps</h2>
<table><tr>${report.table.headers.map((h) => `<th>${escape(h)}</th>`).join('')}</tr>
${report.table.rows.map((r) => `<tr>${r.map((c) => `<td>${escape(c)}</td>`).join('')}</tr>`).join('\n')}
</table>
</body></html>
`;
}
