import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { UserError } from '../../errors.js';
import { unreadable } from '../files.js';
import { decodeUtf8, type Phase } from '../lint.js';
import { parseMigration, type Position, type Statement } from '../parser.js';
import { phaseOf } from '../phases.js';
import { nodeOf } from '../rules/rule.js';
import { concurrentIndexOperation } from '../rules/transactions.js';
import { readComments } from '../suppressions.js';

/** What a file does, in the order it does it: runs of statements in one transaction, or one statement alone. */
export type Step =
  | { inTransaction: true; statements: Statement[] }
  | { inTransaction: false; statement: Statement; why: string };

/** A migration file, read, parsed and cut into steps, before anything runs. */
export interface PlannedFile {
  file: string;
  sha256: string;
  phase: Phase;
  steps: Step[];
  statements: number;
  /** The file's own BEGIN and COMMIT around everything: replaced by the run's transaction. */
  ownTransaction: boolean;
}

/** A statement PostgreSQL refused, where it is in its file. */
export class StatementFailed extends UserError {
  constructor(
    override readonly file: string,
    readonly at: Position,
    readonly statement: string,
    readonly postgres: string,
    readonly code?: string,
  ) {
    super(`${file}:${at.line}: ${postgres}`, 'migration failed', file, at.line);
  }
}

/** The sha256 recorded for a file: of its bytes, as git has them. */
export const sha256Of = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');

/** A migration file's bytes. */
export async function readMigrationFile(file: string, cwd: string): Promise<Buffer> {
  try {
    return await readFile(path.join(cwd, file));
  } catch (error) {
    throw unreadable(file, error);
  }
}

/** Plans one file; anything that would stop it half-way is found here, before the run. */
export async function planFile(file: string, bytes: Buffer, serverMajor: number): Promise<PlannedFile> {
  const decoded = decodeUtf8(bytes);
  if (typeof decoded !== 'string')
    throw located(file, decoded.at, `${file} is not UTF-8; save it as UTF-8 (nothing was applied)`);
  const text = decoded.replace(/^\uFEFF/, '');
  const parsed = await parseMigration(text);
  if (parsed.syntaxError)
    throw located(
      file,
      parsed.syntaxError.at,
      `PostgreSQL cannot parse ${file}: ${parsed.syntaxError.message} (nothing was applied)`,
    );
  const { statements, ownTransaction } = withoutOwnTransaction(file, parsed.statements);
  const steps: Step[] = [];
  for (const statement of statements) {
    const why = mustRunAlone(statement, serverMajor);
    if (why) {
      steps.push({ inTransaction: false, statement, why });
      continue;
    }
    const last = steps.at(-1);
    if (last?.inTransaction) last.statements.push(statement);
    else steps.push({ inTransaction: true, statements: [statement] });
  }
  return {
    file,
    sha256: sha256Of(bytes),
    phase: phaseOf(parsed.statements, readComments(text, parsed.statements).contract),
    steps,
    statements: statements.length,
    ownTransaction,
  };
}

/**
 * A file wrapped in its own BEGIN … COMMIT (as golang-migrate and hand-written files often are)
 * runs in the run's transaction instead. Transaction control anywhere else would end the run's
 * transaction under it, so it is refused before anything runs.
 */
function withoutOwnTransaction(
  file: string,
  statements: Statement[],
): { statements: Statement[]; ownTransaction: boolean } {
  const control = (statement: Statement | undefined) =>
    statement?.kind === 'TransactionStmt' ? String(nodeOf(statement.node)[1].kind ?? '') : undefined;
  let body = statements;
  let ownTransaction = false;
  if (
    ['TRANS_STMT_BEGIN', 'TRANS_STMT_START'].includes(control(body[0]) ?? '') &&
    control(body.at(-1)) === 'TRANS_STMT_COMMIT'
  ) {
    body = body.slice(1, -1);
    ownTransaction = true;
  }
  const stray = body.find((each) => {
    const kind = control(each);
    return kind !== undefined && !kind.includes('SAVEPOINT') && kind !== 'TRANS_STMT_RELEASE';
  });
  if (stray)
    throw located(
      file,
      stray.start,
      `${file} controls its own transactions here (${stray.text.split('\n')[0]}): run applies each file in one transaction ` +
        'and runs what cannot be in one (CREATE INDEX CONCURRENTLY…) outside it by itself. Remove the BEGIN/COMMIT ' +
        'inside the file, or split it into files (nothing was applied)',
    );
  return { statements: body, ownTransaction };
}

