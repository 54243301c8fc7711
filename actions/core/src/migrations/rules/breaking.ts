/**
 * "Breaks the old code": during a blue-green shift blue (the previous release) and green (the new
 * one) run against the same database. A migration may only expand the schema under blue: add what
 * green needs and leave everything blue reads, writes and names in place. Drops, renames and type
 * changes (the contract) wait for a later deploy, once no old code is left.
 *
 * Where one of squawk's rules means the same, the id is squawk's (ban-drop-column, ban-drop-table,
 * renaming-column, renaming-table, changing-column-type, adding-required-field, ban-drop-not-null,
 * ban-drop-database). docs/rules/<id>.md says where a verdict deliberately differs from squawk's.
 */
import type { Node } from '@pgsql/types';
import type { Statement } from '../parser.js';
import { notNullColumns } from './locks.js';
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

type Body = Record<string, unknown>;
type RangeVar = { schemaname?: string; relname?: string };

interface Command {
  subtype: string;
  name: string;
  def?: Node;
  behavior?: string;
}

interface AlterTable {
  table: string;
  /** OBJECT_TABLE, OBJECT_FOREIGN_TABLE, OBJECT_VIEW… */
  objtype: string;
  commands: Command[];
  /** Created earlier in this file: no traffic reaches it yet. */
  isNew: boolean;
}

const CONTRACT = "in a file marked '-- switchyard: contract', run by a later deploy once no old code is left";

// ---------------------------------------------------------------------------------------------
// Reading the parse tree

function body(statement: Statement, kind: string): Body | undefined {
  const [found, content] = nodeOf(statement.node);
  return found === kind ? content : undefined;
}

/** The String nodes of a list (`public.mood`, a constraint's columns). */
function strings(items: unknown): string[] {
  return ((items as Node[] | undefined) ?? [])
    .map((item) => (item as { String?: { sval?: string } }).String?.sval ?? '')
    .filter(Boolean);
}

/** A name given as a list of String nodes, dot-joined. */
function dotted(items: unknown): string {
  return strings(items).join('.');
}

/** The name of one object of a DROP / RENAME / SET SCHEMA, however the grammar wrote it. */
function objectName(object: unknown): string {
  const [kind, content] = nodeOf(object as Node);
  if (kind === 'List') return dotted(content.items);
  if (kind === 'String') return String(content.sval ?? '');
  if (kind === 'TypeName') return dotted(content.names);
  if (kind === 'ObjectWithArgs') return dotted(content.objname);
  return '';
}

function alterTable(statement: Statement, context: StatementContext): AlterTable | undefined {
  const content = body(statement, 'AlterTableStmt');
  if (!content) return undefined;
  const table = relationName(content.relation as RangeVar);
  const commands = ((content.cmds as { AlterTableCmd?: Body }[] | undefined) ?? []).flatMap((each) =>
    each.AlterTableCmd
      ? [
          {
            subtype: String(each.AlterTableCmd.subtype ?? ''),
            name: String(each.AlterTableCmd.name ?? ''),
            def: each.AlterTableCmd.def as Node | undefined,
            behavior: each.AlterTableCmd.behavior as string | undefined,
          },
        ]
      : [],
  );
  return {
    table,
    objtype: String(content.objtype ?? 'OBJECT_TABLE'),
    commands,
    isNew: tableIsNew(table, context),
  };
}

/** ALTER TABLE and ALTER FOREIGN TABLE: both are tables the old code queries. */
function isTable(objtype: string): boolean {
  return objtype === 'OBJECT_TABLE' || objtype === 'OBJECT_FOREIGN_TABLE';
}

function cascadeNote(behavior: unknown): string {
  return behavior === 'DROP_CASCADE'
    ? ' CASCADE also drops whatever depends on it (views, defaults, foreign keys), which blue may use too.'
    : '';
}

// Views, functions, types ----------------------------------------------------------------------

const VIEWS = ['OBJECT_VIEW', 'OBJECT_MATVIEW'];
const TYPES = ['OBJECT_TYPE', 'OBJECT_DOMAIN'];
const FUNCTION_KINDS: Record<string, string> = {
  OBJECT_FUNCTION: 'function',
  OBJECT_PROCEDURE: 'procedure',
  OBJECT_ROUTINE: 'routine',
  OBJECT_AGGREGATE: 'aggregate',
};

interface Created {
  name: string;
  /** CREATE OR REPLACE, IF NOT EXISTS: the object may have been there before. */
  replace: boolean;
}

/** The view a statement creates (CREATE [OR REPLACE] VIEW, CREATE MATERIALIZED VIEW), if any. */
function viewCreated([kind, content]: [string, Body]): Created | undefined {
  if (kind === 'ViewStmt')
    return { name: relationName(content.view as RangeVar), replace: Boolean(content.replace) };
  if (kind === 'CreateTableAsStmt' && content.objtype === 'OBJECT_MATVIEW')
    return {
      name: relationName((content.into as { rel?: RangeVar } | undefined)?.rel),
      replace: Boolean(content.if_not_exists),
    };
  return undefined;
}

/**
 * An argument type as PostgreSQL matches it, to compare a DROP's with a CREATE's: its name without
 * pg_catalog (`bigint` parses as pg_catalog.int8, `int8` as int8) and whether it is an array;
 * type modifiers do not count in a function's signature.
 */
function typeKey(typeName: unknown): string {
  const type = ((typeName as { TypeName?: Body } | undefined)?.TypeName ?? typeName ?? {}) as Body;
  const names = strings(type.names);
  if (names[0] === 'pg_catalog') names.shift();
  return `${names.join('.')}${type.arrayBounds ? '[]' : ''}${type.setof ? ' setof' : ''}`;
}

interface FunctionRef {
  name: string;
  /** undefined: `DROP FUNCTION f` without an argument list. */
  args?: string[];
}

function functionRef(object: unknown): FunctionRef {
  const content = (object as { ObjectWithArgs?: Body }).ObjectWithArgs ?? {};
  return {
    name: dotted(content.objname),
    args: content.args_unspecified ? undefined : ((content.objargs as unknown[]) ?? []).map(typeKey),
  };
}

/** The function a CREATE [OR REPLACE] FUNCTION / PROCEDURE makes, with its input argument types. */
function functionCreated([kind, content]: [string, Body]): (Created & FunctionRef) | undefined {
  if (kind !== 'CreateFunctionStmt') return undefined;
  const parameters = ((content.parameters as { FunctionParameter?: Body }[] | undefined) ?? [])
    .map((each) => each.FunctionParameter ?? {})
    .filter((each) => each.mode !== 'FUNC_PARAM_OUT' && each.mode !== 'FUNC_PARAM_TABLE');
  return {
    name: dotted(content.funcname),
    args: parameters.map((each) => typeKey(each.argType)),
    replace: Boolean(content.replace),
  };
}

function sameFunction(dropped: FunctionRef, created: FunctionRef | undefined): boolean {
  if (!created || !sameName(dropped.name, created.name)) return false;
  return dropped.args === undefined || JSON.stringify(dropped.args) === JSON.stringify(created.args);
}

function typeCreated([kind, content]: [string, Body]): string | undefined {
  if (kind === 'CreateEnumStmt' || kind === 'CreateRangeStmt') return dotted(content.typeName);
  if (kind === 'CreateDomainStmt') return dotted(content.domainname);
  if (kind === 'CompositeTypeStmt') return relationName(content.typevar as RangeVar);
  if (kind === 'DefineStmt' && content.kind === 'OBJECT_TYPE') return dotted(content.defnames);
  return undefined;
}

// What the file does to each object ------------------------------------------------------------

type Namespace = 'view' | 'function' | 'type' | 'schema';

/** A statement of the file that creates or drops an object. */
interface Event {
  index: number;
  created: boolean;
  /** CREATE OR REPLACE, IF NOT EXISTS. */
  replace: boolean;
  /** Functions: which one (its argument types, when the statement gives them). */
  function?: FunctionRef;
}

