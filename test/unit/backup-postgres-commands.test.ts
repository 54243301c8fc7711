// The postgres source's commands as data: how a URL becomes libpq's environment (the password
// never reaches argv), the pg_dump and pg_restore argv per mode, which tables include/exclude
// select, and how the part's table of contents is read.
import { describe, expect, it } from '@jest/globals';
import { UserError } from '../../actions/core/src/errors.js';
import {
  connectionEnv,
  createPostgresSource,
  dumpCommand,
  namePattern,
  parseArchiveList,
  restoreCommand,
  withoutExtensions,
  selectTables,
  tableName,
  type Relation,
} from '../../actions/core/src/backup/sources/postgres.js';

describe('connectionEnv', () => {
  it('puts every connection setting, the password included, in libpq variables', () => {
    const url = new URL(
      'postgres://app%20user:s3cr%2Ft%40pw@db.internal:6432/shop%2Dmain?sslmode=verify-full&sslrootcert=/ca.pem',
    );
    expect(connectionEnv(url)).toEqual({
      PGHOST: 'db.internal',
      PGPORT: '6432',
      PGUSER: 'app user',
      PGPASSWORD: 's3cr/t@pw',
      PGDATABASE: 'shop-main',
      PGSSLMODE: 'verify-full',
      PGSSLROOTCERT: '/ca.pem',
    });
  });

  it('reads IPv6 hosts, socket directories and query parameters', () => {
    expect(connectionEnv(new URL('postgresql://[::1]/db'))).toEqual({ PGHOST: '::1', PGDATABASE: 'db' });
    expect(connectionEnv(new URL('postgres://%2Fvar%2Frun%2Fpostgresql/db'))).toEqual({
      PGHOST: '/var/run/postgresql',
      PGDATABASE: 'db',
    });
    expect(
      connectionEnv(new URL('postgres:///db?host=/tmp&user=ops&application_name=nightly&connect_timeout=5')),
    ).toEqual({
      PGHOST: '/tmp',
      PGUSER: 'ops',
      PGDATABASE: 'db',
      PGAPPNAME: 'nightly',
      PGCONNECT_TIMEOUT: '5',
    });
  });

  it("turns node-postgres' sslmode=no-verify into libpq's require and ignores what libpq does not know", () => {
    expect(connectionEnv(new URL('postgres://h/db?sslmode=no-verify&uselibpqcompat=true&ssl=true'))).toEqual({
      PGHOST: 'h',
      PGDATABASE: 'db',
      PGSSLMODE: 'require',
    });
  });
});

describe('createPostgresSource', () => {
  it('shows the URL without its password and names the part after host, port and database', () => {
    const source = createPostgresSource(new URL('postgres://app:hunter22@127.0.0.1:5433/shop'));
    expect(source.kind).toBe('postgres');
    expect(source.display).toBe('postgres://app:***@127.0.0.1:5433/shop');
    expect(source.partName).toBe('postgres-127.0.0.1-5433-shop');
    const defaults = createPostgresSource(new URL('postgres://app@db.internal'), { env: {} });
    expect(defaults.partName).toBe('postgres-db.internal-5432-app');
    expect(createPostgresSource(new URL('postgres://[::1]/my db')).partName).toBe('postgres-_1-5432-my_db');
  });

  it('refuses a URL of another scheme', () => {
    expect(() => createPostgresSource(new URL('mysql://root:pw@db/shop'))).toThrow(
      new UserError('The source mysql://root:***@db/shop is not a PostgreSQL URL: expected postgres://…'),
    );
  });
});

const relations: Relation[] = [
  { oid: 1, schema: 'public', name: 'orders', kind: 'r', visible: true },
  { oid: 2, schema: 'public', name: 'order_items', kind: 'r', visible: true },
  { oid: 3, schema: 'public', name: 'Customers', kind: 'r', visible: true },
  { oid: 4, schema: 'public', name: 'orders_id_seq', kind: 'S', visible: true },
  { oid: 5, schema: 'public', name: 'order_totals', kind: 'v', visible: true },
  { oid: 6, schema: 'audit', name: 'orders', kind: 'r', visible: false },
  { oid: 7, schema: 'public', name: 'events', kind: 'p', visible: true },
  { oid: 8, schema: 'public', name: 'events_2024', kind: 'r', parent: 7, visible: true },
  { oid: 9, schema: 'public', name: 'events_2025', kind: 'r', parent: 7, visible: true },
  { oid: 10, schema: 'my schema', name: 'a.b', kind: 'r', visible: false },
];

const names = (list: readonly Relation[] | undefined): string[] =>
  (list ?? []).map((r) => tableName(r.schema, r.name));

