import type { Node } from '@pgsql/types';
import { statementContexts } from '../context.js';
import type { Statement } from '../parser.js';
import {
  isNullConstant,
  nodeOf,
  relationName,
  sameName,
  tableIsNew,
  type Finding,
  type Rule,
  type StatementContext,
} from './rule.js';
import { assumesTransaction, isFalse, sameTransaction, transactionMap } from './transactions.js';

type Body = Record<string, unknown>;
interface RangeVar {
  schemaname?: string;
  relname?: string;
}

/** PostgreSQL's table lock modes, weakest first. */
const MODES = [
  'ACCESS SHARE',
  'ROW SHARE',
  'ROW EXCLUSIVE',
  'SHARE UPDATE EXCLUSIVE',
  'SHARE',
  'SHARE ROW EXCLUSIVE',
  'EXCLUSIVE',
  'ACCESS EXCLUSIVE',
] as const;
export type LockMode = (typeof MODES)[number];

const strength = (mode: LockMode): number => MODES.indexOf(mode);
/** From SHARE up, a lock conflicts with the ROW EXCLUSIVE every INSERT, UPDATE and DELETE takes. */
const blocksWrites = (mode: LockMode): boolean => strength(mode) >= strength('SHARE');

/** A lock a statement takes on a relation. */
export interface TableLock {
  /** The relation as written (schema-qualified when it was); '' when the statement names none. */
  table: string;
  /** How messages name it: "orders", "the table of index orders_email_idx". */
  label: string;
  mode: LockMode;
  /** How messages name the locks, when one mode on one label does not say it (REINDEX). */
  says?: string;
  /** Who waits, when `stalls` cannot say it from the mode. */
  blocks?: string;
}

/** What a lock is, for messages: "ACCESS EXCLUSIVE on orders". */
function lockPhrase(lock: TableLock): string {
  return lock.says ?? `${lock.mode} on ${lock.label}`;
}

/** Who waits while a lock is held (or queued for). */
function stalls(lock: TableLock): string {
  if (lock.blocks) return lock.blocks;
  if (lock.mode === 'ACCESS EXCLUSIVE') return `every read and write of ${lock.label}`;
  if (lock.mode === 'EXCLUSIVE') return `every write of ${lock.label} (reads continue)`;
  return `every INSERT, UPDATE and DELETE on ${lock.label} (reads continue)`;
}

function list<T = Body>(value: unknown): T[] {
  return Array.isArray(value) ? (value as T[]) : [];
}

/** An ALTER TABLE of a table live traffic reaches (not one this file created), with its name. */
function liveAlterTable(
  statement: Statement,
  context: StatementContext,
): { body: Body; table: string } | undefined {
  const [kind, body] = nodeOf(statement.node);
  if (kind !== 'AlterTableStmt') return undefined;
  const table = relationName(body.relation as RangeVar);
  return tableIsNew(table, context) ? undefined : { body, table };
}

/** The bodies of an ALTER TABLE's commands. */
function commands(body: Body): Body[] {
  return list<Node>(body.cmds).map((each) => nodeOf(each)[1]);
}

/** A `{Constraint: {...}}` node's body. */
function constraintOf(node: unknown): Body | undefined {
  return (node as { Constraint?: Body } | undefined)?.Constraint;
}

/** The column definition an ADD COLUMN adds. */
function columnOf(command: Body): Body | undefined {
  return (command.def as { ColumnDef?: Body } | undefined)?.ColumnDef;
}

function columnConstraints(column: Body | undefined): Body[] {
  return list(column?.constraints)
    .map(constraintOf)
    .filter((each): each is Body => each !== undefined);
}

/** A DROP's object names: `[["s", "t"], ["u"]]` → `["s.t", "u"]`. */
function dropNames(body: Body): string[][] {
  return list<{ List?: { items?: { String?: { sval?: string } }[] } }>(body.objects).map((each) =>
    (each.List?.items ?? []).map((item) => item.String?.sval ?? ''),
  );
}

function rangeVars(value: unknown): string[] {
  return list<{ RangeVar?: RangeVar }>(value).map((each) => relationName(each.RangeVar));
}

const OBJECT_WORDS = new Set(['TABLE', 'INDEX', 'VIEW', 'TRIGGER', 'POLICY', 'RULE', 'SEQUENCE', 'SCHEMA']);

/** The statement's leading keywords, upper-cased: "ALTER TABLE", "CREATE UNIQUE INDEX", "TRUNCATE". */
function leadingWords(statement: Statement): string {
  const words = (statement.text.match(/^[A-Za-z]+(\s+[A-Za-z]+){0,4}/)?.[0] ?? statement.kind)
    .toUpperCase()
    .split(/\s+/);
  const object = words.findIndex((word) => OBJECT_WORDS.has(word));
  if (object >= 0) return words.slice(0, object + 1).join(' ');
  return ['ALTER', 'CREATE', 'DROP', 'REFRESH'].includes(words[0] ?? '')
    ? words.slice(0, 2).join(' ')
    : words[0]!;
}

const SHARE_UPDATE_EXCLUSIVE_COMMANDS = new Set([
  'AT_SetStatistics',
  'AT_SetOptions',
  'AT_ResetOptions',
  'AT_SetRelOptions',
  'AT_ResetRelOptions',
  'AT_ClusterOn',
  'AT_DropCluster',
  'AT_ValidateConstraint',
]);
const TRIGGER_COMMANDS = new Set([
  'AT_EnableTrig',
  'AT_EnableAlwaysTrig',
  'AT_EnableReplicaTrig',
  'AT_EnableTrigAll',
  'AT_EnableTrigUser',
  'AT_DisableTrig',
  'AT_DisableTrigAll',
  'AT_DisableTrigUser',
]);

function alterTableLocks(body: Body): TableLock[] {
  const table = relationName(body.relation as RangeVar);
  const objtype = body.objtype as string | undefined;
  if (objtype === 'OBJECT_TYPE') return [];
  const label =
    objtype === 'OBJECT_INDEX'
      ? `index ${table} (and every query of its table)`
      : objtype === 'OBJECT_VIEW' || objtype === 'OBJECT_MATVIEW'
        ? `view ${table}`
        : table;
  const locks: TableLock[] = [];
  let mode: LockMode = 'ACCESS SHARE';
  const raise = (to: LockMode) => {
    if (strength(to) > strength(mode)) mode = to;
  };
  for (const command of commands(body)) {
    const subtype = command.subtype as string;
    if (SHARE_UPDATE_EXCLUSIVE_COMMANDS.has(subtype)) raise('SHARE UPDATE EXCLUSIVE');
    else if (TRIGGER_COMMANDS.has(subtype)) raise('SHARE ROW EXCLUSIVE');
    else if (subtype === 'AT_AttachPartition' || subtype === 'AT_DetachPartition') {
      const partition = (command.def as { PartitionCmd?: { name?: RangeVar; concurrent?: boolean } })
        ?.PartitionCmd;
      const concurrent = subtype === 'AT_AttachPartition' || Boolean(partition?.concurrent);
      raise(concurrent ? 'SHARE UPDATE EXCLUSIVE' : 'ACCESS EXCLUSIVE');
      const name = relationName(partition?.name);
      // ATTACH checks the partition's rows under ACCESS EXCLUSIVE on the partition.
      if (name && subtype === 'AT_AttachPartition')
        locks.push({ table: name, label: name, mode: 'ACCESS EXCLUSIVE' });
    } else if (subtype === 'AT_AddConstraint') {
      const constraint = constraintOf(command.def);
      if (constraint?.contype === 'CONSTR_FOREIGN') {
        raise('SHARE ROW EXCLUSIVE');
        const target = relationName(constraint.pktable as RangeVar);
        if (target) locks.push({ table: target, label: target, mode: 'SHARE ROW EXCLUSIVE' });
      } else raise('ACCESS EXCLUSIVE');
    } else {
      raise('ACCESS EXCLUSIVE');
      for (const constraint of columnConstraints(columnOf(command)))
        if (constraint.contype === 'CONSTR_FOREIGN') {
          const target = relationName(constraint.pktable as RangeVar);
          if (target) locks.push({ table: target, label: target, mode: 'SHARE ROW EXCLUSIVE' });
        }
    }
  }
  return [{ table: objtype === 'OBJECT_INDEX' ? '' : table, label, mode }, ...locks];
}

