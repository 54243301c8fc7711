import type { Statement } from '../parser.js';
import { nodeOf, type Finding, type Rule, type StatementContext } from './rule.js';

/** What a statement does to the transaction it runs in. */
export type TransactionEffect = 'begin' | 'end' | undefined;

/**
 * BEGIN / START TRANSACTION open a block; COMMIT (END), ROLLBACK (ABORT) and PREPARE TRANSACTION
 * close it, unless `AND CHAIN` opens the next one at once. Savepoints neither open nor close one.
 */
export function transactionEffect(statement: Statement): TransactionEffect {
  const [kind, body] = nodeOf(statement.node);
  if (kind !== 'TransactionStmt') return undefined;
  switch (body.kind) {
    case 'TRANS_STMT_BEGIN':
    case 'TRANS_STMT_START':
      return 'begin';
    case 'TRANS_STMT_COMMIT':
    case 'TRANS_STMT_ROLLBACK':
    case 'TRANS_STMT_PREPARE':
      return body.chain ? undefined : 'end';
    default:
      return undefined;
  }
}

/** The COMMIT/ROLLBACK kind, for messages. */
function endWord(statement: Statement): string {
  const [, body] = nodeOf(statement.node);
  if (body.kind === 'TRANS_STMT_ROLLBACK') return 'ROLLBACK';
  if (body.kind === 'TRANS_STMT_PREPARE') return 'PREPARE TRANSACTION';
  return 'COMMIT';
}

/**
 * Which transaction each statement of a file runs in, as PostgreSQL would run the file: an id, or
 * undefined when the statement commits on its own. `before` is the transaction open when the
 * statement starts (a BEGIN's is the one it would nest in).
 */
export interface TransactionMap {
  ids: readonly (number | undefined)[];
  before: readonly (number | undefined)[];
  /** The statement that opened each transaction (the tool's, 0, has none). */
  openedBy: ReadonlyMap<number, number>;
}

const maps = new WeakMap<readonly Statement[], Map<boolean, TransactionMap>>();

/**
 * With `assumeInTransaction`, the migration tool's own transaction (id 0) is open from the first
 * statement: a BEGIN inside it is ignored by PostgreSQL (with a warning) and the first COMMIT ends
 * it. Computed once per file and setting.
 */
export function transactionMap(
  statements: readonly Statement[],
  assumeInTransaction: boolean,
): TransactionMap {
  let byAssume = maps.get(statements);
  if (!byAssume) maps.set(statements, (byAssume = new Map()));
  const known = byAssume.get(assumeInTransaction);
  if (known) return known;
  const ids: (number | undefined)[] = [];
  const before: (number | undefined)[] = [];
  const openedBy = new Map<number, number>();
  let current: number | undefined = assumeInTransaction ? 0 : undefined;
  let next = 1;
  statements.forEach((statement, index) => {
    before.push(current);
    const effect = transactionEffect(statement);
    if (effect === 'begin' && current === undefined) {
      current = next++;
      openedBy.set(current, index);
    }
    ids.push(current);
    if (effect === 'end') current = undefined;
  });
  const map = { ids, before, openedBy };
  byAssume.set(assumeInTransaction, map);
  return map;
}

/**
 * Whether the migration tool wraps the file in a transaction (`assume-in-transaction`). The
 * context says so directly when it carries the setting; else it is read off `inTransaction`,
 * which is the setting wherever no explicit BEGIN is open (inside one, it cannot tell: false).
 */
export function assumesTransaction(context: StatementContext): boolean {
  const setting = (context as StatementContext & { assumeInTransaction?: boolean }).assumeInTransaction;
  if (setting !== undefined) return setting;
  const explicit = transactionMap(context.statements, false).before[context.index] !== undefined;
  return explicit ? false : context.inTransaction;
}

