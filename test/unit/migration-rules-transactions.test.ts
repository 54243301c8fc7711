import { describe, expect, it } from '@jest/globals';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseMigration } from '../../actions/core/src/migrations/parser.js';
import type { Rule } from '../../actions/core/src/migrations/rules/rule.js';
import {
  transactionMap,
  transactionRules,
  type TransactionMap,
} from '../../actions/core/src/migrations/rules/transactions.js';
import { ruleHits } from '../support/migration-rules.js';

type Settings = { pgVersion?: number; assumeInTransaction?: boolean };

function rule(id: string): Rule {
  const found = transactionRules.find((each) => each.id === id);
  if (!found) throw new Error(`no transaction rule ${id}`);
  return found;
}

async function hits(id: string, sql: string, settings: Settings = {}): Promise<number[]> {
  return (await ruleHits(rule(id), sql, settings)).map((hit) => hit.statement);
}

const assume = { assumeInTransaction: true };

describe('transaction rules: the catalogue', () => {
  it('each rule is in the transactions category, an error, with a summary', () => {
    expect(transactionRules.map((each) => each.id)).toEqual([
      'ban-concurrent-index-creation-in-transaction',
      'transaction-nesting',
      'ban-uncommitted-transaction',
      'enum-value-in-transaction',
    ]);
    for (const each of transactionRules) {
      expect(each.category).toBe('transactions');
      expect(each.severity).toBe('error');
      expect(each.summary.length).toBeGreaterThan(20);
    }
  });
});

describe('transactionMap', () => {
  async function map(sql: string, assumed: boolean): Promise<TransactionMap> {
    return transactionMap((await parseMigration(sql)).statements, assumed);
  }
  it('gives each statement its transaction: explicit blocks, the tool’s, none', async () => {
    const sql = 'SELECT 1; BEGIN; SELECT 2; COMMIT; SELECT 3; START TRANSACTION; SELECT 4; ROLLBACK;';
    expect((await map(sql, false)).ids).toEqual([undefined, 1, 1, 1, undefined, 2, 2, 2]);
    // The tool's transaction (0) takes in the BEGIN; its first COMMIT ends it.
    expect((await map(sql, true)).ids).toEqual([0, 0, 0, 0, undefined, 1, 1, 1]);
  });
  it('COMMIT AND CHAIN keeps a transaction open; savepoints change nothing', async () => {
    const sql = 'BEGIN; SAVEPOINT s; ROLLBACK TO SAVEPOINT s; COMMIT AND CHAIN; SELECT 1; COMMIT; SELECT 2;';
    expect((await map(sql, false)).ids).toEqual([1, 1, 1, 1, 1, 1, undefined]);
  });
});

describe('ban-concurrent-index-creation-in-transaction', () => {
  const id = 'ban-concurrent-index-creation-in-transaction';
  const build = 'CREATE INDEX CONCURRENTLY orders_email_idx ON orders (email);';
  it('reports CONCURRENTLY inside an explicit BEGIN', async () => {
    const [hit] = await ruleHits(rule(id), `BEGIN;\n${build}\nCOMMIT;`);
    expect(hit?.statement).toBe(1);
    expect(hit?.message).toContain('inside the transaction opened at line 1');
    expect(hit?.message).toContain('PostgreSQL rejects it');
    expect(hit?.fix).toContain('own migration file');
  });
  it('reports it under assume-in-transaction, when the file has more than this statement', async () => {
    const sql = `SET lock_timeout = '2s';\n${build}`;
    expect(await hits(id, sql, assume)).toEqual([1]);
    const [hit] = await ruleHits(rule(id), sql, assume);
    expect(hit?.message).toContain('your migration tool wraps this file in');
    // As squawk: a one-statement file is left alone (golang-migrate, and a file sent as one
    // query, run it outside a transaction).
    expect(await hits(id, build, assume)).toEqual([]);
  });
  it('covers DROP INDEX CONCURRENTLY and REINDEX CONCURRENTLY, which PostgreSQL refuses in a transaction too', async () => {
    const sql =
      'BEGIN;\nDROP INDEX CONCURRENTLY old_idx;\nREINDEX INDEX CONCURRENTLY orders_email_idx;\nCOMMIT;';
    const found = await ruleHits(rule(id), sql);
    expect(found.map((hit) => hit.statement)).toEqual([1, 2]);
    expect(found[0]?.message).toContain('DROP INDEX CONCURRENTLY cannot run inside a transaction block');
    expect(found[1]?.message).toContain('REINDEX CONCURRENTLY cannot run inside a transaction block');
  });
  it('accepts CONCURRENTLY outside a transaction, and a plain CREATE INDEX inside one', async () => {
    expect(await hits(id, `SET lock_timeout = '2s';\n${build}`)).toEqual([]);
    expect(await hits(id, `BEGIN;\nSELECT 1;\nCOMMIT;\n${build}`)).toEqual([]);
    expect(await hits(id, 'BEGIN;\nCREATE INDEX i ON orders (email);\nCOMMIT;', assume)).toEqual([]);
  });
});