const RENAMES_UNDER_ACCESS_EXCLUSIVE = new Set([
  'OBJECT_TABLE',
  'OBJECT_COLUMN',
  'OBJECT_TABCONSTRAINT',
  'OBJECT_VIEW',
  'OBJECT_MATVIEW',
  'OBJECT_FOREIGN_TABLE',
  'OBJECT_SEQUENCE',
  'OBJECT_TRIGGER',
  'OBJECT_RULE',
  'OBJECT_POLICY',
]);
const DROPS_UNDER_ACCESS_EXCLUSIVE = new Set([
  'OBJECT_TABLE',
  'OBJECT_VIEW',
  'OBJECT_MATVIEW',
  'OBJECT_FOREIGN_TABLE',
  'OBJECT_SEQUENCE',
]);

/**
 * The locks a statement takes on relations that traffic may use, as PostgreSQL's documentation
 * gives them ("Explicit Locking", and each command's page). Statements that lock no relation
 * (CREATE FUNCTION, CREATE TYPE, GRANT…) give none.
 */
export function tableLocks(statement: Statement, pgVersion: number): TableLock[] {
  const [kind, body] = nodeOf(statement.node);
  const one = (table: string, mode: LockMode, label = table): TableLock[] => [{ table, label, mode }];
  switch (kind) {
    case 'AlterTableStmt':
      return alterTableLocks(body);
    case 'RenameStmt': {
      const table = relationName(body.relation as RangeVar);
      if (!table) return [];
      if (body.renameType === 'OBJECT_INDEX')
        return [
          {
            table: '',
            label: `index ${table} (and every query of its table)`,
            mode: pgVersion >= 12 ? 'SHARE UPDATE EXCLUSIVE' : 'ACCESS EXCLUSIVE',
          },
        ];
      return RENAMES_UNDER_ACCESS_EXCLUSIVE.has(body.renameType as string)
        ? one(table, 'ACCESS EXCLUSIVE')
        : [];
    }
    case 'AlterObjectSchemaStmt': {
      const table = relationName(body.relation as RangeVar);
      return table ? one(table, 'ACCESS EXCLUSIVE') : [];
    }
    case 'IndexStmt':
      return one(
        relationName(body.relation as RangeVar),
        body.concurrent ? 'SHARE UPDATE EXCLUSIVE' : 'SHARE',
      );
    case 'DropStmt': {
      const type = body.removeType as string;
      const names = dropNames(body);
      if (DROPS_UNDER_ACCESS_EXCLUSIVE.has(type))
        return names.map((name) => ({
          table: name.join('.'),
          label: name.join('.'),
          mode: 'ACCESS EXCLUSIVE',
        }));
      if (type === 'OBJECT_INDEX')
        return names.map((name) => ({
          table: '',
          label: `the table of index ${name.join('.')}`,
          mode: body.concurrent ? 'SHARE UPDATE EXCLUSIVE' : 'ACCESS EXCLUSIVE',
        }));
      if (type === 'OBJECT_TRIGGER' || type === 'OBJECT_RULE' || type === 'OBJECT_POLICY')
        return names.map((name) => {
          const table = name.slice(0, -1).join('.');
          return { table, label: table, mode: 'ACCESS EXCLUSIVE' };
        });
      return [];
    }
    case 'TruncateStmt':
      return rangeVars(body.relations).map((table) => ({ table, label: table, mode: 'ACCESS EXCLUSIVE' }));
    case 'ClusterStmt': {
      const table = relationName(body.relation as RangeVar);
      return one(table, 'ACCESS EXCLUSIVE', table || 'every table clustered before');
    }
    case 'VacuumStmt': {
      if (!isVacuumFull(body)) return [];
      const tables = list<{ VacuumRelation?: { relation?: RangeVar } }>(body.rels).map((each) =>
        relationName(each.VacuumRelation?.relation),
      );
      if (tables.length === 0) return one('', 'ACCESS EXCLUSIVE', 'every table of the database, in turn');
      return tables.map((table) => ({ table, label: table, mode: 'ACCESS EXCLUSIVE' }));
    }
    case 'ReindexStmt': {
      // REINDEX: SHARE on the table (writes wait, reads continue) and ACCESS EXCLUSIVE on each
      // index it rebuilds (every query that would use that index waits). CONCURRENTLY: SHARE
      // UPDATE EXCLUSIVE, which blocks no traffic.
      if (reindexIsConcurrent(body)) return [];
      return reindexLocks(body);
    }
    case 'AlterTableMoveAllStmt':
      return one(
        '',
        'ACCESS EXCLUSIVE',
        `every ${String(body.objtype ?? '') === 'OBJECT_INDEX' ? 'index' : 'table'} of tablespace ${String(body.orig_tablespacename ?? '')}, in turn`,
      );
    case 'RefreshMatViewStmt': {
      const view = relationName(body.relation as RangeVar);
      return one(view, body.concurrent ? 'EXCLUSIVE' : 'ACCESS EXCLUSIVE', `materialized view ${view}`);
    }
    case 'LockStmt': {
      const mode = MODES[Number(body.mode ?? 8) - 1] ?? 'ACCESS EXCLUSIVE';
      return rangeVars(body.relations).map((table) => ({ table, label: table, mode }));
    }
    case 'CreateTrigStmt':
      return one(relationName(body.relation as RangeVar), 'SHARE ROW EXCLUSIVE');
    case 'CreatePolicyStmt':
    case 'AlterPolicyStmt':
      return one(relationName(body.table as RangeVar), 'ACCESS EXCLUSIVE');
    case 'RuleStmt':
      return one(relationName(body.relation as RangeVar), 'ACCESS EXCLUSIVE');
    case 'ViewStmt': {
      const view = relationName(body.view as RangeVar);
      return body.replace ? one(view, 'ACCESS EXCLUSIVE', `view ${view}`) : [];
    }
    case 'CreateStmt': {
      const locks: TableLock[] = [];
      // CREATE TABLE … PARTITION OF locks the parent; INHERITS takes SHARE UPDATE EXCLUSIVE.
      if (body.partbound)
        for (const parent of rangeVars(body.inhRelations))
          locks.push({ table: parent, label: parent, mode: 'ACCESS EXCLUSIVE' });
      for (const element of list<Node>(body.tableElts)) {
        const [elementKind, elementBody] = nodeOf(element);
        const constraints =
          elementKind === 'Constraint' ? [elementBody] : columnConstraints(elementBody as Body);
        for (const constraint of constraints)
          if (constraint.contype === 'CONSTR_FOREIGN') {
            const target = relationName(constraint.pktable as RangeVar);
            if (target) locks.push({ table: target, label: target, mode: 'SHARE ROW EXCLUSIVE' });
          }
      }
      return locks;
    }
    default:
      return [];
  }
}