interface FileIndex {
  /** `<namespace> <name without public.>` → the statements that create or drop it, in order. */
  events: Map<string, Event[]>;
  /** For each statement, the index of the first transaction-control statement after it. */
  nextTransactionStatement: number[];
}

/** Built once per file (the rules see each statement of it in turn), so a check costs no scan. */
const fileIndexes = new WeakMap<readonly Statement[], FileIndex>();

function eventKey(namespace: Namespace, name: string): string {
  return `${namespace} ${name.replace(/^public\./, '')}`;
}

function fileIndex(statements: readonly Statement[]): FileIndex {
  const known = fileIndexes.get(statements);
  if (known) return known;
  const events = new Map<string, Event[]>();
  const add = (namespace: Namespace, name: string, event: Event) => {
    if (!name) return;
    const key = eventKey(namespace, name);
    events.set(key, [...(events.get(key) ?? []), event]);
  };
  const nextTransactionStatement: number[] = [];
  let next = Infinity;
  for (let index = statements.length - 1; index >= 0; index--) {
    nextTransactionStatement[index] = next;
    if (statements[index]!.kind === 'TransactionStmt') next = index;
  }
  statements.forEach((statement, index) => {
    const entry = nodeOf(statement.node);
    const [kind, content] = entry;
    const view = viewCreated(entry);
    if (view) add('view', view.name, { index, created: true, replace: view.replace });
    const made = functionCreated(entry);
    if (made) add('function', made.name, { index, created: true, replace: made.replace, function: made });
    const type = typeCreated(entry);
    if (type) add('type', type, { index, created: true, replace: false });
    if (kind === 'CreateSchemaStmt')
      add('schema', String(content.schemaname ?? ''), {
        index,
        created: true,
        replace: Boolean(content.if_not_exists),
      });
    if (kind !== 'DropStmt') return;
    const removeType = String(content.removeType);
    for (const object of (content.objects as unknown[] | undefined) ?? []) {
      const drop = { index, created: false, replace: false };
      if (VIEWS.includes(removeType)) add('view', objectName(object), drop);
      else if (TYPES.includes(removeType)) add('type', objectName(object), drop);
      else if (removeType === 'OBJECT_SCHEMA') add('schema', objectName(object), drop);
      else if (FUNCTION_KINDS[removeType]) {
        const ref = functionRef(object);
        add('function', ref.name, { ...drop, function: ref });
      }
    }
  });
  const index = { events, nextTransactionStatement };
  fileIndexes.set(statements, index);
  return index;
}

/**
 * Whether the file created the object before this statement, and it did not exist before the file
 * ran: the first thing the file does to it is a CREATE — not OR REPLACE or IF NOT EXISTS, and not
 * after a DROP (DROP + CREATE replaces what blue uses).
 */
function createdByFile(
  context: StatementContext,
  namespace: Namespace,
  name: string,
  matches: (event: Event) => boolean = () => true,
): boolean {
  for (const event of fileIndex(context.statements).events.get(eventKey(namespace, name)) ?? []) {
    if (event.index >= context.index) break;
    if (!matches(event)) continue;
    if (!event.created) return false;
    if (!event.replace) return true;
  }
  return false;
}

/**
 * Whether the file creates the object again after this statement (its DROP): in the same
 * transaction (blue never sees it missing), or later, or not at all.
 */
function recreated(
  context: StatementContext,
  namespace: Namespace,
  name: string,
  matches: (event: Event) => boolean = () => true,
): 'in the same transaction' | 'later' | undefined {
  const file = fileIndex(context.statements);
  const again = (file.events.get(eventKey(namespace, name)) ?? []).find(
    (event) => event.index > context.index && event.created && matches(event),
  );
  if (!again) return undefined;
  const sameTransaction =
    context.inTransaction && again.index < (file.nextTransactionStatement[context.index] ?? Infinity);
  return sameTransaction ? 'in the same transaction' : 'later';
}

function viewIsNew(name: string, context: StatementContext): boolean {
  return createdByFile(context, 'view', name);
}

/** A drop of any function of that name says it existed; a create must have the same signature. */
function functionIsNew(ref: FunctionRef, context: StatementContext): boolean {
  return createdByFile(
    context,
    'function',
    ref.name,
    (event) => !event.created || sameFunction(ref, event.function),
  );
}

function typeIsNew(name: string, context: StatementContext): boolean {
  return createdByFile(context, 'type', name);
}

function schemaIsNew(name: string, context: StatementContext): boolean {
  return createdByFile(context, 'schema', name);
}

// Columns and constraints the file adds ------------------------------------------------------

interface AddedColumn {
  name: string;
  /** A non-NULL DEFAULT (or identity, serial, generated): blue's inserts get a value. */
  fills: boolean;
}

function addedColumn(command: Command): AddedColumn | undefined {
  const column = (command.def as { ColumnDef?: Body } | undefined)?.ColumnDef;
  if (!column?.colname) return undefined;
  return { name: String(column.colname), fills: fillsItself(column) };
}

/** The columns of `table` that ALTER TABLE … ADD COLUMN added in statements before this one. */
function columnsAddedBefore(context: StatementContext, table: string): Set<string> {
  const names = new Set<string>();
  for (const statement of context.statements.slice(0, context.index)) {
    const content = body(statement, 'AlterTableStmt');
    if (!content || !sameName(relationName(content.relation as RangeVar), table)) continue;
    for (const each of (content.cmds as { AlterTableCmd?: Body }[] | undefined) ?? []) {
      if (each.AlterTableCmd?.subtype !== 'AT_AddColumn') continue;
      const column = addedColumn({ subtype: 'AT_AddColumn', name: '', def: each.AlterTableCmd.def as Node });
      if (column) names.add(column.name);
    }
  }
  return names;
}

/** The column names an expression refers to. */
function referencedColumns(expression: unknown): string[] {
  const found: string[] = [];
  const walk = (node: unknown): void => {
    if (Array.isArray(node)) node.forEach(walk);
    else if (node && typeof node === 'object') {
      const ref = (node as { ColumnRef?: { fields?: unknown } }).ColumnRef;
      if (ref) {
        const column = strings(ref.fields).at(-1);
        if (column) found.push(column);
        return;
      }
      Object.values(node).forEach(walk);
    }
  };
  walk(expression);
  return found;
}

/** A CHECK that can reject a NULL: IS NOT NULL, COALESCE, IS TRUE, IS DISTINCT FROM… */
function rejectsNull(expression: unknown): boolean {
  return /"(NullTest|BooleanTest|CoalesceExpr|NullIfExpr)"|AEXPR_(NOT_)?DISTINCT/.test(
    JSON.stringify(expression ?? {}),
  );
}

/**
 * Whether a constraint only restricts columns added in the same ALTER TABLE statement, in a way
 * blue's writes — which leave those columns NULL — always pass: a CHECK that NULL passes, a
 * foreign key (NULL references nothing), a UNIQUE of columns without a default.
 */
function onlyOnNewColumns(constraint: Body, added: Map<string, AddedColumn>): boolean {
  const contype = String(constraint.contype);
  const columns =
    contype === 'CONSTR_CHECK'
      ? referencedColumns(constraint.raw_expr)
      : contype === 'CONSTR_FOREIGN'
        ? strings(constraint.fk_attrs)
        : contype === 'CONSTR_UNIQUE'
          ? strings(constraint.keys)
          : [];
  if (columns.length === 0 || !columns.every((column) => added.has(column))) return false;
  if (contype === 'CONSTR_CHECK') return !rejectsNull(constraint.raw_expr);
  if (contype === 'CONSTR_UNIQUE')
    return !constraint.nulls_not_distinct && columns.every((column) => !added.get(column)!.fills);
  return true;
}

/**
 * Whether an earlier CHECK (column IS NOT NULL) on the table — in this statement or an earlier
 * one of the file — already is the restriction a SET NOT NULL makes (and was reported itself).
 */
