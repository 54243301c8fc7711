import { accessSync, constants, existsSync, readdirSync, realpathSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Readable, Writable } from 'node:stream';
import type pg from 'pg';
import { loadPg, pgConnectionString } from '../../drivers.js';
import { messageOf, UserError } from '../../errors.js';
import { Secrets, redactUrl } from '../../mask.js';
import { systemRunner, type ProcessRunner, type StreamedResult } from '../../process.js';
import {
  TargetInTheWay,
  urlSourceKind,
  type BackupSource,
  type PartSummary,
  type RestoreContext,
  type RestoreMode,
  type SourceContext,
  type SourceKind,
  type UrlSourceSpec,
} from '../source.js';
import type { PatternSyntax } from '../patterns.js';

/**
 * A PostgreSQL database as a backup part: `pg_dump --format=custom` streamed out, `pg_restore`
 * streamed in. The password travels to pg_dump and pg_restore in their environment (PGPASSWORD),
 * never on the command line, where `ps` would show it to every user of the machine.
 *
 * Records are exact row counts per table, taken in the very snapshot pg_dump dumps: we open a
 * REPEATABLE READ transaction, export its snapshot, hand it to pg_dump (`--snapshot`) and count
 * in the same transaction while pg_dump runs, so a busy database cannot make the counts and the
 * dump disagree.
 *
 * Restore modes:
 * - fail-if-exists: refuses (before writing anything) when a schema, table, sequence, view or
 *   type of the part already exists in the target, naming them; then restores the whole part.
 * - replace: drops each object of the part that exists in the target and recreates it
 *   (`pg_restore --clean --if-exists`); objects of the target that the part lacks are left alone.
 * - merge: adds the part's rows to tables that already exist (`--data-only`); the schema is not
 *   touched, every table of the part must exist, a duplicate key fails the whole merge, and no
 *   sequence is moved backwards by the backup's older value.
 * Every mode runs in one transaction (`--single-transaction --exit-on-error`): a restore that
 * fails half-way changes nothing.
 */
export interface PostgresSourceOptions {
  /** Runs the short `--version` checks. */
  runner?: ProcessRunner;
  /** The environment pg_dump and pg_restore start from (default: this process's). */
  env?: Record<string, string | undefined>;
  /**
   * Directories holding pg_dump and pg_restore, tried in order. Default: the PATH, then each
   * /usr/lib/postgresql/<version>/bin, newest first. pg_dump is the first at least as new as the
   * server; pg_restore the first found.
   */
  clientDirs?: string[];
}

export function createPostgresSource(url: URL, options: PostgresSourceOptions = {}): BackupSource {
  return new PostgresSource(url, options);
}

const INSTALL_ADVICE = 'sudo apt-get install -y postgresql-client';

/** Tables per counting query: fewer round trips, without one enormous statement. */
const COUNT_BATCH = 100;
const PROGRESS_EVERY_MS = 5_000;
/** Conflicts named in an error; the rest are counted. */
const NAMED_CONFLICTS = 5;

class PostgresSource implements BackupSource {
  readonly kind = 'postgres' as const;
  readonly display: string;
  readonly partName: string;
  private readonly secrets = new Secrets();
  private readonly runner: ProcessRunner;
  /** pg_dump and pg_restore stream a whole part: through the runner's stream, or the system's when a test runner has none. */
  private readonly stream: NonNullable<ProcessRunner['stream']>;
  private readonly baseEnv: Record<string, string | undefined>;
  private readonly clientDirs: string[];
  private readonly clients = new Map<string, Promise<PostgresClient[]>>();

  constructor(
    private readonly url: URL,
    options: PostgresSourceOptions,
  ) {
    checkScheme(url, 'source');
    this.display = redactUrl(url.href);
    this.secrets.addFromUrl(url.href);
    this.runner = options.runner ?? systemRunner;
    this.stream = (argv, streamOptions) => (this.runner.stream ?? systemRunner.stream)(argv, streamOptions);
    this.baseEnv = options.env ?? process.env;
    this.clientDirs = options.clientDirs ?? defaultClientDirs(this.baseEnv);
    this.partName = partNameOf(url, this.baseEnv);
  }

  async backup(out: Writable, context: SourceContext): Promise<PartSummary> {
    try {
      return await this.dump(out, context);
    } catch (error) {
      // Whoever reads `out` learns that the part is not whole, and does not wait for it forever.
      if (!out.destroyed) out.destroy(error as Error);
      throw error;
    }
  }

