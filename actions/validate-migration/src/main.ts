import { defineAction, githubIO, runAction, type ActionIO } from '../../core/src/index.js';
import { validateMigrationInputs } from '../../core/src/migrations/inputs.js';
import { LintRun } from '../../core/src/migrations/lint.js';
import { renderLintSummary } from '../../core/src/migrations/summary.js';

/** About 800 bytes each: 500 stay well under GitHub's 1 MB for a job's outputs. */
const MAX_OUTPUT_VIOLATIONS = 500;

export const validateMigrationAction = defineAction({
  name: 'validate-migration',
  inputs: validateMigrationInputs,
  engine: (inputs, deps) => new LintRun(inputs, deps).execute(),
  outputs: {
    valid: {
      description: 'true when no violation has severity error.',
      value: (result) => String(result.valid),
      whenFailed: () => 'false',
    },
    violations: {
      description: `JSON list: file, line, column, endLine, endColumn, rule, severity, message, fix — the first ${MAX_OUTPUT_VIOLATIONS} (a step output must stay under GitHub's 1 MB; the report and the SARIF file hold all).`,
      value: (result) => JSON.stringify(result.violations.slice(0, MAX_OUTPUT_VIOLATIONS)),
      whenFailed: () => '[]',
    },
    phase: {
      description:
        'contract when a checked file is a contract-phase migration (-- switchyard: contract: traffic must not roll back across it), expand when the files change the schema compatibly, none otherwise.',
      value: (result) => result.phase,
    },
    sarif: {
      description: 'Path of a SARIF 2.1.0 file of the violations, for github/codeql-action/upload-sarif.',
      value: (result) => result.sarif,
    },
  },
  report: {
    description: 'Path of the JSON report (every file, violation, suppression and contract statement).',
  },
  summary: renderLintSummary,
  failure: (result) =>
    result.violations
      .filter((v) => v.severity === 'error')
      .map((v) => ({
        message: `${v.message} Fix: ${v.fix}`,
        title: v.rule,
        file: v.file,
        line: v.line,
        column: v.column,
        endLine: v.endLine,
        endColumn: v.endColumn,
      })),
});

export const run = (io: ActionIO = githubIO()) => runAction(validateMigrationAction, io);
