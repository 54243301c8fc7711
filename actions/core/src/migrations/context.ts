import type { Statement } from './parser.js';
import { nodeOf, relationName, type StatementContext } from './rules/rule.js';

export interface FileSettings {
  file: string;
  pgVersion: number;
  /** The migration tool wraps each file in a transaction. */
  assumeInTransaction: boolean;
}

/**
 * What each statement of a file runs within: the transaction state (an explicit BEGIN … COMMIT,
 * or the tool's own), whether lock_timeout is set, which tables the file created before it.
 * Walked once, in order, as PostgreSQL would run the file.
 */
export function statementContexts(
  statements: readonly Statement[],
  settings: FileSettings,
): StatementContext[] {
  let explicit = false;
  let lockTimeoutSet = false;
  // SET LOCAL lasts until the transaction ends; plain SET, for the session.
  let localLockTimeout = false;
  const created = new Set<string>();
  return statements.map((statement, index) => {
    const context: StatementContext = {
      pgVersion: settings.pgVersion,
      file: settings.file,
      statements,
      index,
      inTransaction: settings.assumeInTransaction || explicit,
      assumeInTransaction: settings.assumeInTransaction,
      lockTimeoutSet: lockTimeoutSet || localLockTimeout,
      createdTables: new Set(created),
    };
    const [kind, body] = nodeOf(statement.node);
    if (kind === 'TransactionStmt') {
      const what = body.kind as string | undefined;
      if (what === 'TRANS_STMT_BEGIN' || what === 'TRANS_STMT_START') explicit = true;
      // PREPARE TRANSACTION ends this session's transaction too; COMMIT/ROLLBACK PREPARED act on
      // another, already prepared one; AND CHAIN starts the next transaction at once.
      const ends = ['TRANS_STMT_COMMIT', 'TRANS_STMT_ROLLBACK', 'TRANS_STMT_PREPARE'].includes(what ?? '');
      if (ends) {
        localLockTimeout = false;
        explicit = Boolean(body.chain);
      }
    } else if (kind === 'VariableSetStmt' && String(body.name).toLowerCase() === 'lock_timeout') {
      const value = lockTimeoutValue(body);
      // SET LOCAL outside a transaction is a no-op (PostgreSQL only warns).
      if (body.is_local) localLockTimeout = context.inTransaction && value;
      else lockTimeoutSet = value;
    } else if (kind === 'CreateStmt' && !body.if_not_exists) {
      // IF NOT EXISTS may meet the live table, with its traffic: only a table surely new counts.
      created.add(relationName(body.relation as { schemaname?: string; relname?: string }));
    } else if (kind === 'CreateTableAsStmt' && !body.if_not_exists) {
      created.add(relationName((body.into as { rel?: { schemaname?: string; relname?: string } })?.rel));
    } else if (kind === 'SelectStmt' && body.intoClause) {
      created.add(relationName((body.intoClause as { rel?: { schemaname?: string; relname?: string } }).rel));
    }
    return context;
  });
}

/** Whether a SET lock_timeout sets a limit: `0`, DEFAULT and RESET mean none. */
function lockTimeoutValue(body: Record<string, unknown>): boolean {
  if (body.kind !== 'VAR_SET_VALUE') return false;
  const [first] = (body.args as { A_Const?: Record<string, unknown> }[] | undefined) ?? [];
  const constant = first?.A_Const ?? {};
  const value =
    (constant.ival as { ival?: number } | undefined)?.ival ??
    (constant.sval as { sval?: string } | undefined)?.sval ??
    (constant.fval as { fval?: string } | undefined)?.fval;
  if (value === undefined) return false;
  return !/^\s*0+(\.0*)?\s*(us|ms|s|min|h|d)?\s*$/i.test(String(value));
}