  private async dump(out: Writable, context: SourceContext): Promise<PartSummary> {
    const client = await this.connect(this.url);
    try {
      const server = await serverVersion(client);
      const pgDump = requireDumpVersion(
        await this.findClients('pg_dump', serverMajor(server.versionNum)),
        server,
        this.display,
      );

      // row_security off, as pg_dump sets it: a policy must fail the count, not shrink it.
      await client.query('SET row_security = off');
      // The counts run beside the dump, which takes longer anyway: parallel workers would only take
      // cores from it.
      await client.query('SET max_parallel_workers_per_gather = 0');
      const snapshot = await beginSharedSnapshot(client);
      if (!snapshot)
        context.log(`${this.partName}: the server cannot share a snapshot; counting rows separately`);
      const plan = selectTables(await listRelations(client), context.include, context.exclude, this.display);

      let countError: Error | undefined;
      const progress = new Progress(context.log, this.partName, 'dumped');
      const stop = new AbortController();
      const signal = context.signal ? AbortSignal.any([context.signal, stop.signal]) : stop.signal;
      const dumping = this.stream(dumpCommand(pgDump.path, { snapshot, ...plan }), {
        env: this.childEnv(this.url),
        output: out,
        onOutput: (bytes) => progress.add(bytes),
        failure: (result) => countError ?? this.failed('pg_dump', `could not dump ${this.display}`, result),
        signal,
      });
      // Counted while pg_dump runs, inside the transaction whose snapshot it dumps.
      const counting = countRows(client, plan.counted).catch((error: unknown) => {
        countError = this.databaseError(error, `counting the rows of ${this.display}`);
        stop.abort();
        throw countError;
      });
      const [dumped, counted] = await Promise.allSettled([dumping, counting]);
      if (dumped.status === 'rejected') throw dumped.reason;
      const result = dumped.value;
      if (result.outputError) throw result.outputError;
      if (context.signal?.aborted) throw abortReason(context.signal);
      if (counted.status === 'rejected') throw counted.reason;
      if (result.exitCode !== 0) throw this.failed('pg_dump', `could not dump ${this.display}`, result);
      await client.query('COMMIT');
      progress.finish();

      return {
        records: counted.value,
        facts: {
          format: 'custom',
          server_version: server.version,
          server_version_num: server.versionNum,
          pg_dump_version: pgDump.version,
          database: databaseOf(this.url, this.baseEnv),
          tables: plan.counted.length,
          counted_in: snapshot ? 'the dump snapshot' : 'a separate snapshot',
        },
      };
    } finally {
      await client.end().catch(() => undefined);
    }
  }

  async checkTarget(open: () => Readable, context: RestoreContext): Promise<void> {
    const target = this.targetOf(context.target);
    const archive = await this.readArchiveList(open, context);
    const client = await this.connect(target);
    try {
      const existing = await existingObjects(client);
      const where = redactUrl(target.href);
      if (context.mode === 'fail-if-exists') {
        const conflicts = archive.entries.flatMap((entry) => {
          const found = findExisting(entry, existing);
          return found ? [found] : [];
        });
        if (conflicts.length > 0)
          throw new TargetInTheWay(
            `Cannot restore ${this.partName} into ${where} in mode fail-if-exists: ` +
              `${plural(conflicts.length, 'object')} of the backup already exist there: ${nameSome(conflicts)}. ` +
              'Restore into an empty database, drop them, or choose mode replace (drops and recreates them) ' +
              'or merge (adds the rows to the existing tables). Nothing was changed.',
          );
      } else if (context.mode === 'merge') {
        const missing = archive.entries
          .filter((entry) => entry.desc === 'TABLE DATA')
          .filter((entry) => !findExisting({ ...entry, desc: 'TABLE' }, existing))
          .map((entry) => `table ${guessName(entry.rest)}`);
        if (missing.length > 0)
          throw new TargetInTheWay(
            `Cannot restore ${this.partName} into ${where} in mode merge: merge adds rows to existing tables, ` +
              `and ${plural(missing.length, 'table')} of the backup ${missing.length === 1 ? 'is' : 'are'} missing there: ` +
              `${nameSome(missing)}. Create them first, or restore with mode fail-if-exists into an empty database ` +
              'or mode replace. Nothing was changed.',
          );
      }
    } finally {
      await client.end().catch(() => undefined);
    }
  }

  async restore(open: () => Readable, context: RestoreContext): Promise<PartSummary> {
    const target = this.targetOf(context.target);
    const where = redactUrl(target.href);
    const archive = await this.readArchiveList(open, context);
    const pgRestore = await this.firstClient('pg_restore');
    const client = await this.connect(target);
    let listDir: string | undefined;
    try {
      const server = await serverVersion(client);
      const sequencesBefore = context.mode === 'merge' ? await sequenceValues(client) : undefined;
      const leftOut = await extensionsLeftOut(client, archive);
      let listFile: string | undefined;
      if (leftOut.length > 0) {
        for (const { name, why } of leftOut)
          context.log(`${this.partName}: extension ${name} left as it is (${why})`);
        listDir = await mkdtemp(path.join(os.tmpdir(), 'switchyard-restore-'));
        listFile = path.join(listDir, 'restore.list');
        await writeFile(
          listFile,
          withoutExtensions(
            archive.text,
            leftOut.map((each) => each.name),
          ),
        );
      }
      const result = await this.stream(
        restoreCommand(
          pgRestore.path,
          context.mode,
          databaseOf(target, this.baseEnv),
          context.target === undefined,
          listFile,
        ),
        {
          env: this.childEnv(target),
          input: open(),
          signal: context.signal,
        },
      );
      if (context.signal?.aborted) throw abortReason(context.signal);
      if (result.inputError)
        throw new UserError(
          `Could not read the backup part ${this.partName}: ${this.secrets.redact(result.inputError.message)}`,
        );
      if (result.exitCode !== 0)
        throw this.failed(
          'pg_restore',
          `could not restore ${this.partName} into ${where} (mode ${context.mode}); nothing was changed, the restore runs in one transaction`,
          result,
        );
      if (sequencesBefore) await keepSequencesForward(client, sequencesBefore);

      const relations = await listRelations(client);
      const known = new Map(relations.map((r) => [qualifiedKey(r.schema, r.name), r]));
      const restored = archive.entries
        .filter((entry) => entry.desc === 'TABLE DATA')
        .flatMap((entry) => {
          const split = splitQualified(entry.rest, known);
          const relation = split && known.get(qualifiedKey(split.schema, split.name));
          return relation ? [relation] : [];
        });
      await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY');
      const records = await countRows(client, restored).catch((error: unknown) => {
        throw this.databaseError(error, `counting the restored rows in ${where}`);
      });
      await client.query('COMMIT');
      return {
        records,
        facts: {
          mode: context.mode,
          server_version: server.version,
          pg_restore_version: pgRestore.version,
          ...(archive.dumpedBy ? { dumped_by: archive.dumpedBy } : {}),
          ...(archive.dumpedFrom ? { dumped_from: archive.dumpedFrom } : {}),
        },
      };
    } finally {
      await client.end().catch(() => undefined);
      if (listDir) await rm(listDir, { recursive: true, force: true });
    }
  }