/** Why PostgreSQL refuses this statement inside a transaction block, if it does. */
export function mustRunAlone(statement: Statement, serverMajor: number): string | undefined {
  const concurrent = concurrentIndexOperation(statement);
  if (concurrent) return concurrent;
  const [kind, body] = nodeOf(statement.node);
  switch (kind) {
    case 'VacuumStmt':
      return body.is_vacuumcmd ? 'VACUUM' : undefined;
    case 'CreatedbStmt':
      return 'CREATE DATABASE';
    case 'DropdbStmt':
      return 'DROP DATABASE';
    case 'AlterSystemStmt':
      return 'ALTER SYSTEM';
    case 'CreateTableSpaceStmt':
      return 'CREATE TABLESPACE';
    case 'DropTableSpaceStmt':
      return 'DROP TABLESPACE';
    case 'AlterEnumStmt':
      return serverMajor < 12 && !body.oldVal ? 'ALTER TYPE … ADD VALUE before PostgreSQL 12' : undefined;
    case 'ReindexStmt':
      return ['REINDEX_OBJECT_DATABASE', 'REINDEX_OBJECT_SYSTEM'].includes(String(body.kind))
        ? 'REINDEX DATABASE / SYSTEM'
        : undefined;
    case 'AlterTableStmt': {
      const cmds = (body.cmds as { AlterTableCmd?: { subtype?: string; def?: unknown } }[] | undefined) ?? [];
      const detach = cmds.find((each) => each.AlterTableCmd?.subtype === 'AT_DetachPartition');
      const concurrent = (
        detach?.AlterTableCmd?.def as { PartitionCmd?: { concurrent?: boolean } } | undefined
      )?.PartitionCmd?.concurrent;
      return concurrent ? 'DETACH PARTITION CONCURRENTLY' : undefined;
    }
    case 'ClusterStmt':
      return body.relation ? undefined : 'CLUSTER of every table';
    default:
      return undefined;
  }
}

function located(file: string, at: Position, message: string): UserError {
  return new StatementFailed(file, at, '', message.replace(`${file}:${at.line}: `, ''));
}

/** Where PostgreSQL's error position (1-based characters into the statement we sent) is in the file. */
export function positionIn(statement: Statement, errorPosition: number | undefined): Position {
  if (!errorPosition || errorPosition < 1) return statement.start;
  const before = [...statement.text].slice(0, errorPosition - 1).join('');
  const lines = before.split('\n');
  if (lines.length === 1)
    return { line: statement.start.line, column: statement.start.column + [...before].length };
  return { line: statement.start.line + lines.length - 1, column: [...(lines.at(-1) ?? '')].length + 1 };
}

/**
 * Where an error inside a DO block is: PL/pgSQL counts lines from its body's first line (the one
 * its opening $$ is on), and says which in the error's context ("inline_code_block line 3").
 */
export function positionInBlock(statement: Statement, where: string | undefined): Position | undefined {
  const line = /inline_code_block line (\d+)/.exec(where ?? '')?.[1];
  const opening = /\$(?:[A-Za-z_][A-Za-z0-9_]*)?\$/.exec(statement.text);
  if (statement.kind !== 'DoStmt' || !line || !opening) return undefined;
  const before = statement.text.slice(0, opening.index).split('\n').length - 1;
  return { line: statement.start.line + before + Number(line) - 1, column: 1 };
}
