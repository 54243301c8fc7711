import { count, markdownTable } from '../summary.js';
import type { LintResult } from './lint.js';

const ICON = { error: '❌', warning: '⚠️' } as const;

/**
 * Rows the summary shows in all. GitHub refuses a job summary over 1 MiB (the step's summary is
 * then lost entirely); the report and the SARIF file always hold every violation.
 */
export const SUMMARY_ROWS = 300;

/** The job summary: the verdict, then a table per file with the rule, the statement and the fix. */
export function renderLintSummary(result: LintResult): string {
  const errors = result.violations.filter((v) => v.severity === 'error').length;
  const warnings = result.violations.length - errors;
  const parts = [
    `## validate-migration lint: ${result.valid ? '✅' : '❌'} ${count(errors, 'error')}, ${count(warnings, 'warning')} · phase **${result.phase}**\n`,
    `${count(result.files.length, 'file')} checked against PostgreSQL ${result.pgVersion}` +
      (result.baseline
        ? ` (added or changed since \`${result.baseline.ref}\`, ${result.baseline.commit.slice(0, 7)})`
        : '') +
      (result.skipped.length ? `; ${count(result.skipped.length, 'file')} left out` : '') +
      '.\n',
  ];
  if (result.phase === 'contract') {
    parts.push(
      '> **Contract phase:** this deploy drops or renames what old code used. Once it has run, rolling traffic back to the old code would break it: the deploy freezes and alerts instead of rolling back across it.\n',
    );
  }
  let shown = 0;
  for (const file of result.files) {
    const all = result.violations.filter((v) => v.file === file.file);
    if (all.length === 0 && file.contract.length === 0) continue;
    const found = all.slice(0, Math.max(0, SUMMARY_ROWS - shown));
    shown += found.length;
    parts.push(`### \`${file.file}\` (${file.phase})\n`);
    if (found.length > 0) {
      parts.push(
        markdownTable(
          ['', 'Line', 'Rule', 'Statement', 'What breaks', 'Fix'],
          found.map((v) => [
            ICON[v.severity],
            v.line,
            `\`${v.rule}\``,
            v.statement ? `\`${v.statement}\`` : '',
            v.message,
            v.fix,
          ]),
        ),
      );
    }
    if (found.length < all.length) parts.push(`…and ${all.length - found.length} more in this file.\n`);
    if (file.contract.length > 0) {
      parts.push(
        markdownTable(
          ['Line', 'Contract statement (allowed here)', 'Rules'],
          file.contract.map((c) => [c.line, `\`${c.statement}\``, c.rules.join(', ')]),
        ),
      );
    }
  }
  if (shown < result.violations.length) {
    parts.push(
      `The summary shows ${SUMMARY_ROWS} of ${result.violations.length} violations; the report (\`report\` output) and the SARIF file hold them all.\n`,
    );
  }
  const clean = result.files.filter(
    (file) => !result.violations.some((v) => v.file === file.file) && file.contract.length === 0,
  );
  if (clean.length > 0) parts.push(`Clean: ${clean.map((file) => `\`${file.file}\``).join(', ')}.\n`);
  if (result.squawk?.missing) parts.push(`squawk was asked for but ${result.squawk.missing}.\n`);
  return parts.join('\n');
}
