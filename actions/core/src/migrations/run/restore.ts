import type pg from 'pg';
import type { ActionDeps } from '../../action.js';
import { runBackupCommand, type BackupOutcome } from '../../backup/engine.js';
import { backupInputs, type StoreSpec } from '../../backup/inputs.js';
import { createPostgresSource } from '../../backup/sources/postgres.js';
import { inputValues } from '../../inputs.js';
import type { ValidateMigrationInputs } from '../inputs.js';

/** How run reaches the backup engine: the store users named, and the GitHub token its stores may need. */
export interface BackupSettings {
  store: StoreSpec;
  githubToken?: string;
}

export const storeText = (store: StoreSpec) => (store.kind === 'local' ? `local:${store.dir}` : store.kind);

/** The backup settings validate-migration's inputs name. */
export const backupSettingsOf = (inputs: ValidateMigrationInputs): BackupSettings => ({
  store: inputs.store,
  githubToken: inputs['github-token'],
});

function backupCommand(
  command: 'backup' | 'restore' | 'list',
  url: string,
  settings: BackupSettings,
  deps: ActionDeps,
  extra: Record<string, string> = {},
): Promise<BackupOutcome> {
  const inputs = inputValues(backupInputs, {
    command,
    sources: url,
    store: storeText(settings.store),
    ...(settings.githubToken ? { 'github-token': settings.githubToken } : {}),
    ...extra,
  });
  return runBackupCommand(inputs, deps);
}

/** A backup of the database through the backup engine (the PostgreSQL source): its id. */
export async function backUp(url: string, settings: BackupSettings, deps: ActionDeps): Promise<string> {
  const outcome = await backupCommand('backup', url, settings, deps);
  return outcome.id ?? '';
}

/** Restores backup `id` into `target` (default: where it was taken), in `mode`. */
export function restoreBackup(
  url: string,
  id: string,
  settings: BackupSettings,
  deps: ActionDeps,
  options: { target?: string; mode: 'replace' | 'fail-if-exists' },
): Promise<BackupOutcome> {
  return backupCommand('restore', url, settings, deps, {
    id,
    mode: options.mode,
    'safety-backup': 'false',
    ...(options.target ? { target: options.target } : {}),
  });
}

/**
 * The newest usable backup in the store that holds this database: a store shared by several
 * databases has newer backups of the others.
 */
export async function latestBackupOf(
  url: string,
  settings: BackupSettings,
  deps: ActionDeps,
): Promise<string | undefined> {
  const part = createPostgresSource(new URL(url), { env: deps.io.env }).partName;
  const quiet = { ...deps, io: { ...deps.io, info: () => undefined } };
  const { backups = [] } = await backupCommand('list', url, settings, quiet);
  return backups
    .filter(
      (backup) =>
        !backup.damaged && backup.parts.some((name) => name === part || name.startsWith(`${part}.`)),
    )
    .sort((a, b) => (b.createdAt ?? '').localeCompare(a.createdAt ?? ''))[0]?.id;
}

/**
 * Runs `restore` with a watch on its pg_restore, found by `application` (its PGAPPNAME): a
 * statement of it waiting for a lock longer than `lockTimeoutMs` is cancelled, so a restore never
 * queues the application's queries behind it for long. (PGOPTIONS cannot do it: the archive
 * itself sets lock_timeout = 0.) Whether it cancelled anything is reported with the outcome.
 */
export async function watchingLocks<T>(
  client: pg.Client,
  application: string,
  lockTimeoutMs: number,
  restore: () => Promise<T>,
): Promise<{ value?: T; error?: unknown; cancelledForLock: boolean }> {
  let cancelledForLock = false;
  let checking: Promise<unknown> = Promise.resolve();
  const timer = setInterval(
    () => {
      checking = checking.then(() =>
        client
          .query<{ cancelled: boolean }>(
            `SELECT pg_cancel_backend(pid) AS cancelled FROM pg_stat_activity
            WHERE application_name = $1 AND wait_event_type = 'Lock'
              AND now() - query_start > $2 * interval '1 millisecond'`,
            [application, lockTimeoutMs],
          )
          .then((found) => {
            if (found.rows.some((row) => row.cancelled)) cancelledForLock = true;
          })
          .catch(() => undefined),
      );
    },
    Math.max(50, Math.min(1_000, lockTimeoutMs / 4)),
  );
  try {
    return { value: await restore(), cancelledForLock };
  } catch (error) {
    return { error, cancelledForLock };
  } finally {
    clearInterval(timer);
    await checking;
  }
}