describe('selectTables', () => {
  it('takes everything, counting the rows of ordinary tables and partitions', () => {
    const plan = selectTables(relations, [], [], 'db');
    expect(plan.tables).toBeUndefined();
    expect(plan.excludeTables).toEqual([]);
    expect(names(plan.counted)).toEqual([
      'public.orders',
      'public.order_items',
      'public."Customers"',
      'audit.orders',
      'public.events_2024',
      'public.events_2025',
      '"my schema"."a.b"',
    ]);
  });

  it('reads patterns as pg_dump does: wildcards, lower-case folding, quotes, the search_path', () => {
    const select = (...include: string[]): string[] =>
      names(selectTables(relations, include, [], 'db').tables);
    expect(select('order*')).toEqual([
      'public.order_items',
      'public.order_totals',
      'public.orders',
      'public.orders_id_seq',
    ]);
    expect(select('ORDERS')).toEqual(['public.orders']);
    expect(select('*.orders')).toEqual(['audit.orders', 'public.orders']);
    expect(select('"Customers"', 'orde?s')).toEqual(['public."Customers"', 'public.orders']);
    expect(select('"my schema"."a.b"')).toEqual(['"my schema"."a.b"']);
    expect(select('audit.')).toEqual(['audit.orders']);
  });

  it('brings partitions along with their partitioned table, in and out', () => {
    const included = selectTables(relations, ['events'], [], 'db');
    expect(names(included.tables)).toEqual(['public.events', 'public.events_2024', 'public.events_2025']);
    expect(names(included.counted)).toEqual(['public.events_2024', 'public.events_2025']);
    const excluded = selectTables(relations, [], ['events', 'audit.*'], 'db');
    expect(names(excluded.excludeTables).sort()).toEqual([
      'audit.orders',
      'public.events',
      'public.events_2024',
      'public.events_2025',
    ]);
    expect(names(excluded.counted)).toEqual([
      'public.orders',
      'public.order_items',
      'public."Customers"',
      '"my schema"."a.b"',
    ]);
  });

  it('applies exclude to what include selected, without passing --exclude-table then', () => {
    const plan = selectTables(relations, ['order*'], ['*_seq', 'order_items'], 'db');
    expect(names(plan.tables)).toEqual(['public.order_totals', 'public.orders']);
    expect(plan.excludeTables).toEqual([]);
    expect(names(plan.counted)).toEqual(['public.orders']);
  });

  it('names the include patterns that match nothing', () => {
    expect(() =>
      selectTables(relations, ['orders', 'invoices', 'Customers'], [], 'postgres://app:***@db/shop'),
    ).toThrow(
      new UserError(
        'Input "include": "invoices", "Customers" match no table of postgres://app:***@db/shop ' +
          '(patterns as in pg_dump --table: schema.table, * and ? as wildcards, unqualified names are looked up on the search_path).',
      ),
    );
    expect(() => selectTables(relations, ['orders'], ['orders'], 'db')).toThrow(/excludes every table/);
  });

  it('refuses malformed patterns', () => {
    expect(() => namePattern('"open', 'exclude')).toThrow(
      new UserError('Input "exclude": ""open" has an unbalanced double quote.'),
    );
    expect(() => namePattern('db.public.orders')).toThrow(/too many dots; write table or schema.table/);
  });
});

describe('dumpCommand', () => {
  it('is pg_dump in custom format with flags only: the connection travels in the environment', () => {
    expect(dumpCommand('/usr/bin/pg_dump', { excludeTables: [], counted: [] })).toEqual([
      '/usr/bin/pg_dump',
      '--format=custom',
      '--compress=1',
      '--no-password',
    ]);
  });

  it('dumps the shared snapshot and names selected tables exactly, whatever they contain', () => {
    const plan = selectTables(relations, ['"my schema"."a.b"', 'orders'], [], 'db');
    expect(dumpCommand('pg_dump', { ...plan, snapshot: '00000003-0000001B-1' })).toEqual([
      'pg_dump',
      '--format=custom',
      '--compress=1',
      '--no-password',
      '--snapshot=00000003-0000001B-1',
      '--table="my schema"."a.b"',
      '--table="public"."orders"',
    ]);
    const weird: Relation = { oid: 1, schema: 'public', name: 'say "hi"*', kind: 'r', visible: true };
    expect(dumpCommand('pg_dump', { excludeTables: [weird], counted: [] }).at(-1)).toBe(
      '--exclude-table="public"."say ""hi""*"',
    );
  });
});

