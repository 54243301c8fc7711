import { describe, expect, it } from '@jest/globals';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseMigration } from '../../actions/core/src/migrations/parser.js';
import { lockRules, tableLocks } from '../../actions/core/src/migrations/rules/locks.js';
import type { Rule } from '../../actions/core/src/migrations/rules/rule.js';
import { ruleHits } from '../support/migration-rules.js';

type Settings = { pgVersion?: number; assumeInTransaction?: boolean };

function rule(id: string): Rule {
  const found = lockRules.find((each) => each.id === id);
  if (!found) throw new Error(`no lock rule ${id}`);
  return found;
}

/** The indexes of the statements the rule reports. */
async function hits(id: string, sql: string, settings: Settings = {}): Promise<number[]> {
  return (await ruleHits(rule(id), sql, settings)).map((hit) => hit.statement);
}

const TIMEOUT = "SET lock_timeout = '2s';\n";

describe('lock rules: the catalogue', () => {
  it('each rule is in the locks category, with an id, a severity and a summary', () => {
    expect(lockRules.map((each) => each.id)).toEqual([
      'require-concurrent-index-creation',
      'require-concurrent-index-deletion',
      'ban-concurrent-index-deletion-of-several',
      'require-concurrent-reindex',
      'constraint-missing-not-valid',
      'adding-foreign-key-constraint',
      'adding-field-with-default',
      'adding-not-nullable-field',
      'disallowed-unique-constraint',
      'adding-serial-primary-key-field',
      'prefer-repack',
      'ban-table-rewrite',
      'require-concurrent-refresh',
      'require-lock-timeout',
      'ban-unbatched-backfill',
    ]);
    for (const each of lockRules) {
      expect(each.category).toBe('locks');
      expect(['error', 'warning']).toContain(each.severity);
      expect(each.summary.length).toBeGreaterThan(20);
      expect(each.breaking).toBeFalsy();
    }
  });
});

describe('tableLocks', () => {
  it.each([
    ['ALTER TABLE orders ADD COLUMN a int', [['orders', 'ACCESS EXCLUSIVE']]],
    ['ALTER TABLE orders SET (fillfactor = 70)', [['orders', 'SHARE UPDATE EXCLUSIVE']]],
    ['ALTER TABLE orders VALIDATE CONSTRAINT c', [['orders', 'SHARE UPDATE EXCLUSIVE']]],
    [
      'ALTER TABLE orders ADD CONSTRAINT f FOREIGN KEY (c) REFERENCES customers (id)',
      [
        ['orders', 'SHARE ROW EXCLUSIVE'],
        ['customers', 'SHARE ROW EXCLUSIVE'],
      ],
    ],
    ['CREATE INDEX i ON orders (a)', [['orders', 'SHARE']]],
    ['CREATE INDEX CONCURRENTLY i ON orders (a)', [['orders', 'SHARE UPDATE EXCLUSIVE']]],
    [
      'DROP TABLE orders, s.items',
      [
        ['orders', 'ACCESS EXCLUSIVE'],
        ['s.items', 'ACCESS EXCLUSIVE'],
      ],
    ],
    ['ALTER TABLE orders RENAME COLUMN a TO b', [['orders', 'ACCESS EXCLUSIVE']]],
    ['LOCK TABLE orders IN SHARE MODE', [['orders', 'SHARE']]],
    [
      'CREATE TRIGGER t BEFORE INSERT ON orders FOR EACH ROW EXECUTE FUNCTION f()',
      [['orders', 'SHARE ROW EXCLUSIVE']],
    ],
    ['CREATE TABLE items (order_id int REFERENCES orders)', [['orders', 'SHARE ROW EXCLUSIVE']]],
    ['CREATE TABLE orders_2026 PARTITION OF orders FOR VALUES IN (2026)', [['orders', 'ACCESS EXCLUSIVE']]],
    ['VACUUM orders', []],
    [
      'REINDEX TABLE orders',
      [
        ['orders', 'SHARE'],
        ['orders', 'ACCESS EXCLUSIVE'],
      ],
    ],
    ['REINDEX INDEX orders_email_idx', [['', 'ACCESS EXCLUSIVE']]],
    ['REINDEX TABLE CONCURRENTLY orders', []],
    ['ALTER TABLE orders SET TABLESPACE fast', [['orders', 'ACCESS EXCLUSIVE']]],
    ['ALTER TABLE ALL IN TABLESPACE a SET TABLESPACE b', [['', 'ACCESS EXCLUSIVE']]],
    ['CREATE FUNCTION f() RETURNS int LANGUAGE sql AS $$ select 1 $$', []],
  ])('%s', async (sql, expected) => {
    const [statement] = (await parseMigration(sql)).statements;
    expect(tableLocks(statement!, 17).map((lock) => [lock.table, lock.mode])).toEqual(expected);
  });

  it('ALTER INDEX … RENAME takes SHARE UPDATE EXCLUSIVE from PostgreSQL 12, ACCESS EXCLUSIVE before', async () => {
    const [statement] = (await parseMigration('ALTER INDEX i RENAME TO j')).statements;
    expect(tableLocks(statement!, 12)[0]?.mode).toBe('SHARE UPDATE EXCLUSIVE');
    expect(tableLocks(statement!, 11)[0]?.mode).toBe('ACCESS EXCLUSIVE');
  });
});

describe('require-concurrent-index-creation', () => {
  it('reports CREATE INDEX on a live table: writes wait for the build', async () => {
    const [hit] = await ruleHits(
      rule('require-concurrent-index-creation'),
      'CREATE INDEX i ON orders (email);',
    );
    expect(hit?.message).toContain('SHARE lock on orders');
    expect(hit?.message).toContain('every INSERT, UPDATE and DELETE on orders');
    expect(hit?.fix).toContain('CREATE INDEX CONCURRENTLY i ON orders');
    expect(
      await hits('require-concurrent-index-creation', 'CREATE UNIQUE INDEX ON s.orders (email);'),
    ).toEqual([0]);
  });
  it('accepts CONCURRENTLY, and any index on a table this file created', async () => {
    expect(
      await hits('require-concurrent-index-creation', 'CREATE INDEX CONCURRENTLY i ON orders (email);'),
    ).toEqual([]);
    const created = 'CREATE TABLE public.carts (id bigint, email text);\nCREATE INDEX ON carts (email);';
    expect(await hits('require-concurrent-index-creation', created)).toEqual([]);
    expect(await hits('require-concurrent-index-creation', `BEGIN;\n${created}\nCOMMIT;`)).toEqual([]);
  });
});