  /** Rows per table of the tables `include`/`exclude` select, in the target when the context names one. */
  async count(context: SourceContext & { target?: string }): Promise<Record<string, number>> {
    const target = this.targetOf(context.target);
    const client = await this.connect(target);
    try {
      await client.query('SET row_security = off');
      await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY');
      const plan = selectTables(
        await listRelations(client),
        context.include,
        context.exclude,
        redactUrl(target.href),
      );
      const records = await countRows(client, plan.counted).catch((error: unknown) => {
        throw this.databaseError(error, `counting the rows of ${redactUrl(target.href)}`);
      });
      await client.query('COMMIT');
      return records;
    } finally {
      await client.end().catch(() => undefined);
    }
  }

  async close(): Promise<void> {
    // Every operation opens and closes its own connection.
  }

  private targetOf(text: string | undefined): URL {
    if (text === undefined) return this.url;
    let target: URL;
    try {
      target = new URL(text);
    } catch {
      throw new UserError(
        `Restore target "${redactUrl(text)}" is not a URL: expected postgres://user:password@host:port/database`,
      );
    }
    checkScheme(target, 'target');
    this.secrets.addFromUrl(target.href);
    return target;
  }

  private childEnv(url: URL): Record<string, string | undefined> {
    return { ...this.baseEnv, ...connectionEnv(url), PGDATABASE: databaseOf(url, this.baseEnv) };
  }

  private async connect(url: URL): Promise<pg.Client> {
    const driver = await loadPg();
    const client = new driver.Client({
      connectionString: pgConnectionString(url),
      application_name: 'switchyard-backup',
    });
    // A connection dropped between queries is reported by the query that fails.
    client.on('error', () => undefined);
    try {
      await client.connect();
    } catch (error) {
      await client.end().catch(() => undefined);
      const message = this.secrets.redact(messageOf(error));
      const advice = /database ".*" does not exist/.test(message)
        ? ': create it first (createdb, or CREATE DATABASE)'
        : '';
      throw new UserError(`Cannot connect to ${redactUrl(url.href)}: ${message}${advice}`);
    }
    return client;
  }

  /** pg_restore --list: the part's table of contents, read from the start of the part. */
  private async readArchiveList(open: () => Readable, context: SourceContext): Promise<ArchiveList> {
    const pgRestore = await this.firstClient('pg_restore');
    const result = await this.stream([pgRestore.path, '--list'], {
      env: this.baseEnv,
      input: open(),
      signal: context.signal,
    });
    if (context.signal?.aborted) throw abortReason(context.signal);
    if (result.exitCode !== 0) {
      if (result.inputError)
        throw new UserError(
          `Could not read the backup part ${this.partName}: ${this.secrets.redact(result.inputError.message)}`,
        );
      const newer = /unsupported version/.test(result.stderr)
        ? ` The backup was made by a newer pg_dump: install a newer PostgreSQL client (${INSTALL_ADVICE}-<version>).`
        : '';
      throw this.failed('pg_restore', `could not read the backup part ${this.partName}${newer}`, result);
    }
    return parseArchiveList(result.stdout);
  }

  /** The clients of that name up to the first of at least `major` (cached: the machine does not change). */
  private findClients(program: string, major: number): Promise<PostgresClient[]> {
    const key = `${program} ${major}`;
    let found = this.clients.get(key);
    if (!found) {
      // In the environment it will run in: Debian's pg_wrapper picks a version by the cluster it connects to.
      const env = program === 'pg_dump' ? this.childEnv(this.url) : this.baseEnv;
      found = findClients(program, this.clientDirs, this.runner, (client) => client.major >= major, env);
      this.clients.set(key, found);
    }
    return found;
  }

  private async firstClient(program: string): Promise<PostgresClient> {
    const [first] = await this.findClients(program, 0);
    if (!first) throw new UserError(notInstalled(program));
    return first;
  }

  private failed(program: string, what: string, result: StreamedResult): UserError {
    const said = this.secrets.redact(briefly(result.stderr)) || `exit code ${result.exitCode}`;
    return new UserError(`${program} ${what}: ${said}`);
  }

  private databaseError(error: unknown, doing: string): Error {
    if (error instanceof UserError) return error;
    return new UserError(`PostgreSQL failed while ${doing}: ${this.secrets.redact(messageOf(error))}`);
  }
}

// ---------------------------------------------------------------------------------------------
// Connection

function checkScheme(url: URL, role: string): void {
  if (url.protocol !== 'postgres:' && url.protocol !== 'postgresql:')
    throw new UserError(`The ${role} ${redactUrl(url.href)} is not a PostgreSQL URL: expected postgres://…`);
}

/** libpq's name for each connection parameter a URL may carry in its query. */
const LIBPQ_ENV: Record<string, string> = {
  host: 'PGHOST',
  hostaddr: 'PGHOSTADDR',
  port: 'PGPORT',
  dbname: 'PGDATABASE',
  user: 'PGUSER',
  password: 'PGPASSWORD',
  passfile: 'PGPASSFILE',
  channel_binding: 'PGCHANNELBINDING',
  service: 'PGSERVICE',
  options: 'PGOPTIONS',
  application_name: 'PGAPPNAME',
  sslmode: 'PGSSLMODE',
  sslrootcert: 'PGSSLROOTCERT',
  sslcert: 'PGSSLCERT',
  sslkey: 'PGSSLKEY',
  sslcrl: 'PGSSLCRL',
  sslsni: 'PGSSLSNI',
  requirepeer: 'PGREQUIREPEER',
  gssencmode: 'PGGSSENCMODE',
  krbsrvname: 'PGKRBSRVNAME',
  target_session_attrs: 'PGTARGETSESSIONATTRS',
  connect_timeout: 'PGCONNECT_TIMEOUT',
};