function checkedNotNullBefore(
  context: StatementContext,
  table: string,
  column: string,
  earlierCommands: Command[],
): boolean {
  const proves = (def: unknown) => {
    const constraint = (def as { Constraint?: Body } | undefined)?.Constraint;
    return constraint?.contype === 'CONSTR_CHECK' && notNullColumns(constraint.raw_expr).includes(column);
  };
  if (earlierCommands.some((command) => command.subtype === 'AT_AddConstraint' && proves(command.def)))
    return true;
  const earlier = tableCommandsBefore(context, table);
  return earlier.some(
    (command) =>
      (command.subtype === 'AT_AddConstraint' && proves(command.def)) ||
      // VALIDATE of a constraint an earlier migration added: taken, as adding-not-nullable-field
      // (and squawk) take it, to be that check — its ADD was reported in its own file.
      (command.subtype === 'AT_ValidateConstraint' &&
        !earlier.some(
          (each) =>
            each.subtype === 'AT_AddConstraint' &&
            (each.def as { Constraint?: Body } | undefined)?.Constraint?.conname === command.name,
        )),
  );
}

/** The ALTER TABLE commands on `table` in the statements of the file before this one, in order. */
function tableCommandsBefore(context: StatementContext, table: string): Command[] {
  return context.statements.slice(0, context.index).flatMap((statement) => {
    const content = body(statement, 'AlterTableStmt');
    if (!content || !sameName(relationName(content.relation as RangeVar), table)) return [];
    return ((content.cmds as { AlterTableCmd?: Body }[] | undefined) ?? []).flatMap((each) =>
      each.AlterTableCmd
        ? [
            {
              subtype: String(each.AlterTableCmd.subtype ?? ''),
              name: String(each.AlterTableCmd.name ?? ''),
              def: each.AlterTableCmd.def as Node | undefined,
            },
          ]
        : [],
    );
  });
}

/**
 * Whether a DROP CONSTRAINT ends the safe way to SET NOT NULL: the file validated (or added) the
 * constraint, then SET NOT NULL on the table — the NOT NULL now guarantees what the check did.
 */
function replacedByNotNull(context: StatementContext, table: string, name: string): boolean {
  const earlier = tableCommandsBefore(context, table);
  const at = earlier.findIndex(
    (command) =>
      (command.subtype === 'AT_ValidateConstraint' && command.name === name) ||
      (command.subtype === 'AT_AddConstraint' &&
        (command.def as { Constraint?: Body } | undefined)?.Constraint?.conname === name &&
        notNullColumns((command.def as { Constraint?: Body }).Constraint?.raw_expr).length > 0),
  );
  return at >= 0 && earlier.slice(at + 1).some((command) => command.subtype === 'AT_SetNotNull');
}

// ---------------------------------------------------------------------------------------------
// The rules

function rule(definition: Omit<Rule, 'category'>): Rule {
  return { category: 'breaks-old-code', ...definition };
}

const banDropColumn = rule({
  id: 'ban-drop-column',
  severity: 'error',
  breaking: true,
  summary: 'DROP COLUMN: the old code still reads and writes the column.',
  check(statement, context) {
    const alter = alterTable(statement, context);
    if (!alter || alter.isNew || !isTable(alter.objtype)) return [];
    return alter.commands
      .filter((command) => command.subtype === 'AT_DropColumn')
      .map((command) => ({
        message:
          `Dropping ${alter.table}.${command.name} breaks blue: the old code still reads and writes ${alter.table}.${command.name}, ` +
          `and its queries fail with 'column "${command.name}" does not exist' until the shift is over.` +
          cascadeNote(command.behavior),
        fix:
          `Expand → migrate → contract: first deploy code that no longer reads or writes ${alter.table}.${command.name} ` +
          `(make it nullable or give it a default first if it is NOT NULL, so that code's inserts succeed); ` +
          `then drop the column ${CONTRACT}.`,
      }));
  },
});

const banDropTable = rule({
  id: 'ban-drop-table',
  severity: 'error',
  breaking: true,
  summary: 'DROP TABLE: the old code still queries the table.',
  check(statement, context) {
    const content = body(statement, 'DropStmt');
    if (!content || (content.removeType !== 'OBJECT_TABLE' && content.removeType !== 'OBJECT_FOREIGN_TABLE'))
      return [];
    return ((content.objects as unknown[]) ?? [])
      .map(objectName)
      .filter((table) => !tableIsNew(table, context))
      .map((table) => ({
        message:
          `Dropping table ${table} breaks blue: the old code still queries ${table}, and every one of those queries fails ` +
          `with 'relation "${table}" does not exist' until the shift is over; its data is gone for a rollback too.` +
          cascadeNote(content.behavior),
        fix:
          `Expand → migrate → contract: deploy code that no longer reads or writes ${table}; back it up; ` +
          `then drop it ${CONTRACT}.`,
      }));
  },
});

const renamingColumn = rule({
  id: 'renaming-column',
  severity: 'error',
  breaking: true,
  summary: 'RENAME COLUMN: the old code still uses the old name.',
  check(statement, context) {
    const content = body(statement, 'RenameStmt');
    if (!content || content.renameType !== 'OBJECT_COLUMN') return [];
    const relation = relationName(content.relation as RangeVar);
    if (tableIsNew(relation, context) || viewIsNew(relation, context)) return [];
    const from = String(content.subname ?? '');
    const to = String(content.newname ?? '');
    return [
      {
        message:
          `Renaming ${relation}.${from} to ${to} breaks blue: the old code still reads and writes ${relation}.${from}, ` +
          `and its queries fail with 'column "${from}" does not exist' the moment the rename commits.`,
        fix:
          `Expand → migrate → contract: add ${relation}.${to}, keep both in sync (a trigger, or the new code writing both) and backfill; ` +
          `deploy code that uses ${to}; then drop ${from} ${CONTRACT}. Or keep the column's name and rename the field in the code only.`,
      },
    ];
  },
});

const renamingTable = rule({
  id: 'renaming-table',
  severity: 'error',
  breaking: true,
  summary: 'ALTER TABLE … RENAME TO: the old code still uses the old name.',
  check(statement, context) {
    const content = body(statement, 'RenameStmt');
    if (!content || (content.renameType !== 'OBJECT_TABLE' && content.renameType !== 'OBJECT_FOREIGN_TABLE'))
      return [];
    const table = relationName(content.relation as RangeVar);
    if (tableIsNew(table, context)) return [];
    const to = String(content.newname ?? '');
    return [
      {
        message:
          `Renaming table ${table} to ${to} breaks blue: the old code still queries ${table}, and its queries fail with ` +
          `'relation "${table}" does not exist' the moment the rename commits.`,
        fix:
          `Expand → migrate → contract: create a view ${to} AS SELECT * FROM ${table} (simple views are updatable) and deploy code that uses ${to}; ` +
          `then, ${CONTRACT}, drop the view and rename the table in one transaction.`,
      },
    ];
  },
});

const changingColumnType = rule({
  id: 'changing-column-type',
  severity: 'error',
  breaking: true,
  summary: 'ALTER COLUMN … TYPE: the old code reads and writes the old type, and the table is rewritten.',
  check(statement, context) {
    const alter = alterTable(statement, context);
    if (!alter || alter.isNew || !isTable(alter.objtype)) return [];
    return alter.commands
      .filter((command) => command.subtype === 'AT_AlterColumnType')
      .map((command) => ({
        message:
          `Changing the type of ${alter.table}.${command.name} breaks blue: the old code reads and writes it as the old type, ` +
          `so values green writes may not parse, fit or compare the way blue expects (and cached plans fail with ` +
          `'cached plan must not change result type'). Most type changes also rewrite ${alter.table} and its indexes ` +
          `under an ACCESS EXCLUSIVE lock, stalling all traffic to it while they run.`,
        fix:
          `Expand → migrate → contract: add a new column of the new type; keep it in sync with ${command.name} (a trigger) ` +
          `and backfill in batches; deploy code that uses the new column; then drop ${command.name} ${CONTRACT}.`,
      }));
  },
});