describe('require-concurrent-index-deletion', () => {
  it('reports DROP INDEX, once per statement, and names each index in the fix', async () => {
    const [hit, ...more] = await ruleHits(
      rule('require-concurrent-index-deletion'),
      'DROP INDEX a_idx, b_idx;',
    );
    expect(more).toEqual([]);
    expect(hit?.message).toContain('ACCESS EXCLUSIVE on the table of a_idx, b_idx');
    expect(hit?.fix).toBe(
      'DROP INDEX CONCURRENTLY a_idx; DROP INDEX CONCURRENTLY b_idx; (one index per statement, outside a transaction).',
    );
  });
  it('accepts DROP INDEX CONCURRENTLY', async () => {
    expect(
      await hits('require-concurrent-index-deletion', 'DROP INDEX CONCURRENTLY IF EXISTS a_idx;'),
    ).toEqual([]);
  });
});

describe('constraint-missing-not-valid', () => {
  const id = 'constraint-missing-not-valid';
  it('reports CHECK and FOREIGN KEY without NOT VALID, with the lock each takes', async () => {
    const found = await ruleHits(
      rule(id),
      'ALTER TABLE orders ADD CONSTRAINT positive CHECK (total > 0);\n' +
        'ALTER TABLE orders ADD CONSTRAINT orders_customer_fkey FOREIGN KEY (customer_id) REFERENCES customers (id);',
    );
    expect(found.map((hit) => hit.statement)).toEqual([0, 1]);
    expect(found[0]?.message).toContain('ACCESS EXCLUSIVE: every read and write of orders');
    expect(found[0]?.fix).toContain('NOT VALID');
    expect(found[0]?.fix).toContain('VALIDATE CONSTRAINT positive');
    expect(found[1]?.message).toContain('SHARE ROW EXCLUSIVE on both');
    expect(found[1]?.message).toContain('on orders and customers');
  });
  it('reports EXCLUDE, which can be neither NOT VALID nor concurrent', async () => {
    const [hit] = await ruleHits(
      rule(id),
      'ALTER TABLE rooms ADD CONSTRAINT no_overlap EXCLUDE USING gist (during WITH &&);',
    );
    expect(hit?.message).toContain('neither NOT VALID nor built CONCURRENTLY');
  });
  it('accepts NOT VALID, a table created in the file, and leaves UNIQUE and PRIMARY KEY to their own rules', async () => {
    const sql =
      'ALTER TABLE orders ADD CONSTRAINT positive CHECK (total > 0) NOT VALID;\n' +
      'ALTER TABLE orders ADD CONSTRAINT f FOREIGN KEY (c) REFERENCES customers NOT VALID;\n' +
      // squawk reports these two here as well; NOT VALID is not allowed on them (a syntax error).
      'ALTER TABLE orders ADD CONSTRAINT u UNIQUE (code);\n' +
      'ALTER TABLE orders ADD PRIMARY KEY (id);\n' +
      'CREATE TABLE carts (id int, total int);\n' +
      'ALTER TABLE carts ADD CONSTRAINT positive CHECK (total > 0);';
    expect(await hits(id, sql)).toEqual([]);
  });
  it('reports VALIDATE in the same transaction as its ADD … NOT VALID: the ADD’s lock is still held', async () => {
    const add = 'ALTER TABLE orders ADD CONSTRAINT positive CHECK (total > 0) NOT VALID;\n';
    const validate = 'ALTER TABLE orders VALIDATE CONSTRAINT positive;\n';
    const [hit] = await ruleHits(rule(id), `BEGIN;\n${add}${validate}COMMIT;`);
    expect(hit?.statement).toBe(2);
    expect(hit?.message).toContain('same transaction as the ADD CONSTRAINT … NOT VALID at line 2');
    expect(hit?.message).toContain('ACCESS EXCLUSIVE lock on orders is held until COMMIT');
    // assume-in-transaction: the tool's one transaction holds both.
    expect(await hits(id, add + validate, { assumeInTransaction: true })).toEqual([1]);
    // Separate transactions, or none: safe.
    expect(await hits(id, add + validate)).toEqual([]);
    expect(await hits(id, `BEGIN;\n${add}COMMIT;\nBEGIN;\n${validate}COMMIT;`)).toEqual([]);
    // Another table's constraint of the same name does not count.
    expect(await hits(id, `BEGIN;\n${add}ALTER TABLE items VALIDATE CONSTRAINT positive;\nCOMMIT;`)).toEqual(
      [],
    );
  });
});

describe('adding-foreign-key-constraint', () => {
  const id = 'adding-foreign-key-constraint';
  it('reports a validated foreign key, and ADD COLUMN … REFERENCES', async () => {
    const found = await ruleHits(
      rule(id),
      'ALTER TABLE orders ADD CONSTRAINT f FOREIGN KEY (customer_id) REFERENCES customers (id);\n' +
        'ALTER TABLE orders ADD COLUMN coupon_id bigint REFERENCES coupons;',
    );
    expect(found.map((hit) => hit.statement)).toEqual([0, 1]);
    expect(found[0]?.message).toContain('every INSERT, UPDATE and DELETE on orders and on customers');
    expect(found[1]?.message).toContain('ACCESS EXCLUSIVE on orders and SHARE ROW EXCLUSIVE on coupons');
    expect(found[1]?.fix).toContain('FOREIGN KEY (coupon_id) REFERENCES coupons NOT VALID');
  });
  it('accepts NOT VALID, and a table this file created', async () => {
    const sql =
      'ALTER TABLE orders ADD CONSTRAINT f FOREIGN KEY (customer_id) REFERENCES customers (id) NOT VALID;\n' +
      'CREATE TABLE carts (id int);\n' +
      'ALTER TABLE carts ADD COLUMN customer_id bigint REFERENCES customers;';
    expect(await hits(id, sql)).toEqual([]);
  });
});