function decode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

/**
 * The libpq environment that connects pg_dump and pg_restore where the URL points: the argv then
 * holds only flags, and the password is not on a command line that `ps` shows.
 */
export function connectionEnv(url: URL): Record<string, string> {
  const env: Record<string, string> = {};
  const host = decode(url.hostname).replace(/^\[(.*)\]$/, '$1');
  if (host) env.PGHOST = host;
  if (url.port) env.PGPORT = url.port;
  if (url.username) env.PGUSER = decode(url.username);
  if (url.password) env.PGPASSWORD = decode(url.password);
  const database = decode(url.pathname.replace(/^\//, ''));
  if (database) env.PGDATABASE = database;
  for (const [name, value] of url.searchParams) {
    const variable = LIBPQ_ENV[name];
    // node-postgres' own "no-verify" is libpq's "require": encrypted, certificate unchecked.
    if (variable) env[variable] = name === 'sslmode' && value === 'no-verify' ? 'require' : value;
  }
  return env;
}

/** The database a URL names, with libpq's defaults: PGDATABASE, then the user's name. */
function databaseOf(url: URL, env: Record<string, string | undefined>): string {
  const own = connectionEnv(url);
  return (
    own.PGDATABASE ??
    env.PGDATABASE ??
    own.PGUSER ??
    env.PGUSER ??
    (() => {
      try {
        return os.userInfo().username;
      } catch {
        return 'postgres';
      }
    })()
  );
}

function partNameOf(url: URL, env: Record<string, string | undefined>): string {
  const own = connectionEnv(url);
  const host = own.PGHOST ?? env.PGHOST ?? 'localhost';
  const port = own.PGPORT ?? env.PGPORT ?? '5432';
  const name = ['postgres', host, port, databaseOf(url, env)].join('-');
  return name.replace(/[^A-Za-z0-9._-]+/g, '_').replace(/^[._]+/, '');
}

// ---------------------------------------------------------------------------------------------
// pg_dump and pg_restore: where they are and which version

export interface PostgresClient {
  path: string;
  /** e.g. "15.18" */
  version: string;
  /** 15 for 15.18; 9.6 for 9.6.24 (before 10 the major version had two parts). */
  major: number;
}

/** The PATH, then each /usr/lib/postgresql/<version>/bin, newest first. */
export function defaultClientDirs(env: Record<string, string | undefined>): string[] {
  const onPath = (env.PATH ?? '').split(path.delimiter).filter(Boolean);
  const root = '/usr/lib/postgresql';
  const versions = existsSync(root)
    ? readdirSync(root).sort((a, b) => Number.parseFloat(b) - Number.parseFloat(a))
    : [];
  return [...onPath, ...versions.map((v) => path.join(root, v, 'bin'))];
}

/** `pg_dump (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)` → 15.18, major 15. */
export function parseClientVersion(text: string): Omit<PostgresClient, 'path'> | undefined {
  const match = /\(PostgreSQL\)\s+(\d+)(?:\.(\d+))?(?:\.(\d+))?/.exec(text);
  if (!match) return undefined;
  const [, first = '0', second, third] = match;
  const version = [first, second, third].filter((part) => part !== undefined).join('.');
  const major = Number(first) >= 10 ? Number(first) : Number(`${first}.${second ?? 0}`);
  return { version, major };
}

/** server_version_num 150018 → 15; 90624 → 9.6. */
export function serverMajor(versionNum: number): number {
  if (versionNum >= 100_000) return Math.floor(versionNum / 10_000);
  return Number(`${Math.floor(versionNum / 10_000)}.${Math.floor((versionNum % 10_000) / 100)}`);
}

/**
 * The distinct programs of that name in `dirs`, in order, with their versions; stops at the first
 * that `enough` accepts (each `--version` is a process start).
 */
export async function findClients(
  program: string,
  dirs: readonly string[],
  runner: ProcessRunner,
  enough: (client: PostgresClient) => boolean = () => false,
  env?: Record<string, string | undefined>,
): Promise<PostgresClient[]> {
  const seen = new Set<string>();
  const found: PostgresClient[] = [];
  for (const dir of dirs) {
    const candidate = path.join(dir, program);
    let real: string;
    try {
      accessSync(candidate, constants.X_OK);
      real = realpathSync(candidate);
    } catch {
      continue;
    }
    if (seen.has(real)) continue;
    seen.add(real);
    const result = await runner.run([candidate, '--version'], { timeoutMs: 15_000, env });
    const version = result.exitCode === 0 ? parseClientVersion(result.stdout) : undefined;
    if (!version) continue;
    const client = { path: candidate, ...version };
    found.push(client);
    if (enough(client)) break;
  }
  return found;
}

/**
 * The first pg_dump able to dump this server: pg_dump reads servers up to its own major version,
 * so an older one is refused here with what to install, not half-way through a dump.
 */
export function requireDumpVersion(
  clients: readonly PostgresClient[],
  server: { version: string; versionNum: number },
  display: string,
): PostgresClient {
  const needed = serverMajor(server.versionNum);
  const fit = clients.find((client) => client.major >= needed);
  if (fit) return fit;
  const newest = [...clients].sort((a, b) => b.major - a.major)[0];
  if (!newest) throw new UserError(notInstalled('pg_dump', needed));
  throw new UserError(
    `pg_dump ${newest.version} (${newest.path}) cannot dump the PostgreSQL ${needed} server at ${display} ` +
      `(server version ${server.version}): pg_dump must be at least as new as the server. ` +
      `Install postgresql-client-${needed} ("sudo apt-get install -y postgresql-client-${needed}", ` +
      'from apt.postgresql.org if your distribution lacks it).',
  );
}

function notInstalled(program: string, major?: number): string {
  const version = major === undefined ? '' : `-${major}`;
  return (
    `${program} is not installed (looked on the PATH and in /usr/lib/postgresql/*/bin): ` +
    `install the PostgreSQL client tools, e.g. "${INSTALL_ADVICE}${version}".`
  );
}

async function serverVersion(client: pg.Client): Promise<{ version: string; versionNum: number }> {
  const result = await client.query<{ version: string; num: string }>(
    "SELECT current_setting('server_version') AS version, current_setting('server_version_num') AS num",
  );
  const row = result.rows[0];
  return { version: row?.version ?? 'unknown', versionNum: Number(row?.num ?? 0) };
}

/**
 * Opens the REPEATABLE READ transaction whose snapshot pg_dump will dump (--snapshot) and returns
 * the snapshot's name; undefined where the server cannot export one (then the counts come from a
 * snapshot of their own, taken a moment before pg_dump's).
 */
async function beginSharedSnapshot(client: pg.Client): Promise<string | undefined> {
  await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY');
  try {
    const result = await client.query<{ id: string }>('SELECT pg_catalog.pg_export_snapshot() AS id');
    return result.rows[0]?.id;
  } catch {
    // Not from a savepoint: a snapshot cannot be exported from a subtransaction.
    await client.query('ROLLBACK');
    await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY');
    return undefined;
  }
}

// ---------------------------------------------------------------------------------------------
// Which tables: include/exclude patterns

export interface Relation {
  oid: number;
  schema: string;
  name: string;
  /** pg_class.relkind: r table, p partitioned table, v view, m materialized view, S sequence, f foreign table. */
  kind: string;
  /** The partitioned table this is a partition of. */
  parent?: number;
  /** On the search_path: an unqualified pattern matches only these, as in pg_dump. */
  visible: boolean;
}

/** Every relation pg_dump would consider: no system schemas, nothing an extension owns. */
async function listRelations(client: pg.Client): Promise<Relation[]> {
  const result = await client.query<{
    oid: number;
    schema: string;
    name: string;
    kind: string;
    parent: number | null;
    visible: boolean;
  }>(
    `SELECT c.oid::int8 AS oid, n.nspname AS schema, c.relname AS name, c.relkind::text AS kind,
            (SELECT i.inhparent::int8 FROM pg_catalog.pg_inherits i
              WHERE i.inhrelid = c.oid AND c.relispartition LIMIT 1) AS parent,
            pg_catalog.pg_table_is_visible(c.oid) AS visible
       FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
      WHERE c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')
        AND n.nspname <> 'information_schema' AND n.nspname !~ '^pg_'
        AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d
                         WHERE d.classid = 'pg_catalog.pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')
      ORDER BY n.nspname, c.relname`,
  );
  return result.rows.map((row) => ({
    oid: Number(row.oid),
    schema: row.schema,
    name: row.name,
    kind: row.kind,
    ...(row.parent === null ? {} : { parent: Number(row.parent) }),
    visible: row.visible,
  }));
}

export interface TablePlan {
  /** Relations given to pg_dump as --table; undefined dumps the whole database. */
  tables?: Relation[];
  /** Relations given to pg_dump as --exclude-table (only when dumping the whole database). */
  excludeTables: Relation[];
  /** The tables whose rows are in the part: the records. */
  counted: Relation[];
}

/**
 * Resolves include/exclude patterns to relations, the way pg_dump's --table reads them (`*` and
 * `?` wildcards, `schema.table`, unquoted names folded to lower case, double quotes keep case
 * and dots), and hands pg_dump the exact names found: the tables we count are then by
 * construction the tables it dumps. A partitioned table brings its partitions along, in and out.
 */
export function selectTables(
  relations: readonly Relation[],
  include: readonly string[],
  exclude: readonly string[],
  display: string,
): TablePlan {
  const matching = (patterns: readonly string[], input: string): Map<string, Relation[]> =>
    new Map(
      patterns.map((text) => {
        const pattern = namePattern(text, input);
        return [text, relations.filter((relation) => pattern.matches(relation))];
      }),
    );
  const withPartitions = (chosen: Iterable<Relation>): Set<Relation> => {
    const all = new Set(chosen);
    for (const relation of all) {
      if (relation.kind !== 'p') continue;
      for (const child of relations) if (child.parent === relation.oid) all.add(child);
    }
    return all;
  };

  const excluded = withPartitions([...matching(exclude, 'exclude').values()].flat());
  if (include.length === 0) {
    const counted = relations.filter((r) => r.kind === 'r' && !excluded.has(r));
    return { excludeTables: [...excluded], counted };
  }
  const included = matching(include, 'include');
  const none = [...included].filter(([, found]) => found.length === 0).map(([pattern]) => `"${pattern}"`);
  if (none.length > 0)
    throw new UserError(
      `Input "include": ${none.join(', ')} ${none.length === 1 ? 'matches' : 'match'} no table of ${display} ` +
        '(patterns as in pg_dump --table: schema.table, * and ? as wildcards, unqualified names are looked up on the search_path).',
    );
  const tables = [...withPartitions([...included.values()].flat())].filter((r) => !excluded.has(r));
  if (tables.length === 0)
    throw new UserError(
      `Input "exclude": it excludes every table that "include" selects in ${display}; nothing is left to back up.`,
    );
  const byName = (r: Relation): string => qualifiedKey(r.schema, r.name);
  tables.sort((a, b) => (byName(a) < byName(b) ? -1 : 1));
  return { tables, excludeTables: [], counted: tables.filter((r) => r.kind === 'r') };
}

/** One part of a table pattern: letters, digits, `_`, `$`, the wildcards, or a "quoted" name. */
const TABLE_PART = String.raw`(?:"(?:[^"]|"")*"|[\p{L}\p{N}_$*?])+`;
const TABLE_PATTERN = new RegExp(`^${TABLE_PART}(\\.${TABLE_PART})?$`, 'u');

/** include/exclude entries a PostgreSQL source takes: `table` or, what only a table looks like, `schema.table`. */
export const postgresPatterns: PatternSyntax = {
  kind: 'postgres',
  label: 'PostgreSQL table pattern',
  scheme: 'postgres://',
  fits(pattern) {
    const shape = TABLE_PATTERN.exec(pattern);
    if (!shape) return undefined;
    return shape[1] ? 'strong' : 'weak';
  },
};

export const postgresSourceKind: SourceKind<UrlSourceSpec, 'postgres'> = {
  ...urlSourceKind('postgres', ['postgres:', 'postgresql:']),
  written: 'postgres://…',
  suffix: '.pgdump',
  patterns: postgresPatterns,
  open: (spec, options) => createPostgresSource(spec.url, { runner: options.runner, env: options.env }),
};

/** A pg_dump-style name pattern as a matcher. */
export function namePattern(text: string, input = 'include'): { matches(relation: Relation): boolean } {
  const parts: string[] = [''];
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i] as string;
    const last = parts.length - 1;
    if (c === '"') {
      if (quoted && text[i + 1] === '"') {
        parts[last] += '"';
        i++;
      } else quoted = !quoted;
    } else if (quoted) parts[last] += escapeRegExp(c);
    else if (c === '.') parts.push('');
    else if (c === '*') parts[last] += '.*';
    else if (c === '?') parts[last] += '.';
    else parts[last] += escapeRegExp(c.toLowerCase());
  }
  if (quoted) throw new UserError(`Input "${input}": "${text}" has an unbalanced double quote.`);
  if (parts.length > 2)
    throw new UserError(`Input "${input}": "${text}" has too many dots; write table or schema.table.`);
  const regex = (body: string): RegExp => new RegExp(`^(?:${body || '.*'})$`, 's');
  const name = regex(parts[parts.length - 1] as string);
  if (parts.length === 1) return { matches: (r) => r.visible && name.test(r.name) };
  const schema = regex(parts[0] as string);
  return { matches: (r) => schema.test(r.schema) && name.test(r.name) };
}

