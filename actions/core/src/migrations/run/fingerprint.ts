import type pg from 'pg';
import { UserError } from '../../errors.js';
import { redactUrl } from '../../mask.js';
import { outputTail, type ProcessRunner } from '../../process.js';
import {
  connectionEnv,
  defaultClientDirs,
  findClients,
  requireDumpVersion,
} from '../../backup/sources/postgres.js';

/**
 * What "the database is as it was" is checked against: the schema as pg_dump writes it
 * (normalised: no comments, settings or the per-dump \restrict key) and every table's content
 * checksum and row count.
 */
export interface Fingerprint {
  schema: string;
  tables: Record<string, { rows: number; checksum: string }>;
}

/** How two fingerprints differ, in words; empty when they are equal. */
export function fingerprintDifferences(before: Fingerprint, after: Fingerprint): string[] {
  const found: string[] = [];
  if (before.schema !== after.schema) {
    const was = new Set(before.schema.split('\n'));
    const now = new Set(after.schema.split('\n'));
    const lost = [...was].filter((line) => !now.has(line)).slice(0, 3);
    const gained = [...now].filter((line) => !was.has(line)).slice(0, 3);
    found.push(
      `the schema differs from before the run${lost.length ? `; missing: ${lost.join(' | ')}` : ''}${gained.length ? `; extra: ${gained.join(' | ')}` : ''}`,
    );
  }
  for (const [table, was] of Object.entries(before.tables)) {
    const now = after.tables[table];
    if (!now) found.push(`table ${table} is missing`);
    else if (now.checksum !== was.checksum || now.rows !== was.rows)
      found.push(
        `table ${table}: ${was.rows} rows (checksum ${short(was.checksum)}) before, ${now.rows} (${short(now.checksum)}) now`,
      );
  }
  for (const table of Object.keys(after.tables))
    if (!before.tables[table]) found.push(`table ${table} was not there before the run`);
  return found;
}

const short = (checksum: string) => checksum.slice(0, 12);

/**
 * The schema and every table's row count and content hash, in one read-only snapshot. The hash
 * is a sum of each row's 64-bit hash (hashtextextended over the row's text): order-free, one pass
 * and no sort, about as fast as pg_dump reads the rows — where the snapshot's ordered sha256
 * costs 5× that, and every run with a backup pays for the fingerprint (measured:
 * bench/migration-run.ts). It only has to tell a restored table from the one before.
 */
export async function fingerprint(
  url: string,
  client: pg.Client,
  runner: ProcessRunner,
  env: Record<string, string | undefined>,
): Promise<Fingerprint> {
  const schema = await schemaDump(url, client, runner, env);
  const tables: Fingerprint['tables'] = {};
  await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY');
  try {
    // A row-level security policy must fail the fingerprint, not hide rows from it.
    await client.query('SET LOCAL row_security = off');
    const names = await client.query<{ name: string }>(
      `SELECT format('%I.%I', n.nspname, c.relname) AS name
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition
          AND n.nspname !~ '^pg_' AND n.nspname <> 'information_schema'
          AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass
                            AND d.objid = c.oid AND d.deptype = 'e')
        ORDER BY 1`,
    );
    for (const { name } of names.rows) {
      const found = await client.query<{ rows: string; hash: string }>(
        `SELECT count(*) AS rows, coalesce(sum(hashtextextended(t::text, 0)::numeric), 0)::text AS hash FROM ${name} t`,
      );
      tables[name] = { rows: Number(found.rows[0]?.rows ?? 0), checksum: found.rows[0]?.hash ?? '' };
    }
    await client.query('COMMIT');
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  }
  return { schema, tables };
}

/** `pg_dump --schema-only`, normalised for comparison. */
export async function schemaDump(
  url: string,
  client: pg.Client,
  runner: ProcessRunner,
  env: Record<string, string | undefined>,
): Promise<string> {
  const pgDump = await pgDumpFor(client, runner, env, url);
  const parsed = new URL(url);
  const result = await runner.run([pgDump, '--schema-only', '--no-password'], {
    env: { ...env, ...connectionEnv(parsed) },
    timeoutMs: 10 * 60_000,
  });
  if (result.exitCode !== 0)
    throw new UserError(
      `pg_dump --schema-only of ${redactUrl(url)} failed: ${outputTail(result)}`,
      'PostgreSQL',
    );
  return normaliseSchemaDump(result.stdout);
}

export function normaliseSchemaDump(dump: string): string {
  return dump
    .split('\n')
    .filter(
      (line) =>
        line.trim() !== '' &&
        !line.startsWith('--') &&
        !/^\\(un)?restrict\b/.test(line) &&
        !/^SET \w+ = /.test(line) &&
        !line.startsWith('SELECT pg_catalog.set_config('),
    )
    .join('\n');
}

/** The pg_dump able to dump this server (at least its major version). */
export async function pgDumpFor(
  client: pg.Client,
  runner: ProcessRunner,
  env: Record<string, string | undefined>,
  url: string,
): Promise<string> {
  const about = await client.query<{ version: string; num: string }>(
    `SELECT current_setting('server_version') AS version, current_setting('server_version_num') AS num`,
  );
  const server = { version: about.rows[0]?.version ?? '', versionNum: Number(about.rows[0]?.num ?? 0) };
  const clients = await findClients('pg_dump', defaultClientDirs(env), runner, undefined, env);
  return requireDumpVersion(clients, server, redactUrl(url)).path;
}