/** Whether a new column's value is filled in for inserts that leave it out. */
function fillsItself(column: Body): boolean {
  const type = dotted((column.typeName as { names?: unknown } | undefined)?.names);
  if (/^(pg_catalog\.)?(small|big)?serial[248]?$/.test(type)) return true;
  return ((column.constraints as { Constraint?: Body }[] | undefined) ?? []).some((each) => {
    const contype = each.Constraint?.contype;
    if (contype === 'CONSTR_DEFAULT') return !isNullConstant(each.Constraint?.raw_expr);
    return contype === 'CONSTR_IDENTITY' || contype === 'CONSTR_GENERATED';
  });
}

const addingRequiredField = rule({
  id: 'adding-required-field',
  severity: 'error',
  summary: 'ADD COLUMN … NOT NULL without a DEFAULT: the old code’s inserts leave it out, and fail.',
  check(statement, context) {
    const alter = alterTable(statement, context);
    if (!alter || alter.isNew || !isTable(alter.objtype)) return [];
    return alter.commands.flatMap((command): Finding[] => {
      if (command.subtype !== 'AT_AddColumn') return [];
      const column = (command.def as { ColumnDef?: Body } | undefined)?.ColumnDef ?? {};
      const constraints = (column.constraints as { Constraint?: Body }[] | undefined) ?? [];
      const notNull = constraints.some(
        (each) =>
          each.Constraint?.contype === 'CONSTR_NOTNULL' || each.Constraint?.contype === 'CONSTR_PRIMARY',
      );
      if (!notNull || fillsItself(column)) return [];
      const name = String(column.colname ?? '');
      return [
        {
          message:
            `Adding ${alter.table}.${name} as NOT NULL without a default breaks blue: the old code does not know the column, ` +
            `so its INSERTs into ${alter.table} leave it out and fail with 'null value in column "${name}" of relation … violates not-null constraint'. ` +
            `On a table that has rows the statement itself fails.`,
          fix:
            `Add ${alter.table}.${name} nullable (or NOT NULL with a constant DEFAULT); deploy code that always writes it; ` +
            `backfill existing rows in batches; then, in a later deploy, add CHECK (${name} IS NOT NULL) NOT VALID, VALIDATE it, and SET NOT NULL.`,
        },
      ];
    });
  },
});

const banDropNotNull = rule({
  id: 'ban-drop-not-null',
  severity: 'warning',
  summary: 'ALTER COLUMN … DROP NOT NULL: green may write NULLs the old code does not expect.',
  check(statement, context) {
    const alter = alterTable(statement, context);
    if (!alter || alter.isNew || !isTable(alter.objtype)) return [];
    return alter.commands
      .filter((command) => command.subtype === 'AT_DropNotNull')
      .map((command) => ({
        message:
          `Dropping NOT NULL from ${alter.table}.${command.name} lets green (and anything else) write NULLs there, ` +
          `while blue still assumes every ${alter.table}.${command.name} has a value: its reads of those rows may crash or misbehave.`,
        fix:
          `Only the code that stops writing ${alter.table}.${command.name} needs it nullable: make sure the release blue runs ` +
          `handles NULL there before green writes any (or write a marker value instead of NULL), then drop NOT NULL.`,
      }));
  },
});

const banDropDatabase = rule({
  id: 'ban-drop-database',
  severity: 'error',
  breaking: true,
  summary: 'DROP DATABASE: everything connected to it breaks.',
  check(statement) {
    const content = body(statement, 'DropdbStmt');
    if (!content) return [];
    const name = String(content.dbname ?? '');
    return [
      {
        message: `Dropping database ${name} breaks every client of it, blue and green alike: their connections are refused and the data is gone.`,
        fix: `A migration should not drop a database. Back it up, move every client off it, and drop it by hand once nothing connects.`,
      },
    ];
  },
});

const banDropView = rule({
  id: 'ban-drop-view',
  severity: 'error',
  breaking: true,
  summary: 'DROP VIEW / MATERIALIZED VIEW: the old code still queries the view.',
  check(statement, context) {
    const content = body(statement, 'DropStmt');
    if (!content || (content.removeType !== 'OBJECT_VIEW' && content.removeType !== 'OBJECT_MATVIEW'))
      return [];
    const kind = content.removeType === 'OBJECT_MATVIEW' ? 'materialized view' : 'view';
    return ((content.objects as unknown[]) ?? []).map(objectName).flatMap((view): Finding[] => {
      if (viewIsNew(view, context)) return [];
      const again = recreated(context, 'view', view);
      // DROP + CREATE in one transaction replaces the view: blue never sees it missing.
      if (again === 'in the same transaction') return [];
      return [
        {
          message: again
            ? `Dropping ${kind} ${view} and creating it again outside one transaction breaks blue: between the two statements ` +
              `its queries of ${view} fail with 'relation "${view}" does not exist'.` +
              cascadeNote(content.behavior)
            : `Dropping ${kind} ${view} breaks blue: the old code still queries ${view}, and those queries fail with ` +
              `'relation "${view}" does not exist' until the shift is over.` +
              cascadeNote(content.behavior),
          fix: again
            ? `Run the DROP and the CREATE in one transaction (BEGIN … COMMIT), or use CREATE OR REPLACE VIEW when the columns stay.`
            : `Expand → migrate → contract: deploy code that no longer queries ${view}; then drop it ${CONTRACT}.`,
        },
      ];
    });
  },
});

const renamingView = rule({
  id: 'renaming-view',
  severity: 'error',
  breaking: true,
  summary: 'ALTER VIEW / MATERIALIZED VIEW … RENAME TO: the old code still uses the old name.',
  check(statement, context) {
    const content = body(statement, 'RenameStmt');
    if (!content || (content.renameType !== 'OBJECT_VIEW' && content.renameType !== 'OBJECT_MATVIEW'))
      return [];
    const view = relationName(content.relation as RangeVar);
    if (viewIsNew(view, context)) return [];
    const to = String(content.newname ?? '');
    return [
      {
        message:
          `Renaming view ${view} to ${to} breaks blue: the old code still queries ${view}, and its queries fail with ` +
          `'relation "${view}" does not exist' the moment the rename commits.`,
        fix: `Expand → migrate → contract: create ${to} beside ${view} (same definition); deploy code that uses ${to}; then drop ${view} ${CONTRACT}.`,
      },
    ];
  },
});

const banDropFunction = rule({
  id: 'ban-drop-function',
  severity: 'error',
  breaking: true,
  summary: 'DROP FUNCTION / PROCEDURE: the old code (or its defaults and triggers) still calls it.',
  check(statement, context) {
    const content = body(statement, 'DropStmt');
    const kind = FUNCTION_KINDS[String(content?.removeType)];
    if (!content || !kind) return [];
    return ((content.objects as unknown[]) ?? []).map(functionRef).flatMap((ref): Finding[] => {
      if (functionIsNew(ref, context)) return [];
      const again = recreated(context, 'function', ref.name, (event) => sameFunction(ref, event.function));
      if (again === 'in the same transaction') return [];
      return [
        {
          message: again
            ? `Dropping ${kind} ${ref.name} and creating it again outside one transaction breaks blue: between the two statements ` +
              `its calls of ${ref.name} fail with 'function ${ref.name}(…) does not exist'.` +
              cascadeNote(content.behavior)
            : `Dropping ${kind} ${ref.name} breaks blue: the old code still calls ${ref.name}, and those calls fail with ` +
              `'function ${ref.name}(…) does not exist' until the shift is over.` +
              cascadeNote(content.behavior),
          fix: again
            ? `Run the DROP and the CREATE in one transaction (BEGIN … COMMIT), or use CREATE OR REPLACE when the signature stays.`
            : `Expand → migrate → contract: deploy code that no longer calls ${ref.name}; then drop it ${CONTRACT}.`,
        },
      ];
    });
  },
});