describe('adding-field-with-default', () => {
  const id = 'adding-field-with-default';
  const add = (definition: string) => `ALTER TABLE orders ADD COLUMN ${definition};`;
  it.each([
    'c uuid DEFAULT gen_random_uuid()',
    'c float DEFAULT random()',
    'c int DEFAULT pg_catalog.random()::int',
    'c timestamptz DEFAULT clock_timestamp()',
    'c text DEFAULT my_function()',
    "c text DEFAULT 'x' || random()",
    "c int DEFAULT nextval('orders_c_seq')",
    'c bigserial',
    'c bigint GENERATED ALWAYS AS IDENTITY',
    'c int GENERATED ALWAYS AS (total * 2) STORED',
  ])('rewrites the table at PostgreSQL 17: ADD COLUMN %s', async (definition) => {
    const [hit] = await ruleHits(rule(id), add(definition));
    expect(hit?.message).toContain('rewrites every row of orders under ACCESS EXCLUSIVE');
    expect(hit?.fix.length).toBeGreaterThan(40);
  });
  it.each([
    'c int DEFAULT 0',
    'c int DEFAULT -1',
    'c int DEFAULT (1)',
    'c int NOT NULL DEFAULT 0',
    "c jsonb DEFAULT '{}'::jsonb",
    "c text DEFAULT 'a' || 'b'",
    // now() is STABLE: evaluated once, at the ALTER; no rewrite (squawk agrees).
    'c timestamptz DEFAULT now()',
    "c timestamptz DEFAULT now() + interval '1 day'",
    'c timestamptz DEFAULT CURRENT_TIMESTAMP',
    'c date DEFAULT CURRENT_DATE',
    'c text DEFAULT current_user',
    "c timestamp DEFAULT timezone('utc', now())",
    'c int[] DEFAULT ARRAY[]::int[]',
    'c int DEFAULT NULL',
    'c int',
  ])('adds without a rewrite at PostgreSQL 17: ADD COLUMN %s', async (definition) => {
    expect(await hits(id, add(definition))).toEqual([]);
  });
  it('honours pg-version: any DEFAULT rewrites before PostgreSQL 11', async () => {
    const sql = add('c int DEFAULT 0');
    expect(await hits(id, sql, { pgVersion: 10 })).toEqual([0]);
    expect(await hits(id, sql, { pgVersion: 11 })).toEqual([]);
    expect(await hits(id, sql, { pgVersion: 17 })).toEqual([]);
    const [hit] = await ruleHits(rule(id), sql, { pgVersion: 10 });
    expect(hit?.message).toContain('before PostgreSQL 11 (pg-version 10)');
    expect(hit?.fix).toContain('SET DEFAULT');
    // No default, or DEFAULT NULL, is not a default: nothing to write, at any version.
    expect(await hits(id, add('c int DEFAULT NULL'), { pgVersion: 10 })).toEqual([]);
  });
  it('reports each rewriting column of one ALTER TABLE', async () => {
    const sql =
      'ALTER TABLE orders ADD COLUMN a uuid DEFAULT gen_random_uuid(), ADD COLUMN b int DEFAULT 0, ADD COLUMN c serial;';
    expect(await hits(id, sql)).toEqual([0, 0]);
  });
  it('accepts anything on a table this file created', async () => {
    expect(
      await hits(
        id,
        `CREATE TABLE carts (id int);\nALTER TABLE carts ADD COLUMN token uuid DEFAULT gen_random_uuid();`,
      ),
    ).toEqual([]);
  });
});

describe('adding-not-nullable-field', () => {
  const id = 'adding-not-nullable-field';
  const setNotNull = 'ALTER TABLE orders ALTER COLUMN customer_id SET NOT NULL;';
  it('reports SET NOT NULL: a full scan under ACCESS EXCLUSIVE', async () => {
    const [hit] = await ruleHits(rule(id), setNotNull);
    expect(hit?.message).toContain('SET NOT NULL on orders.customer_id scans every row');
    expect(hit?.message).toContain('every read and write of orders');
    expect(hit?.fix).toContain('CHECK (customer_id IS NOT NULL) NOT VALID');
    // It cannot see earlier files, and says so.
    expect(hit?.fix).toContain('one file at a time');
    expect(hit?.fix).toContain('-- switchyard-ignore adding-not-nullable-field:');
  });
  const viaCheck =
    'ALTER TABLE orders ADD CONSTRAINT orders_customer_id_not_null CHECK (customer_id IS NOT NULL) NOT VALID;\n' +
    'ALTER TABLE orders VALIDATE CONSTRAINT orders_customer_id_not_null;\n' +
    setNotNull;
  it('accepts it after a validated CHECK (col IS NOT NULL), from PostgreSQL 12', async () => {
    expect(await hits(id, viaCheck)).toEqual([]);
    expect(await hits(id, viaCheck, { pgVersion: 12 })).toEqual([]);
    expect(await hits(id, viaCheck, { pgVersion: 11 })).toEqual([2]);
    const [old] = await ruleHits(rule(id), viaCheck, { pgVersion: 11 });
    expect(old?.fix).toContain('Before PostgreSQL 12 (pg-version 11)');
    // A CHECK added validated (itself constraint-missing-not-valid) proves it too; squawk does not see that.
    const validated =
      'ALTER TABLE orders ADD CONSTRAINT nn CHECK (customer_id IS NOT NULL AND total IS NOT NULL);\n';
    expect(await hits(id, validated + setNotNull)).toEqual([]);
  });
  it('takes a VALIDATE of a constraint from an earlier migration as that check (as squawk does)', async () => {
    expect(await hits(id, `ALTER TABLE orders VALIDATE CONSTRAINT from_last_week;\n${setNotNull}`)).toEqual(
      [],
    );
  });
  it('still reports when the check is not validated, is about another column or another table', async () => {
    const notValidated = 'ALTER TABLE orders ADD CONSTRAINT nn CHECK (customer_id IS NOT NULL) NOT VALID;\n';
    expect(await hits(id, notValidated + setNotNull)).toEqual([1]);
    const other =
      'ALTER TABLE orders ADD CONSTRAINT nn CHECK (total IS NOT NULL) NOT VALID;\nALTER TABLE orders VALIDATE CONSTRAINT nn;\n';
    expect(await hits(id, other + setNotNull)).toEqual([2]);
    const elsewhere = 'ALTER TABLE items VALIDATE CONSTRAINT from_last_week;\n';
    expect(await hits(id, elsewhere + setNotNull)).toEqual([1]);
    // The check comes after: no help.
    expect(await hits(id, `${setNotNull}\n${viaCheck}`)).toEqual([0]);
  });
  it('accepts a table this file created', async () => {
    expect(await hits(id, 'CREATE TABLE orders (customer_id int);\n' + setNotNull)).toEqual([]);
  });
});

