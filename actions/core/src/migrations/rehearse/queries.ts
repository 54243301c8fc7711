import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type pg from 'pg';
import { InputError } from '../../errors.js';
import { parseMigration } from '../parser.js';
import { nodeOf } from '../rules/rule.js';

/** A statement the application runs, to be prepared against the migrated copy. */
export interface AppQuery {
  text: string;
  source: 'pg_stat_statements' | 'queries-file';
  /** pg_stat_statements: how often the live database ran it. */
  calls?: number;
  /** queries-file: its line. */
  line?: number;
}

/** What PREPARE accepts: the statements an application sends. */
const PREPARABLE = new Set(['SelectStmt', 'InsertStmt', 'UpdateStmt', 'DeleteStmt', 'MergeStmt']);

async function preparable(text: string, application = false): Promise<boolean> {
  const parsed = await parseMigration(text).catch(() => undefined);
  const statement = parsed?.statements.length === 1 ? parsed.statements[0] : undefined;
  if (!statement || !PREPARABLE.has(statement.kind)) return false;
  const [kind, body] = nodeOf(statement.node);
  if (kind === 'SelectStmt' && body.intoClause) return false;
  return !application || !onlyTheCatalog(statement.node);
}

/**
 * A statement that reads only PostgreSQL's catalog (pg_dump's, a monitoring agent's, ours): no
 * migration of the application's tables changes what it plans, and it would crowd the `queries`
 * budget. Without any table (SELECT 1, SELECT now()) it is left out too.
 */
function onlyTheCatalog(node: unknown): boolean {
  const relations: { schemaname?: string; relname?: string }[] = [];
  const walk = (value: unknown): void => {
    if (Array.isArray(value)) value.forEach(walk);
    else if (value && typeof value === 'object')
      for (const [key, child] of Object.entries(value)) {
        // FROM items are RangeVar nodes; the target of INSERT, UPDATE, DELETE and MERGE is a bare `relation`.
        if (key === 'RangeVar' || (key === 'relation' && (child as { relname?: string } | null)?.relname))
          relations.push(child as { schemaname?: string; relname?: string });
        walk(child);
      }
  };
  walk(node);
  return relations.every(
    (each) =>
      each.schemaname === 'pg_catalog' ||
      each.schemaname === 'information_schema' ||
      (!each.schemaname && /^pg_/.test(each.relname ?? '')),
  );
}

/** Whether pg_stat_statements can be read here, and if not, how to make it so. */
export async function statementsAvailability(client: pg.Client): Promise<string | undefined> {
  const installed = await client.query(`SELECT 1 FROM pg_extension WHERE extname = 'pg_stat_statements'`);
  if (installed.rows.length > 0) return undefined;
  // Only a superuser or pg_read_all_settings may read it: not knowing, both steps are said.
  const preload = await client
    .query<{ libraries: string }>(`SELECT current_setting('shared_preload_libraries') AS libraries`)
    .catch(() => undefined);
  const loaded = /(^|[\s,])pg_stat_statements($|[\s,])/.test(preload?.rows[0]?.libraries ?? '');
  return loaded
    ? 'pg_stat_statements is loaded but not installed in this database: run CREATE EXTENSION pg_stat_statements; (as a superuser) in it'
    : "pg_stat_statements is not installed: add it to shared_preload_libraries (shared_preload_libraries = 'pg_stat_statements' in postgresql.conf, or the parameter group of a managed database), restart PostgreSQL, then run CREATE EXTENSION pg_stat_statements; in this database";
}

/** The `limit` statements this database runs most often that PREPARE accepts, normalised ($1…) as pg_stat_statements keeps them. */
export async function topStatements(client: pg.Client, limit: number): Promise<AppQuery[]> {
  // More than asked for: BEGIN, SET, COMMIT and our own reads are among the most frequent.
  const rows = await client.query<{ query: string; calls: string }>(
    `SELECT query, sum(calls)::bigint AS calls FROM pg_stat_statements
      WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
      GROUP BY query ORDER BY sum(calls) DESC LIMIT $1`,
    [limit * 4 + 50],
  );
  const found: AppQuery[] = [];
  for (const row of rows.rows) {
    if (found.length >= limit) break;
    if (/\bpg_stat_statements\b|\bswitchyard_migrations\b/.test(row.query)) continue;
    if (await preparable(row.query, true))
      found.push({ text: row.query, source: 'pg_stat_statements', calls: Number(row.calls) });
  }
  return found;
}

/** The statements of queries-file that PREPARE accepts; the others are named, not silently dropped. */
export async function fileQueries(
  file: string,
  cwd: string,
): Promise<{ queries: AppQuery[]; skipped: string[] }> {
  let text: string;
  try {
    text = await readFile(path.resolve(cwd, file), 'utf8');
  } catch (error) {
    throw new InputError('queries-file', `${file} cannot be read: ${(error as Error).message}`);
  }
  const parsed = await parseMigration(text);
  if (parsed.syntaxError)
    throw new InputError(
      'queries-file',
      `${file}:${parsed.syntaxError.at.line}: PostgreSQL cannot parse it: ${parsed.syntaxError.message}`,
      file,
      parsed.syntaxError.at.line,
    );
  const queries: AppQuery[] = [];
  const skipped: string[] = [];
  for (const statement of parsed.statements) {
    if (await preparable(statement.text))
      queries.push({ text: statement.text, source: 'queries-file', line: statement.start.line });
    else
      skipped.push(
        `line ${statement.start.line}: ${statement.kind} (PREPARE takes SELECT, INSERT, UPDATE, DELETE, MERGE)`,
      );
  }
  return { queries, skipped };
}

/** PREPARE, then DEALLOCATE: PostgreSQL's error when the statement no longer plans. */
export async function prepareError(
  client: pg.Client,
  query: AppQuery,
): Promise<{ message: string; code?: string } | undefined> {
  try {
    await client.query(`PREPARE switchyard_rehearsal AS ${query.text}`);
    await client.query('DEALLOCATE switchyard_rehearsal');
    return undefined;
  } catch (error) {
    const details = error as { message?: string; code?: string };
    return { message: details.message ?? String(error), ...(details.code ? { code: details.code } : {}) };
  }
}