const renamingFunction = rule({
  id: 'renaming-function',
  severity: 'error',
  breaking: true,
  summary: 'ALTER FUNCTION / PROCEDURE … RENAME TO: the old code still calls the old name.',
  check(statement, context) {
    const content = body(statement, 'RenameStmt');
    const kind = FUNCTION_KINDS[String(content?.renameType)];
    if (!content || !kind) return [];
    const ref = functionRef(content.object);
    if (functionIsNew(ref, context)) return [];
    const to = String(content.newname ?? '');
    return [
      {
        message:
          `Renaming ${kind} ${ref.name} to ${to} breaks blue: the old code still calls ${ref.name}, and those calls fail with ` +
          `'function ${ref.name}(…) does not exist' the moment the rename commits.`,
        fix: `Expand → migrate → contract: create ${to} with the same body beside ${ref.name}; deploy code that calls ${to}; then drop ${ref.name} ${CONTRACT}.`,
      },
    ];
  },
});

const banDropType = rule({
  id: 'ban-drop-type',
  severity: 'error',
  breaking: true,
  summary: 'DROP TYPE / DOMAIN: the old code still casts to it or writes columns of it.',
  check(statement, context) {
    const content = body(statement, 'DropStmt');
    if (!content || (content.removeType !== 'OBJECT_TYPE' && content.removeType !== 'OBJECT_DOMAIN'))
      return [];
    const kind = content.removeType === 'OBJECT_DOMAIN' ? 'domain' : 'type';
    return ((content.objects as unknown[]) ?? [])
      .map(objectName)
      .filter((type) => !typeIsNew(type, context))
      .map((type) => ({
        message:
          `Dropping ${kind} ${type} breaks blue: the old code still names ${type} (casts such as $1::${type}, columns and functions of that type), ` +
          `and those queries fail with 'type "${type}" does not exist' until the shift is over.` +
          cascadeNote(content.behavior),
        fix: `Expand → migrate → contract: move the columns off ${type} and deploy code that no longer names it; then drop it ${CONTRACT}.`,
      }));
  },
});

const renamingType = rule({
  id: 'renaming-type',
  severity: 'error',
  breaking: true,
  summary: 'ALTER TYPE / DOMAIN … RENAME TO: the old code still casts to the old name.',
  check(statement, context) {
    const content = body(statement, 'RenameStmt');
    if (!content || (content.renameType !== 'OBJECT_TYPE' && content.renameType !== 'OBJECT_DOMAIN'))
      return [];
    const type = objectName(content.object);
    if (typeIsNew(type, context)) return [];
    const to = String(content.newname ?? '');
    return [
      {
        message:
          `Renaming type ${type} to ${to} breaks blue: the old code still names ${type} (casts such as $1::${type}, which ORMs write for enums), ` +
          `and those queries fail with 'type "${type}" does not exist' the moment the rename commits.`,
        fix: `Keep the type's name and rename it in the code only; or add the new type, move the columns to it across deploys, and drop ${type} ${CONTRACT}.`,
      },
    ];
  },
});

const enumValueRenamed = rule({
  id: 'enum-value-renamed',
  severity: 'error',
  breaking: true,
  summary: 'ALTER TYPE … RENAME VALUE: the old code still writes the old value, and compares with it.',
  check(statement, context) {
    const content = body(statement, 'AlterEnumStmt');
    if (!content?.oldVal) return [];
    const type = dotted(content.typeName);
    if (typeIsNew(type, context)) return [];
    const from = String(content.oldVal);
    const to = String(content.newVal ?? '');
    return [
      {
        message:
          `Renaming value '${from}' of enum ${type} to '${to}' breaks blue: the old code still writes '${from}' and fails with ` +
          `'invalid input value for enum ${type}: "${from}"', and its reads meet '${to}', which it does not know.`,
        fix:
          `Expand → migrate → contract: ADD VALUE '${to}'; deploy code that writes '${to}' and reads both; UPDATE the rows from '${from}' to '${to}' in batches; ` +
          `stop using '${from}' (an enum value cannot be dropped: leave it, or move the column to a new type ${CONTRACT}).`,
      },
    ];
  },
});

const enumValueAdded = rule({
  id: 'enum-value-added',
  severity: 'warning',
  summary: 'ALTER TYPE … ADD VALUE: green may write a value the old code does not know.',
  check(statement, context) {
    const content = body(statement, 'AlterEnumStmt');
    if (!content || content.oldVal || !content.newVal) return [];
    const type = dotted(content.typeName);
    if (typeIsNew(type, context)) return [];
    const value = String(content.newVal);
    return [
      {
        message:
          `Adding value '${value}' to enum ${type}: once green writes '${value}', blue reads a ${type} it does not know ` +
          `(an unmatched case, a failed parse into its own enum) for as long as the shift lasts — and after a rollback.`,
        fix:
          `Add the value one deploy before any code writes it, in a release whose code reads '${value}' safely; ` +
          `only the next release starts writing it.`,
      },
    ];
  },
});

const banDropColumnDefault = rule({
  id: 'ban-drop-column-default',
  severity: 'error',
  breaking: true,
  summary:
    'ALTER COLUMN … DROP DEFAULT / DROP IDENTITY / DROP EXPRESSION: the old code’s inserts relied on it.',
  check(statement, context) {
    const alter = alterTable(statement, context);
    if (!alter || alter.isNew || !isTable(alter.objtype)) return [];
    return alter.commands.flatMap((command): Finding[] => {
      const column = `${alter.table}.${command.name}`;
      const dropsDefault =
        command.subtype === 'AT_ColumnDefault' && (command.def === undefined || isNullConstant(command.def));
      const what = dropsDefault
        ? 'the default'
        : command.subtype === 'AT_DropIdentity'
          ? 'the identity (its generated values)'
          : command.subtype === 'AT_DropExpression'
            ? 'the generation expression'
            : undefined;
      if (!what) return [];
      return [
        {
          message:
            `Dropping ${what} of ${column} breaks blue: the old code's INSERTs that leave ${command.name} out now store NULL instead, ` +
            `and fail with 'null value in column "${command.name}" of relation … violates not-null constraint' when it is NOT NULL.`,
          fix: `Expand → migrate → contract: deploy code that always writes ${column}; then drop ${what} ${CONTRACT}.`,
        },
      ];
    });
  },
});

const changingColumnDefault = rule({
  id: 'changing-column-default',
  severity: 'warning',
  summary: 'ALTER COLUMN … SET DEFAULT: the old code’s inserts get a value it did not choose.',
  check(statement, context) {
    const alter = alterTable(statement, context);
    if (!alter || alter.isNew || !isTable(alter.objtype)) return [];
    // A column this file added: blue never saw it, so its inserts never relied on its default.
    const added = columnsAddedBefore(context, alter.table);
    return alter.commands
      .filter((command, at) => {
        if (
          command.subtype !== 'AT_ColumnDefault' ||
          command.def === undefined ||
          isNullConstant(command.def)
        )
          return false;
        if (added.has(command.name)) return false;
        return !alter.commands
          .slice(0, at)
          .some((each) => each.subtype === 'AT_AddColumn' && addedColumn(each)?.name === command.name);
      })
      .map((command) => ({
        message:
          `Changing the default of ${alter.table}.${command.name}: blue's INSERTs that leave ${command.name} out now get the new default, ` +
          `a value the old code did not choose and may not expect when it reads the row back.`,
        fix:
          `Make sure the old code handles the new default (or always writes ${command.name}) before changing it; ` +
          `or let green write the new value explicitly and change the default once blue is gone.`,
      }));
  },
});

const CONSTRAINT_KINDS: Record<string, string> = {
  CONSTR_CHECK: 'CHECK',
  CONSTR_UNIQUE: 'UNIQUE',
  CONSTR_PRIMARY: 'PRIMARY KEY',
  CONSTR_FOREIGN: 'FOREIGN KEY',
  CONSTR_EXCLUSION: 'EXCLUDE',
};