describe('disallowed-unique-constraint', () => {
  const id = 'disallowed-unique-constraint';
  it('reports ADD CONSTRAINT UNIQUE and ADD COLUMN … UNIQUE', async () => {
    const found = await ruleHits(
      rule(id),
      'ALTER TABLE users ADD CONSTRAINT users_email_key UNIQUE (email);\nALTER TABLE users ADD COLUMN handle text UNIQUE;',
    );
    expect(found.map((hit) => hit.statement)).toEqual([0, 1]);
    expect(found[0]?.message).toContain('ACCESS EXCLUSIVE on users: every read and write of users');
    expect(found[0]?.fix).toContain('CREATE UNIQUE INDEX CONCURRENTLY users_email_key_idx ON users');
    expect(found[0]?.fix).toContain('ADD CONSTRAINT users_email_key UNIQUE USING INDEX users_email_key_idx');
  });
  it('accepts UNIQUE USING INDEX, and a table this file created', async () => {
    const sql =
      'ALTER TABLE users ADD CONSTRAINT users_email_key UNIQUE USING INDEX users_email_idx;\n' +
      'CREATE TABLE carts (id int);\nALTER TABLE carts ADD CONSTRAINT carts_id_key UNIQUE (id);';
    expect(await hits(id, sql)).toEqual([]);
  });
});

describe('adding-serial-primary-key-field', () => {
  const id = 'adding-serial-primary-key-field';
  it('reports ADD PRIMARY KEY and ADD COLUMN … PRIMARY KEY', async () => {
    const found = await ruleHits(
      rule(id),
      'ALTER TABLE events ADD PRIMARY KEY (id);\nALTER TABLE logs ADD COLUMN id bigserial PRIMARY KEY;',
    );
    expect(found.map((hit) => hit.statement)).toEqual([0, 1]);
    expect(found[0]?.message).toContain('under ACCESS EXCLUSIVE on events');
    expect(found[0]?.fix).toContain('ADD CONSTRAINT events_pkey PRIMARY KEY USING INDEX events_pkey_idx');
  });
  it('accepts PRIMARY KEY USING INDEX, and a table this file created', async () => {
    const sql =
      'ALTER TABLE events ADD CONSTRAINT events_pkey PRIMARY KEY USING INDEX events_id_idx;\n' +
      'CREATE TABLE carts (id int);\nALTER TABLE carts ADD PRIMARY KEY (id);';
    expect(await hits(id, sql)).toEqual([]);
  });
});

describe('prefer-repack', () => {
  const id = 'prefer-repack';
  it('reports VACUUM FULL and CLUSTER, with or without a table', async () => {
    const sql =
      'VACUUM FULL orders;\nVACUUM (FULL, ANALYZE) orders;\nCLUSTER orders USING orders_pkey;\nCLUSTER;\nVACUUM FULL;';
    const found = await ruleHits(rule(id), sql);
    expect(found.map((hit) => hit.statement)).toEqual([0, 1, 2, 3, 4]);
    expect(found[0]?.message).toContain('VACUUM FULL rewrites orders under ACCESS EXCLUSIVE');
    expect(found[0]?.fix).toContain('pg_repack --table=orders');
    expect(found[0]?.fix).not.toContain('REPACK (CONCURRENTLY)');
    expect(found[4]?.message).toContain('every table of the database');
  });
  it('names REPACK (CONCURRENTLY) from PostgreSQL 19', async () => {
    const [hit] = await ruleHits(rule(id), 'CLUSTER orders;', { pgVersion: 19 });
    expect(hit?.fix).toContain('REPACK (CONCURRENTLY) orders (PostgreSQL 19+)');
  });
  it('accepts plain VACUUM, FULL false, and a table this file created', async () => {
    const sql =
      'VACUUM orders;\nVACUUM (FULL false) orders;\nVACUUM ANALYZE orders;\nCREATE TABLE carts (id int);\nVACUUM FULL carts;';
    expect(await hits(id, sql)).toEqual([]);
  });
});

describe('ban-concurrent-index-deletion-of-several', () => {
  const id = 'ban-concurrent-index-deletion-of-several';
  it('reports DROP INDEX CONCURRENTLY of several indexes, or with CASCADE: PostgreSQL refuses both', async () => {
    const [hit] = await ruleHits(rule(id), 'DROP INDEX CONCURRENTLY a_idx, b_idx;');
    expect(hit?.message).toContain('does not support dropping multiple objects');
    expect(hit?.fix).toContain('DROP INDEX CONCURRENTLY a_idx; DROP INDEX CONCURRENTLY b_idx;');
    expect(await hits(id, 'DROP INDEX CONCURRENTLY a_idx CASCADE;')).toEqual([0]);
  });
  it('accepts one index, and a plain DROP INDEX of several', async () => {
    expect(await hits(id, 'DROP INDEX CONCURRENTLY a_idx;\nDROP INDEX a_idx, b_idx;')).toEqual([]);
  });
});

describe('require-concurrent-reindex', () => {
  const id = 'require-concurrent-reindex';
  it('reports REINDEX TABLE / INDEX / SCHEMA / DATABASE, with the locks REINDEX takes', async () => {
    const [table] = await ruleHits(rule(id), 'REINDEX TABLE orders;');
    expect(table?.message).toContain('SHARE on orders and ACCESS EXCLUSIVE on each of its indexes');
    expect(table?.message).toContain('every INSERT, UPDATE and DELETE on orders');
    expect(table?.message).not.toContain('ACCESS EXCLUSIVE on orders');
    expect(table?.fix).toContain('REINDEX TABLE CONCURRENTLY orders');
    const [index] = await ruleHits(rule(id), 'REINDEX INDEX orders_email_idx;');
    expect(index?.message).toContain('ACCESS EXCLUSIVE on index orders_email_idx and SHARE on its table');
    expect(
      await hits(id, 'REINDEX SCHEMA app;\nREINDEX DATABASE shop;\nREINDEX (CONCURRENTLY false) INDEX i;'),
    ).toEqual([0, 1, 2]);
  });
  it('accepts CONCURRENTLY, REINDEX SYSTEM (it cannot be concurrent), and a table this file created', async () => {
    expect(
      await hits(
        id,
        'REINDEX TABLE CONCURRENTLY orders;\nREINDEX (VERBOSE) INDEX CONCURRENTLY i;\nREINDEX SYSTEM shop;\nCREATE TABLE carts (id int);\nREINDEX TABLE carts;',
      ),
    ).toEqual([]);
  });
  it('is what require-lock-timeout describes too: SHARE on the table, not ACCESS EXCLUSIVE', async () => {
    const [hit] = await ruleHits(rule('require-lock-timeout'), 'REINDEX TABLE orders;');
    expect(hit?.message).toContain(
      'REINDEX TABLE takes SHARE on orders and ACCESS EXCLUSIVE on each of its indexes',
    );
  });
});

