import type pg from 'pg';
import { quoteIdent } from '../../backup/sources/postgres.js';

/** The table that records what run applied: one row per file. */
export const TRACKING_TABLE = 'switchyard_migrations';

export interface AppliedFile {
  file: string;
  sha256: string;
  appliedAt: string;
  durationMs: number;
  appliedBy: string;
  backupId?: string;
}

/** schema.switchyard_migrations, quoted. */
export const trackingTable = (schema: string) => `${quoteIdent(schema)}.${TRACKING_TABLE}`;

/** Creates the schema and the table when missing. */
export async function ensureTrackingTable(client: pg.Client, schema: string): Promise<void> {
  await client.query(`CREATE SCHEMA IF NOT EXISTS ${quoteIdent(schema)}`);
  await client.query(
    `CREATE TABLE IF NOT EXISTS ${trackingTable(schema)} (
       file text PRIMARY KEY,
       sha256 text NOT NULL,
       applied_at timestamptz NOT NULL DEFAULT now(),
       duration_ms integer NOT NULL,
       applied_by text NOT NULL,
       backup_id text
     )`,
  );
}

/** Whether the table exists (rehearse and a first run read none without creating it). */
export async function trackingTableExists(client: pg.Client, schema: string): Promise<boolean> {
  const found = await client.query(`SELECT to_regclass($1) IS NOT NULL AS found`, [
    `${quoteIdent(schema)}.${TRACKING_TABLE}`,
  ]);
  return Boolean((found.rows[0] as { found?: boolean } | undefined)?.found);
}

export async function readApplied(client: pg.Client, schema: string): Promise<Map<string, AppliedFile>> {
  const result = await client.query<{
    file: string;
    sha256: string;
    applied_at: Date;
    duration_ms: number;
    applied_by: string;
    backup_id: string | null;
  }>(`SELECT file, sha256, applied_at, duration_ms, applied_by, backup_id FROM ${trackingTable(schema)}`);
  return new Map(
    result.rows.map((row) => [
      row.file,
      {
        file: row.file,
        sha256: row.sha256,
        appliedAt: row.applied_at.toISOString(),
        durationMs: row.duration_ms,
        appliedBy: row.applied_by,
        ...(row.backup_id ? { backupId: row.backup_id } : {}),
      },
    ]),
  );
}

/** Records one file; called inside the file's last transaction, so a file is recorded exactly when it committed. */
export async function recordApplied(
  client: pg.Client,
  schema: string,
  entry: Omit<AppliedFile, 'appliedAt'>,
): Promise<void> {
  await client.query(
    `INSERT INTO ${trackingTable(schema)} (file, sha256, duration_ms, applied_by, backup_id)
     VALUES ($1, $2, $3, $4, $5)`,
    [entry.file, entry.sha256, Math.round(entry.durationMs), entry.appliedBy, entry.backupId ?? null],
  );
}
