import { InputError } from '../../errors.js';
import type { KeyPatternSnapshot, Snapshot, TableSnapshot } from './snapshot.js';

/**
 * `expect` lines, one check each:
 *
 *   rows(public.orders) unchanged          rows(public.orders) >= before       rows(public.orders) == 0
 *   checksum(public.users) unchanged       checksum(public.users) changed
 *   schema(public.users) unchanged         table(public.carts) added | removed
 *   column(public.users.email) added | removed | unchanged
 *   keys(v2:user:*) == before.keys(user:*) keys(session:*) unchanged           keys(cache:*) == 0
 *   ttl(v2:session:*) kept
 *
 * A table is "schema.table" (a bare name means public); a key pattern is one of the snapshot's
 * patterns, numeric and hex parts of key names written as `*`.
 */
export type Expectation =
  | {
      line: number;
      text: string;
      kind: 'number';
      measure: 'rows' | 'keys';
      subject: string;
      op: Operator;
      right: Right;
    }
  | {
      line: number;
      text: string;
      kind: 'checksum' | 'schema';
      subject: string;
      want: 'unchanged' | 'changed';
    }
  | {
      line: number;
      text: string;
      kind: 'table' | 'column';
      subject: string;
      want: 'added' | 'removed' | 'unchanged';
    }
  | { line: number; text: string; kind: 'ttl'; subject: string };

type Operator = '==' | '!=' | '>=' | '<=' | '>' | '<';
/** What a count is compared with: the same subject before, another subject before, or a number. */
type Right = { before: string } | { value: number };

export interface CheckResult {
  line: number;
  text: string;
  passed: boolean;
  /** Both values, in words: "public.orders: 1200 rows before, 1187 after". */
  detail: string;
}

export interface Difference {
  kind: 'table' | 'rows' | 'checksum' | 'schema' | 'column' | 'pattern' | 'keys' | 'types' | 'ttl';
  subject: string;
  before: string;
  after: string;
}

const SUBJECT = String.raw`([^()\s]+)`;
const NUMBER_CHECK = new RegExp(
  String.raw`^(rows|keys)\(${SUBJECT}\)\s*(?:(unchanged)|(==|!=|>=|<=|>|<)\s*(?:(before)(?:\.(?:rows|keys)\(${SUBJECT}\))?|(\d+)))$`,
);
const STATE_CHECK = new RegExp(String.raw`^(checksum|schema)\(${SUBJECT}\)\s+(unchanged|changed)$`);
const PRESENCE_CHECK = new RegExp(String.raw`^(table|column)\(${SUBJECT}\)\s+(added|removed|unchanged)$`);
const TTL_CHECK = new RegExp(String.raw`^ttl\(${SUBJECT}\)\s+kept$`);

const qualify = (table: string) => (table.includes('.') ? table : `public.${table}`);

/** The `expect` input's lines as checks; a line that is none is refused with the grammar. */
export function parseExpectations(raw: string): Expectation[] {
  const checks: Expectation[] = [];
  raw.split('\n').forEach((whole, index) => {
    const text = whole.trim();
    const line = index + 1;
    if (!text || text.startsWith('#')) return;
    let m: RegExpExecArray | null;
    if ((m = NUMBER_CHECK.exec(text))) {
      const [, measure, subject = '', unchanged, op, before, other, value] = m;
      const name = measure === 'rows' ? qualify(subject) : subject;
      const right: Right =
        unchanged || before
          ? { before: other ? (measure === 'rows' ? qualify(other) : other) : name }
          : { value: Number(value) };
      checks.push({
        line,
        text,
        kind: 'number',
        measure: measure as 'rows' | 'keys',
        subject: name,
        op: (unchanged ? '==' : op) as Operator,
        right,
      });
    } else if ((m = STATE_CHECK.exec(text))) {
      checks.push({
        line,
        text,
        kind: m[1] as 'checksum' | 'schema',
        subject: qualify(m[2] ?? ''),
        want: m[3] as 'unchanged' | 'changed',
      });
    } else if ((m = PRESENCE_CHECK.exec(text))) {
      const kind = m[1] as 'table' | 'column';
      const subject = kind === 'table' ? qualify(m[2] ?? '') : qualifyColumn(m[2] ?? '');
      checks.push({ line, text, kind, subject, want: m[3] as 'added' | 'removed' | 'unchanged' });
    } else if ((m = TTL_CHECK.exec(text))) {
      checks.push({ line, text, kind: 'ttl', subject: m[1] ?? '' });
    } else {
      throw new InputError(
        'expect',
        `line ${line} "${text}" is not a check; write e.g. "rows(public.orders) unchanged", "rows(public.orders) >= before", ` +
          '"checksum(public.users) unchanged", "column(public.users.email) added", "keys(v2:user:*) == before.keys(user:*)" or "ttl(v2:session:*) kept"',
      );
    }
  });
  return checks;
}