describe('ban-table-rewrite', () => {
  const id = 'ban-table-rewrite';
  it('reports SET LOGGED / UNLOGGED, SET TABLESPACE and SET EXPRESSION on a live table', async () => {
    const sql = [
      'ALTER TABLE orders SET UNLOGGED;',
      'ALTER TABLE orders SET LOGGED;',
      'ALTER TABLE orders SET TABLESPACE fast;',
      'ALTER TABLE orders ALTER COLUMN total SET EXPRESSION AS (price * qty);',
      'ALTER INDEX orders_email_idx SET TABLESPACE fast;',
      'ALTER TABLE ALL IN TABLESPACE slow SET TABLESPACE fast;',
    ].join('\n');
    const found = await ruleHits(rule(id), sql);
    expect(found.map((hit) => hit.statement)).toEqual([0, 1, 2, 3, 4, 5]);
    for (const hit of found) expect(hit.message).toContain('ACCESS EXCLUSIVE');
    expect(found[2]?.fix).toContain('pg_repack');
    expect(found[5]?.message).toContain('ALL IN TABLESPACE slow');
  });
  it('accepts a table this file created, and ALTER TABLE commands that rewrite nothing', async () => {
    expect(
      await hits(
        id,
        'CREATE TABLE carts (id int);\nALTER TABLE carts SET UNLOGGED;\nALTER TABLE orders SET (fillfactor = 70);\nALTER TABLE orders ADD COLUMN a int;',
      ),
    ).toEqual([]);
  });
});

describe('require-concurrent-refresh', () => {
  const id = 'require-concurrent-refresh';
  it('reports REFRESH MATERIALIZED VIEW without CONCURRENTLY: reads of the view wait', async () => {
    const [hit] = await ruleHits(rule(id), 'REFRESH MATERIALIZED VIEW daily_totals;');
    expect(hit?.message).toContain('every read of daily_totals');
    expect(hit?.fix).toContain('REFRESH MATERIALIZED VIEW CONCURRENTLY daily_totals');
    expect(hit?.fix).toContain('UNIQUE index');
    expect(await hits(id, 'REFRESH MATERIALIZED VIEW s.totals WITH NO DATA;')).toEqual([0]);
  });
  it('accepts CONCURRENTLY, and a view this file created', async () => {
    expect(
      await hits(
        id,
        'REFRESH MATERIALIZED VIEW CONCURRENTLY daily_totals;\nCREATE MATERIALIZED VIEW mv AS SELECT 1 AS a WITH NO DATA;\nREFRESH MATERIALIZED VIEW mv;',
      ),
    ).toEqual([]);
  });
});

describe('require-lock-timeout', () => {
  const id = 'require-lock-timeout';
  it('reports the first statement that locks a live table when no lock_timeout is set, once', async () => {
    const found = await ruleHits(
      rule(id),
      'ALTER TABLE orders ADD COLUMN note text;\nALTER TABLE orders DROP COLUMN legacy;',
    );
    expect(found.map((hit) => hit.statement)).toEqual([0]);
    expect(found[0]?.message).toContain(
      'ALTER TABLE takes ACCESS EXCLUSIVE on orders and no lock_timeout is set',
    );
    expect(found[0]?.message).toContain('every read and write of orders queues behind it');
    expect(found[0]?.fix).toContain("SET lock_timeout = '2s';");
  });
  it('covers locks that block writes too: CREATE INDEX, a new table referencing a live one', async () => {
    const [index] = await ruleHits(rule(id), 'CREATE INDEX i ON orders (a);');
    expect(index?.message).toContain('SHARE on orders');
    expect(index?.message).toContain('every INSERT, UPDATE and DELETE on orders (reads continue)');
    expect(await hits(id, 'CREATE TABLE items (order_id bigint REFERENCES orders);')).toEqual([0]);
    const [unique] = await ruleHits(rule(id), 'CREATE UNIQUE INDEX i ON orders (a);');
    expect(unique?.message).toMatch(/^CREATE UNIQUE INDEX takes SHARE on orders/);
    const [truncate] = await ruleHits(rule(id), 'TRUNCATE orders;');
    expect(truncate?.message).toMatch(/^TRUNCATE takes ACCESS EXCLUSIVE on orders/);
  });
  it('accepts a lock_timeout set before, SET LOCAL inside the transaction', async () => {
    expect(await hits(id, `${TIMEOUT}ALTER TABLE orders ADD COLUMN note text;`)).toEqual([]);
    expect(
      await hits(
        id,
        "BEGIN;\nSET LOCAL lock_timeout = '1s';\nALTER TABLE orders ADD COLUMN note text;\nCOMMIT;",
      ),
    ).toEqual([]);
  });
  it('reports again where the timeout lapses: 0, RESET, the end of SET LOCAL’s transaction', async () => {
    expect(await hits(id, 'SET lock_timeout = 0;\nALTER TABLE orders ADD COLUMN note text;')).toEqual([1]);
    const reset = `${TIMEOUT}ALTER TABLE orders ADD COLUMN a text;\nRESET lock_timeout;\nALTER TABLE orders ADD COLUMN b text;\nALTER TABLE orders ADD COLUMN c text;`;
    expect(await hits(id, reset)).toEqual([3]);
    const local = "BEGIN;\nSET LOCAL lock_timeout = '1s';\nCOMMIT;\nALTER TABLE orders ADD COLUMN note text;";
    expect(await hits(id, local)).toEqual([3]);
  });
  it('skips statements that block no traffic, and tables this file created', async () => {
    const sql =
      'CREATE FUNCTION f() RETURNS int LANGUAGE sql AS $$ select 1 $$;\n' +
      'CREATE INDEX CONCURRENTLY i ON orders (a);\n' +
      'COMMENT ON TABLE orders IS $$the orders$$;\n' +
      'CREATE TABLE carts (id int);\nCREATE INDEX ON carts (id);\n' +
      'ALTER TABLE orders ADD COLUMN cart_id int;';
    expect(await hits(id, sql)).toEqual([5]);
  });
});