/** Whether statements `earlier` and `later` of the file run in one and the same transaction. */
export function sameTransaction(context: StatementContext, earlier: number, later: number): boolean {
  const { ids } = transactionMap(context.statements, assumesTransaction(context));
  const id = ids[earlier];
  return id !== undefined && id === ids[later];
}

function lineOf(context: StatementContext, index: number | undefined): string {
  const statement = index === undefined ? undefined : context.statements[index];
  return statement ? `line ${statement.start.line}` : 'an earlier line';
}

/** The index of the BEGIN that opened the explicit block open before statement `index`. */
function openingBegin(context: StatementContext, index: number): number | undefined {
  const { before, openedBy } = transactionMap(context.statements, false);
  const open = before[index];
  return open === undefined ? undefined : openedBy.get(open);
}

/** CREATE INDEX / DROP INDEX / REINDEX … CONCURRENTLY: the statement's words, or undefined. */
export function concurrentIndexOperation(statement: Statement): string | undefined {
  const [kind, body] = nodeOf(statement.node);
  if (kind === 'IndexStmt' && body.concurrent) return 'CREATE INDEX CONCURRENTLY';
  if (kind === 'DropStmt' && body.removeType === 'OBJECT_INDEX' && body.concurrent)
    return 'DROP INDEX CONCURRENTLY';
  if (kind === 'ReindexStmt') {
    const params = (body.params as { DefElem?: { defname?: string; arg?: unknown } }[] | undefined) ?? [];
    const concurrently = params.find((each) => each.DefElem?.defname === 'concurrently')?.DefElem;
    if (concurrently && !isFalse(concurrently.arg)) return 'REINDEX CONCURRENTLY';
  }
  return undefined;
}

/** Whether an option's argument turns it off: `(FULL false)`, `(CONCURRENTLY 0)`. */
export function isFalse(arg: unknown): boolean {
  const value = (arg as { String?: { sval?: string }; Integer?: { ival?: number } } | undefined) ?? {};
  if (value.String) return /^(false|off|0|no)$/i.test(value.String.sval ?? '');
  if (value.Integer) return !value.Integer.ival;
  return false;
}

const banConcurrentIndexCreationInTransaction: Rule = {
  id: 'ban-concurrent-index-creation-in-transaction',
  category: 'transactions',
  severity: 'error',
  summary: 'CREATE / DROP / REINDEX … CONCURRENTLY inside a transaction block: PostgreSQL refuses it.',
  check(statement, context): Finding[] {
    const operation = concurrentIndexOperation(statement);
    if (!operation || !context.inTransaction) return [];
    // As squawk: a file of this one statement is not wrapped by tools that know it cannot be
    // (golang-migrate, and any tool sending the file as one query); a file of several is.
    if (context.statements.length < 2) return [];
    const begin = openingBegin(context, context.index);
    const where =
      begin !== undefined
        ? `inside the transaction opened at ${lineOf(context, begin)}`
        : 'inside the transaction your migration tool wraps this file in (assume-in-transaction)';
    return [
      {
        message:
          `${operation} cannot run inside a transaction block, and this one runs ${where}: PostgreSQL ` +
          'rejects it, the migration fails at this statement and everything before it in the transaction ' +
          'rolls back — green is deployed against a schema it expected to have.',
        fix:
          `Move the ${operation} into its own migration file that runs outside a transaction (no BEGIN; ` +
          "turn off your tool's transaction for that file: e.g. `-- +goose NO TRANSACTION`, Rails " +
          '`disable_ddl_transaction!`, Django `atomic = False`, Flyway `executeInTransaction=false`). If a ' +
          'concurrent build fails it leaves an INVALID index: DROP INDEX CONCURRENTLY it and run the file again.',
      },
    ];
  },
};