describe('restoreCommand', () => {
  const base = [
    'pg_restore',
    '--no-password',
    '--no-owner',
    '--no-privileges',
    '--exit-on-error',
    '--single-transaction',
  ];

  it('restores all or nothing, in each mode', () => {
    expect(restoreCommand('pg_restore', 'fail-if-exists', 'shop')).toEqual([...base, '--dbname=shop']);
    expect(restoreCommand('pg_restore', 'replace', 'shop')).toEqual([
      ...base,
      '--clean',
      '--if-exists',
      '--dbname=shop',
    ]);
    expect(restoreCommand('pg_restore', 'merge', 'shop')).toEqual([...base, '--data-only', '--dbname=shop']);
  });

  it('restores owners and grants only over the database the backup came from (elsewhere its roles may not exist)', () => {
    expect(restoreCommand('pg_restore', 'replace', 'shop', true)).toEqual([
      'pg_restore',
      '--no-password',
      '--exit-on-error',
      '--single-transaction',
      '--clean',
      '--if-exists',
      '--dbname=shop',
    ]);
    expect(restoreCommand('pg_restore', 'replace', 'shop', false)).toEqual(
      expect.arrayContaining(['--no-owner', '--no-privileges']),
    );
  });

  it('restores only the entries of a list file when given one', () => {
    expect(restoreCommand('pg_restore', 'fail-if-exists', 'shop', false, '/tmp/x.list')).toEqual([
      ...base,
      '--use-list=/tmp/x.list',
      '--dbname=shop',
    ]);
  });

  it('comments out the entries of the extensions left alone, and their comments, nothing else', () => {
    const listing = [
      ';',
      '; Selected TOC Entries:',
      '2; 3079 16386 EXTENSION - pg_stat_statements ',
      '3359; 0 0 COMMENT - EXTENSION pg_stat_statements ',
      '3; 3079 16400 EXTENSION - pgcrypto ',
      '217; 1259 16417 TABLE public pg_stat_statements_copy app',
    ].join('\n');
    expect(withoutExtensions(listing, ['pg_stat_statements']).split('\n')).toEqual([
      ';',
      '; Selected TOC Entries:',
      ';2; 3079 16386 EXTENSION - pg_stat_statements ',
      ';3359; 0 0 COMMENT - EXTENSION pg_stat_statements ',
      '3; 3079 16400 EXTENSION - pgcrypto ',
      '217; 1259 16417 TABLE public pg_stat_statements_copy app',
    ]);
  });

  it('keeps a database name that looks like connection settings a name', () => {
    expect(restoreCommand('pg_restore', 'merge', "a=b's").at(-1)).toBe("--dbname=dbname='a=b\\'s'");
    expect(restoreCommand('pg_restore', 'merge', 'postgres://x').at(-1)).toBe(
      "--dbname=dbname='postgres://x'",
    );
  });
});

describe('parseArchiveList', () => {
  it('reads the versions and the entries, names with spaces included', () => {
    const list = parseArchiveList(
      [
        ';',
        '; Archive created at 2025-06-01 10:00:00 UTC',
        ';     dbname: shop',
        ';     Dumped from database version: 15.18 (Debian 15.18-0+deb12u1)',
        ';     Dumped by pg_dump version: 16.4',
        ';',
        '; Selected TOC Entries:',
        ';',
        '6; 2615 16408 SCHEMA - my schema app',
        '220; 1259 16410 TABLE my schema a b app',
        '219; 1259 16409 SEQUENCE my schema a b_id_seq app',
        '3377; 0 0 SEQUENCE OWNED BY my schema a b_id_seq app',
        '3370; 0 16410 TABLE DATA my schema a b app',
        '3378; 0 0 SEQUENCE SET my schema a b_id_seq app',
        '3222; 2606 16417 CONSTRAINT my schema a b a b_pkey app',
        '',
      ].join('\n'),
    );
    expect(list.dumpedFrom).toBe('15.18 (Debian 15.18-0+deb12u1)');
    expect(list.dumpedBy).toBe('16.4');
    expect(list.entries).toEqual([
      { desc: 'SCHEMA', rest: 'my schema app' },
      { desc: 'TABLE', rest: 'my schema a b app' },
      { desc: 'SEQUENCE', rest: 'my schema a b_id_seq app' },
      { desc: 'SEQUENCE OWNED BY', rest: 'my schema a b_id_seq app' },
      { desc: 'TABLE DATA', rest: 'my schema a b app' },
      { desc: 'SEQUENCE SET', rest: 'my schema a b_id_seq app' },
      { desc: 'CONSTRAINT', rest: 'my schema a b a b_pkey app' },
    ]);
  });
});