function escapeRegExp(c: string): string {
  return c.replace(/[\\^$.*+?()[\]{}|/-]/g, '\\$&');
}

/** A relation as a pg_dump pattern that matches it and nothing else. */
function exactPattern(relation: Relation): string {
  return `${quoteIdent(relation.schema)}.${quoteIdent(relation.name)}`;
}

/** How a table is named in records and messages: quoted only where SQL needs it. */
export function tableName(schema: string, name: string): string {
  return `${identName(schema)}.${identName(name)}`;
}

function identName(part: string): string {
  return /^[a-z_][a-z0-9_$]*$/.test(part) ? part : quoteIdent(part);
}

export function quoteIdent(part: string): string {
  return `"${part.replaceAll('"', '""')}"`;
}

/** Exact row counts (ONLY: an inheritance child's rows are its own table's records). */
async function countRows(client: pg.Client, tables: readonly Relation[]): Promise<Record<string, number>> {
  const records: Record<string, number> = {};
  for (let start = 0; start < tables.length; start += COUNT_BATCH) {
    const batch = tables.slice(start, start + COUNT_BATCH);
    const sql = batch
      .map(
        (t, i) => `SELECT ${i} AS i, count(*) AS n FROM ONLY ${quoteIdent(t.schema)}.${quoteIdent(t.name)}`,
      )
      .join(' UNION ALL ');
    const result = await client.query<{ i: number; n: string }>(sql);
    for (const row of result.rows) {
      const table = batch[row.i];
      if (table) records[tableName(table.schema, table.name)] = Number(row.n);
    }
  }
  return records;
}

