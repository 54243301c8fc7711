export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2
    ? (sorted[mid] as number)
    : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

/** Prints a markdown table, ready to paste into BENCHMARKS.md. */
export function printTable(title: string, headers: string[], rows: string[][]): void {
  console.log(`\n### ${title}\n`);
  console.log(`| ${headers.join(' | ')} |`);
  console.log(`|${headers.map(() => ' --- ').join('|')}|`);
  for (const row of rows) console.log(`| ${row.join(' | ')} |`);
}
