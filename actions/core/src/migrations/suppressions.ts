import type { Position, Statement } from './parser.js';

/** An ignore comment: which rules, for which statement (or the whole file), and why. */
export interface Suppression {
  rules: string[];
  /** The comment's line. */
  line: number;
  /** Which statement it covers: the first one starting after it; undefined for a file-level one. */
  statement?: number;
  reason?: string;
  /** squawk's own comment: honoured for teams moving from squawk; it needs no reason. */
  squawk: boolean;
  file: boolean;
  /** Rules it has suppressed so far (an ignore that suppresses nothing is reported). */
  used: Set<string>;
}

export interface FileComments {
  suppressions: Suppression[];
  /** The file says `-- switchyard: contract` in its first comment. */
  contract: boolean;
  /** Where that marker is. */
  contractAt?: Position;
}

const IGNORE = /^\s*--\s*(switchyard|squawk)-ignore(-file)?\s+([\w-]+(?:\s*,\s*[\w-]+)*)\s*(?::(.*))?$/;
const CONTRACT = /^\s*--\s*switchyard:\s*contract\b/i;

/**
 * The ignore comments of a file and its phase marker. Only comments between statements count: a
 * line inside a statement (a function body, a string, a statement split over lines) is the
 * statement's text, whatever it looks like.
 */
export function readComments(text: string, statements: readonly Statement[]): FileComments {
  const lines = text.split('\n');
  const suppressions: Suppression[] = [];
  let contract = false;
  let contractAt: Position | undefined;
  const firstStatementLine = statements[0]?.start.line ?? Number.POSITIVE_INFINITY;
  const inStatement = statementLines(statements);
  lines.forEach((raw, index) => {
    const line = index + 1;
    if (inStatement.has(line)) return;
    const text = raw.replace(/\r$/, '');
    // The marker belongs to the comments that open the file, before its first statement.
    if (line < firstStatementLine && CONTRACT.test(text)) {
      contract = true;
      contractAt ??= { line, column: text.indexOf('--') + 1 };
    }
    const match = IGNORE.exec(text);
    if (!match) return;
    const [, tool, fileWide, list = '', said] = match;
    const reason = said?.trim() || undefined;
    const statement = fileWide ? undefined : statements.find((each) => each.start.line > line)?.index;
    suppressions.push({
      rules: list.split(',').map((rule) => rule.trim()),
      line,
      statement,
      reason,
      squawk: tool === 'squawk',
      file: Boolean(fileWide),
      used: new Set(),
    });
  });
  return { suppressions, contract, contractAt };
}

/** The lines statements span (their first to their last character). */
function statementLines(statements: readonly Statement[]): Set<number> {
  const lines = new Set<number>();
  for (const statement of statements)
    for (let line = statement.start.line; line <= statement.end.line; line++) lines.add(line);
  return lines;
}

/**
 * The suppression that silences `rule` on statement `index`, if any. switchyard's own comments
 * need a reason: without one they silence nothing (and are reported). Marks it used.
 */
export function suppressedBy(
  comments: FileComments,
  rule: string,
  index: number | undefined,
): Suppression | undefined {
  const found = comments.suppressions.find(
    (each) =>
      each.rules.includes(rule) &&
      (each.squawk || each.file || each.reason !== undefined) &&
      (each.file || (index !== undefined && each.statement === index)),
  );
  found?.used.add(rule);
  return found;
}
