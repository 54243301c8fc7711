import type { Node } from '@pgsql/types';
import type { Position, Statement } from '../parser.js';

export type Severity = 'error' | 'warning';

/** What a rule is about, for the docs and the summary. */
export type RuleCategory =
  /** Blue — the old code — still runs against the same database during the shift, and breaks. */
  | 'breaks-old-code'
  /** A lock or a rewrite that stalls live traffic while the migration runs. */
  | 'locks'
  /** How the statements sit in transactions. */
  | 'transactions'
  /** The migration files themselves (order, suppressions). */
  | 'files';

/** A finding of one rule on one statement (or file): what breaks, for whom, and the safe sequence. */
export interface Finding {
  /** What breaks and for whom, in one or two sentences. */
  message: string;
  /** The safe sequence, e.g. "add the column nullable; backfill in batches; then SET NOT NULL in a later deploy". */
  fix: string;
  /** Where, when narrower than the whole statement (the constraint, the column). */
  at?: { start: Position; end: Position };
}

/** What a rule knows about the statement it looks at, and about the file around it. */
export interface StatementContext {
  /** PostgreSQL's major version the migration runs against (`pg-version`). */
  pgVersion: number;
  /** The file, relative to the workspace, `/`-separated. */
  file: string;
  /** Every statement of the file, in order. */
  statements: readonly Statement[];
  /** This statement's index in `statements`. */
  index: number;
  /**
   * Whether this statement runs inside a transaction block: `assume-in-transaction` (the migration
   * tool wraps each file), or an explicit BEGIN before it that is not yet committed.
   */
  inTransaction: boolean;
  /** The migration tool wraps the whole file in its own transaction (`assume-in-transaction`). */
  assumeInTransaction: boolean;
  /** `lock_timeout` has been set (SET or SET LOCAL) earlier in the file, to something other than 0. */
  lockTimeoutSet: boolean;
  /**
   * Tables created earlier in this file, schema-qualified as written ("public.orders" when it
   * was written so, else "orders"): no traffic reaches a table before the deploy that creates
   * it, so locks and old readers do not matter for them.
   */
  createdTables: ReadonlySet<string>;
}

/**
 * One check. A rule looks at one statement's parse tree (PostgreSQL's own, from libpg-query) and
 * says what is wrong, if anything. Where one of squawk's rules means the same, the id is squawk's,
 * so teams moving from squawk keep their ignore comments and configs.
 */
export interface Rule {
  id: string;
  category: RuleCategory;
  /** The default severity; switchyard.yml's validate-migration.rules changes it (or turns it off). */
  severity: Severity;
  /**
   * A breaking change (a drop, a rename): allowed — and reported as phase `contract` — only in a
   * file marked `-- switchyard: contract`, run once no old code is left.
   */
  breaking?: boolean;
  /** One line for the docs' index. */
  summary: string;
  check(statement: Statement, context: StatementContext): Finding[];
}

/** The one key of a parse-tree node and its body, e.g. ['AlterTableStmt', {...}]. */
export function nodeOf(node: Node): [string, Record<string, unknown>] {
  const [kind, body] = Object.entries(node as Record<string, unknown>)[0] ?? ['Unknown', {}];
  return [kind, (body ?? {}) as Record<string, unknown>];
}

/** A RangeVar's name as written: schema-qualified when it was. */
export function relationName(relation: { schemaname?: string; relname?: string } | undefined): string {
  if (!relation?.relname) return '';
  return relation.schemaname ? `${relation.schemaname}.${relation.relname}` : relation.relname;
}

/** A name without the default schema: `public.orders` and `orders` are one table (the default search_path). */
export function withoutPublic(name: string): string {
  return name.startsWith('public.') ? name.slice('public.'.length) : name;
}

/** Whether two names, as written, name the same object. */
export function sameName(a: string, b: string): boolean {
  return a !== '' && withoutPublic(a) === withoutPublic(b);
}

/** The table was created earlier in this file: no traffic reaches it before this deploy. */
export function tableIsNew(table: string, context: StatementContext): boolean {
  if (!table) return false;
  const name = withoutPublic(table);
  const created = context.createdTables;
  return created.has(table) || created.has(name) || created.has(`public.${name}`);
}

/** Whether an expression is the NULL constant (`DEFAULT NULL` is no default). */
export function isNullConstant(expression: unknown): boolean {
  return Boolean((expression as { A_Const?: { isnull?: boolean } } | undefined)?.A_Const?.isnull);
}