/** A new rule every write must follow: `writes` says whose writes, e.g. "INSERTs and UPDATEs of orders". */
function restriction(writes: string, what: string, extra = ''): Finding {
  return {
    message:
      `${what} applies to every write from now on, not only to new code: blue's ${writes} that break it fail ` +
      `(the old code was never written to respect it), for the whole shift and after a rollback.${extra}`,
    fix:
      `Add it only once every release that can still run writes data that satisfies it: deploy that code first, fix the existing rows, ` +
      `then add it in a later deploy (NOT VALID first, then VALIDATE, to keep the lock short).`,
  };
}

const newWriteRestriction = rule({
  id: 'new-write-restriction',
  severity: 'warning',
  summary:
    'ADD CONSTRAINT (CHECK — even NOT VALID —, UNIQUE, PRIMARY KEY, FOREIGN KEY, EXCLUDE), CREATE UNIQUE INDEX, SET NOT NULL: the old code’s writes may violate it.',
  check(statement, context) {
    const index = body(statement, 'IndexStmt');
    if (index) {
      const table = relationName(index.relation as RangeVar);
      if (!index.unique || tableIsNew(table, context)) return [];
      const columns = ((index.indexParams as { IndexElem?: Body }[] | undefined) ?? [])
        .map((each) => each.IndexElem?.name ?? 'an expression')
        .join(', ');
      return [
        restriction(
          `INSERTs and UPDATEs of ${table}`,
          `The unique index ${index.idxname ? `${String(index.idxname)} ` : ''}on ${table} (${columns})`,
        ),
      ];
    }
    const domain = body(statement, 'AlterDomainStmt');
    if (domain) {
      const name = dotted(domain.typeName);
      if (typeIsNew(name, context)) return [];
      const writes = `writes to columns of domain ${name}`;
      if (domain.subtype === 'O') return [restriction(writes, `SET NOT NULL on domain ${name}`)];
      if (domain.subtype === 'C')
        return [
          restriction(
            writes,
            `The constraint added to domain ${name}`,
            ' NOT VALID skips only the existing rows.',
          ),
        ];
      return [];
    }
    const alter = alterTable(statement, context);
    if (!alter || alter.isNew || !isTable(alter.objtype)) return [];
    const addedHere = new Map(
      alter.commands.flatMap((command) => {
        const column = command.subtype === 'AT_AddColumn' ? addedColumn(command) : undefined;
        return column ? [[column.name, column] as const] : [];
      }),
    );
    return alter.commands.flatMap((command, at): Finding[] => {
      if (command.subtype === 'AT_SetNotNull') {
        // The CHECK (… IS NOT NULL) before it was the restriction, and was reported itself.
        if (checkedNotNullBefore(context, alter.table, command.name, alter.commands.slice(0, at))) return [];
        return [
          restriction(
            `INSERTs and UPDATEs of ${alter.table}`,
            `SET NOT NULL on ${alter.table}.${command.name}`,
            ` An old release that leaves ${command.name} out of its INSERTs, or writes NULL, fails with 'null value in column "${command.name}"'.`,
          ),
        ];
      }
      if (command.subtype !== 'AT_AddConstraint') return [];
      const constraint = (command.def as { Constraint?: Body } | undefined)?.Constraint ?? {};
      if (onlyOnNewColumns(constraint, addedHere)) return [];
      const kind = CONSTRAINT_KINDS[String(constraint.contype)];
      // UNIQUE USING INDEX: the unique index already enforced it.
      if (!kind || (constraint.contype === 'CONSTR_UNIQUE' && constraint.indexname)) return [];
      const named = constraint.conname ? ` ${String(constraint.conname)}` : '';
      const keys = strings(constraint.keys ?? constraint.fk_attrs).join(', ');
      const what = `The ${kind} constraint${named} on ${alter.table}${keys ? ` (${keys})` : ''}`;
      let extra = '';
      if (constraint.skip_validation) extra += ' NOT VALID skips only the existing rows.';
      if (constraint.contype === 'CONSTR_PRIMARY') extra += ' A primary key also makes its columns NOT NULL.';
      if (constraint.contype === 'CONSTR_FOREIGN') {
        const parent = relationName(constraint.pktable as RangeVar);
        // NO ACTION (the default) or RESTRICT: deleting a parent still referenced fails.
        const blocks = (action: unknown) => action === undefined || action === 'a' || action === 'r';
        const writes = [
          blocks(constraint.fk_del_action) ? 'DELETEs' : '',
          blocks(constraint.fk_upd_action) ? 'key UPDATEs' : '',
        ].filter(Boolean);
        if (writes.length > 0)
          extra += ` Blue's ${writes.join(' and ')} of ${parent} rows that ${alter.table} still references fail too.`;
      }
      return [restriction(`INSERTs and UPDATEs of ${alter.table}`, what, extra)];
    });
  },
});

const banDropConstraint = rule({
  id: 'ban-drop-constraint',
  severity: 'warning',
  summary: 'DROP CONSTRAINT: the old code may rely on it (ON CONFLICT, data it guarantees).',
  check(statement, context) {
    const alter = alterTable(statement, context);
    if (!alter || alter.isNew || !isTable(alter.objtype)) return [];
    return alter.commands
      .filter(
        (command) =>
          command.subtype === 'AT_DropConstraint' && !replacedByNotNull(context, alter.table, command.name),
      )
      .map((command) => ({
        message:
          `Dropping constraint ${command.name} of ${alter.table}: if it is a UNIQUE or PRIMARY KEY constraint, blue's ` +
          `INSERT … ON CONFLICT on its columns (or ON CONFLICT ON CONSTRAINT ${command.name}) fails with 'there is no unique or exclusion constraint matching'; ` +
          `whatever it is, blue may rely on the data it guaranteed, which green can now break.` +
          cascadeNote(command.behavior),
        fix:
          `Loosening a CHECK or a foreign key for green is an expand step: drop it once blue tolerates the data green will write. ` +
          `A unique or primary key constraint: deploy code that no longer upserts on it first, then drop it ${CONTRACT}.`,
      }));
  },
});

/** PostgreSQL's default names for the index of a PRIMARY KEY, UNIQUE or EXCLUDE constraint. */
const CONSTRAINT_INDEX_NAME = /_(pkey|key|excl)$/;

const renamingConstraint = rule({
  id: 'renaming-constraint',
  severity: 'warning',
  summary:
    'RENAME CONSTRAINT (or renaming the index behind one): the old code may name it (ON CONFLICT ON CONSTRAINT, error handling).',
  check(statement, context) {
    const content = body(statement, 'RenameStmt');
    if (!content) return [];
    const to = String(content.newname ?? '');
    const consequences = (from: string, owner: string) =>
      `blue's INSERT … ON CONFLICT ON CONSTRAINT ${from} fails with 'constraint "${from}" for table "${owner}" does not exist', ` +
      `and old code that recognises violations by the constraint's name (ORMs mapping errors to fields) no longer does.`;
    const fix = (from: string) =>
      `Rename it in a later deploy, once no code that names ${from} is left; queries that name no constraint are unaffected.`;
    if (content.renameType === 'OBJECT_INDEX') {
      // Queries never name an index, but renaming the index of a constraint renames the
      // constraint too. The statement does not say which it is: PostgreSQL's default names do.
      const index = relationName(content.relation as RangeVar);
      const bare = (content.relation as RangeVar).relname ?? '';
      const ofNewTable = [...context.createdTables].some((table) =>
        bare.startsWith(`${table.replace(/^.*\./, '')}_`),
      );
      if (!CONSTRAINT_INDEX_NAME.test(bare) || ofNewTable) return [];
      return [
        {
          message:
            `Renaming index ${index} to ${to}: ${bare} is PostgreSQL's default name for the index of a PRIMARY KEY, UNIQUE or EXCLUDE constraint, ` +
            `and renaming such an index renames its constraint too. Then blue's INSERT … ON CONFLICT ON CONSTRAINT ${bare} fails with ` +
            `'constraint "${bare}" … does not exist', and old code that recognises violations by the constraint's name no longer does. ` +
            `(If it is a plain unique index, nothing breaks: suppress this.)`,
          fix: fix(bare),
        },
      ];
    }
    // A domain's constraints are in no query (ON CONFLICT names table constraints only).
    if (content.renameType !== 'OBJECT_TABCONSTRAINT') return [];
    const owner = relationName(content.relation as RangeVar);
    if (tableIsNew(owner, context)) return [];
    const from = String(content.subname ?? '');
    return [
      {
        message: `Renaming constraint ${from} of ${owner} to ${to}: ${consequences(from, owner)}`,
        fix: fix(from),
      },
    ];
  },
});