describe('transaction-nesting', () => {
  const id = 'transaction-nesting';
  it('reports a BEGIN inside an explicit transaction, and a COMMIT with none open', async () => {
    const found = await ruleHits(rule(id), 'BEGIN;\nBEGIN;\nSELECT 1;\nCOMMIT;\nCOMMIT;');
    expect(found.map((hit) => hit.statement)).toEqual([1, 4]);
    expect(found[0]?.message).toContain('already open (BEGIN at line 1)');
    expect(found[1]?.message).toContain('no transaction for this COMMIT to end');
    expect(await hits(id, 'SELECT 1;\nROLLBACK;')).toEqual([1]);
  });
  it('with assume-in-transaction: BEGIN and COMMIT / ROLLBACK are the tool’s transaction', async () => {
    const [begin] = await ruleHits(rule(id), 'BEGIN;\nSELECT 1;', assume);
    expect(begin?.statement).toBe(0);
    expect(begin?.message).toContain('Your migration tool already runs this file in a transaction');
    const [commit] = await ruleHits(rule(id), 'SELECT 1;\nCOMMIT;', assume);
    expect(commit?.statement).toBe(1);
    expect(commit?.message).toContain('ends the transaction your migration tool wraps this file in');
    expect(await hits(id, 'SELECT 1;\nROLLBACK;', assume)).toEqual([1]);
  });
  it('with assume-in-transaction, BEGIN … COMMIT: both, since the tool owns the transaction', async () => {
    expect(await hits(id, 'BEGIN;\nSELECT 1;\nCOMMIT;', assume)).toEqual([0, 2]);
  });
  it('accepts one BEGIN … COMMIT, START TRANSACTION … END, savepoints', async () => {
    expect(await hits(id, 'BEGIN;\nSELECT 1;\nCOMMIT;\nBEGIN;\nSELECT 2;\nROLLBACK;')).toEqual([]);
    expect(
      await hits(id, 'START TRANSACTION;\nSAVEPOINT s;\nROLLBACK TO SAVEPOINT s;\nRELEASE s;\nEND;'),
    ).toEqual([]);
    expect(await hits(id, 'SELECT 1;', assume)).toEqual([]);
  });
});

describe('ban-uncommitted-transaction', () => {
  const id = 'ban-uncommitted-transaction';
  it('reports the BEGIN left open at the end of the file', async () => {
    const [hit] = await ruleHits(rule(id), 'BEGIN;\nALTER TABLE orders ADD COLUMN note text;');
    expect(hit?.statement).toBe(0);
    expect(hit?.message).toContain('never committed or rolled back');
    expect(hit?.message).toContain('until the connection closes');
    expect(hit?.fix).toContain('COMMIT;');
    expect(await hits(id, 'BEGIN;\nSELECT 1;\nCOMMIT;\nBEGIN;\nSELECT 2;')).toEqual([3]);
    expect(await hits(id, 'BEGIN;\nSELECT 1;\nCOMMIT AND CHAIN;')).toEqual([0]);
  });
  it('says what the tool’s transaction changes, under assume-in-transaction', async () => {
    const [hit] = await ruleHits(rule(id), 'BEGIN;\nSELECT 1;', assume);
    expect(hit?.message).toContain("only your migration tool's final COMMIT ends it");
  });
  it('accepts COMMIT, END, ROLLBACK, PREPARE TRANSACTION, and no BEGIN at all', async () => {
    for (const end of ['COMMIT', 'END', 'ROLLBACK', 'ABORT', "PREPARE TRANSACTION 'm1'"])
      expect(await hits(id, `BEGIN;\nSELECT 1;\n${end};`)).toEqual([]);
    expect(await hits(id, 'BEGIN;\nBEGIN;\nCOMMIT;')).toEqual([]);
    expect(await hits(id, 'SELECT 1;')).toEqual([]);
  });
});

