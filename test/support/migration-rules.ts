/**
 * Runs one migration rule over SQL, as the lint engine does: PostgreSQL's parser, then the
 * context of each statement (transactions, lock_timeout, tables created earlier in the file).
 */
import { statementContexts, type FileSettings } from '../../actions/core/src/migrations/context.js';
import { parseMigration } from '../../actions/core/src/migrations/parser.js';
import type { Finding, Rule } from '../../actions/core/src/migrations/rules/rule.js';

export interface RuleHit extends Finding {
  /** The statement's index in the file. */
  statement: number;
  /** The statement's text. */
  text: string;
}

export async function ruleHits(
  rule: Rule,
  sql: string,
  settings: Partial<FileSettings> = {},
): Promise<RuleHit[]> {
  const parsed = await parseMigration(sql);
  if (parsed.syntaxError) throw new Error(`the test's SQL does not parse: ${parsed.syntaxError.message}`);
  const contexts = statementContexts(parsed.statements, {
    file: 'migrations/001_test.sql',
    pgVersion: 17,
    assumeInTransaction: false,
    ...settings,
  });
  return parsed.statements.flatMap((statement, index) =>
    rule
      .check(statement, contexts[index]!)
      .map((finding) => ({ ...finding, statement: index, text: statement.text })),
  );
}
