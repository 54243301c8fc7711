import { describe, expect, it } from '@jest/globals';
import { markdownTable, mermaidLineChart, tableCell } from '../../actions/core/src/summary.js';

describe('job summary building blocks', () => {
  it('escapes pipes and newlines so a cell cannot break the table', () => {
    const table = markdownTable(['Target', 'Detail'], [['a|b', 'line1\nline2']]);
    expect(table.split('\n')[2]).toBe('| a\\|b | line1<br>line2 |');
  });

  it('a version or reason with CR, CRLF, pipes or a trailing backslash keeps its row whole', () => {
    const table = markdownTable(['Version', 'Reason'], [['v1\r\n| x | y |', 'a\rb\\']]);
    const rows = table.trimEnd().split('\n');
    expect(rows).toHaveLength(3);
    expect(rows[2]).toBe('| v1<br>\\| x \\| y \\| | a<br>b\\\\ |');
    // Hand-built tables use the same escaping.
    expect(tableCell('1.2|3\n4')).toBe('1.2\\|3<br>4');
    expect(tableCell(undefined)).toBe('');
  });

  it('a line break in a chart label cannot end the mermaid statement', () => {
    const chart = mermaidLineChart({
      title: 'v1\nx-axis "evil"',
      xLabel: 't',
      x: ['a'],
      yLabel: 'ms',
      series: [],
    });
    expect(chart).toContain(`title "v1 x-axis 'evil'"`);
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
