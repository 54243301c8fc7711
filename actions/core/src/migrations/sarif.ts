import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeDirectory, writeFileAtomic } from '../atomic-write.js';
import { SWITCHYARD_VERSION } from '../report.js';
import type { Violation } from './lint.js';
import { FILE_RULES, RULES } from './rules/index.js';

const DOCS = 'https://github.com/switchyard-actions/switchyard/blob/main/docs/rules';

/**
 * The violations as a SARIF 2.1.0 log, for GitHub code scanning
 * (`github/codeql-action/upload-sarif` with `sarif_file:` this path). Paths are relative to the
 * checkout (%SRCROOT%), as code scanning expects.
 */
export function sarifLog(violations: readonly Violation[]) {
  const described = new Map<string, string>([
    ...RULES.map((rule): [string, string] => [rule.id, rule.summary]),
    ...Object.entries(FILE_RULES).map(([id, rule]): [string, string] => [id, rule.summary]),
  ]);
  const ids = [...new Set(violations.map((v) => v.rule))].sort();
  return {
    $schema: 'https://json.schemastore.org/sarif-2.1.0.json',
    version: '2.1.0',
    runs: [
      {
        tool: {
          driver: {
            name: 'switchyard validate-migration',
            version: SWITCHYARD_VERSION,
            informationUri: 'https://github.com/switchyard-actions/switchyard',
            rules: ids.map((id) => ({
              id,
              shortDescription: { text: described.get(id) ?? `squawk: ${id}` },
              helpUri: described.has(id) ? `${DOCS}/${id}.md` : `https://squawkhq.com/docs/${id}`,
            })),
          },
        },
        results: violations.map((v) => ({
          ruleId: v.rule,
          ruleIndex: ids.indexOf(v.rule),
          level: v.severity,
          message: { text: `${v.message} Fix: ${v.fix}` },
          locations: [
            {
              physicalLocation: {
                // A URI reference: each path segment percent-encoded (spaces, #, %, non-ASCII).
                artifactLocation: {
                  uri: v.file.split('/').map(encodeURIComponent).join('/'),
                  uriBaseId: '%SRCROOT%',
                },
                // SARIF's endColumn is the column after the region; ours is its last character.
                region: {
                  startLine: v.line,
                  startColumn: v.column,
                  endLine: v.endLine,
                  endColumn: v.endColumn + 1,
                },
              },
            },
          ],
        })),
      },
    ],
  };
}

/** Writes the SARIF file beside the report, and returns its path. */
export async function writeSarif(
  violations: readonly Violation[],
  env: Readonly<Record<string, string | undefined>>,
): Promise<string> {
  const dir = join(env.RUNNER_TEMP || tmpdir(), 'switchyard');
  await makeDirectory(dir);
  const path = join(
    dir,
    `validate-migration-${new Date().toISOString().replace(/[:.]/g, '-')}-${process.pid}.sarif`,
  );
  await writeFileAtomic(path, JSON.stringify(sarifLog(violations), null, 2) + '\n');
  return path;
}