function isVacuumFull(body: Body): boolean {
  if (!body.is_vacuumcmd) return false;
  const full = list<{ DefElem?: { defname?: string; arg?: unknown } }>(body.options).find(
    (each) => each.DefElem?.defname === 'full',
  )?.DefElem;
  return full !== undefined && !isFalse(full.arg);
}

/** The locks of a REINDEX without CONCURRENTLY. */
function reindexLocks(body: Body): TableLock[] {
  const name = relationName(body.relation as RangeVar) || String(body.name ?? '');
  const what = String(body.kind ?? '');
  if (what === 'REINDEX_OBJECT_TABLE')
    return [
      { table: name, label: name, mode: 'SHARE' },
      {
        table: name,
        label: `every index of ${name}`,
        mode: 'ACCESS EXCLUSIVE',
        says: `SHARE on ${name} and ACCESS EXCLUSIVE on each of its indexes`,
        blocks:
          `every INSERT, UPDATE and DELETE on ${name}, and every query that uses one of its indexes ` +
          '(the planner opens them all: in practice most reads too),',
      },
    ];
  if (what === 'REINDEX_OBJECT_INDEX')
    return [
      {
        table: '',
        label: `index ${name}`,
        mode: 'ACCESS EXCLUSIVE',
        says: `ACCESS EXCLUSIVE on index ${name} and SHARE on its table`,
        blocks: `every INSERT, UPDATE and DELETE on the table of ${name}, and every query that uses ${name},`,
      },
    ];
  const scope =
    what === 'REINDEX_OBJECT_SCHEMA' ? `schema ${name}` : name ? `database ${name}` : 'the database';
  return [
    {
      table: '',
      label: `every table of ${scope}, in turn`,
      mode: 'ACCESS EXCLUSIVE',
      says: `SHARE on every table of ${scope} in turn, and ACCESS EXCLUSIVE on each index it rebuilds`,
      blocks: `every write of each table of ${scope}, and every query that uses one of its indexes,`,
    },
  ];
}

export function reindexIsConcurrent(body: Body): boolean {
  const option = list<{ DefElem?: { defname?: string; arg?: unknown } }>(body.params).find(
    (each) => each.DefElem?.defname === 'concurrently',
  )?.DefElem;
  return option !== undefined && !isFalse(option.arg);
}

/** The locks of a statement that stall traffic on a table this file did not create. */
function liveBlockingLocks(statement: Statement, context: StatementContext): TableLock[] {
  return tableLocks(statement, context.pgVersion)
    .filter((lock) => blocksWrites(lock.mode) && !tableIsNew(lock.table, context))
    .sort((a, b) => strength(b.mode) - strength(a.mode));
}

// ---------------------------------------------------------------------------------------------
// Volatility of a DEFAULT expression (PostgreSQL 11+ adds a column with a non-volatile default
// without rewriting the table: the value is computed once and kept in the catalog).

/**
 * Built-in functions that are not VOLATILE (pg_proc.provolatile <> 'v') and commonly appear in
 * defaults. Any other function — every user-defined one defaults to VOLATILE — counts as volatile.
 */
const NON_VOLATILE_FUNCTIONS = new Set(
  (
    'now transaction_timestamp statement_timestamp timezone date_trunc date_part extract date_bin ' +
    'make_date make_time make_timestamp make_timestamptz make_interval to_timestamp to_date to_char ' +
    'to_number justify_days justify_hours justify_interval lower upper initcap btrim ltrim rtrim ' +
    'substring substr replace translate concat concat_ws format left right length char_length lpad ' +
    'rpad repeat reverse split_part md5 sha224 sha256 sha384 sha512 encode decode abs round trunc ' +
    'floor ceil ceiling sign mod power sqrt pi jsonb_build_object jsonb_build_array json_build_object ' +
    'json_build_array to_jsonb to_json jsonb_object json_object array_fill string_to_array ' +
    'array_to_string array_append array_prepend array_cat int4range int8range numrange tsrange ' +
    'tstzrange daterange current_setting current_database current_schema current_schemas version ' +
    'inet_client_addr uuid_nil'
  ).split(/\s+/),
);

function isNonVolatile(expression: unknown): boolean {
  if (expression === undefined || expression === null) return true;
  const [kind, body] = nodeOf(expression as Node);
  switch (kind) {
    case 'A_Const':
    case 'SQLValueFunction':
      return true;
    case 'TypeCast':
    case 'CollateClause':
    case 'NullTest':
    case 'BooleanTest':
      return isNonVolatile(body.arg);
    case 'A_Expr':
      return isNonVolatile(body.lexpr) && isNonVolatile(body.rexpr);
    case 'BoolExpr':
    case 'CoalesceExpr':
    case 'MinMaxExpr':
    case 'RowExpr':
      return list(body.args).every(isNonVolatile);
    case 'A_ArrayExpr':
      return list(body.elements).every(isNonVolatile);
    case 'CaseExpr':
      return (
        isNonVolatile(body.arg) &&
        isNonVolatile(body.defresult) &&
        list<{ CaseWhen?: Body }>(body.args).every(
          (each) => isNonVolatile(each.CaseWhen?.expr) && isNonVolatile(each.CaseWhen?.result),
        )
      );
    case 'FuncCall': {
      const names = list<{ String?: { sval?: string } }>(body.funcname).map(
        (each) => each.String?.sval ?? '',
      );
      const name = names.at(-1) ?? '';
      const schema = names.length > 1 ? names[0] : 'pg_catalog';
      return (
        schema === 'pg_catalog' && NON_VOLATILE_FUNCTIONS.has(name) && list(body.args).every(isNonVolatile)
      );
    }
    default:
      return false;
  }
}

const SERIAL_TYPES = new Set(['serial', 'serial4', 'bigserial', 'serial8', 'smallserial', 'serial2']);

