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
import { snapshotPostgres } from '../snapshot/postgres.js';

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

export async function fingerprint(
  url: string,
  client: pg.Client,
  runner: ProcessRunner,
  env: Record<string, string | undefined>,
): Promise<Fingerprint> {
  const snapshot = await snapshotPostgres(url);
  return {
    schema: await schemaDump(url, client, runner, env),
    tables: Object.fromEntries(
      snapshot.tables.map((table) => [table.name, { rows: table.rows, checksum: table.checksum }]),
    ),
  };
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
