import { count, formatMs, markdownTable } from '../../summary.js';
import type { RehearseResult } from './rehearse.js';

export function renderRehearseSummary(result: RehearseResult): string {
  const { queries } = result;
  const verdict = result.valid
    ? `✅ ${count(queries.checked, 'statement')} of the old code still prepare`
    : result.violations.length > 0
      ? `❌ ${count(result.violations.length, 'statement')} of the old code would fail`
      : '❌ failed';
  const copy = result.copy.kind === 'backup' ? `backup \`${result.copy.id}\`` : 'the schema only';
  const parts = [
    `## validate-migration rehearse: ${verdict}\n`,
    `Scratch database \`${result.scratch.database}\` (${copy}; ${result.scratch.dropped ? 'dropped' : '**not dropped: drop it by hand**'}), ${count(result.applied.length, 'pending file')} applied to it in ${formatMs(result.durationMs)}. Statements: ${queries.fromStatements} from pg_stat_statements${result.pgStatStatements.available ? '' : ' (not installed)'}, ${queries.fromFile} from queries-file; ${queries.checked} checked, ${queries.unpreparable.length} left out (they do not prepare before the migration either).\n`,
  ];
  if (result.pgStatStatements.advice) parts.push(`> ⚠️ ${result.pgStatStatements.advice}\n`);
  if (result.violations.length > 0)
    parts.push(
      markdownTable(
        ['Statement', 'Calls', 'Error after the migration'],
        result.violations
          .slice(0, 300)
          .map((v) => [
            `\`${v.query.replace(/\s+/g, ' ').slice(0, 200)}\``,
            v.calls ?? (v.line ? `queries-file line ${v.line}` : ''),
            v.error,
          ]),
      ),
    );
  for (const failure of result.failures)
    parts.push(`- ❌ ${failure.file ? `\`${failure.file}:${failure.line ?? 1}\` ` : ''}${failure.message}`);
  return parts.join('\n');
}