describe('ban-unbatched-backfill', () => {
  const id = 'ban-unbatched-backfill';
  const ddl = 'ALTER TABLE orders ADD COLUMN region text;\n';
  it('reports a whole-table UPDATE or DELETE in a file with DDL', async () => {
    const found = await ruleHits(
      rule(id),
      `${ddl}UPDATE orders SET region = 'eu';\nDELETE FROM carts;\nUPDATE orders SET region = 'eu' WHERE true;`,
    );
    expect(found.map((hit) => hit.statement)).toEqual([1, 2, 3]);
    expect(found[0]?.message).toContain('UPDATE of every row of orders in one statement');
    expect(found[0]?.message).not.toContain('until COMMIT:');
    expect(found[0]?.fix).toContain('batches');
  });
  it('says which DDL lock the same transaction holds for the whole backfill', async () => {
    const [hit] = await ruleHits(rule(id), `BEGIN;\n${ddl}UPDATE orders SET region = 'eu';\nCOMMIT;`);
    expect(hit?.message).toContain(
      'ALTER TABLE at line 2, in the same transaction, holds ACCESS EXCLUSIVE on orders until COMMIT',
    );
    const [assumed] = await ruleHits(rule(id), `${ddl}UPDATE orders SET region = 'eu';`, {
      assumeInTransaction: true,
    });
    expect(assumed?.message).toContain('holds ACCESS EXCLUSIVE on orders until COMMIT');
  });
  it('accepts a WHERE, a file without DDL, and a table this file created', async () => {
    expect(await hits(id, `${ddl}UPDATE orders SET region = 'eu' WHERE id <= 5000;`)).toEqual([]);
    expect(await hits(id, "UPDATE orders SET region = 'eu';")).toEqual([]);
    expect(
      await hits(id, "CREATE TABLE carts (id int, region text);\nUPDATE carts SET region = 'eu';"),
    ).toEqual([]);
  });
});

// ---------------------------------------------------------------------------------------------
// Side by side with squawk: for every rule id both have, the same (statement, rule) pairs on
// these files — except the differences listed, each on purpose and each checked to still exist.

interface Case {
  name: string;
  sql: string;
  settings?: Settings;
  /** Pairs only one side reports, and why. */
  onlyOurs?: [number, string, string][];
  onlySquawk?: [number, string, string][];
}