// ---------------------------------------------------------------------------------------------
// Commands (data, run elsewhere)

/**
 * pg_dump in custom format at zlib level 1. The engine compresses every part again, so why not 0:
 * measured (bench/postgres-backup.ts), level 1 costs pg_dump less time than it saves everything
 * downstream — 3 to 30 times fewer bytes through the pipe, node and the engine's compressor,
 * and that first compression runs in pg_dump's own process, beside ours. Level 0 followed by the
 * engine's gzip was the slowest of all; pg_dump's default (6) is slower than 1 for the same size.
 */
export function dumpCommand(pgDump: string, plan: TablePlan & { snapshot?: string }): string[] {
  return [
    pgDump,
    '--format=custom',
    '--compress=1',
    '--no-password',
    ...(plan.snapshot ? [`--snapshot=${plan.snapshot}`] : []),
    ...(plan.tables ?? []).map((t) => `--table=${exactPattern(t)}`),
    ...plan.excludeTables.map((t) => `--exclude-table=${exactPattern(t)}`),
  ];
}

/**
 * pg_restore reading the part from stdin, all or nothing. Into another database as the target's
 * own user, owners and grants left out (its roles may not exist); over the database the backup
 * was taken from, both restored, or the application's roles would lose their tables and
 * privileges. `listFile`: the entries to restore (pg_restore --list, some commented out).
 */
