// How run cuts a file before anything runs: the statements PostgreSQL refuses in a transaction
// (found in the parse tree, not by pattern), a file's own BEGIN/COMMIT, stray transaction
// control, and where PostgreSQL's error position is in the file.
import { describe, expect, it } from '@jest/globals';
import { parseMigration } from '../../actions/core/src/migrations/parser.js';
import {
  mustRunAlone,
  planFile,
  positionIn,
  positionInBlock,
} from '../../actions/core/src/migrations/run/plan.js';
import { StatementFailed } from '../../actions/core/src/migrations/run/plan.js';

const plan = (text: string, major = 17) => planFile('m.sql', Buffer.from(text), major);

async function first(sql: string) {
  const parsed = await parseMigration(sql);
  const statement = parsed.statements[0];
  if (!statement) throw new Error(`no statement in ${sql}`);
  return statement;
}

describe('statements that run outside a transaction', () => {
  it.each([
    ['CREATE INDEX CONCURRENTLY i ON t (a)', 'CREATE INDEX CONCURRENTLY'],
    ['CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS i ON t (a)', 'CREATE INDEX CONCURRENTLY'],
    ['DROP INDEX CONCURRENTLY i', 'DROP INDEX CONCURRENTLY'],
    ['REINDEX (CONCURRENTLY) INDEX i', 'REINDEX CONCURRENTLY'],
    ['REINDEX INDEX CONCURRENTLY i', 'REINDEX CONCURRENTLY'],
    ['VACUUM (ANALYZE) t', 'VACUUM'],
    ['ALTER SYSTEM SET work_mem = 1', 'ALTER SYSTEM'],
    ['CREATE DATABASE x', 'CREATE DATABASE'],
    ['ALTER TABLE p DETACH PARTITION p1 CONCURRENTLY', 'DETACH PARTITION CONCURRENTLY'],
    ['REINDEX DATABASE shop', 'REINDEX DATABASE / SYSTEM'],
  ])('%s', async (sql, why) => {
    expect(mustRunAlone(await first(sql), 17)).toBe(why);
  });

  it.each([
    'CREATE INDEX i ON t (a)',
    'ANALYZE t',
    'REINDEX INDEX i',
    "ALTER TYPE mood ADD VALUE 'meh'",
    'ALTER TABLE p DETACH PARTITION p1',
    'CLUSTER t USING i',
    "SELECT 'CREATE INDEX CONCURRENTLY'",
  ])('%s runs in the transaction', async (sql) => {
    expect(mustRunAlone(await first(sql), 17)).toBeUndefined();
  });

  it('ALTER TYPE … ADD VALUE runs alone only before PostgreSQL 12', async () => {
    const statement = await first("ALTER TYPE mood ADD VALUE 'meh'");
    expect(mustRunAlone(statement, 11)).toMatch(/before PostgreSQL 12/);
    expect(mustRunAlone(statement, 12)).toBeUndefined();
  });
});

describe('planFile', () => {
  it('groups the statements into transactions around the ones that run alone', async () => {
    const planned = await plan(
      'ALTER TABLE t ADD COLUMN a int;\nUPDATE t SET a = 1;\nCREATE INDEX CONCURRENTLY i ON t (a);\nALTER TABLE t ALTER a SET NOT NULL;\n',
    );
    expect(planned.steps.map((step) => (step.inTransaction ? step.statements.length : step.why))).toEqual([
      2,
      'CREATE INDEX CONCURRENTLY',
      1,
    ]);
    expect(planned.phase).toBe('expand');
    expect(planned.sha256).toMatch(/^[0-9a-f]{64}$/);
  });

  it("replaces the file's own BEGIN/COMMIT, and refuses transaction control inside it", async () => {
    const wrapped = await plan('BEGIN;\nALTER TABLE t ADD COLUMN a int;\nCOMMIT;\n');
    expect(wrapped.ownTransaction).toBe(true);
    expect(wrapped.steps).toHaveLength(1);
    const refused = plan('ALTER TABLE t ADD COLUMN a int;\nCOMMIT;\nALTER TABLE t ADD COLUMN b int;\n');
    await expect(refused).rejects.toThrow(StatementFailed);
    await expect(refused).rejects.toMatchObject({ file: 'm.sql', line: 2 });
    // Savepoints nest inside the run's transaction.
    const savepoint = await plan('SAVEPOINT s;\nALTER TABLE t ADD COLUMN a int;\nRELEASE SAVEPOINT s;\n');
    expect(savepoint.steps).toHaveLength(1);
  });

  it('refuses a syntax error and a file that is not UTF-8 at their line, before anything runs', async () => {
    await expect(plan('ALTER TABLE t ADD COLUMN a int;\nALTER TABEL t;\n')).rejects.toMatchObject({
      line: 2,
    });
    await expect(planFile('m.sql', Buffer.from([0x53, 0x0a, 0xff]), 17)).rejects.toMatchObject({ line: 2 });
  });

  it('plans a contract-phase file as contract and a file of comments as nothing to run', async () => {
    expect((await plan('-- switchyard: contract\nALTER TABLE t DROP COLUMN a;\n')).phase).toBe('contract');
    const empty = await plan('-- nothing yet\n');
    expect(empty.steps).toEqual([]);
    expect(empty.phase).toBe('none');
  });
});

describe('positionIn', () => {
  it("maps PostgreSQL's 1-based character position in the statement to the file's line and column", async () => {
    const parsed = await parseMigration('SELECT 1;\nUPDATE t\n   SET a = missing;\n');
    const update = parsed.statements[1]!;
    const at = update.text.indexOf('missing') + 1;
    expect(positionIn(update, at)).toEqual({ line: 3, column: 12 });
    expect(positionIn(update, undefined)).toEqual(update.start);
    expect(positionIn(update, 3)).toEqual({ line: 2, column: 3 });
  });
});

describe('positionInBlock', () => {
  it("puts an error inside a DO block at its line in the file, counted from the body's first line", async () => {
    const parsed = await parseMigration(
      "SELECT 1;\nDO $body$\nBEGIN\n  PERFORM 1;\n  RAISE EXCEPTION 'no';\nEND\n$body$;\n",
    );
    const block = parsed.statements[1]!;
    expect(positionInBlock(block, 'PL/pgSQL function inline_code_block line 4 at RAISE')).toEqual({
      line: 5,
      column: 1,
    });
    expect(positionInBlock(block, undefined)).toBeUndefined();
    expect(positionInBlock(parsed.statements[0]!, 'inline_code_block line 2')).toBeUndefined();
  });
});