/** A named object of the database that a migration can create. */
export interface CatalogObject {
  /** The DROP that removes it, e.g. `TABLE "public"."orders_v2"`. */
  drop: string;
}

/**
 * The objects a migration can add that pg_restore --clean would not remove (it drops only what the
 * backup holds): schemas, extensions, relations, types and routines, by identity. What a migration
 * adds to an existing table (a column, an index, a constraint, a trigger) goes when pg_restore
 * drops and recreates that table.
 */
export async function listObjects(client: pg.Client): Promise<Set<string>> {
  const user = `n.nspname !~ '^pg_' AND n.nspname <> 'information_schema'`;
  const notFromExtension = (catalog: string, oid: string) =>
    `NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = '${catalog}'::regclass AND d.objid = ${oid} AND d.deptype = 'e')`;
  // An empty search_path: regprocedure then writes every name with its schema.
  await client.query(`BEGIN READ ONLY; SET LOCAL search_path = ''`);
  const result = await client.query<{ drop: string }>(`
    SELECT 'SCHEMA ' || quote_ident(n.nspname) AS drop FROM pg_namespace n
     WHERE ${user} AND ${notFromExtension('pg_namespace', 'n.oid')}
    UNION ALL
    SELECT 'EXTENSION ' || quote_ident(e.extname) FROM pg_extension e WHERE e.extname <> 'plpgsql'
    UNION ALL
    SELECT CASE c.relkind WHEN 'v' THEN 'VIEW ' WHEN 'm' THEN 'MATERIALIZED VIEW ' WHEN 'S' THEN 'SEQUENCE '
                          WHEN 'f' THEN 'FOREIGN TABLE ' ELSE 'TABLE ' END
           || quote_ident(n.nspname) || '.' || quote_ident(c.relname)
      FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f') AND ${user} AND ${notFromExtension('pg_class', 'c.oid')}
    UNION ALL
    SELECT CASE t.typtype WHEN 'd' THEN 'DOMAIN ' ELSE 'TYPE ' END || quote_ident(n.nspname) || '.' || quote_ident(t.typname)
      FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
     WHERE ${user} AND ${notFromExtension('pg_type', 't.oid')}
       AND (t.typtype IN ('d', 'e', 'r', 'm')
            OR (t.typtype = 'c' AND (SELECT c.relkind FROM pg_class c WHERE c.oid = t.typrelid) = 'c'))
    UNION ALL
    SELECT CASE p.prokind WHEN 'a' THEN 'AGGREGATE ' WHEN 'p' THEN 'PROCEDURE ' ELSE 'FUNCTION ' END
           || p.oid::regprocedure::text
      FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
     WHERE ${user} AND ${notFromExtension('pg_proc', 'p.oid')}`);
  await client.query('COMMIT');
  return new Set(result.rows.map((row) => row.drop));
}

/**
 * Drops what the run created (objects there now that were not before), in one transaction:
 * extensions and schemas first (their contents go with them), then the rest. CASCADE also takes
 * what an older object gained from them (a column of a new type): the restore recreates those
 * objects whole.
 */
export async function dropCreated(
  client: pg.Client,
  before: Set<string>,
  lockTimeoutMs: number,
): Promise<string[]> {
  const created = [...(await listObjects(client))].filter((each) => !before.has(each));
  const rank = (drop: string) => (drop.startsWith('EXTENSION') ? 0 : drop.startsWith('SCHEMA') ? 1 : 2);
  created.sort((a, b) => rank(a) - rank(b));
  if (created.length === 0) return [];
  await client.query('BEGIN');
  try {
    await client.query(`SET LOCAL lock_timeout = ${Math.round(lockTimeoutMs)}`);
    for (const drop of created) {
      const words = /^(MATERIALIZED VIEW|FOREIGN TABLE) /.test(drop) ? 2 : 1;
      const parts = drop.split(' ');
      await client.query(
        `DROP ${parts.slice(0, words).join(' ')} IF EXISTS ${parts.slice(words).join(' ')} CASCADE`,
      );
    }
    await client.query('COMMIT');
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  }
  return created;
}