export function restoreCommand(
  pgRestore: string,
  mode: RestoreMode,
  database: string,
  overSource = false,
  listFile?: string,
): string[] {
  const byMode: Record<RestoreMode, string[]> = {
    'fail-if-exists': [],
    replace: ['--clean', '--if-exists'],
    merge: ['--data-only'],
  };
  return [
    pgRestore,
    '--no-password',
    ...(overSource ? [] : ['--no-owner', '--no-privileges']),
    '--exit-on-error',
    '--single-transaction',
    ...byMode[mode],
    ...(listFile ? [`--use-list=${listFile}`] : []),
    // A name holding "=" or looking like a URL would be read as connection settings: say it is a name.
    `--dbname=${/=|^postgres(ql)?:/.test(database) ? `dbname='${database.replace(/['\\]/g, '\\$&')}'` : database}`,
  ];
}

// ---------------------------------------------------------------------------------------------
// The part's table of contents (pg_restore --list)

export interface ArchiveEntry {
  /** e.g. "TABLE", "TABLE DATA", "SEQUENCE", "SCHEMA" */
  desc: string;
  /** What follows the kind: "schema name owner" ("name owner" for a schema). */
  rest: string;
}

export interface ArchiveList {
  entries: ArchiveEntry[];
  /** pg_restore --list as it printed it (what --use-list reads back). */
  text: string;
  dumpedFrom?: string;
  dumpedBy?: string;
}

// Longest first: "TABLE DATA" must not be read as a TABLE named "DATA…".
const ENTRY_KINDS = [
  'MATERIALIZED VIEW DATA',
  'SEQUENCE OWNED BY',
  'MATERIALIZED VIEW',
  'FK CONSTRAINT',
  'FOREIGN TABLE',
  'TABLE ATTACH',
  'SEQUENCE SET',
  'TABLE DATA',
  'DEFAULT ACL',
  'SEQUENCE',
  'SCHEMA',
  'DOMAIN',
  'TABLE',
  'INDEX',
  'VIEW',
  'TYPE',
];

export function parseArchiveList(text: string): ArchiveList {
  const list: ArchiveList = { entries: [], text };
  for (const line of text.split('\n')) {
    const header = /^;\s+Dumped (from database|by pg_dump) version: (.*)$/.exec(line);
    if (header) {
      if (header[1] === 'by pg_dump') list.dumpedBy = header[2]?.trim();
      else list.dumpedFrom = header[2]?.trim();
      continue;
    }
    const entry = /^\d+; \d+ \d+ (.*)$/.exec(line);
    if (!entry) continue;
    const body = entry[1] as string;
    const desc = ENTRY_KINDS.find((kind) => body.startsWith(`${kind} `)) ?? body.split(' ')[0] ?? '';
    let rest = body.slice(desc.length + 1);
    if (rest.startsWith('- ')) rest = rest.slice(2);
    list.entries.push({ desc, rest });
  }
  return list;
}

/**
 * Extensions of the part pg_restore must leave alone: one already in the target (its objects are
 * the target's; --clean would try to drop it, which only its owner may), and one the restoring
 * role may not create (pg_stat_statements and the other untrusted ones, for all but a superuser).
 */
async function extensionsLeftOut(
  client: pg.Client,
  archive: ArchiveList,
): Promise<{ name: string; why: string }[]> {
  const names = archive.entries
    .filter((entry) => entry.desc === 'EXTENSION')
    .map((entry) => entry.rest.trim());
  if (names.length === 0) return [];
  const found = await client.query<{ superuser: boolean; installed: string[]; trusted: string[] }>(
    `SELECT (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) AS superuser,
            ARRAY(SELECT extname::text FROM pg_extension) AS installed,
            ARRAY(SELECT DISTINCT name::text FROM pg_available_extension_versions WHERE trusted) AS trusted`,
  );
  const { superuser = false, installed = [], trusted = [] } = found.rows[0] ?? {};
  return names.flatMap((name) =>
    installed.includes(name)
      ? [{ name, why: 'already installed in the target' }]
      : !superuser && !trusted.includes(name)
        ? [{ name, why: 'only a superuser may create it; restore as one to have it' }]
        : [],
  );
}

/** The listing with these extensions' entries (and their comments) commented out. */
export function withoutExtensions(listing: string, names: string[]): string {
  const left = new Set(names);
  return listing
    .split('\n')
    .map((line) => {
      const match = /^\d+; \d+ \d+ (?:EXTENSION - |COMMENT - EXTENSION )(\S+)/.exec(line);
      return match && left.has(match[1] as string) ? `;${line}` : line;
    })
    .join('\n');
}

function qualifiedKey(schema: string, name: string): string {
  return `${schema}\u0000${name}`;
}

/**
 * pg_restore --list separates schema, name and owner with spaces that names may contain too; the
 * names the database knows settle which split is meant.
 */
function splitQualified(
  rest: string,
  known: { has(key: string): boolean },
): { schema: string; name: string } | undefined {
  const spaces = [...rest.matchAll(/ /g)].map((m) => m.index);
  for (const i of spaces) {
    for (const j of spaces) {
      if (j <= i) continue;
      const schema = rest.slice(0, i);
      const name = rest.slice(i + 1, j);
      if (known.has(qualifiedKey(schema, name))) return { schema, name };
    }
  }
  return undefined;
}

/** For a name the database does not know: the first word as schema, the last as owner. */
function guessName(rest: string): string {
  const words = rest.split(' ');
  return words.length >= 3 ? tableName(words[0] as string, words.slice(1, -1).join(' ')) : rest;
}

interface ExistingObjects {
  relations: Set<string>;
  types: Set<string>;
  schemas: Set<string>;
}