const transactionNesting: Rule = {
  id: 'transaction-nesting',
  category: 'transactions',
  severity: 'error',
  summary:
    "BEGIN inside a transaction, or COMMIT / ROLLBACK of the migration tool's transaction (or of none).",
  check(statement, context): Finding[] {
    const effect = transactionEffect(statement);
    if (!effect) return [];
    const assume = assumesTransaction(context);
    const explicitBegin = openingBegin(context, context.index);
    if (effect === 'begin') {
      if (explicitBegin !== undefined)
        return [
          {
            message:
              `A transaction is already open (BEGIN at ${lineOf(context, explicitBegin)}): PostgreSQL ignores ` +
              'this BEGIN with a warning, and the first COMMIT ends both — whatever the author meant to be ' +
              'atomic after it is not, and a failure there leaves the migration half applied.',
            fix: 'Remove the inner BEGIN (and its COMMIT): one BEGIN … COMMIT per file, or none when your tool wraps the file.',
          },
        ];
      if (!assume) return [];
      return [
        {
          message:
            'Your migration tool already runs this file in a transaction (assume-in-transaction): PostgreSQL ' +
            "ignores this BEGIN with a warning, and the COMMIT that pairs with it commits the tool's " +
            'transaction early — statements after it run outside any transaction, so a failure leaves the ' +
            'migration half applied and the tool believes it rolled back.',
          fix:
            'Remove BEGIN and COMMIT and let the tool own the transaction; to split the work into separate ' +
            'transactions, split it into separate migration files.',
        },
      ];
    }
    const word = endWord(statement);
    if (assume)
      return [
        {
          message:
            `${word} here ends the transaction your migration tool wraps this file in (assume-in-transaction): ` +
            'statements after it run outside any transaction (a failure leaves the migration half applied), ' +
            "and the tool's own COMMIT at the end finds no transaction.",
          fix:
            'Remove BEGIN/COMMIT/ROLLBACK from the file and let the tool own the transaction; put statements ' +
            'that need their own transaction in a separate migration file.',
        },
      ];
    if (explicitBegin !== undefined) return [];
    return [
      {
        message:
          `There is no transaction for this ${word} to end: PostgreSQL warns and does nothing — the ` +
          'statements before it already committed one by one, so they were never atomic.',
        fix: `Put BEGIN where the transaction should start, or remove the ${word}.`,
      },
    ];
  },
};

const uncommitted = new WeakMap<readonly Statement[], number | undefined>();

/** As squawk: the file's last BEGIN, when nothing after it ends a transaction. */
function uncommittedBegin(statements: readonly Statement[]): number | undefined {
  if (uncommitted.has(statements)) return uncommitted.get(statements);
  let open: number | undefined;
  statements.forEach((statement, index) => {
    const effect = transactionEffect(statement);
    if (effect === 'begin') open = index;
    else if (effect === 'end') open = undefined;
  });
  uncommitted.set(statements, open);
  return open;
}

const banUncommittedTransaction: Rule = {
  id: 'ban-uncommitted-transaction',
  category: 'transactions',
  severity: 'error',
  summary: 'A BEGIN with no COMMIT or ROLLBACK by the end of the file.',
  check(statement, context): Finding[] {
    if (context.index !== uncommittedBegin(context.statements)) return [];
    if (assumesTransaction(context))
      return [
        {
          message:
            "This BEGIN is never committed or rolled back in the file: only your migration tool's final COMMIT " +
            "ends it (PostgreSQL ignored the BEGIN inside the tool's transaction), so the file does not say " +
            'where its transaction ends — run without the tool (psql -f) it stays open, holding every lock ' +
            'its statements took until the connection closes, and then rolls back.',
          fix: 'Remove the BEGIN and let the tool own the transaction, or end the file with COMMIT;.',
        },
      ];
    return [
      {
        message:
          'This BEGIN is never committed or rolled back: at the end of the file the transaction is still ' +
          'open, holding every lock its statements took (an ACCESS EXCLUSIVE from any ALTER TABLE blocks ' +
          'all reads and writes of that table, for blue and green) until the connection closes — and then ' +
          'PostgreSQL rolls the whole migration back.',
        fix: 'End the file with COMMIT; (or remove the BEGIN when your migration tool wraps the file in a transaction).',
      },
    ];
  },
};

