import { defineAction, githubIO, runAction, type ActionIO } from '../../core/src/index.js';
import { validateMigration, type ValidateMigrationResult } from '../../core/src/migrations/engine.js';
import { validateMigrationInputs } from '../../core/src/migrations/inputs.js';
import { annotationOf } from '../../core/src/migrations/lint.js';
import type { RehearsalViolation } from '../../core/src/migrations/rehearse/rehearse.js';
import type { RunFailure } from '../../core/src/migrations/run/run.js';
import {
  renderCompareSummary,
  renderParitySummary,
  renderSnapshotSummary,
} from '../../core/src/migrations/snapshot/summary.js';
import { renderRehearseSummary } from '../../core/src/migrations/rehearse/summary.js';
import { renderRunSummary } from '../../core/src/migrations/run/summary.js';
import { renderLintSummary } from '../../core/src/migrations/summary.js';

/** About 800 bytes each: 500 stay well under GitHub's 1 MB for a job's outputs. */
const MAX_OUTPUT_VIOLATIONS = 500;

const lintOnly = <T>(
  result: ValidateMigrationResult,
  value: (lint: Extract<ValidateMigrationResult, { command: 'lint' }>) => T,
) => (result.command === 'lint' ? value(result) : undefined);

/** A run or rehearse failure as its annotation: the SQLSTATE is in the message already. */
const failureAnnotation = ({ code: _code, ...failure }: RunFailure) => failure;

const rehearsalAnnotation = (violation: RehearsalViolation) => ({
  message: `the old code's statement "${violation.query.replace(/\s+/g, ' ').slice(0, 200)}"${violation.calls !== undefined ? ` (${violation.calls} calls)` : ''} no longer prepares after the migration: ${violation.error}. Blue would fail with it during the shift: keep what it reads (expand now, contract in a later deploy)`,
  title: 'rehearse',
  ...(violation.source === 'queries-file' && violation.file
    ? { file: violation.file, line: violation.line }
    : {}),
});

export const validateMigrationAction = defineAction({
  name: 'validate-migration',
  inputs: validateMigrationInputs,
  engine: validateMigration,
  outputs: {
    valid: {
      description:
        'lint: true when no violation has severity error; run: true when every pending file applied and every check passed; rehearse: true when every query still prepares; compare: true when every expect line holds; parity: true when blue and green answer alike.',
      value: (result) => String(result.valid),
      whenFailed: () => 'false',
    },
    violations: {
      description: `lint: JSON list of file, line, column, endLine, endColumn, rule, severity, message, fix — the first ${MAX_OUTPUT_VIOLATIONS} (a step output must stay under GitHub's 1 MB; the report and the SARIF file hold all). rehearse: JSON list of query, source (pg_stat_statements or queries-file), calls, line, error, code — each statement of the application that no longer prepares after the migration.`,
      value: (result) =>
        JSON.stringify(
          result.command === 'lint' || result.command === 'rehearse'
            ? result.violations.slice(0, MAX_OUTPUT_VIOLATIONS)
            : [],
        ),
      whenFailed: () => '[]',
    },
    phase: {
      description:
        'lint: contract when a checked file is a contract-phase migration (-- switchyard: contract: traffic must not roll back across it), expand when the files change the schema, none otherwise. run: the same, of the files it applied and kept (none after a restore); the deploy input migration-phase takes it. Empty when the run ended before a result (a refused input).',
      value: (result) => (result.command === 'lint' || result.command === 'run' ? result.phase : ''),
    },
    applied: {
      description:
        'run: JSON list of the files applied and kept (file, sha256, phase, statements, durationMs, outsideTransaction); [] when nothing was or a restore took them back.',
      value: (result) => JSON.stringify(result.command === 'run' ? result.applied : []),
      whenFailed: () => '[]',
    },
    'backup-id': {
      description:
        'run: the id of the backup taken before the first file (empty when nothing was pending or backup is false).',
      value: (result) => (result.command === 'run' ? (result.backupId ?? '') : ''),
    },
    sarif: {
      description:
        'lint: path of a SARIF 2.1.0 file of the violations, for github/codeql-action/upload-sarif.',
      value: (result) => lintOnly(result, (lint) => lint.sarif) ?? '',
    },
    snapshot: {
      description: 'snapshot: the path of the snapshot written.',
      value: (result) => (result.command === 'snapshot' ? result.path : ''),
    },
    differences: {
      description:
        'compare: JSON list of every difference between the snapshots (kind, subject, before, after).',
      value: (result) =>
        JSON.stringify(result.command === 'compare' || result.command === 'parity' ? result.differences : []),
      whenFailed: () => '[]',
    },
  },
  report: {
    description:
      'Path of the JSON report (lint: every file, violation, suppression and contract statement; snapshot and compare: all they found).',
  },
  summary: (result) =>
    result.command === 'lint'
      ? renderLintSummary(result)
      : result.command === 'run'
        ? renderRunSummary(result)
        : result.command === 'rehearse'
          ? renderRehearseSummary(result)
          : result.command === 'snapshot'
            ? renderSnapshotSummary(result)
            : result.command === 'compare'
              ? renderCompareSummary(result)
              : renderParitySummary(result),
  failure: (result) =>
    result.command === 'parity'
      ? [
          ...result.differences.map((d) => ({
            message: `${d.request}: the ${d.what} differs — blue ${d.blue}, green ${d.green}`,
            title: 'parity',
          })),
          ...(result.latency.passed
            ? []
            : [
                {
                  message: `green answers ${result.latency.ratio.toFixed(2)}× slower than blue (median ${result.latency.greenMs.toFixed(1)} ms vs ${result.latency.blueMs.toFixed(1)} ms), over max-latency-ratio ${result.latency.max}`,
                  title: 'parity',
                },
              ]),
        ]
      : result.command === 'compare'
        ? result.checks
            .filter((check) => !check.passed)
            .map((check) => ({
              message: `expect line ${check.line} "${check.text}" does not hold: ${check.detail}`,
              title: 'compare',
            }))
        : result.command === 'lint'
          ? result.violations.filter((v) => v.severity === 'error').map(annotationOf)
          : result.command === 'run'
            ? result.failures.map(failureAnnotation)
            : result.command === 'rehearse'
              ? [...result.failures.map(failureAnnotation), ...result.violations.map(rehearsalAnnotation)]
              : undefined,
});

export const run = (io: ActionIO = githubIO()) => runAction(validateMigrationAction, io);