const CASES: Case[] = [
  {
    name: 'index-create',
    sql: `${TIMEOUT}CREATE INDEX i ON orders (a);\nCREATE UNIQUE INDEX CONCURRENTLY j ON orders (b);`,
  },
  {
    name: 'index-on-new-table-in-transaction',
    sql: `${TIMEOUT}BEGIN;\nCREATE TABLE carts (id int, a int);\nCREATE INDEX ci ON carts (a);\nALTER TABLE carts ADD CONSTRAINT c CHECK (a > 0);\nALTER TABLE carts ADD CONSTRAINT u UNIQUE (a);\nCOMMIT;`,
  },
  {
    name: 'new-table-without-transaction',
    sql: `${TIMEOUT}CREATE TABLE carts (id int, a int);\nCREATE INDEX ci ON carts (a);\nALTER TABLE carts ADD CONSTRAINT c CHECK (a > 0);`,
    onlySquawk: [
      [
        2,
        'require-concurrent-index-creation',
        'squawk exempts new tables only inside a transaction; no traffic reaches a table before the deploy that creates it',
      ],
      [3, 'constraint-missing-not-valid', 'the same'],
    ],
  },
  {
    name: 'new-table-other-statements',
    sql: `${TIMEOUT}BEGIN;\nCREATE TABLE carts (id int, a int);\nALTER TABLE carts ADD PRIMARY KEY (id);\nALTER TABLE carts ALTER COLUMN a SET NOT NULL;\nALTER TABLE carts ADD COLUMN t uuid DEFAULT gen_random_uuid();\nALTER TABLE carts ADD COLUMN o int REFERENCES orders;\nCOMMIT;`,
    onlySquawk: [
      [
        3,
        'adding-serial-primary-key-field',
        'squawk does not exempt tables created in the file from these rules; an empty new table takes no time',
      ],
      [4, 'adding-not-nullable-field', 'the same'],
      [5, 'adding-field-with-default', 'the same'],
      [6, 'adding-foreign-key-constraint', 'the same'],
    ],
  },
  { name: 'index-drop', sql: `${TIMEOUT}DROP INDEX i;\nDROP INDEX CONCURRENTLY j;` },
  {
    name: 'check',
    sql: `${TIMEOUT}ALTER TABLE t ADD CONSTRAINT c1 CHECK (a > 0);\nALTER TABLE t ADD CONSTRAINT c2 CHECK (a > 0) NOT VALID;\nALTER TABLE t VALIDATE CONSTRAINT c2;`,
  },
  {
    name: 'validate-in-same-transaction',
    sql: `${TIMEOUT}BEGIN;\nALTER TABLE t ADD CONSTRAINT c2 CHECK (a > 0) NOT VALID;\nALTER TABLE t VALIDATE CONSTRAINT c2;\nCOMMIT;`,
  },
  {
    name: 'validate-assumed-transaction',
    sql: `${TIMEOUT}ALTER TABLE t ADD CONSTRAINT c2 CHECK (a > 0) NOT VALID;\nALTER TABLE t VALIDATE CONSTRAINT c2;`,
    settings: { assumeInTransaction: true },
  },
  {
    name: 'foreign-keys',
    sql: `${TIMEOUT}ALTER TABLE t ADD CONSTRAINT f1 FOREIGN KEY (b) REFERENCES u (id);\nALTER TABLE t ADD CONSTRAINT f2 FOREIGN KEY (b) REFERENCES u (id) NOT VALID;\nALTER TABLE t ADD COLUMN z int REFERENCES u;`,
  },
  { name: 'exclude', sql: `${TIMEOUT}ALTER TABLE t ADD CONSTRAINT ex EXCLUDE USING gist (r WITH &&);` },
  {
    name: 'defaults-17',
    sql:
      TIMEOUT +
      [
        'c timestamptz DEFAULT now()',
        'd uuid DEFAULT gen_random_uuid()',
        'e int DEFAULT 0',
        'f timestamptz DEFAULT clock_timestamp()',
        "g jsonb DEFAULT '{}'::jsonb",
        "h text DEFAULT 'a' || 'b'",
        "i timestamptz DEFAULT now() + interval '1 day'",
        "j int DEFAULT nextval('s')",
        'k int GENERATED ALWAYS AS (a * 2) STORED',
        'l bigint GENERATED ALWAYS AS IDENTITY',
        'm timestamptz DEFAULT CURRENT_TIMESTAMP',
        'n int DEFAULT pg_catalog.random()::int',
        'o int DEFAULT NULL',
        'p uuid DEFAULT uuid_generate_v4()',
      ]
        .map((column) => `ALTER TABLE t ADD COLUMN ${column};`)
        .join('\n'),
  },
  {
    name: 'defaults-squawk-takes-as-volatile',
    sql:
      TIMEOUT +
      [
        'a int DEFAULT -1',
        'b int DEFAULT (1)',
        'c date DEFAULT current_date',
        'd text DEFAULT current_user',
        "e timestamp DEFAULT timezone('utc', now())",
        "f text DEFAULT lower('A')",
      ]
        .map((column) => `ALTER TABLE t ADD COLUMN ${column};`)
        .join('\n'),
    onlySquawk: [
      [
        1,
        'adding-field-with-default',
        'a negative constant is a constant (squawk: a prefix expression, not a literal)',
      ],
      [2, 'adding-field-with-default', 'a parenthesised constant is a constant'],
      [
        3,
        'adding-field-with-default',
        'CURRENT_DATE is STABLE, like CURRENT_TIMESTAMP (which squawk accepts)',
      ],
      [4, 'adding-field-with-default', 'CURRENT_USER is STABLE'],
      [
        5,
        'adding-field-with-default',
        'squawk takes any function call with arguments as volatile; timezone() and now() are not',
      ],
      [6, 'adding-field-with-default', 'lower() is IMMUTABLE'],
    ],
  },
  {
    name: 'serial-column',
    sql: `${TIMEOUT}ALTER TABLE t ADD COLUMN s bigserial;`,
    onlyOurs: [
      [
        1,
        'adding-field-with-default',
        'serial is DEFAULT nextval(…): volatile, a rewrite (squawk reports the identity column, not serial)',
      ],
    ],
  },
  {
    name: 'defaults-10',
    sql: `${TIMEOUT}ALTER TABLE t ADD COLUMN e int DEFAULT 0;\nALTER TABLE t ADD COLUMN f timestamptz DEFAULT now();`,
    settings: { pgVersion: 10 },
  },
  {
    name: 'default-null-10',
    sql: `${TIMEOUT}ALTER TABLE t ADD COLUMN e int DEFAULT NULL;`,
    settings: { pgVersion: 10 },
    onlySquawk: [
      [1, 'adding-field-with-default', 'DEFAULT NULL is no default: PostgreSQL 10 writes nothing either'],
    ],
  },
  {
    name: 'defaults-11',
    sql: `${TIMEOUT}ALTER TABLE t ADD COLUMN e int DEFAULT 0;\nALTER TABLE t ADD COLUMN f uuid DEFAULT gen_random_uuid();`,
    settings: { pgVersion: 11 },
  },
  {
    name: 'not-null',
    sql: `${TIMEOUT}ALTER TABLE t ALTER COLUMN a SET NOT NULL;\nALTER TABLE t ADD CONSTRAINT nn CHECK (b IS NOT NULL) NOT VALID;\nALTER TABLE t VALIDATE CONSTRAINT nn;\nALTER TABLE t ALTER COLUMN b SET NOT NULL;`,
  },
  {
    name: 'not-null-11',
    sql: `${TIMEOUT}ALTER TABLE t ADD CONSTRAINT nn CHECK (b IS NOT NULL) NOT VALID;\nALTER TABLE t VALIDATE CONSTRAINT nn;\nALTER TABLE t ALTER COLUMN b SET NOT NULL;`,
    settings: { pgVersion: 11 },
  },
  {
    name: 'not-null-earlier-migration',
    sql: `${TIMEOUT}ALTER TABLE t VALIDATE CONSTRAINT from_before;\nALTER TABLE t ALTER COLUMN b SET NOT NULL;`,
  },
  {
    name: 'not-null-validated-check',
    sql: `${TIMEOUT}ALTER TABLE t ADD CONSTRAINT nn CHECK (b IS NOT NULL);\nALTER TABLE t ALTER COLUMN b SET NOT NULL;`,
    onlySquawk: [
      [
        2,
        'adding-not-nullable-field',
        'a CHECK added without NOT VALID is validated at once: PostgreSQL 12+ uses it and skips the scan',
      ],
    ],
  },
  {
    name: 'not-null-other-constraint-validated',
    sql: `${TIMEOUT}ALTER TABLE t ADD CONSTRAINT pos CHECK (a > 0) NOT VALID;\nALTER TABLE t VALIDATE CONSTRAINT pos;\nALTER TABLE t ALTER COLUMN b SET NOT NULL;`,
    onlyOurs: [
      [
        3,
        'adding-not-nullable-field',
        'squawk takes any VALIDATE on the table as the NOT NULL check; this one, added in the file, is about another column',
      ],
    ],
  },
  {
    name: 'unique',
    sql: `${TIMEOUT}ALTER TABLE t ADD CONSTRAINT u1 UNIQUE (a);\nALTER TABLE t ADD CONSTRAINT u2 UNIQUE USING INDEX i;\nALTER TABLE t ADD COLUMN y int UNIQUE;`,
    onlySquawk: [
      [
        1,
        'constraint-missing-not-valid',
        'UNIQUE cannot be NOT VALID (a syntax error): disallowed-unique-constraint says what to do',
      ],
    ],
  },
  {
    name: 'primary-key',
    sql: `${TIMEOUT}ALTER TABLE t ADD PRIMARY KEY (id);\nALTER TABLE t ADD CONSTRAINT pk PRIMARY KEY USING INDEX i;\nALTER TABLE t ADD COLUMN id2 text PRIMARY KEY;`,
    onlySquawk: [
      [
        1,
        'constraint-missing-not-valid',
        'PRIMARY KEY cannot be NOT VALID: adding-serial-primary-key-field says what to do',
      ],
    ],
  },
  {
    name: 'repack-17',
    sql: `${TIMEOUT}VACUUM FULL t;\nCLUSTER t USING i;\nVACUUM t;`,
    onlyOurs: [
      [
        1,
        'prefer-repack',
        'squawk reports it only from PostgreSQL 19 (REPACK); the lock is the same before, and pg_repack exists',
      ],
      [2, 'prefer-repack', 'the same'],
    ],
  },
  {
    name: 'repack-19',
    sql: `${TIMEOUT}VACUUM FULL t;\nVACUUM (FULL false) t;\nCLUSTER t USING i;\nVACUUM t;`,
    settings: { pgVersion: 19 },
  },
  { name: 'lock-timeout-missing', sql: 'ALTER TABLE t ADD COLUMN a int;\nALTER TABLE t ADD COLUMN b int;' },
  { name: 'lock-timeout-set', sql: `${TIMEOUT}ALTER TABLE t ADD COLUMN a int;` },
  { name: 'lock-timeout-foreign-key-table', sql: 'CREATE TABLE n (id int REFERENCES u);' },
  { name: 'lock-timeout-index', sql: 'CREATE INDEX i ON t (a);' },
  {
    name: 'lock-timeout-first-ddl-locks-nothing',
    sql: "CREATE FUNCTION f() RETURNS int LANGUAGE sql AS 'select 1';\nALTER TABLE t ADD COLUMN a int;",
    onlyOurs: [
      [
        1,
        'require-lock-timeout',
        'the first statement that queues for a lock blocking traffic is the ALTER TABLE',
      ],
    ],
    onlySquawk: [
      [0, 'require-lock-timeout', 'squawk reports the first DDL of any kind; CREATE FUNCTION locks no table'],
    ],
  },
  {
    name: 'lock-timeout-zero',
    sql: 'SET lock_timeout = 0;\nALTER TABLE t ADD COLUMN a int;',
    onlyOurs: [
      [1, 'require-lock-timeout', 'lock_timeout = 0 means no timeout; squawk counts any SET lock_timeout'],
    ],
  },
  {
    name: 'reindex',
    sql: `${TIMEOUT}REINDEX TABLE t;\nREINDEX INDEX i;\nREINDEX SCHEMA s;\nREINDEX DATABASE d;\nREINDEX SYSTEM d;\nREINDEX TABLE CONCURRENTLY t;\nREINDEX (CONCURRENTLY false) INDEX i;`,
    onlyOurs: [
      [7, 'require-concurrent-reindex', 'CONCURRENTLY false is no CONCURRENTLY; squawk sees the word'],
    ],
  },
  {
    name: 'reindex-new-table',
    sql: `${TIMEOUT}CREATE TABLE n (id int);\nREINDEX TABLE n;`,
    onlySquawk: [
      [2, 'require-concurrent-reindex', 'no traffic reaches a table before the deploy that creates it'],
    ],
  },
  {
    name: 'lock-timeout-local-lapsed',
    sql: "BEGIN;\nSET LOCAL lock_timeout = '1s';\nCOMMIT;\nALTER TABLE t ADD COLUMN a int;",
    onlyOurs: [
      [
        3,
        'require-lock-timeout',
        'SET LOCAL ends with its transaction; squawk counts it for the rest of the file',
      ],
    ],
  },
];