/** "users.email" → "public.users.email". */
function qualifyColumn(subject: string): string {
  return subject.split('.').length === 2 ? `public.${subject}` : subject;
}

const tableOf = (snapshot: Snapshot, name: string): TableSnapshot | undefined =>
  snapshot.postgres?.tables.find((table) => table.name === name || `public.${table.name}` === name);
const patternOf = (snapshot: Snapshot, pattern: string): KeyPatternSnapshot | undefined =>
  snapshot.redis?.patterns.find((each) => each.pattern === pattern);

function countOf(snapshot: Snapshot, measure: 'rows' | 'keys', subject: string): number | undefined {
  return measure === 'rows'
    ? tableOf(snapshot, subject)?.rows
    : (patternOf(snapshot, subject)?.keys ?? (snapshot.redis ? 0 : undefined));
}

const holds = (op: Operator, a: number, b: number) =>
  op === '=='
    ? a === b
    : op === '!='
      ? a !== b
      : op === '>='
        ? a >= b
        : op === '<='
          ? a <= b
          : op === '>'
            ? a > b
            : a < b;

/** Each check against the two snapshots, with both values in its detail. */
export function checkExpectations(before: Snapshot, after: Snapshot, checks: Expectation[]): CheckResult[] {
  return checks.map((check): CheckResult => {
    const result = (passed: boolean, detail: string) => ({
      line: check.line,
      text: check.text,
      passed,
      detail,
    });
    switch (check.kind) {
      case 'number': {
        const unit = check.measure === 'rows' ? 'rows' : 'keys';
        const now = countOf(after, check.measure, check.subject);
        if (now === undefined) return result(false, `${check.subject}: not in the after snapshot`);
        if ('value' in check.right)
          return result(
            holds(check.op, now, check.right.value),
            `${check.subject}: ${now} ${unit} after (expected ${check.op} ${check.right.value})`,
          );
        const then = countOf(before, check.measure, check.right.before);
        if (then === undefined) return result(false, `${check.right.before}: not in the before snapshot`);
        const same = check.right.before === check.subject ? '' : ` (${check.right.before})`;
        return result(
          holds(check.op, now, then),
          `${check.subject}: ${then} ${unit} before${same}, ${now} after`,
        );
      }
      case 'checksum':
      case 'schema': {
        const [a, b] = [tableOf(before, check.subject), tableOf(after, check.subject)];
        if (!a || !b)
          return result(
            false,
            `${check.subject}: ${a ? 'not in the after snapshot' : 'not in the before snapshot'}`,
          );
        const key = check.kind === 'checksum' ? 'checksum' : 'schemaDigest';
        const same = a[key] === b[key];
        const sampled =
          check.kind === 'checksum' && (a.sampled || b.sampled) ? ' (sampled: probabilistic)' : '';
        return result(
          same === (check.want === 'unchanged'),
          `${check.subject}: ${check.kind} ${a[key].slice(0, 12)} before, ${b[key].slice(0, 12)} after${sampled}`,
        );
      }
      case 'table': {
        const [a, b] = [Boolean(tableOf(before, check.subject)), Boolean(tableOf(after, check.subject))];
        return result(
          presence(a, b) === check.want,
          `${check.subject}: ${a ? 'present' : 'absent'} before, ${b ? 'present' : 'absent'} after`,
        );
      }
      case 'column': {
        const parts = check.subject.split('.');
        const column = parts.pop() ?? '';
        const table = parts.join('.');
        const find = (snapshot: Snapshot) => tableOf(snapshot, table)?.columns.find((c) => c.name === column);
        const [a, b] = [find(before), find(after)];
        const state = presence(Boolean(a), Boolean(b));
        const changedType = a && b && a.type !== b.type;
        const passed = check.want === 'unchanged' ? Boolean(a && b && !changedType) : state === check.want;
        return result(
          passed,
          `${check.subject}: ${a ? a.type : 'absent'} before, ${b ? b.type : 'absent'} after`,
        );
      }
      case 'ttl': {
        const now = patternOf(after, check.subject);
        if (!now) return result(false, `${check.subject}: no such keys after`);
        const then = patternOf(before, check.subject);
        // A pattern that existed: every key that expired still does. A new one (keys moved there):
        // every key expires, as cache and session keys must.
        const passed = then ? now.withTtl >= then.withTtl : now.withTtl === now.keys;
        return result(
          passed,
          `${check.subject}: ${then ? `${then.withTtl} of ${then.keys} keys with a TTL before, ` : ''}${now.withTtl} of ${now.keys} after`,
        );
      }
    }
  });
}

