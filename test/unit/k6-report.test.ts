import { describe, it, expect } from '@jest/globals';
import { fileURLToPath } from 'node:url';
import { parseK6Summary, readK6Summary } from '../../actions/core/src/k6/summary.js';
import { evaluateK6Gate, parseThresholdLines } from '../../actions/core/src/k6/thresholds.js';
import { renderK6Markdown } from '../../actions/core/src/k6/report.js';

const fixture = (name: string) => fileURLToPath(new URL(`../fixtures/k6/${name}`, import.meta.url));

/** The markdown table that follows the bold title line of a metric. */
function tableOf(markdown: string, metric: string): string[][] {
  const lines = markdown.split('\n');
  const start = lines.findIndex((l) => l.startsWith(`**${metric}**`));
  expect(start).toBeGreaterThanOrEqual(0);
  const rows: string[][] = [];
  for (const line of lines.slice(start + 2)) {
    if (!line.startsWith('|')) break;
    rows.push(
      line
        .slice(1, -1)
        .split(/(?<!\\)\|/)
        .map((c) => c.trim()),
    );
  }
  return rows;
}

describe('renderK6Markdown', () => {
  it('shows one table per judged metric: statistics, then a verdict row per threshold', async () => {
    const summary = await readK6Summary(fixture('export.json'));
    const result = evaluateK6Gate([summary], parseThresholdLines(['http_req_duration: p(90)<300']));
    const markdown = renderK6Markdown(result);

    const judged = new Set(result.verdicts.map((v) => v.metric));
    for (const name of summary.metrics.keys()) {
      expect(markdown.includes(`**${name}**`)).toBe(judged.has(name));
    }

    const [header, , statistics, ...verdicts] = tableOf(markdown, 'http_req_duration');
    expect(header).toEqual(['', 'avg', 'min', 'med', 'max', 'p(90)', 'p(95)']);
    expect(statistics?.[0]).toBe('statistics');
    expect(statistics?.[6]).toBe('412.83 ms');
    expect(verdicts.map((row) => row[0])).toEqual([
      '✅ `p(95)<500` · recorded by k6',
      '✅ `p(99)<1500` · recorded by k6 (p(99) not in file)',
      '❌ `p(90)<300` · k6-thresholds',
    ]);
    // The compared value sits under its statistic; a failed one is bold.
    expect(verdicts[0]?.[6]).toBe('412.83 ms');
    expect(verdicts[2]?.[5]).toBe('**330.51 ms**');
  });

  it('says how many thresholds failed and explains passes for http_req_failed', async () => {
    const summary = await readK6Summary(fixture('export.json'));
    const markdown = renderK6Markdown(evaluateK6Gate([summary], []));
    const failed = evaluateK6Gate([summary], []).verdicts.filter((v) => !v.ok).length;
    expect(markdown.split('\n')[0]).toBe(`❌ k6: ${failed} of 5 thresholds failed.`);
    const [header, , statistics] = tableOf(markdown, 'http_req_failed');
    expect(header).toEqual(['', 'rate', 'passes', 'fails']);
    expect(statistics?.[1]).toBe('0.0206 (2.06%)');
    expect(markdown).toContain('`passes` counts samples that were true — here, failed requests');
  });

  it('names the file of each table when several files are judged, and escapes pipes', async () => {
    const handled = await readK6Summary(fixture('handle-summary.json'));
    const piped = parseK6Summary(
      JSON.stringify({
        metrics: {
          'checks{check:a|b}': { passes: 1, fails: 0, value: 1, thresholds: { 'rate>0.5': false } },
        },
      }),
      'piped.json',
    );
    const markdown = renderK6Markdown(evaluateK6Gate([handled, piped], []));
    expect(markdown).toContain(`**http_req_duration** (trend, ms) — ${handled.file}`);
    expect(markdown).toContain('**checks{check:a\\|b}** (rate) — piped.json');
    expect(markdown.split('\n')[0]).toBe('❌ k6: 1 of 6 thresholds failed.');
  });

  it('lists metrics alphabetically, as k6 does, and a gauge by value, min, max', async () => {
    const handled = await readK6Summary(fixture('handle-summary.json'));
    const markdown = renderK6Markdown(evaluateK6Gate([handled], parseThresholdLines(['vus: value<=10'])));
    const titles = markdown
      .split('\n')
      .filter((l) => l.startsWith('**'))
      .map((l) => l.slice(2, l.indexOf('**', 2)));
    expect(titles).toEqual([...titles].sort((a, b) => a.localeCompare(b)));
    expect(tableOf(markdown, 'vus')[0]).toEqual(['', 'value', 'min', 'max']);
  });

  it('says so when there is nothing to judge', () => {
    const empty = parseK6Summary('{"metrics": {}}', 'empty.json');
    expect(renderK6Markdown(evaluateK6Gate([empty], []))).toBe('k6: no thresholds were recorded or given.\n');
  });
});