/** Why adding this column rewrites the table, or undefined when it does not. */
function rewriteReason(column: Body, pgVersion: number): { why: string; fix: string } | undefined {
  const name = String(column.colname ?? '');
  const typeNames = list<{ String?: { sval?: string } }>((column.typeName as Body | undefined)?.names).map(
    (each) => each.String?.sval ?? '',
  );
  const typeName = typeNames.at(-1) ?? '';
  const sequenceFix =
    `ADD COLUMN ${name} bigint without a default (instant); CREATE SEQUENCE and ALTER COLUMN ${name} SET ` +
    `DEFAULT nextval(…) (new rows only, instant); backfill existing rows in batches; then add the ` +
    'constraints you need the safe way (see adding-not-nullable-field, adding-serial-primary-key-field).';
  if (typeNames.length === 1 && SERIAL_TYPES.has(typeName))
    return { why: `a ${typeName} column (DEFAULT nextval(…): a new value for every row)`, fix: sequenceFix };
  for (const constraint of columnConstraints(column)) {
    if (constraint.contype === 'CONSTR_IDENTITY')
      return { why: 'an identity column (a new sequence value for every row)', fix: sequenceFix };
    if (constraint.contype === 'CONSTR_GENERATED')
      return {
        why: 'a stored generated column (computed and written for every row)',
        fix:
          `ADD COLUMN ${name} as a plain nullable column; fill it for new rows with a trigger and for ` +
          'existing rows with a batched backfill (a stored generated column cannot be added without a ' +
          'rewrite).',
      };
    if (constraint.contype !== 'CONSTR_DEFAULT' || isNullConstant(constraint.raw_expr)) continue;
    const laterDefault =
      `ADD COLUMN ${name} without the DEFAULT (instant); ALTER TABLE … ALTER COLUMN ${name} SET DEFAULT … ` +
      '(instant: it applies to new rows only); backfill existing rows in batches of a few thousand, each ' +
      'batch its own transaction';
    if (pgVersion < 11)
      return {
        why: `a DEFAULT, before PostgreSQL 11 (pg-version ${pgVersion}): every existing row is written with it`,
        fix: `${laterDefault}; then SET NOT NULL the safe way if you need it.`,
      };
    if (!isNonVolatile(constraint.raw_expr))
      return {
        why: 'a volatile DEFAULT (a different value for every row, so PostgreSQL writes each one)',
        fix: `${laterDefault}, computing the volatile value per row in the backfill.`,
      };
  }
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// What the file does to constraints before a statement (for SET NOT NULL and VALIDATE).

interface ConstraintEvent {
  index: number;
  table: string;
  kind: 'add' | 'validate';
  name: string;
  contype?: string;
  notValid?: boolean;
  /** For a CHECK that proves columns NOT NULL: those columns. */
  notNullColumns?: string[];
}

const constraintFacts = new WeakMap<readonly Statement[], ConstraintEvent[]>();

function constraintEvents(statements: readonly Statement[]): ConstraintEvent[] {
  const known = constraintFacts.get(statements);
  if (known) return known;
  const events: ConstraintEvent[] = [];
  statements.forEach((statement, index) => {
    const [kind, body] = nodeOf(statement.node);
    if (kind !== 'AlterTableStmt') return;
    const table = relationName(body.relation as RangeVar);
    for (const command of commands(body)) {
      if (command.subtype === 'AT_ValidateConstraint')
        events.push({ index, table, kind: 'validate', name: String(command.name ?? '') });
      else if (command.subtype === 'AT_AddConstraint') {
        const constraint = constraintOf(command.def);
        if (!constraint) continue;
        events.push({
          index,
          table,
          kind: 'add',
          name: String(constraint.conname ?? ''),
          contype: constraint.contype as string,
          notValid: Boolean(constraint.skip_validation),
          notNullColumns: constraint.contype === 'CONSTR_CHECK' ? notNullColumns(constraint.raw_expr) : [],
        });
      }
    }
  });
  constraintFacts.set(statements, events);
  return events;
}

/** The columns `a IS NOT NULL [AND b IS NOT NULL …]` proves not null. */
export function notNullColumns(expression: unknown): string[] {
  const [kind, body] = nodeOf((expression ?? {}) as Node);
  if (kind === 'NullTest' && body.nulltesttype === 'IS_NOT_NULL') {
    const fields = list<{ String?: { sval?: string } }>(
      (body.arg as { ColumnRef?: { fields?: unknown } } | undefined)?.ColumnRef?.fields,
    );
    const column = fields.at(-1)?.String?.sval;
    return column ? [column] : [];
  }
  if (kind === 'BoolExpr' && body.boolop === 'AND_EXPR') return list(body.args).flatMap(notNullColumns);
  return [];
}

/**
 * Whether, from PostgreSQL 12, an earlier statement of the file has left a validated CHECK that
 * proves `column` NOT NULL — or validated a constraint added by an earlier migration (taken, as
 * squawk takes it, to be that check: this linter cannot see earlier files).
 */
function provenNotNull(context: StatementContext, table: string, column: string): boolean {
  const before = constraintEvents(context.statements).filter(
    (event) => event.index < context.index && sameName(event.table, table),
  );
  for (const event of before) {
    if (event.kind === 'add' && !event.notValid && event.notNullColumns?.includes(column)) return true;
    if (event.kind !== 'validate') continue;
    const added = before.find((each) => each.kind === 'add' && each.name === event.name);
    if (!added || added.notNullColumns?.includes(column)) return true;
  }
  return false;
}

// ---------------------------------------------------------------------------------------------
// Rules

const requireConcurrentIndexCreation: Rule = {
  id: 'require-concurrent-index-creation',
  category: 'locks',
  severity: 'error',
  summary: 'CREATE INDEX without CONCURRENTLY blocks every write to the table while the index is built.',
  check(statement, context): Finding[] {
    const [kind, body] = nodeOf(statement.node);
    if (kind !== 'IndexStmt' || body.concurrent) return [];
    const table = relationName(body.relation as RangeVar);
    if (tableIsNew(table, context)) return [];
    const index = body.idxname ? `${body.idxname} ` : '';
    return [
      {
        message:
          `CREATE ${body.unique ? 'UNIQUE ' : ''}INDEX without CONCURRENTLY takes a SHARE lock on ${table}: ` +
          `every INSERT, UPDATE and DELETE on ${table} — blue's and green's — waits until the whole index ` +
          'is built (reads continue).',
        fix:
          `CREATE ${body.unique ? 'UNIQUE ' : ''}INDEX CONCURRENTLY ${index}ON ${table} (…), in a migration ` +
          'file that runs outside a transaction (CONCURRENTLY cannot run in one). If it fails it leaves an ' +
          'INVALID index: DROP INDEX CONCURRENTLY it and run it again. (A partitioned table: CREATE INDEX ' +
          'ON ONLY the parent, CREATE INDEX CONCURRENTLY on each partition, then ALTER INDEX … ATTACH PARTITION.)',
      },
    ];
  },
};

const requireConcurrentIndexDeletion: Rule = {
  id: 'require-concurrent-index-deletion',
  category: 'locks',
  severity: 'warning',
  summary: 'DROP INDEX without CONCURRENTLY takes ACCESS EXCLUSIVE on the index’s table.',
  check(statement): Finding[] {
    const [kind, body] = nodeOf(statement.node);
    if (kind !== 'DropStmt' || body.removeType !== 'OBJECT_INDEX' || body.concurrent) return [];
    const names = dropNames(body).map((name) => name.join('.'));
    return [
      {
        message:
          `DROP INDEX without CONCURRENTLY takes ACCESS EXCLUSIVE on the table of ${names.join(', ')}: ` +
          'every read and write of that table — blue and green — waits, first for every transaction ' +
          'already using the table to finish, then for the drop.',
        fix: `${names.map((name) => `DROP INDEX CONCURRENTLY ${name};`).join(' ')} (one index per statement, outside a transaction).`,
      },
    ];
  },
};

const constraintMissingNotValid: Rule = {
  id: 'constraint-missing-not-valid',
  category: 'locks',
  severity: 'error',
  summary:
    'ADD CONSTRAINT CHECK / FOREIGN KEY without NOT VALID (or VALIDATE in the same transaction) scans the table under a lock that blocks traffic.',
  check(statement, context): Finding[] {
    const live = liveAlterTable(statement, context);
    if (!live) return [];
    const { body, table } = live;
    const findings: Finding[] = [];
    for (const command of commands(body)) {
      if (command.subtype === 'AT_ValidateConstraint') {
        const name = String(command.name ?? '');
        const added = constraintEvents(context.statements).find(
          (event) =>
            event.kind === 'add' &&
            event.notValid &&
            event.name === name &&
            event.index < context.index &&
            sameName(event.table, table) &&
            sameTransaction(context, event.index, context.index),
        );
        if (!added) continue;
        const foreign = added.contype === 'CONSTR_FOREIGN';
        const lock = foreign ? 'SHARE ROW EXCLUSIVE' : 'ACCESS EXCLUSIVE';
        const who = foreign
          ? `every INSERT, UPDATE and DELETE on ${table} (and on the referenced table)`
          : `every read and write of ${table}`;
        findings.push({
          message:
            `VALIDATE CONSTRAINT ${name} runs in the same transaction as the ADD CONSTRAINT … NOT VALID at ` +
            `line ${context.statements[added.index]!.start.line}, whose ${lock} lock on ${table} is held until ` +
            `COMMIT: the validation scan runs under it, so ${who} waits for the whole scan — NOT VALID bought nothing.`,
          fix:
            `COMMIT after the ADD CONSTRAINT … NOT VALID, and run ALTER TABLE ${table} VALIDATE CONSTRAINT ` +
            `${name} in its own transaction (a separate migration file when your tool wraps each file in ` +
            'one): alone, VALIDATE takes SHARE UPDATE EXCLUSIVE, and reads and writes continue during the scan.',
        });
        continue;
      }
      if (command.subtype !== 'AT_AddConstraint') continue;
      const constraint = constraintOf(command.def);
      if (!constraint || constraint.skip_validation) continue;
      const name = constraint.conname ? `${constraint.conname} ` : '';
      if (constraint.contype === 'CONSTR_CHECK')
        findings.push({
          message:
            `ADD CONSTRAINT ${name}CHECK without NOT VALID checks every existing row of ${table} under ` +
            `ACCESS EXCLUSIVE: every read and write of ${table} — blue's and green's — waits until the scan ends.`,
          fix:
            `ALTER TABLE ${table} ADD CONSTRAINT ${name}CHECK (…) NOT VALID (instant; new and updated rows ` +
            `are checked from then on); COMMIT; then ALTER TABLE ${table} VALIDATE CONSTRAINT ${name.trim() || '…'} ` +
            'in a separate transaction — it takes SHARE UPDATE EXCLUSIVE, so traffic continues during the scan.',
        });
      else if (constraint.contype === 'CONSTR_FOREIGN') {
        const target = relationName(constraint.pktable as RangeVar);
        findings.push({
          message:
            `ADD CONSTRAINT ${name}FOREIGN KEY without NOT VALID checks every row of ${table} against ` +
            `${target} under SHARE ROW EXCLUSIVE on both: every INSERT, UPDATE and DELETE on ${table} and ` +
            `${target} — blue's and green's — waits until the scan ends.`,
          fix:
            `ALTER TABLE ${table} ADD CONSTRAINT ${name}FOREIGN KEY (…) REFERENCES ${target} (…) NOT VALID ` +
            `(instant); COMMIT; then ALTER TABLE ${table} VALIDATE CONSTRAINT ${name.trim() || '…'} in a ` +
            `separate transaction — SHARE UPDATE EXCLUSIVE on ${table}, ROW SHARE on ${target}: traffic continues.`,
        });
      } else if (constraint.contype === 'CONSTR_EXCLUSION')
        findings.push({
          message:
            `ADD CONSTRAINT ${name}EXCLUDE builds its index under ACCESS EXCLUSIVE on ${table}: every read ` +
            `and write of ${table} waits until it is built — and an exclusion constraint can be neither NOT ` +
            'VALID nor built CONCURRENTLY.',
          fix:
            'PostgreSQL has no online way to add an exclusion constraint to a live table: add it in a ' +
            'maintenance window (with lock_timeout set), or create a new table with the constraint and move ' +
            'traffic to it over an expand/contract pair of deploys.',
        });
    }
    return findings;
  },
};

const addingForeignKeyConstraint: Rule = {
  id: 'adding-foreign-key-constraint',
  category: 'locks',
  severity: 'error',
  summary:
    'A foreign key added to a live table without NOT VALID blocks writes to both tables while it is checked.',
  check(statement, context): Finding[] {
    const live = liveAlterTable(statement, context);
    if (!live) return [];
    const { body, table } = live;
    const findings: Finding[] = [];
    for (const command of commands(body)) {
      if (command.subtype === 'AT_AddConstraint') {
        const constraint = constraintOf(command.def);
        if (constraint?.contype !== 'CONSTR_FOREIGN' || constraint.skip_validation) continue;
        const target = relationName(constraint.pktable as RangeVar);
        findings.push({
          message:
            `Adding the foreign key checks every row of ${table} against ${target} while holding SHARE ROW ` +
            `EXCLUSIVE on both tables: every INSERT, UPDATE and DELETE on ${table} and on ${target} — blue's ` +
            "and green's — waits until the check ends.",
          fix:
            `ADD CONSTRAINT … FOREIGN KEY … REFERENCES ${target} … NOT VALID; COMMIT; then VALIDATE ` +
            'CONSTRAINT in a separate transaction (SHARE UPDATE EXCLUSIVE and ROW SHARE: traffic continues).',
        });
      } else if (command.subtype === 'AT_AddColumn') {
        const column = columnOf(command);
        for (const constraint of columnConstraints(column)) {
          if (constraint.contype !== 'CONSTR_FOREIGN') continue;
          const target = relationName(constraint.pktable as RangeVar);
          const name = String(column?.colname ?? '');
          findings.push({
            message:
              `ADD COLUMN ${name} … REFERENCES ${target} checks the new foreign key over every row of ` +
              `${table} while holding ACCESS EXCLUSIVE on ${table} and SHARE ROW EXCLUSIVE on ${target}: ` +
              `every read and write of ${table}, and every write of ${target}, waits until the check ends.`,
            fix:
              `ADD COLUMN ${name} without REFERENCES (instant); then ALTER TABLE ${table} ADD CONSTRAINT ` +
              `${table.split('.').at(-1)}_${name}_fkey FOREIGN KEY (${name}) REFERENCES ${target} NOT VALID; ` +
              'COMMIT; then VALIDATE CONSTRAINT in a separate transaction.',
          });
        }
      }
    }
    return findings;
  },
};

const addingFieldWithDefault: Rule = {
  id: 'adding-field-with-default',
  category: 'locks',
  severity: 'error',
  summary:
    'ADD COLUMN that rewrites the table: a volatile default, a generated, identity or serial column; any default before PostgreSQL 11.',
  check(statement, context): Finding[] {
    const live = liveAlterTable(statement, context);
    if (!live) return [];
    const { body, table } = live;
    const findings: Finding[] = [];
    for (const command of commands(body)) {
      if (command.subtype !== 'AT_AddColumn') continue;
      const column = columnOf(command);
      const reason = column ? rewriteReason(column, context.pgVersion) : undefined;
      if (!column || !reason) continue;
      findings.push({
        message:
          `ADD COLUMN ${String(column.colname ?? '')} is ${reason.why}: PostgreSQL rewrites every row of ` +
          `${table} under ACCESS EXCLUSIVE, and every read and write of ${table} — blue's and green's — ` +
          'waits until the whole table is rewritten.',
        fix: reason.fix,
      });
    }
    return findings;
  },
};

const addingNotNullableField: Rule = {
  id: 'adding-not-nullable-field',
  category: 'locks',
  severity: 'error',
  summary:
    'SET NOT NULL scans the whole table under ACCESS EXCLUSIVE (unless a validated CHECK proves it, from PostgreSQL 12).',
  check(statement, context): Finding[] {
    const live = liveAlterTable(statement, context);
    if (!live) return [];
    const { body, table } = live;
    const findings: Finding[] = [];
    for (const command of commands(body)) {
      if (command.subtype !== 'AT_SetNotNull') continue;
      const column = String(command.name ?? '');
      if (context.pgVersion >= 12 && provenNotNull(context, table, column)) continue;
      const check = `${table.split('.').at(-1)}_${column}_not_null`;
      findings.push({
        message:
          `SET NOT NULL on ${table}.${column} scans every row for NULLs under ACCESS EXCLUSIVE: every read ` +
          `and write of ${table} — blue's and green's — waits until the scan ends.`,
        fix:
          context.pgVersion >= 12
            ? `ALTER TABLE ${table} ADD CONSTRAINT ${check} CHECK (${column} IS NOT NULL) NOT VALID; COMMIT; ` +
              `ALTER TABLE ${table} VALIDATE CONSTRAINT ${check} (SHARE UPDATE EXCLUSIVE: traffic continues); ` +
              `then SET NOT NULL (PostgreSQL 12+ sees the validated check and skips the scan) and DROP ` +
              `CONSTRAINT ${check}. switchyard lints one file at a time: if an earlier migration already ` +
              'added and validated that check, this statement is safe — say so with `-- switchyard-ignore ' +
              'adding-not-nullable-field: validated by <that file>`.'
            : `Before PostgreSQL 12 (pg-version ${context.pgVersion}) SET NOT NULL always scans: enforce it ` +
              `with ADD CONSTRAINT ${check} CHECK (${column} IS NOT NULL) NOT VALID and a VALIDATE in a later ` +
              'transaction instead, and SET NOT NULL once on PostgreSQL 12 or later.',
      });
    }
    return findings;
  },
};

/** The UNIQUE or PRIMARY KEY constraints an ALTER TABLE adds without an index built beforehand. */
function constraintsBuildingAnIndex(body: Body, contype: string): Body[] {
  return commands(body)
    .flatMap((command) =>
      command.subtype === 'AT_AddConstraint'
        ? [constraintOf(command.def)]
        : command.subtype === 'AT_AddColumn'
          ? columnConstraints(columnOf(command))
          : [],
    )
    .filter((constraint): constraint is Body => constraint?.contype === contype && !constraint.indexname);
}

/**
 * A constraint whose index PostgreSQL builds under ACCESS EXCLUSIVE, where CREATE UNIQUE INDEX
 * CONCURRENTLY then ADD CONSTRAINT … USING INDEX would not block anyone.
 */
function indexBuildingRule(options: {
  id: string;
  summary: string;
  contype: string;
  /** PostgreSQL's default name suffix for the constraint. */
  suffix: string;
  message: (table: string) => string;
  fix: (table: string, name: string) => string;
}): Rule {
  return {
    id: options.id,
    category: 'locks',
    severity: 'error',
    summary: options.summary,
    check(statement, context): Finding[] {
      const live = liveAlterTable(statement, context);
      if (!live) return [];
      const { body, table } = live;
      const short = table.split('.').at(-1);
      return constraintsBuildingAnIndex(body, options.contype).map((constraint) => ({
        message: options.message(table),
        fix: options.fix(table, String(constraint.conname ?? `${short}_${options.suffix}`)),
      }));
    },
  };
}

const disallowedUniqueConstraint = indexBuildingRule({
  id: 'disallowed-unique-constraint',
  summary: 'ADD CONSTRAINT UNIQUE (or ADD COLUMN … UNIQUE) builds its index under ACCESS EXCLUSIVE.',
  contype: 'CONSTR_UNIQUE',
  suffix: 'key',
  message: (table) =>
    `The UNIQUE constraint builds its index under ACCESS EXCLUSIVE on ${table}: every read and ` +
    `write of ${table} — blue's and green's — waits until the whole index is built.`,
  fix: (table, name) =>
    `CREATE UNIQUE INDEX CONCURRENTLY ${name}_idx ON ${table} (…) (outside a transaction); then ` +
    `ALTER TABLE ${table} ADD CONSTRAINT ${name} UNIQUE USING INDEX ${name}_idx (instant).`,
});

const addingSerialPrimaryKeyField = indexBuildingRule({
  id: 'adding-serial-primary-key-field',
  summary: 'ADD PRIMARY KEY without USING INDEX builds its index under ACCESS EXCLUSIVE.',
  contype: 'CONSTR_PRIMARY',
  suffix: 'pkey',
  message: (table) =>
    `ADD PRIMARY KEY builds its unique index (and makes its columns NOT NULL, scanning for NULLs) ` +
    `under ACCESS EXCLUSIVE on ${table}: every read and write of ${table} — blue's and green's — ` +
    'waits until it is done.',
  fix: (table, name) =>
    `CREATE UNIQUE INDEX CONCURRENTLY ${name}_idx ON ${table} (…) (outside a transaction); make the ` +
    'columns NOT NULL the scan-free way (see adding-not-nullable-field); then ALTER TABLE ' +
    `${table} ADD CONSTRAINT ${name} PRIMARY KEY USING INDEX ${name}_idx (instant). A new key ` +
    'column: add it without a default and fill it in batches first (see adding-field-with-default).',
});

const preferRepack: Rule = {
  id: 'prefer-repack',
  category: 'locks',
  severity: 'error',
  summary: 'VACUUM FULL and CLUSTER rewrite the table under ACCESS EXCLUSIVE.',
  check(statement, context): Finding[] {
    const [kind] = nodeOf(statement.node);
    if (kind !== 'VacuumStmt' && kind !== 'ClusterStmt') return [];
    const locks = tableLocks(statement, context.pgVersion).filter((lock) => !tableIsNew(lock.table, context));
    if (locks.length === 0) return [];
    const what = kind === 'ClusterStmt' ? 'CLUSTER' : 'VACUUM FULL';
    const labels = locks.map((lock) => lock.label).join(', ');
    const tables = locks.map((lock) => lock.table).filter(Boolean);
    return [
      {
        message:
          `${what} rewrites ${labels} under ACCESS EXCLUSIVE: every read and write of ${labels} — blue's and ` +
          "green's — waits until the whole table (and its indexes) is rewritten.",
        fix:
          (context.pgVersion >= 19
            ? `REPACK (CONCURRENTLY) ${tables[0] ?? '<table>'} (PostgreSQL 19+), or `
            : '') +
          `pg_repack (the extension: \`pg_repack --table=${tables[0] ?? '<table>'}\`), outside the migration: ` +
          'it rewrites the table while traffic continues and takes ACCESS EXCLUSIVE only for a moment at the ' +
          'end. For bloat alone, a plain VACUUM (no FULL) takes no lock that blocks traffic.',
      },
    ];
  },
};

/** The statements at which require-lock-timeout reports: the first of each stretch without one. */
const lockTimeoutFacts = new WeakMap<readonly Statement[], Set<number>>();

function lockTimeoutReports(context: StatementContext): Set<number> {
  const known = lockTimeoutFacts.get(context.statements);
  if (known) return known;
  const contexts = statementContexts(context.statements, {
    file: context.file,
    pgVersion: context.pgVersion,
    assumeInTransaction: assumesTransaction(context),
  });
  const reports = new Set<number>();
  let reported = false;
  context.statements.forEach((statement, index) => {
    const each = contexts[index]!;
    if (each.lockTimeoutSet) reported = false;
    else if (!reported && liveBlockingLocks(statement, each).length > 0) {
      reports.add(index);
      reported = true;
    }
  });
  lockTimeoutFacts.set(context.statements, reports);
  return reports;
}

const requireLockTimeout: Rule = {
  id: 'require-lock-timeout',
  category: 'locks',
  severity: 'warning',
  summary:
    'A statement that queues for a lock blocking reads or writes of a live table, with no lock_timeout set before it.',
  check(statement, context): Finding[] {
    if (context.lockTimeoutSet) return [];
    const [lock] = liveBlockingLocks(statement, context);
    if (!lock || !lockTimeoutReports(context).has(context.index)) return [];
    return [
      {
        message:
          `${leadingWords(statement)} takes ${lockPhrase(lock)} and no lock_timeout is set: if any ` +
          `transaction holds a lock on it — a long report, a session idle in transaction — this statement ` +
          `waits for it, and ${stalls(lock)} queues behind it for as long as it waits.`,
        fix:
          "SET lock_timeout = '2s'; at the top of the file (SET LOCAL inside its transaction), before the " +
          'first statement that locks a live table: on a timeout the migration fails fast and can be run ' +
          'again, instead of stalling traffic. One per file is enough.',
      },
    ];
  },
};

const NOT_DDL = new Set([
  'SelectStmt',
  'InsertStmt',
  'UpdateStmt',
  'DeleteStmt',
  'MergeStmt',
  'TransactionStmt',
  'VariableSetStmt',
  'VariableShowStmt',
  'CopyStmt',
  'ExplainStmt',
  'CallStmt',
  'DoStmt',
  'NotifyStmt',
  'ListenStmt',
  'UnlistenStmt',
  'PrepareStmt',
  'ExecuteStmt',
  'DeallocateStmt',
  'DeclareCursorStmt',
  'FetchStmt',
  'ClosePortalStmt',
  'CheckPointStmt',
  'DiscardStmt',
  'LoadStmt',
  'ConstraintsSetStmt',
  'VacuumStmt',
  'GrantStmt',
  'GrantRoleStmt',
]);

const ddlFacts = new WeakMap<readonly Statement[], Statement[]>();

/** The file's schema changes (anything but queries, transaction control and settings). */
function ddlStatements(statements: readonly Statement[]): Statement[] {
  let ddl = ddlFacts.get(statements);
  if (!ddl) ddlFacts.set(statements, (ddl = statements.filter((each) => !NOT_DDL.has(each.kind))));
  return ddl;
}

/** No WHERE, or one that is constant true (`WHERE true`, `WHERE 1 = 1`). */
function everyRow(where: unknown): boolean {
  if (where === undefined) return true;
  const [kind, body] = nodeOf(where as Node);
  if (kind === 'A_Const') return Boolean((body.boolval as { boolval?: boolean } | undefined)?.boolval);
  if (kind === 'A_Expr' && body.kind === 'AEXPR_OP') {
    const operator = list<{ String?: { sval?: string } }>(body.name)[0]?.String?.sval;
    const left = (body.lexpr as { A_Const?: unknown } | undefined)?.A_Const;
    const right = (body.rexpr as { A_Const?: unknown } | undefined)?.A_Const;
    if (operator === '=' && left && right) {
      const value = (constant: unknown) => JSON.stringify({ ...(constant as Body), location: 0 });
      return value(left) === value(right);
    }
  }
  return false;
}

const banUnbatchedBackfill: Rule = {
  id: 'ban-unbatched-backfill',
  category: 'locks',
  severity: 'warning',
  summary:
    'An UPDATE or DELETE of a whole table (no WHERE) in a migration with DDL: one long transaction locking every row.',
  check(statement, context): Finding[] {
    const [kind, body] = nodeOf(statement.node);
    if (kind !== 'UpdateStmt' && kind !== 'DeleteStmt') return [];
    if (!everyRow(body.whereClause)) return [];
    const table = relationName(body.relation as RangeVar);
    if (!table || tableIsNew(table, context)) return [];
    const ddl = ddlStatements(context.statements);
    if (ddl.length === 0) return [];
    const verb = kind === 'UpdateStmt' ? 'UPDATE' : 'DELETE';
    // A lock the DDL of the same transaction holds until COMMIT: the worst part.
    const transaction = transactionMap(context.statements, assumesTransaction(context)).ids;
    const id = transaction[context.index];
    let held = '';
    for (const other of id === undefined ? [] : ddl) {
      if (transaction[other.index] !== id) continue;
      const [lock] = liveBlockingLocks(other, context);
      if (!lock) continue;
      held =
        ` And ${leadingWords(other)} at line ${other.start.line}, in the same transaction, holds ` +
        `${lockPhrase(lock)} until COMMIT: ${stalls(lock)} waits for the whole ${verb} as well.`;
      break;
    }
    return [
      {
        message:
          `${verb} of every row of ${table} in one statement (no WHERE): each row it touches stays locked ` +
          `until its transaction commits, so blue's and green's UPDATE and DELETE of ${table} rows wait for ` +
          `the whole table to be processed — minutes on a large table, with one burst of WAL and bloat.${held}`,
        fix:
          `Backfill in batches outside the DDL's migration: ${verb} … WHERE id > $last AND id <= $last + 5000 ` +
          '(by primary key), each batch its own transaction, from a job or a separate migration that runs ' +
          'after the expand deploy; then, in a later migration, the DDL that needs the data (e.g. SET NOT NULL ' +
          'the safe way).',
      },
    ];
  },
};

const requireConcurrentReindex: Rule = {
  id: 'require-concurrent-reindex',
  category: 'locks',
  severity: 'error',
  summary:
    'REINDEX without CONCURRENTLY: SHARE on the table (writes wait) and ACCESS EXCLUSIVE on each index it rebuilds.',
  check(statement, context): Finding[] {
    const [kind, body] = nodeOf(statement.node);
    if (kind !== 'ReindexStmt' || reindexIsConcurrent(body)) return [];
    const what = String(body.kind ?? '');
    if (what === 'REINDEX_OBJECT_SYSTEM') return [];
    const name = relationName(body.relation as RangeVar) || String(body.name ?? '');
    if (what === 'REINDEX_OBJECT_TABLE' && tableIsNew(name, context)) return [];
    const lock = reindexLocks(body).at(-1)!;
    const word = what.replace('REINDEX_OBJECT_', '');
    return [
      {
        message:
          `REINDEX ${word} ${name} without CONCURRENTLY takes ${lockPhrase(lock)}: ${stalls(lock)} ` +
          "blue's and green's, waits until every index is rebuilt.",
        fix:
          `REINDEX ${word} CONCURRENTLY ${name} (PostgreSQL 12+), in a migration file that runs outside a ` +
          'transaction (CONCURRENTLY cannot run in one). If it fails it leaves an INVALID index named …_ccnew: ' +
          'DROP INDEX CONCURRENTLY it and run it again.' +
          (context.pgVersion < 12
            ? ` Before PostgreSQL 12 (pg-version ${context.pgVersion}): CREATE INDEX CONCURRENTLY a copy, then ` +
              'DROP INDEX CONCURRENTLY the old one.'
            : ''),
      },
    ];
  },
};

const REWRITES: Record<string, (command: Body) => { what: string; fix: string }> = {
  AT_SetLogged: () => ({
    what: 'SET LOGGED writes the whole table into the WAL',
    fix:
      'PostgreSQL has no online way to change a live table between LOGGED and UNLOGGED: create a new ' +
      'table of the persistence you want, copy the rows in batches (a trigger keeps it in sync), and ' +
      'switch the code to it over an expand/contract pair of deploys — or do it in a maintenance window.',
  }),
  AT_SetUnLogged: () => ({
    what: 'SET UNLOGGED rewrites the whole table',
    fix:
      'PostgreSQL has no online way to change a live table between LOGGED and UNLOGGED: create a new ' +
      'table of the persistence you want, copy the rows in batches (a trigger keeps it in sync), and ' +
      'switch the code to it over an expand/contract pair of deploys — or do it in a maintenance window. ' +
      'Note that an unlogged table is emptied after a crash and is not replicated.',
  }),
  AT_SetTableSpace: (command) => ({
    what: `SET TABLESPACE ${String(command.name ?? '')} copies every block of it to the new tablespace`,
    fix:
      'Move it online with pg_repack (`pg_repack --table=<table> --tablespace=<tablespace> --moveidx`), ' +
      'outside the migration: it copies while traffic continues and takes ACCESS EXCLUSIVE only for a ' +
      'moment at the end. New tables and indexes can be created in the tablespace directly.',
  }),
  AT_SetExpression: (command) => ({
    what: `ALTER COLUMN ${String(command.name ?? '')} SET EXPRESSION recomputes and rewrites every row`,
    fix:
      `Add a new plain column, fill it for new rows with a trigger and for existing rows with a batched ` +
      `backfill, deploy code that reads it, then drop ${String(command.name ?? 'the old column')} in a ` +
      'contract-phase file.',
  }),
};

const banTableRewrite: Rule = {
  id: 'ban-table-rewrite',
  category: 'locks',
  severity: 'error',
  summary:
    'ALTER TABLE … SET LOGGED / UNLOGGED, SET TABLESPACE (also ALL IN TABLESPACE), ALTER COLUMN … SET EXPRESSION: the table is rewritten under ACCESS EXCLUSIVE.',
  check(statement, context): Finding[] {
    const [kind, body] = nodeOf(statement.node);
    if (kind === 'AlterTableMoveAllStmt') {
      const what = String(body.objtype ?? '') === 'OBJECT_INDEX' ? 'index' : 'table';
      const from = String(body.orig_tablespacename ?? '');
      const to = String(body.new_tablespacename ?? '');
      return [
        {
          message:
            `ALTER ${what.toUpperCase()} ALL IN TABLESPACE ${from} SET TABLESPACE ${to} copies every ${what} of ` +
            `${from}, one after another, each under ACCESS EXCLUSIVE: every read and write of each — blue's and ` +
            "green's — waits while it is copied (and, in one transaction, until all are).",
          fix: REWRITES.AT_SetTableSpace!({ name: to }).fix,
        },
      ];
    }
    if (kind !== 'AlterTableStmt') return [];
    const table = relationName(body.relation as RangeVar);
    if (tableIsNew(table, context)) return [];
    const objtype = String(body.objtype ?? '');
    const label =
      objtype === 'OBJECT_INDEX'
        ? `index ${table}`
        : objtype === 'OBJECT_MATVIEW'
          ? `materialized view ${table}`
          : table;
    return commands(body).flatMap((command): Finding[] => {
      const rewrite = REWRITES[String(command.subtype)];
      if (!rewrite) return [];
      const { what, fix } = rewrite(command);
      return [
        {
          message:
            `${what} of ${label} under ACCESS EXCLUSIVE: every read and write of ${label} — blue's and green's — ` +
            'waits until the whole table (and its indexes) is rewritten.',
          fix,
        },
      ];
    });
  },
};

/** Materialized views created earlier in the file (no traffic reads them yet). */
function viewIsNew(view: string, context: StatementContext): boolean {
  if (tableIsNew(view, context)) return true;
  return context.statements.slice(0, context.index).some((each) => {
    const [kind, body] = nodeOf(each.node);
    if (kind !== 'CreateTableAsStmt' || body.objtype !== 'OBJECT_MATVIEW' || body.if_not_exists) return false;
    return sameName(relationName((body.into as { rel?: RangeVar } | undefined)?.rel), view);
  });
}

const requireConcurrentRefresh: Rule = {
  id: 'require-concurrent-refresh',
  category: 'locks',
  severity: 'error',
  summary:
    'REFRESH MATERIALIZED VIEW without CONCURRENTLY: every read of the view waits for the whole refresh.',
  check(statement, context): Finding[] {
    const [kind, body] = nodeOf(statement.node);
    if (kind !== 'RefreshMatViewStmt' || body.concurrent) return [];
    const view = relationName(body.relation as RangeVar);
    if (viewIsNew(view, context)) return [];
    const noData = body.skipData ? ' WITH NO DATA also empties it: reads fail until the next refresh.' : '';
    return [
      {
        message:
          `REFRESH MATERIALIZED VIEW ${view} without CONCURRENTLY takes ACCESS EXCLUSIVE on it: every read of ` +
          `${view} — blue's and green's — waits until the whole query behind it has run again.${noData}`,
        fix:
          `REFRESH MATERIALIZED VIEW CONCURRENTLY ${view} (EXCLUSIVE: reads continue). It needs a UNIQUE index ` +
          `on ${view} covering all rows (CREATE UNIQUE INDEX CONCURRENTLY … ON ${view} (…) first) and a view ` +
          'that is already populated; it can run inside a transaction.',
      },
    ];
  },
};

const banConcurrentDropOfSeveral: Rule = {
  id: 'ban-concurrent-index-deletion-of-several',
  category: 'locks',
  severity: 'error',
  summary: 'DROP INDEX CONCURRENTLY of several indexes, or with CASCADE: PostgreSQL refuses it.',
  check(statement): Finding[] {
    const [kind, body] = nodeOf(statement.node);
    if (kind !== 'DropStmt' || body.removeType !== 'OBJECT_INDEX' || !body.concurrent) return [];
    const names = dropNames(body).map((name) => name.join('.'));
    const cascade = body.behavior === 'DROP_CASCADE';
    if (names.length < 2 && !cascade) return [];
    return [
      {
        message:
          names.length > 1
            ? `DROP INDEX CONCURRENTLY ${names.join(', ')}: PostgreSQL refuses it ('DROP INDEX CONCURRENTLY does ` +
              "not support dropping multiple objects'): the migration fails at this statement, and green is " +
              'deployed against a schema it expected to have.'
            : `DROP INDEX CONCURRENTLY ${names[0] ?? ''} CASCADE: PostgreSQL refuses it ('DROP INDEX CONCURRENTLY ` +
              "does not support CASCADE'): the migration fails at this statement.",
        fix:
          `${names.map((name) => `DROP INDEX CONCURRENTLY ${name};`).join(' ')} — one index per statement, ` +
          'without CASCADE, outside a transaction (drop what depends on an index first).',
      },
    ];
  },
};

export const lockRules: Rule[] = [
  requireConcurrentIndexCreation,
  requireConcurrentIndexDeletion,
  banConcurrentDropOfSeveral,
  requireConcurrentReindex,
  constraintMissingNotValid,
  addingForeignKeyConstraint,
  addingFieldWithDefault,
  addingNotNullableField,
  disallowedUniqueConstraint,
  addingSerialPrimaryKeyField,
  preferRepack,
  banTableRewrite,
  requireConcurrentRefresh,
  requireLockTimeout,
  banUnbatchedBackfill,
];
