import { describe, expect, it } from '@jest/globals';
import {
  checkExpectations,
  differences,
  parseExpectations,
} from '../../actions/core/src/migrations/snapshot/compare.js';
import type { Snapshot, TableSnapshot } from '../../actions/core/src/migrations/snapshot/snapshot.js';

const table = (name: string, rows: number, extra: Partial<TableSnapshot> = {}): TableSnapshot => ({
  name,
  columns: [
    { name: 'id', type: 'bigint', nullable: false },
    { name: 'email', type: 'text', nullable: true },
  ],
  schemaDigest: `schema-${name}`,
  rows,
  checksum: `${rows}:sum:${name}`,
  primaryKey: ['id'],
  ...extra,
});

const snapshot = (tables: TableSnapshot[], patterns: Snapshot['redis'] = undefined): Snapshot => ({
  format: 1,
  takenAt: '2026-12-01T00:00:00Z',
  postgres: { server: '17.2', database: 'shop', tables },
  redis: patterns,
});

const redis = (patterns: [string, number, number][]): Snapshot['redis'] => ({
  database: 0,
  keys: patterns.reduce((n, [, keys]) => n + keys, 0),
  patterns: patterns.map(([pattern, keys, withTtl]) => ({ pattern, keys, types: { hash: keys }, withTtl })),
});

const check = (before: Snapshot, after: Snapshot, expect: string) =>
  checkExpectations(before, after, parseExpectations(expect)).map((r) => [r.text, r.passed, r.detail]);

describe('compare: expect lines', () => {
  const before = snapshot(
    [table('public.orders', 1200), table('public.users', 40)],
    redis([
      ['user:*', 500, 0],
      ['session:*', 30, 30],
    ]),
  );
  const after = snapshot(
    [
      table('public.orders', 1187),
      table('public.users', 40, {
        schemaDigest: 'changed',
        columns: [...table('x', 0).columns, { name: 'phone', type: 'text', nullable: true }],
      }),
    ],
    redis([
      ['v2:user:*', 500, 0],
      ['v2:session:*', 30, 29],
    ]),
  );

  it('judges row counts against before, another table, or a number, naming both values', () => {
    expect(
      check(before, after, 'rows(public.orders) unchanged\nrows(orders) >= before\nrows(users) == 40'),
    ).toEqual([
      ['rows(public.orders) unchanged', false, 'public.orders: 1200 rows before, 1187 after'],
      ['rows(orders) >= before', false, 'public.orders: 1200 rows before, 1187 after'],
      ['rows(users) == 40', true, 'public.users: 40 rows after (expected == 40)'],
    ]);
  });

  it('judges checksums, columns and tables', () => {
    expect(
      check(
        before,
        after,
        'checksum(users) unchanged\ncolumn(users.phone) added\ncolumn(public.users.email) unchanged\ntable(public.carts) added',
      ),
    ).toEqual([
      ['checksum(users) unchanged', true, 'public.users: checksum 40:sum:publi before, 40:sum:publi after'],
      ['column(users.phone) added', true, 'public.users.phone: absent before, text after'],
      ['column(public.users.email) unchanged', true, 'public.users.email: text before, text after'],
      ['table(public.carts) added', false, 'public.carts: absent before, absent after'],
    ]);
  });

  it('follows keys a cache migration moved, and their TTLs', () => {
    expect(
      check(
        before,
        after,
        'keys(v2:user:*) == before.keys(user:*)\nkeys(user:*) == 0\nttl(v2:session:*) kept',
      ),
    ).toEqual([
      ['keys(v2:user:*) == before.keys(user:*)', true, 'v2:user:*: 500 keys before (user:*), 500 after'],
      ['keys(user:*) == 0', true, 'user:*: 0 keys after (expected == 0)'],
      ['ttl(v2:session:*) kept', false, 'v2:session:*: 29 of 30 after'],
    ]);
  });

  it('refuses a line that is no check, naming expect and the line', () => {
    expect(() => parseExpectations('rows(public.orders) unchanged\nrows public.orders same')).toThrow(
      'Input "expect": line 2 "rows public.orders same" is not a check',
    );
  });
});

describe('compare: every difference, without expect', () => {
  it('lists tables, rows, checksums, columns, patterns and TTLs that changed, with both values', () => {
    const before = snapshot([table('public.orders', 10), table('public.old', 1)], redis([['user:*', 5, 0]]));
    const after = snapshot(
      [table('public.orders', 11), table('public.new', 0)],
      redis([
        ['user:*', 5, 2],
        ['v2:cart:*', 3, 0],
      ]),
    );
    expect(differences(before, after).map((d) => `${d.kind} ${d.subject}: ${d.before} → ${d.after}`)).toEqual(
      [
        'table public.new: absent → present',
        'table public.old: present → absent',
        'rows public.orders: 10 → 11',
        'checksum public.orders: 10:sum:publi → 11:sum:publi',
        'ttl user:*: 0 with a TTL → 2 with a TTL',
        'pattern v2:cart:*: absent → 3 keys',
      ],
    );
    expect(differences(before, before)).toEqual([]);
  });
});
