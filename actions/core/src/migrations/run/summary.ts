import { count, formatMs, markdownTable } from '../../summary.js';
import type { RunResult } from './run.js';

export function renderRunSummary(result: RunResult): string {
  const verdict = result.valid
    ? `✅ ${result.applied.length ? `${count(result.applied.length, 'file')} applied` : 'up to date'}`
    : `❌ failed${result.restored && !result.restored.error ? ', database restored' : ''}`;
  const parts = [
    `## validate-migration run: ${verdict}\n`,
    `Database \`${result.database}\`, tracked in \`${result.trackingTable}\`: ${result.alreadyApplied.length} already applied, ${result.pending.length} pending; phase **${result.phase}**${result.backupId ? `; backup \`${result.backupId}\`` : ''}.\n`,
  ];
  if (result.applied.length > 0 || result.undone.length > 0)
    parts.push(
      markdownTable(
        ['File', 'Phase', 'Statements', 'Took', 'Outside a transaction', 'Kept'],
        [
          ...result.applied.map((each) => [
            `\`${each.file}\``,
            each.phase,
            each.statements,
            formatMs(each.durationMs),
            each.outsideTransaction.join('; ') || '—',
            'yes',
          ]),
          ...result.undone.map((file) => [`\`${file}\``, '', '', '', '', 'no (restored)']),
        ],
      ),
    );
  if (result.checks.length > 0)
    parts.push(
      markdownTable(
        ['', 'Check', 'Query', 'Rows'],
        result.checks.map((check) => [
          check.rows === 0 ? '✅' : '❌',
          check.kind,
          `\`${check.query}\``,
          check.rows,
        ]),
      ),
    );
  for (const failure of result.failures)
    parts.push(`- ❌ ${failure.file ? `\`${failure.file}:${failure.line ?? 1}\` ` : ''}${failure.message}`);
  if (result.restored) {
    const { restored } = result;
    parts.push(
      `\n### Restore\n\nBackup \`${restored.backupId}\`${restored.dropped.length ? ` after dropping ${count(restored.dropped.length, 'object')} the run created` : ''}: ${
        restored.error
          ? `❌ ${restored.error}`
          : restored.verified
            ? '✅ the schema and every table checksum equal those before the run'
            : `⚠️ restored, but it differs: ${restored.differences.join('; ')}`
      }\n`,
    );
  }
  return parts.join('\n');
}