const renamingSchema = rule({
  id: 'renaming-schema',
  severity: 'error',
  breaking: true,
  summary: 'ALTER SCHEMA … RENAME TO: the old code’s qualified names and search_path stop resolving.',
  check(statement, context) {
    const content = body(statement, 'RenameStmt');
    if (!content || content.renameType !== 'OBJECT_SCHEMA') return [];
    const schema = String(content.subname ?? '');
    if (schemaIsNew(schema, context)) return [];
    const to = String(content.newname ?? '');
    return [
      {
        message:
          `Renaming schema ${schema} to ${to} breaks blue: every query of the old code that names ${schema}.something, or finds ` +
          `its tables through a search_path with ${schema}, fails with 'relation does not exist' the moment the rename commits.`,
        fix: `Expand → migrate → contract: create the objects in ${to} (or views there onto ${schema}'s); deploy code that uses ${to}; then drop or rename ${schema} ${CONTRACT}.`,
      },
    ];
  },
});

const changingSchema = rule({
  id: 'changing-schema',
  severity: 'error',
  breaking: true,
  summary: 'ALTER … SET SCHEMA: the old code still finds the object in its old schema.',
  check(statement, context) {
    const content = body(statement, 'AlterObjectSchemaStmt');
    if (!content) return [];
    const name = content.relation ? relationName(content.relation as RangeVar) : objectName(content.object);
    const objectType = String(content.objectType ?? '');
    if (objectType === 'OBJECT_TABLE' && tableIsNew(name, context)) return [];
    if ((objectType === 'OBJECT_VIEW' || objectType === 'OBJECT_MATVIEW') && viewIsNew(name, context))
      return [];
    if ((objectType === 'OBJECT_TYPE' || objectType === 'OBJECT_DOMAIN') && typeIsNew(name, context))
      return [];
    const to = String(content.newschema ?? '');
    const kind = objectType
      .replace(/^OBJECT_/, '')
      .replace(/_/g, ' ')
      .toLowerCase();
    return [
      {
        message:
          `Moving ${kind} ${name} to schema ${to} breaks blue: the old code still finds ${name} where it was ` +
          `(by its qualified name or its search_path), and those queries fail with 'does not exist' the moment the move commits.`,
        fix: `Expand → migrate → contract: leave ${name} where it is and point a view (or a wrapper) in ${to} at it; deploy code that uses ${to}; then move it ${CONTRACT}.`,
      },
    ];
  },
});

const banDropSchema = rule({
  id: 'ban-drop-schema',
  severity: 'error',
  breaking: true,
  summary: 'DROP SCHEMA: the old code still uses what is in it.',
  check(statement, context) {
    const content = body(statement, 'DropStmt');
    if (!content || content.removeType !== 'OBJECT_SCHEMA') return [];
    return ((content.objects as unknown[]) ?? [])
      .map(objectName)
      .filter((schema) => !schemaIsNew(schema, context))
      .map((schema) => ({
        message:
          `Dropping schema ${schema} breaks blue: the old code's queries of anything in ${schema} fail with 'does not exist' ` +
          `until the shift is over.` +
          (content.behavior === 'DROP_CASCADE'
            ? ` CASCADE drops every table, view and function in it, with their data.`
            : ''),
        fix: `Expand → migrate → contract: deploy code that no longer uses ${schema}; back it up; then drop it ${CONTRACT}.`,
      }));
  },
});

/** Whether the file created the relation (CREATE SEQUENCE, not IF NOT EXISTS) before this statement. */
function createdBefore(
  context: StatementContext,
  kind: string,
  name: string,
  read: (content: Body) => string,
): boolean {
  return context.statements.slice(0, context.index).some((statement) => {
    const content = body(statement, kind);
    return content !== undefined && !content.if_not_exists && sameName(read(content), name);
  });
}

const banTruncate = rule({
  id: 'ban-truncate',
  severity: 'error',
  summary: 'TRUNCATE of a live table: every row is gone for blue too, under ACCESS EXCLUSIVE.',
  check(statement, context) {
    const content = body(statement, 'TruncateStmt');
    if (!content) return [];
    const tables = ((content.relations as { RangeVar?: RangeVar }[] | undefined) ?? [])
      .map((each) => relationName(each.RangeVar))
      .filter((table) => table && !tableIsNew(table, context));
    if (tables.length === 0) return [];
    const list = tables.join(', ');
    return [
      {
        message:
          `TRUNCATE ${list} deletes every row for blue too — the rows it reads, the rows a rollback would need — ` +
          `and takes ACCESS EXCLUSIVE on ${list}: every read and write, blue's and green's, waits until the ` +
          'transaction commits.' +
          (content.behavior === 'DROP_CASCADE'
            ? ' CASCADE also empties every table with a foreign key to it, which the statement does not name.'
            : ''),
        fix:
          'Delete only what must go, in batches (DELETE … WHERE id IN (SELECT id … LIMIT 5000), each batch its ' +
          'own transaction) from a job; to retire a table, deploy code that no longer uses it and drop it ' +
          `${CONTRACT}. A table no release reads (a staging table): suppress with the reason.`,
      },
    ];
  },
});

const banDropSequence = rule({
  id: 'ban-drop-sequence',
  severity: 'error',
  breaking: true,
  summary: 'DROP SEQUENCE: the old code (and its columns’ DEFAULT nextval) still uses it.',
  check(statement, context) {
    const content = body(statement, 'DropStmt');
    if (!content || content.removeType !== 'OBJECT_SEQUENCE') return [];
    return ((content.objects as unknown[]) ?? [])
      .map(objectName)
      .filter(
        (sequence) =>
          !createdBefore(context, 'CreateSeqStmt', sequence, (each) =>
            relationName(each.sequence as RangeVar),
          ),
      )
      .map((sequence) => ({
        message:
          `Dropping sequence ${sequence} breaks blue: its nextval('${sequence}') calls fail with 'relation "${sequence}" ` +
          "does not exist', and with CASCADE the column defaults that call it go too — blue's INSERTs that leave " +
          'the id out then store NULL, or fail on NOT NULL.',
        fix: `Expand → migrate → contract: deploy code (and defaults) that no longer use ${sequence}; then drop it ${CONTRACT}.`,
      }));
  },
});

const banDropExtension = rule({
  id: 'ban-drop-extension',
  severity: 'error',
  breaking: true,
  summary: 'DROP EXTENSION: the old code still uses its functions, types and operators.',
  check(statement, context) {
    const content = body(statement, 'DropStmt');
    if (!content || content.removeType !== 'OBJECT_EXTENSION') return [];
    return ((content.objects as unknown[]) ?? [])
      .map(objectName)
      .filter(
        (extension) =>
          !createdBefore(context, 'CreateExtensionStmt', extension, (each) => String(each.extname ?? '')),
      )
      .map((extension) => ({
        message:
          `Dropping extension ${extension} breaks blue: the functions, types and operators it provides (e.g. ` +
          "uuid_generate_v4(), citext, gin_trgm_ops) are gone, and blue's queries that use them fail with 'does not " +
          "exist'." +
          (content.behavior === 'DROP_CASCADE'
            ? ' CASCADE also drops the columns, defaults and indexes that depend on it, with their data.'
            : ''),
        fix: `Expand → migrate → contract: deploy code that no longer uses ${extension}; then drop it ${CONTRACT}.`,
      }));
  },
});

