import { formatMs, markdownTable } from '../../summary.js';
import type { ParityResult } from '../parity.js';
import type { CompareResult, SnapshotResult } from './run.js';

export function renderSnapshotSummary(result: SnapshotResult): string {
  const { postgres, redis } = result.snapshot;
  const parts = [`## validate-migration snapshot: ✅ \`${result.path}\`\n`];
  if (postgres) {
    parts.push(`PostgreSQL ${postgres.server}, database \`${postgres.database}\`:\n`);
    parts.push(
      markdownTable(
        ['Table', 'Rows', 'Checksum', 'Schema'],
        postgres.tables.map((t) => [
          `\`${t.name}\``,
          t.rows,
          `\`${t.checksum.slice(0, 12)}\`${t.sampled ? ` (sampled ${t.sampled.fraction})` : ''}`,
          `\`${t.schemaDigest.slice(0, 12)}\``,
        ]),
      ),
    );
  }
  if (redis) {
    parts.push(`Redis database ${redis.database}, ${redis.keys} keys:\n`);
    parts.push(
      markdownTable(
        ['Pattern', 'Keys', 'Types', 'With a TTL'],
        redis.patterns.map((p) => [
          `\`${p.pattern}\``,
          p.keys,
          Object.entries(p.types)
            .map(([type, n]) => `${type} ${n}`)
            .join(', '),
          p.withTtl,
        ]),
      ),
    );
  }
  return parts.join('\n');
}

export function renderCompareSummary(result: CompareResult): string {
  const failed = result.checks.filter((c) => !c.passed).length;
  const parts = [
    `## validate-migration compare: ${result.valid ? '✅' : '❌'} ${result.checks.length ? `${result.checks.length - failed} of ${result.checks.length} checks passed` : 'no expect lines: the differences'}\n`,
    `\`${result.before}\` → \`${result.after}\`\n`,
  ];
  if (result.checks.length > 0)
    parts.push(
      markdownTable(
        ['', 'Check', 'Before / after'],
        result.checks.map((c) => [c.passed ? '✅' : '❌', `\`${c.text}\``, c.detail]),
      ),
    );
  if (result.differences.length > 0)
    parts.push(
      '### Differences\n',
      markdownTable(
        ['What', 'Of', 'Before', 'After'],
        result.differences.map((d) => [d.kind, `\`${d.subject}\``, d.before, d.after]),
      ),
    );
  else parts.push('No differences.\n');
  return parts.join('\n');
}

export function renderParitySummary(result: ParityResult): string {
  const { latency } = result;
  const parts = [
    `## validate-migration parity: ${result.valid ? '✅' : '❌'} ${result.requests.length} requests, ${result.differences.length} differences\n`,
    `Latency (median): blue ${formatMs(latency.blueMs)}, green ${formatMs(latency.greenMs)} — ${latency.ratio.toFixed(2)}× (max-latency-ratio ${latency.max})${latency.passed ? '' : ' ❌'}.\n`,
    markdownTable(
      ['Request', 'Blue', 'Green', ''],
      result.requests.map((r) => [
        `\`${r.request}\``,
        r.blue.error ?? `${r.blue.status} · ${formatMs(r.blue.ms)}`,
        r.green.error ?? `${r.green.status} · ${formatMs(r.green.ms)}`,
        result.differences.some((d) => d.request === r.request) ? '❌' : '✅',
      ]),
    ),
  ];
  if (result.differences.length > 0)
    parts.push(
      '### Differences\n',
      markdownTable(
        ['Request', 'What', 'Blue', 'Green'],
        result.differences.map((d) => [`\`${d.request}\``, d.what, d.blue, d.green]),
      ),
    );
  return parts.join('\n');
}
