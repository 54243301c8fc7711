// What rehearse prepares: the statements PREPARE takes, from pg_stat_statements or a file, and
// what it says when pg_stat_statements is missing.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from '@jest/globals';
import type pg from 'pg';
import {
  fileQueries,
  statementsAvailability,
  topStatements,
} from '../../actions/core/src/migrations/rehearse/queries.js';

/** A client answering each query with the rows of the first pattern it matches. */
function fakeClient(answers: [RegExp, Record<string, unknown>[]][]): pg.Client {
  return {
    query: async (text: string) => ({ rows: answers.find(([pattern]) => pattern.test(text))?.[1] ?? [] }),
  } as unknown as pg.Client;
}

describe('pg_stat_statements availability', () => {
  it('says to preload it and restart when it is not in shared_preload_libraries', async () => {
    const advice = await statementsAvailability(
      fakeClient([[/shared_preload_libraries/, [{ libraries: 'auto_explain' }]]]),
    );
    expect(advice).toContain("shared_preload_libraries = 'pg_stat_statements'");
    expect(advice).toContain('restart PostgreSQL');
    expect(advice).toContain('CREATE EXTENSION pg_stat_statements');
  });

  it('says both steps when the role may not read shared_preload_libraries (not a superuser)', async () => {
    const client = {
      query: async (text: string) => {
        if (/shared_preload_libraries/.test(text))
          throw new Error('must be superuser or have privileges of pg_read_all_settings');
        return { rows: [] };
      },
    } as unknown as pg.Client;
    const advice = await statementsAvailability(client);
    expect(advice).toContain('add it to shared_preload_libraries');
    expect(advice).toContain('CREATE EXTENSION pg_stat_statements');
  });

  it('says only CREATE EXTENSION is left when it is preloaded', async () => {
    const advice = await statementsAvailability(
      fakeClient([[/shared_preload_libraries/, [{ libraries: 'auto_explain, pg_stat_statements' }]]]),
    );
    expect(advice).toMatch(/^pg_stat_statements is loaded but not installed/);
  });

  it('is silent when the extension is installed', async () => {
    expect(await statementsAvailability(fakeClient([[/pg_extension/, [{ '?column?': 1 }]]]))).toBeUndefined();
  });
});

describe('the statements prepared', () => {
  it('keeps the most called statements PREPARE takes, up to the limit, and leaves out its own reads', async () => {
    const client = fakeClient([
      [
        /FROM pg_stat_statements/,
        [
          { query: 'BEGIN', calls: '900' },
          { query: 'SELECT id FROM users WHERE id = $1', calls: '800' },
          { query: 'SET application_name = $1', calls: '700' },
          { query: 'SELECT query, calls FROM pg_stat_statements', calls: '600' },
          { query: 'UPDATE users SET name = $1 WHERE id = $2', calls: '500' },
          { query: 'CREATE TABLE t (a int)', calls: '400' },
          { query: 'DELETE FROM sessions WHERE at < $1', calls: '300' },
          { query: 'SELECT * INTO copy FROM users', calls: '200' },
          { query: 'SELECT c.relname FROM pg_catalog.pg_class c WHERE c.oid = $1', calls: '150' },
          { query: 'SELECT 1', calls: '140' },
          { query: 'SELECT * FROM pg_locks', calls: '130' },
          { query: 'SELECT o.id FROM orders o JOIN pg_catalog.pg_class c ON c.oid = $1', calls: '120' },
        ],
      ],
    ]);
    expect(await topStatements(client, 2)).toEqual([
      { text: 'SELECT id FROM users WHERE id = $1', source: 'pg_stat_statements', calls: 800 },
      { text: 'UPDATE users SET name = $1 WHERE id = $2', source: 'pg_stat_statements', calls: 500 },
    ]);
    // The catalog's own statements (pg_dump's, monitoring's) and table-less ones are left out.
    expect((await topStatements(client, 10)).map((each) => each.calls)).toEqual([800, 500, 300, 120]);
  });

  it('reads a queries file statement by statement, with lines, and names what it leaves out', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'switchyard-queries-'));
    writeFileSync(
      path.join(dir, 'q.sql'),
      '-- the app\nSELECT a FROM t WHERE id = $1;\n\nCREATE INDEX i ON t (a);\nINSERT INTO t (a)\n  VALUES ($1);\n',
    );
    const { queries, skipped } = await fileQueries('q.sql', dir);
    expect(queries.map((q) => [q.line, q.text])).toEqual([
      [2, 'SELECT a FROM t WHERE id = $1'],
      [5, 'INSERT INTO t (a)\n  VALUES ($1)'],
    ]);
    expect(skipped).toEqual(['line 4: IndexStmt (PREPARE takes SELECT, INSERT, UPDATE, DELETE, MERGE)']);
  });

  it('refuses an unreadable or unparsable queries file as a queries-file error', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'switchyard-queries-'));
    await expect(fileQueries('missing.sql', dir)).rejects.toThrow(
      /Input "queries-file": missing\.sql cannot be read/,
    );
    writeFileSync(path.join(dir, 'bad.sql'), 'SELEC 1;\n');
    await expect(fileQueries('bad.sql', dir)).rejects.toThrow(
      /Input "queries-file": bad\.sql:1: PostgreSQL cannot parse it/,
    );
  });
});