const revokingPrivileges = rule({
  id: 'revoking-privileges',
  severity: 'warning',
  breaking: true,
  summary: 'REVOKE on a table, sequence, schema or function: blue’s role may lose access it uses.',
  check(statement, context) {
    const content = body(statement, 'GrantStmt');
    if (!content || content.is_grant) return [];
    const objtype = String(content.objtype ?? '')
      .replace(/^OBJECT_/, '')
      .toLowerCase();
    const objects = ((content.objects as unknown[] | undefined) ?? []).map((each) => {
      const range = (each as { RangeVar?: RangeVar }).RangeVar;
      return range ? relationName(range) : objectName(each);
    });
    const live = objects.filter((each) => objtype !== 'table' || !tableIsNew(each, context));
    if (live.length === 0) return [];
    const what =
      content.targtype === 'ACL_TARGET_ALL_IN_SCHEMA'
        ? `every ${objtype} in schema ${live.join(', ')}`
        : `${objtype} ${live.join(', ')}`;
    const roles = ((content.grantees as { RoleSpec?: { rolename?: string; roletype?: string } }[]) ?? [])
      .map(
        (each) => each.RoleSpec?.rolename ?? (each.RoleSpec?.roletype === 'ROLESPEC_PUBLIC' ? 'PUBLIC' : ''),
      )
      .filter(Boolean)
      .join(', ');
    return [
      {
        message:
          `REVOKE on ${what} from ${roles}: if blue connects as ${roles} (or through PUBLIC), its queries of ` +
          `${live.join(', ')} fail with 'permission denied' the moment this commits.`,
        fix:
          'Revoke only what no running release uses: deploy code (or a role) that no longer needs the privilege; ' +
          `then revoke it ${CONTRACT}. Granting green a new privilege is safe at any time.`,
      },
    ];
  },
});

const enablingRowLevelSecurity = rule({
  id: 'enabling-row-level-security',
  severity: 'warning',
  summary:
    'ALTER TABLE … ENABLE / FORCE ROW LEVEL SECURITY: blue’s role sees and writes only what a policy allows.',
  check(statement, context) {
    const alter = alterTable(statement, context);
    if (!alter || alter.isNew || !isTable(alter.objtype)) return [];
    return alter.commands
      .filter(
        (command) => command.subtype === 'AT_EnableRowSecurity' || command.subtype === 'AT_ForceRowSecurity',
      )
      .map((command) => {
        const force = command.subtype === 'AT_ForceRowSecurity';
        return {
          message:
            `${force ? 'FORCE' : 'ENABLE'} ROW LEVEL SECURITY on ${alter.table}: from now on ` +
            `${force ? "the table's owner too" : "every role but the table's owner (and BYPASSRLS roles)"} sees and ` +
            `writes only the rows a policy allows — with no policy, none. If blue connects as such a role, its ` +
            `queries of ${alter.table} silently return fewer rows (or none) and its writes fail with 'new row ` +
            "violates row-level security policy'.",
          fix:
            `CREATE POLICY the policies blue's role needs on ${alter.table} first (e.g. a permissive policy for the ` +
            "application role), in the same transaction or an earlier migration; check blue's queries under that " +
            'role in staging; then enable it.',
        };
      });
  },
});

/** GENERATED ALWAYS (`a`), from ADD GENERATED … AS IDENTITY or SET GENERATED. */
function generatesAlways(command: Command): boolean {
  if (command.subtype === 'AT_AddIdentity')
    return (command.def as { Constraint?: Body } | undefined)?.Constraint?.generated_when === 'a';
  if (command.subtype !== 'AT_SetIdentity') return false;
  const options = ((command.def as { List?: { items?: unknown[] } } | undefined)?.List?.items ?? []) as {
    DefElem?: { defname?: string; arg?: { Integer?: { ival?: number } } };
  }[];
  return options.some(
    (each) => each.DefElem?.defname === 'generated' && each.DefElem.arg?.Integer?.ival === 97,
  );
}

const identityGeneratedAlways = rule({
  id: 'identity-generated-always',
  severity: 'error',
  breaking: true,
  summary:
    'ALTER COLUMN … ADD GENERATED ALWAYS AS IDENTITY / SET GENERATED ALWAYS: the old code’s inserts that give the value fail.',
  check(statement, context) {
    const alter = alterTable(statement, context);
    if (!alter || alter.isNew || !isTable(alter.objtype)) return [];
    return alter.commands.filter(generatesAlways).map((command) => ({
      message:
        `${alter.table}.${command.name} becomes GENERATED ALWAYS: blue's INSERTs that give ${command.name} a value ` +
        `(as the old code did before the identity existed) fail with 'cannot insert a non-DEFAULT value into column ` +
        `"${command.name}"', and its UPDATEs of it fail too.`,
      fix:
        `ADD GENERATED BY DEFAULT AS IDENTITY (explicit values are still accepted; set its START above the highest ` +
        `${command.name}); deploy code that no longer writes ${command.name}; then SET GENERATED ALWAYS ${CONTRACT}.`,
    }));
  },
});

const uncheckedDoBlock = rule({
  id: 'unchecked-do-block',
  severity: 'warning',
  summary: 'DO blocks, CALL, and functions the file creates and runs: the lint cannot see what they execute.',
  check(statement, context) {
    const [kind, content] = nodeOf(statement.node);
    let what: string | undefined;
    if (kind === 'DoStmt') what = 'A DO block';
    else if (kind === 'CallStmt') {
      const name = dotted((content.funccall as { funcname?: unknown } | undefined)?.funcname);
      what = `CALL ${name}`;
    } else if (kind === 'SelectStmt') {
      const created = new Set(
        context.statements.slice(0, context.index).flatMap((each) => {
          const made = functionCreated(nodeOf(each.node));
          return made ? [made.name.replace(/^public\./, '')] : [];
        }),
      );
      const called = functionCalls(content).find((name) => created.has(name.replace(/^public\./, '')));
      if (called) what = `SELECT ${called}(…), a function this file creates,`;
    }
    if (!what) return [];
    return [
      {
        message:
          `${what} runs SQL the lint cannot see inside: whatever DDL it executes — drops, renames, rewrites, locks ` +
          "that stall traffic — is not checked against blue's queries or live traffic.",
        fix:
          'Move the DDL out of the DO block (or the function) into plain statements of the migration, where each ' +
          'is checked; keep procedural code for data only. If it runs no DDL, suppress with the reason.',
      },
    ];
  },
});

/** The names of the functions a query calls. */
function functionCalls(node: unknown): string[] {
  const found: string[] = [];
  const walk = (value: unknown): void => {
    if (Array.isArray(value)) value.forEach(walk);
    else if (value && typeof value === 'object') {
      const call = (value as { FuncCall?: { funcname?: unknown } }).FuncCall;
      if (call) found.push(dotted(call.funcname));
      Object.values(value).forEach(walk);
    }
  };
  walk(node);
  return found;
}

/** The "breaks the old code" rules, in the order the docs list them. */
export const breakingRules: Rule[] = [
  banDropColumn,
  banDropTable,
  renamingColumn,
  renamingTable,
  changingColumnType,
  addingRequiredField,
  banDropNotNull,
  banDropDatabase,
  banDropView,
  renamingView,
  banDropFunction,
  renamingFunction,
  banDropType,
  renamingType,
  enumValueRenamed,
  enumValueAdded,
  banDropColumnDefault,
  changingColumnDefault,
  newWriteRestriction,
  banDropConstraint,
  renamingConstraint,
  renamingSchema,
  changingSchema,
  banDropSchema,
  banTruncate,
  banDropSequence,
  banDropExtension,
  revokingPrivileges,
  enablingRowLevelSecurity,
  identityGeneratedAlways,
  uncheckedDoBlock,
];