async function existingObjects(client: pg.Client): Promise<ExistingObjects> {
  const relations = await client.query<{ schema: string; name: string }>(
    `SELECT n.nspname AS schema, c.relname AS name
       FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname <> 'information_schema' AND n.nspname !~ '^pg_'`,
  );
  const types = await client.query<{ schema: string; name: string }>(
    `SELECT n.nspname AS schema, t.typname AS name
       FROM pg_catalog.pg_type t JOIN pg_catalog.pg_namespace n ON n.oid = t.typnamespace
      WHERE n.nspname <> 'information_schema' AND n.nspname !~ '^pg_'`,
  );
  const schemas = await client.query<{ name: string }>('SELECT nspname AS name FROM pg_catalog.pg_namespace');
  return {
    relations: new Set(relations.rows.map((r) => qualifiedKey(r.schema, r.name))),
    types: new Set(types.rows.map((r) => qualifiedKey(r.schema, r.name))),
    schemas: new Set(schemas.rows.map((r) => r.name)),
  };
}

const RELATION_KINDS: Record<string, string> = {
  TABLE: 'table',
  SEQUENCE: 'sequence',
  VIEW: 'view',
  'MATERIALIZED VIEW': 'materialized view',
  'FOREIGN TABLE': 'foreign table',
  INDEX: 'index',
};

/** The object of the target an entry of the part would collide with, named for a person. */
function findExisting(entry: ArchiveEntry, existing: ExistingObjects): string | undefined {
  const relationKind = RELATION_KINDS[entry.desc];
  if (relationKind) {
    const found = splitQualified(entry.rest, existing.relations);
    return found && `${relationKind} ${tableName(found.schema, found.name)}`;
  }
  if (entry.desc === 'TYPE' || entry.desc === 'DOMAIN') {
    const found = splitQualified(entry.rest, existing.types);
    return found && `${entry.desc.toLowerCase()} ${tableName(found.schema, found.name)}`;
  }
  if (entry.desc === 'SCHEMA') {
    const spaces = [...entry.rest.matchAll(/ /g)].map((m) => m.index);
    const name = spaces
      .map((i) => entry.rest.slice(0, i))
      .find((candidate) => existing.schemas.has(candidate));
    // pg_dump never creates "public", which every database has.
    return name && name !== 'public' ? `schema ${identName(name)}` : undefined;
  }
  return undefined;
}

function nameSome(names: readonly string[]): string {
  const shown = names.slice(0, NAMED_CONFLICTS).join(', ');
  return names.length > NAMED_CONFLICTS ? `${shown} and ${names.length - NAMED_CONFLICTS} more` : shown;
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

// ---------------------------------------------------------------------------------------------
// Merge: sequences only move forward

async function sequenceValues(client: pg.Client): Promise<Map<string, bigint>> {
  const result = await client.query<{ schema: string; name: string; value: string | null }>(
    'SELECT schemaname AS schema, sequencename AS name, last_value::text AS value FROM pg_catalog.pg_sequences',
  );
  const values = new Map<string, bigint>();
  for (const row of result.rows)
    if (row.value !== null) values.set(qualifiedKey(row.schema, row.name), BigInt(row.value));
  return values;
}

/**
 * A merge sets each sequence of the part to the backup's value, which may be behind the target's:
 * the next insert would then reuse a key. Whatever went backwards is put back.
 */
async function keepSequencesForward(client: pg.Client, before: Map<string, bigint>): Promise<void> {
  const after = await sequenceValues(client);
  for (const [key, value] of before) {
    const now = after.get(key);
    if (now !== undefined && now >= value) continue;
    const [schema, name] = key.split('\u0000') as [string, string];
    await client.query('SELECT pg_catalog.setval($1::regclass, $2::int8, true)', [
      `${quoteIdent(schema)}.${quoteIdent(name)}`,
      value.toString(),
    ]);
  }
}

// ---------------------------------------------------------------------------------------------

/** Bytes per second, logged at most every few seconds. */
class Progress {
  private bytes = 0;
  private readonly started = Date.now();
  private lastLog = this.started;

  constructor(
    private readonly log: (line: string) => void,
    private readonly label: string,
    private readonly verb: string,
  ) {}

  add(bytes: number): void {
    this.bytes += bytes;
    const now = Date.now();
    if (now - this.lastLog < PROGRESS_EVERY_MS) return;
    this.lastLog = now;
    this.log(`${this.label}: ${formatBytes(this.bytes)} ${this.verb}, ${this.rate(now)}`);
  }

  finish(): void {
    const now = Date.now();
    this.log(
      `${this.label}: ${formatBytes(this.bytes)} ${this.verb} in ${((now - this.started) / 1000).toFixed(1)} s, ${this.rate(now)}`,
    );
  }

  private rate(now: number): string {
    const seconds = Math.max(0.001, (now - this.started) / 1000);
    return `${formatBytes(this.bytes / seconds)}/s`;
  }
}

function formatBytes(bytes: number): string {
  const units = ['B', 'KB', 'MB', 'GB', 'TB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value.toFixed(unit === 0 ? 0 : 1)} ${units[unit]}`;
}

/**
 * What a program said, short enough for one error line: pg_restore follows each error with the
 * whole statement that failed ("Command was: CREATE TABLE …", a function body…); its first line
 * names it well enough.
 */
function briefly(stderr: string): string {
  const text = stderr
    .trim()
    .replace(/^(Command was: .*)\n(?:(?!pg_restore:|pg_dump:).*(?:\n|$))*/gm, '$1…\n')
    .trim();
  return text.length > 2_000 ? `…${text.slice(-2_000)}` : text;
}

function abortReason(signal: AbortSignal): Error {
  return signal.reason instanceof Error ? signal.reason : new Error('cancelled');
}
