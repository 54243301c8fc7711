import { describe, expect, it } from '@jest/globals';
import { markdownTable, mermaidLineChart } from '../../actions/core/src/summary.js';

describe('job summary building blocks', () => {
  it('escapes pipes and newlines so a cell cannot break the table', () => {
    const table = markdownTable(['Target', 'Detail'], [['a|b', 'line1\nline2']]);
    expect(table.split('\n')[2]).toBe('| a\\|b | line1<br>line2 |');
  });

  it('draws a mermaid xychart with one line per series and a legend', () => {
    const chart = mermaidLineChart({
      title: 'Latency',
      xLabel: 'seconds',
      x: ['0', '1', '2'],
      yLabel: 'ms',
      series: [
        { name: 'blue', values: [1, 2, 3] },
        { name: 'green', values: [4, Number.NaN, 6] },
      ],
    });
    expect(chart).toContain('xychart-beta');
    expect(chart).toContain('line [1, 2, 3]');
    expect(chart).toContain('line [4, 0, 6]');
    expect(chart).toContain('Lines, in order: `blue`, `green`.');
  });

  it('downsamples long series keeping spikes', () => {
    const values = Array.from({ length: 600 }, (_, i) => (i === 333 ? 999 : 1));
    const chart = mermaidLineChart({
      title: 't',
      xLabel: 's',
      x: values.map(String),
      yLabel: 'ms',
      series: [{ name: 'a', values }],
    });
    const line = /line \[(.*)\]/.exec(chart)?.[1]?.split(', ') ?? [];
    expect(line.length).toBeLessThanOrEqual(60);
    expect(line).toContain('999');
  });
});