// ---------------------------------------------------------------------------------------------
describe('enum-value-in-transaction', () => {
  const id = 'enum-value-in-transaction';
  it('reports a use of the new value in the same transaction: explicit BEGIN, or assume-in-transaction', async () => {
    const sql =
      "BEGIN;\nALTER TYPE mood ADD VALUE 'ecstatic';\nUPDATE people SET mood = 'ecstatic' WHERE id = 1;\nCOMMIT;";
    const [hit] = await ruleHits(rule(id), sql);
    expect(hit?.statement).toBe(2);
    expect(hit?.message).toContain('unsafe use of new value "ecstatic"');
    expect(
      await hits(
        id,
        "ALTER TYPE public.mood ADD VALUE 'ecstatic';\nALTER TABLE people ALTER COLUMN mood SET DEFAULT 'ecstatic'::mood;",
        assume,
      ),
    ).toEqual([1]);
  });
  it('accepts a use after COMMIT, without a transaction, other values, and an enum created in the same transaction', async () => {
    expect(
      await hits(
        id,
        "BEGIN;\nALTER TYPE mood ADD VALUE 'ecstatic';\nCOMMIT;\nUPDATE people SET mood = 'ecstatic';",
      ),
    ).toEqual([]);
    expect(
      await hits(id, "ALTER TYPE mood ADD VALUE 'ecstatic';\nUPDATE people SET mood = 'ecstatic';"),
    ).toEqual([]);
    expect(
      await hits(id, "ALTER TYPE mood ADD VALUE 'ecstatic';\nUPDATE people SET mood = 'sad';", assume),
    ).toEqual([]);
    expect(
      await hits(
        id,
        "BEGIN;\nCREATE TYPE mood AS ENUM ('sad');\nALTER TYPE mood ADD VALUE 'ecstatic';\nINSERT INTO people (mood) VALUES ('ecstatic');\nCOMMIT;",
      ),
    ).toEqual([]);
  });
  it('before PostgreSQL 12 reports ADD VALUE inside a transaction at all', async () => {
    const [hit] = await ruleHits(rule(id), "BEGIN;\nALTER TYPE mood ADD VALUE 'ecstatic';\nCOMMIT;", {
      pgVersion: 11,
    });
    expect(hit?.statement).toBe(1);
    expect(hit?.message).toContain('cannot run inside a transaction block');
    expect(
      await hits(id, "SELECT 1;\nALTER TYPE mood ADD VALUE 'ecstatic';", { ...assume, pgVersion: 11 }),
    ).toEqual([1]);
    expect(await hits(id, "ALTER TYPE mood ADD VALUE 'ecstatic';", { pgVersion: 11 })).toEqual([]);
    expect(
      await hits(id, "BEGIN;\nALTER TYPE mood ADD VALUE 'ecstatic';\nCOMMIT;", { pgVersion: 12 }),
    ).toEqual([]);
  });
});

// Side by side with squawk (see migration-rules-locks.test.ts for the lock rules).

interface Case {
  name: string;
  sql: string;
  settings?: Settings;
  onlyOurs?: [number, string, string][];
  onlySquawk?: [number, string, string][];
}