/** Our lock rules squawk has no rule of the same meaning for. */
const NOT_IN_SQUAWK = new Set([
  'ban-unbatched-backfill',
  'ban-concurrent-index-deletion-of-several',
  'ban-table-rewrite',
  'require-concurrent-refresh',
]);
const SHARED_WITH_SQUAWK = new Set(lockRules.map((each) => each.id).filter((id) => !NOT_IN_SQUAWK.has(id)));

const SQUAWK = join(process.cwd(), 'node_modules', '.bin', 'squawk');
const squawkVersion = spawnSync(SQUAWK, ['--version'], { encoding: 'utf8' });
const squawkMissing =
  squawkVersion.status === 0
    ? undefined
    : `${SQUAWK} does not run (${squawkVersion.error?.message ?? squawkVersion.stderr.trim()})`;

interface SquawkJson {
  file: string;
  line: number;
  column: number;
  rule_name: string;
}

/** squawk's findings on the cases, as "case:statement:rule" (its lines and columns count from 0). */
async function squawkPairs(cases: Case[], directory: string): Promise<Set<string>> {
  const pairs = new Set<string>();
  writeFileSync(join(directory, 'empty.toml'), '');
  const groups = new Map<string, Case[]>();
  for (const each of cases) {
    const key = JSON.stringify([each.settings?.pgVersion ?? 17, each.settings?.assumeInTransaction ?? false]);
    groups.set(key, [...(groups.get(key) ?? []), each]);
  }
  for (const [key, group] of groups) {
    const [pgVersion, assume] = JSON.parse(key) as [number, boolean];
    for (const each of group) writeFileSync(join(directory, `${each.name}.sql`), each.sql);
    const result = spawnSync(
      SQUAWK,
      [
        '--config=empty.toml',
        '--reporter=json',
        `--pg-version=${pgVersion}.0`,
        ...(assume ? ['--assume-in-transaction'] : []),
        '--',
        ...group.map((each) => `${each.name}.sql`),
      ],
      { cwd: directory, encoding: 'utf8' },
    );
    for (const finding of JSON.parse(result.stdout) as SquawkJson[]) {
      if (!SHARED_WITH_SQUAWK.has(finding.rule_name)) continue;
      const name = finding.file.replace(/\.sql$/, '');
      const { statements } = await parseMigration(group.find((each) => each.name === name)!.sql);
      const line = finding.line + 1;
      const column = finding.column + 1;
      const index = statements.findIndex(
        (statement) =>
          (line > statement.start.line ||
            (line === statement.start.line && column >= statement.start.column)) &&
          (line < statement.end.line || (line === statement.end.line && column <= statement.end.column)),
      );
      pairs.add(`${name}:${index}:${finding.rule_name}`);
    }
  }
  return pairs;
}

describe('side by side with squawk', () => {
  (squawkMissing ? it.skip : it)(
    `agrees on every (statement, rule) for the rule ids both have, but the listed differences${squawkMissing ? ` — skipped: ${squawkMissing}` : ''}`,
    async () => {
      const directory = mkdtempSync(join(tmpdir(), 'switchyard-squawk-'));
      try {
        const theirs = await squawkPairs(CASES, directory);
        const ours = new Set<string>();
        for (const each of CASES)
          for (const shared of lockRules.filter((candidate) => SHARED_WITH_SQUAWK.has(candidate.id)))
            for (const hit of await ruleHits(shared, each.sql, each.settings))
              ours.add(`${each.name}:${hit.statement}:${shared.id}`);
        const onlyOurs = CASES.flatMap((each) =>
          (each.onlyOurs ?? []).map(([at, id]) => `${each.name}:${at}:${id}`),
        );
        const onlySquawk = CASES.flatMap((each) =>
          (each.onlySquawk ?? []).map(([at, id]) => `${each.name}:${at}:${id}`),
        );
        // The listed differences are real…
        for (const pair of onlyOurs)
          expect({ pair, ours: ours.has(pair), squawk: theirs.has(pair) }).toEqual({
            pair,
            ours: true,
            squawk: false,
          });
        for (const pair of onlySquawk)
          expect({ pair, ours: ours.has(pair), squawk: theirs.has(pair) }).toEqual({
            pair,
            ours: false,
            squawk: true,
          });
        // …and are the only ones.
        const strip = (pairs: Set<string>, drop: string[]) =>
          [...pairs].filter((pair) => !drop.includes(pair)).sort();
        expect(strip(ours, onlyOurs)).toEqual(strip(theirs, onlySquawk));
        // The cases exercise every shared rule.
        expect(new Set([...theirs].map((pair) => pair.split(':')[2]))).toEqual(SHARED_WITH_SQUAWK);
      } finally {
        rmSync(directory, { recursive: true, force: true });
      }
    },
  );
});