/** Whether a statement's parse tree holds the string constant `value` ('x', 'x'::mood). */
function usesString(node: unknown, value: string): boolean {
  if (Array.isArray(node)) return node.some((each) => usesString(each, value));
  if (!node || typeof node !== 'object') return false;
  const constant = (node as { A_Const?: { sval?: { sval?: string } } }).A_Const;
  if (constant) return constant.sval?.sval === value;
  return Object.values(node).some((each) => usesString(each, value));
}

function dottedName(items: unknown): string {
  return ((items as { String?: { sval?: string } }[] | undefined) ?? [])
    .map((each) => each.String?.sval ?? '')
    .join('.')
    .replace(/^public\./, '');
}

/** ALTER TYPE … ADD VALUE: the type and the value. */
function addedEnumValue(statement: Statement): { type: string; value: string } | undefined {
  const [kind, body] = nodeOf(statement.node);
  if (kind !== 'AlterEnumStmt' || body.oldVal || !body.newVal) return undefined;
  return { type: dottedName(body.typeName), value: String(body.newVal) };
}

const enumValueInTransaction: Rule = {
  id: 'enum-value-in-transaction',
  category: 'transactions',
  severity: 'error',
  summary:
    'A value ALTER TYPE … ADD VALUE added, used in the same transaction; or ADD VALUE in a transaction before PostgreSQL 12: PostgreSQL refuses both.',
  check(statement, context): Finding[] {
    const added = addedEnumValue(statement);
    if (added) {
      if (context.pgVersion >= 12 || !context.inTransaction) return [];
      if (context.statements.length < 2 && openingBegin(context, context.index) === undefined) return [];
      return [
        {
          message:
            `Before PostgreSQL 12 (pg-version ${context.pgVersion}) ALTER TYPE ${added.type} ADD VALUE cannot run ` +
            "inside a transaction block ('ALTER TYPE … ADD cannot run inside a transaction block'): the migration " +
            'fails here and everything before it in the transaction rolls back.',
          fix:
            "Put the ADD VALUE in its own migration file that runs outside a transaction (turn off your tool's " +
            'transaction for that file, no BEGIN).',
        },
      ];
    }
    if (context.pgVersion < 12 || !context.inTransaction) return [];
    const findings: Finding[] = [];
    const seen = new Set<string>();
    for (let index = 0; index < context.index; index++) {
      const earlier = addedEnumValue(context.statements[index]!);
      if (!earlier || seen.has(earlier.value) || !sameTransaction(context, index, context.index)) continue;
      // An enum created in the same transaction may use its new values at once.
      const createdHere = context.statements.slice(0, index).some((each, at) => {
        const [kind, body] = nodeOf(each.node);
        return (
          kind === 'CreateEnumStmt' &&
          dottedName(body.typeName) === earlier.type &&
          sameTransaction(context, at, context.index)
        );
      });
      if (createdHere || !usesString(statement.node, earlier.value)) continue;
      seen.add(earlier.value);
      findings.push({
        message:
          `'${earlier.value}' was added to enum ${earlier.type} at ${lineOf(context, index)}, in this same ` +
          `transaction: PostgreSQL refuses to use it before that transaction commits ('unsafe use of new value ` +
          `"${earlier.value}" of enum type ${earlier.type}'), so the migration fails here and rolls back.`,
        fix:
          `COMMIT after the ADD VALUE and use '${earlier.value}' in a later transaction — a separate migration ` +
          'file when your tool wraps each file in one.',
      });
    }
    return findings;
  },
};

export const transactionRules: Rule[] = [
  banConcurrentIndexCreationInTransaction,
  transactionNesting,
  banUncommittedTransaction,
  enumValueInTransaction,
];