function presence(before: boolean, after: boolean): 'added' | 'removed' | 'unchanged' {
  return before === after ? 'unchanged' : after ? 'added' : 'removed';
}

/** Every difference between two snapshots, for a compare without `expect`. */
export function differences(before: Snapshot, after: Snapshot): Difference[] {
  const found: Difference[] = [];
  const tables = new Set(
    [...(before.postgres?.tables ?? []), ...(after.postgres?.tables ?? [])].map((t) => t.name),
  );
  for (const name of [...tables].sort()) {
    const [a, b] = [tableOf(before, name), tableOf(after, name)];
    if (!a || !b) {
      found.push({
        kind: 'table',
        subject: name,
        before: a ? 'present' : 'absent',
        after: b ? 'present' : 'absent',
      });
      continue;
    }
    if (a.rows !== b.rows)
      found.push({ kind: 'rows', subject: name, before: String(a.rows), after: String(b.rows) });
    if (a.checksum !== b.checksum)
      found.push({
        kind: 'checksum',
        subject: name,
        before: a.checksum.slice(0, 12),
        after: b.checksum.slice(0, 12),
      });
    if (a.schemaDigest !== b.schemaDigest) {
      const changed = changedColumns(name, a, b);
      found.push(...changed);
      // The shape changed elsewhere: a constraint or an index.
      if (changed.length === 0)
        found.push({
          kind: 'schema',
          subject: name,
          before: a.schemaDigest.slice(0, 12),
          after: b.schemaDigest.slice(0, 12),
        });
    }
  }
  const patterns = new Set(
    [...(before.redis?.patterns ?? []), ...(after.redis?.patterns ?? [])].map((p) => p.pattern),
  );
  for (const pattern of [...patterns].sort()) {
    const [a, b] = [patternOf(before, pattern), patternOf(after, pattern)];
    if (!a || !b) {
      found.push({
        kind: 'pattern',
        subject: pattern,
        before: a ? `${a.keys} keys` : 'absent',
        after: b ? `${b.keys} keys` : 'absent',
      });
      continue;
    }
    if (a.keys !== b.keys)
      found.push({ kind: 'keys', subject: pattern, before: String(a.keys), after: String(b.keys) });
    const types = (p: KeyPatternSnapshot) =>
      Object.entries(p.types)
        .sort()
        .map(([t, n]) => `${t} ${n}`)
        .join(', ');
    if (types(a) !== types(b))
      found.push({ kind: 'types', subject: pattern, before: types(a), after: types(b) });
    if (a.withTtl !== b.withTtl)
      found.push({
        kind: 'ttl',
        subject: pattern,
        before: `${a.withTtl} with a TTL`,
        after: `${b.withTtl} with a TTL`,
      });
  }
  return found;
}

function describeColumn(column: TableSnapshot['columns'][number] | undefined): string {
  if (!column) return 'absent';
  return `${column.type}${column.nullable ? '' : ' NOT NULL'}${column.default ? ` DEFAULT ${column.default}` : ''}`;
}

function changedColumns(table: string, a: TableSnapshot, b: TableSnapshot): Difference[] {
  const names = new Set([...a.columns, ...b.columns].map((c) => c.name));
  return [...names].flatMap((column) => {
    const [x, y] = [
      describeColumn(a.columns.find((c) => c.name === column)),
      describeColumn(b.columns.find((c) => c.name === column)),
    ];
    return x === y ? [] : [{ kind: 'column' as const, subject: `${table}.${column}`, before: x, after: y }];
  });
}
