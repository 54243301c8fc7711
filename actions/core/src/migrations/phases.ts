import type { Phase } from './lint.js';
import type { Statement } from './parser.js';
import { nodeOf } from './rules/rule.js';

/** Statements that change nothing a deploy cares about: settings, transaction control, reads. */
const NEUTRAL = new Set([
  'VariableSetStmt',
  'VariableShowStmt',
  'TransactionStmt',
  'SelectStmt',
  'CheckPointStmt',
]);

/** What only adds: new tables, columns, indexes, types, functions, values, constraints. */
const CREATES = new Set([
  'CreateStmt',
  'IndexStmt',
  'ViewStmt',
  'CreateFunctionStmt',
  'CreateEnumStmt',
  'CreateSeqStmt',
  'CreateSchemaStmt',
  'CreateExtensionStmt',
  'CreateTrigStmt',
  'CompositeTypeStmt',
  'CreateDomainStmt',
  'CreateTableAsStmt',
  'CreateRangeStmt',
  'CreatePolicyStmt',
]);
const ADDS = new Set(['AT_AddColumn', 'AT_AddConstraint', 'AT_AddIndex', 'AT_AddIndexConstraint']);

/** Statements that change rows, not the schema: a backfill alone leaves the phase `none`. */
const DATA = new Set(['InsertStmt', 'UpdateStmt', 'DeleteStmt', 'CopyStmt', 'MergeStmt']);

/** Whether a statement changes the schema: not a setting, a transaction, a read or a data change. */
export function changesTheSchema(statement: Statement): boolean {
  const [kind, body] = nodeOf(statement.node);
  if (kind === 'SelectStmt') return Boolean(body.intoClause);
  return !NEUTRAL.has(kind) && !DATA.has(kind);
}

/** Whether a statement expands the schema (the first half of expand → migrate → contract). */
export function isExpand(statement: Statement): boolean {
  const [kind, body] = nodeOf(statement.node);
  if (CREATES.has(kind)) return true;
  if (kind === 'AlterEnumStmt') return !body.oldVal;
  if (kind === 'AlterTableStmt') {
    const commands = (body.cmds as { AlterTableCmd?: { subtype?: string } }[] | undefined) ?? [];
    return commands.some((each) => ADDS.has(each.AlterTableCmd?.subtype ?? ''));
  }
  return false;
}

/** A file's phase: contract when it says so, expand when it changes the schema, else none. */
export function phaseOf(statements: readonly Statement[], contract: boolean): Phase {
  if (contract) return 'contract';
  return statements.some(changesTheSchema) ? 'expand' : 'none';
}