const CASES: Case[] = [
  { name: 'nested-begin', sql: 'BEGIN;\nBEGIN;\nSELECT 1;\nCOMMIT;\nCOMMIT;' },
  { name: 'commit-without-begin', sql: 'SELECT 1;\nCOMMIT;' },
  { name: 'balanced', sql: 'BEGIN;\nSELECT 1;\nCOMMIT;\nSTART TRANSACTION;\nSELECT 2;\nEND;' },
  { name: 'assume-begin', sql: 'BEGIN;\nSELECT 1;', settings: assume },
  { name: 'assume-rollback', sql: 'SELECT 1;\nROLLBACK;', settings: assume },
  {
    name: 'assume-begin-commit',
    sql: 'BEGIN;\nSELECT 1;\nCOMMIT;',
    settings: assume,
  },
  { name: 'concurrent-in-begin', sql: 'BEGIN;\nCREATE INDEX CONCURRENTLY i ON t (a);\nCOMMIT;' },
  {
    name: 'concurrent-assumed',
    sql: "SET lock_timeout = '2s';\nCREATE INDEX CONCURRENTLY i ON t (a);",
    settings: assume,
  },
  { name: 'concurrent-assumed-alone', sql: 'CREATE INDEX CONCURRENTLY i ON t (a);', settings: assume },
  { name: 'concurrent-outside', sql: "SET lock_timeout = '2s';\nCREATE INDEX CONCURRENTLY i ON t (a);" },
  {
    name: 'drop-concurrent-in-begin',
    sql: 'BEGIN;\nDROP INDEX CONCURRENTLY i;\nCOMMIT;',
    onlyOurs: [
      [
        1,
        'ban-concurrent-index-creation-in-transaction',
        'PostgreSQL refuses DROP INDEX CONCURRENTLY in a transaction too',
      ],
    ],
  },
  { name: 'uncommitted', sql: 'BEGIN;\nSELECT 1;' },
  { name: 'uncommitted-second', sql: 'BEGIN;\nSELECT 1;\nCOMMIT;\nBEGIN;\nSELECT 2;' },
];

const SHARED_WITH_SQUAWK = new Set(
  transactionRules.map((each) => each.id).filter((id) => id !== 'enum-value-in-transaction'),
);

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

async function squawkPairs(cases: Case[], directory: string): Promise<Set<string>> {
  const pairs = new Set<string>();
  writeFileSync(join(directory, 'empty.toml'), '');
  for (const assumed of [false, true]) {
    const group = cases.filter((each) => Boolean(each.settings?.assumeInTransaction) === assumed);
    for (const each of group) writeFileSync(join(directory, `${each.name}.sql`), each.sql);
    const result = spawnSync(
      SQUAWK,
      [
        '--config=empty.toml',
        '--reporter=json',
        '--pg-version=17.0',
        ...(assumed ? ['--assume-in-transaction'] : []),
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
    `agrees on every (statement, rule), but the listed differences${squawkMissing ? ` — skipped: ${squawkMissing}` : ''}`,
    async () => {
      const directory = mkdtempSync(join(tmpdir(), 'switchyard-squawk-'));
      try {
        const theirs = await squawkPairs(CASES, directory);
        const ours = new Set<string>();
        for (const each of CASES)
          for (const shared of transactionRules)
            for (const hit of await ruleHits(shared, each.sql, each.settings))
              ours.add(`${each.name}:${hit.statement}:${shared.id}`);
        const onlyOurs = CASES.flatMap((each) =>
          (each.onlyOurs ?? []).map(([at, id]) => `${each.name}:${at}:${id}`),
        );
        const onlySquawk = CASES.flatMap((each) =>
          (each.onlySquawk ?? []).map(([at, id]) => `${each.name}:${at}:${id}`),
        );
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
        const strip = (pairs: Set<string>, drop: string[]) =>
          [...pairs].filter((pair) => !drop.includes(pair)).sort();
        expect(strip(ours, onlyOurs)).toEqual(strip(theirs, onlySquawk));
        expect(new Set([...theirs].map((pair) => pair.split(':')[2]))).toEqual(SHARED_WITH_SQUAWK);
      } finally {
        rmSync(directory, { recursive: true, force: true });
      }
    },
  );
});
