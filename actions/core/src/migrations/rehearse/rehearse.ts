import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type pg from 'pg';
import type { ActionDeps } from '../../action.js';
import {
  connectionEnv,
  defaultClientDirs,
  findClients,
  restoreCommand,
  withoutExtensions,
} from '../../backup/sources/postgres.js';
import { connectPostgres } from '../../drivers.js';
import { InputError, messageOf, UserError } from '../../errors.js';
import { redactUrl, Secrets } from '../../mask.js';
import { outputTail } from '../../process.js';
import { count, formatMs } from '../../summary.js';
import type { ValidateMigrationInputs } from '../inputs.js';
import { pgDumpFor, schemaDump } from '../run/fingerprint.js';
import { backupSettingsOf, latestBackupOf, restoreBackup, storeText } from '../run/restore.js';
import { MigrationRun, type AppliedEntry, type RunFailure } from '../run/run.js';
import { readApplied, trackingTable, trackingTableExists } from '../run/tracking.js';
import {
  fileQueries,
  prepareError,
  statementsAvailability,
  topStatements,
  type AppQuery,
} from './queries.js';

/** A statement of the application that planned before the migration and does not after it. */
export interface RehearsalViolation {
  query: string;
  source: AppQuery['source'];
  calls?: number;
  /** queries-file: the file and the query's line in it. */
  file?: string;
  line?: number;
  /** PostgreSQL's error on the migrated copy. */
  error: string;
  code?: string;
}

export interface RehearseResult {
  command: 'rehearse';
  valid: boolean;
  database: string;
  scratch: { database: string; server: string; dropped: boolean };
  copy: { kind: 'backup'; id: string } | { kind: 'schema-only' };
  pending: string[];
  applied: AppliedEntry[];
  pgStatStatements: { available: boolean; advice?: string };
  queries: {
    fromStatements: number;
    fromFile: number;
    /** Prepared on the copy before the migration, so their verdict after it counts. */
    checked: number;
    /** Did not prepare even before the migration (not the migration's doing): left out, with why. */
    unpreparable: { query: string; error: string }[];
    skippedFromFile: string[];
  };
  violations: RehearsalViolation[];
  failures: RunFailure[];
  durationMs: number;
}

/** A schema dump less what a copy need not keep: owners, grants, and pg_stat_statements. */
const comparable = (dump: string) =>
  dump
    .split('\n')
    .filter((line) => !/ OWNER TO |^(GRANT|REVOKE) |pg_stat_statements/.test(line))
    .join('\n');

/** pg_stat_statements only a superuser may create; it is monitoring, nothing of the application needs it in the copy. */
const LEFT_OUT_OF_COPY = ['pg_stat_statements'];

/**
 * validate-migration rehearse: a scratch copy of the live database, the pending migrations applied
 * to it with run's machinery, and every statement the live database runs prepared there — before
 * the migration (so only what the migration breaks counts) and after. The live database is only
 * read; the scratch database is dropped on every path.
 */
export class Rehearsal {
  private readonly secrets = new Secrets();
  private readonly liveUrl: string;
  private readonly adminUrl: string;
  private readonly scratchName: string;
  private readonly started: number;
  private readonly result: RehearseResult;
  private created = false;

  constructor(
    private readonly inputs: ValidateMigrationInputs,
    private readonly deps: ActionDeps,
  ) {
    const live = inputs['database-url'];
    if (!live)
      throw new InputError(
        'database-url',
        'is required to rehearse: the live database whose copy the migrations are applied to (it is only read)',
      );
    this.liveUrl = live;
    this.adminUrl = inputs['scratch-url'] ?? live;
    this.secrets.addFromUrl(live);
    this.secrets.addFromUrl(this.adminUrl);
    const stamp = new Date().toISOString().replace(/\D/g, '').slice(0, 14);
    this.scratchName = `switchyard_rehearsal_${stamp}_${randomBytes(3).toString('hex')}`;
    this.started = deps.clock.now();
    this.result = {
      command: 'rehearse',
      valid: true,
      database: redactUrl(live),
      scratch: { database: this.scratchName, server: redactUrl(this.scratchUrl()), dropped: false },
      copy: inputs['schema-only'] ? { kind: 'schema-only' } : { kind: 'backup', id: 'latest' },
      pending: [],
      applied: [],
      pgStatStatements: { available: false },
      queries: { fromStatements: 0, fromFile: 0, checked: 0, unpreparable: [], skippedFromFile: [] },
      violations: [],
      failures: [],
      durationMs: 0,
    };
  }

  private log(line: string): void {
    this.deps.io.info(line);
  }

  /** The live database, only ever read. */
  private async connectLive(): Promise<pg.Client> {
    const live = await connectPostgres(this.liveUrl, {
      input: 'database-url',
      application: 'switchyard-rehearse',
      secrets: this.secrets,
    });
    await live.query('SET default_transaction_read_only = on');
    return live;
  }

  private scratchUrl(): string {
    const url = new URL(this.adminUrl);
    url.pathname = `/${this.scratchName}`;
    return url.href;
  }

  async execute(): Promise<RehearseResult> {
    if (
      this.inputs['schema-only'] &&
      (this.inputs['pre-checks']?.length || this.inputs['post-checks']?.length)
    )
      this.deps.io.warning(
        'schema-only: true copies no rows: pre-checks and post-checks run on empty tables there and return none whatever the data; rehearse from a backup for them to mean something',
        { title: 'rehearse' },
      );
    const queries = await this.readQueries();
    if (queries.length === 0) {
      this.result.valid = false;
      this.result.failures.push({
        title: 'rehearse',
        message: `nothing to rehearse against: no statement of the application to prepare. ${this.result.pgStatStatements.advice ?? 'pg_stat_statements holds no statement PREPARE takes yet'}${this.inputs['queries-file'] ? `; ${this.inputs['queries-file']} has no statement PREPARE takes (SELECT, INSERT, UPDATE, DELETE, MERGE)` : '; or give queries-file, a SQL file of the queries the application runs'}`,
      });
      return this.finish();
    }
    const admin = await connectPostgres(this.adminUrl, {
      input: this.inputs['scratch-url'] ? 'scratch-url' : 'database-url',
      application: 'switchyard-rehearse',
      secrets: this.secrets,
    });
    let scratch: pg.Client | undefined;
    const abort = () => void scratch?.end().catch(() => undefined);
    this.deps.signal.addEventListener('abort', abort, { once: true });
    try {
      await this.createScratch(admin);
      await this.copyInto();
      scratch = await connectPostgres(this.scratchUrl(), {
        input: 'scratch-url',
        application: 'switchyard-rehearse',
        secrets: this.secrets,
      });
      await scratch.query(`SET statement_timeout = ${this.inputs['statement-timeout']}`);
      if (!(await this.copyIsCurrent(scratch))) return this.finish();
      const before = await this.prepareAll(scratch, queries);
      const checked = queries.filter((query) => !before.has(query));
      this.result.queries.checked = checked.length;
      this.result.queries.unpreparable = [...before].map(([query, error]) => ({
        query: query.text.slice(0, 300),
        error: error.message,
      }));
      this.log(
        `${count(checked.length, 'statement')} ${checked.length === 1 ? 'prepares' : 'prepare'} on the copy as it is${before.size ? `; ${before.size} do not even before the migration and are left out (see the report)` : ''}`,
      );
      if (!(await this.migrate())) return this.finish();
      const after = await this.prepareAll(scratch, checked);
      for (const [query, error] of after) {
        this.result.violations.push({
          query: query.text,
          source: query.source,
          ...(query.calls !== undefined ? { calls: query.calls } : {}),
          ...(query.line !== undefined ? { file: this.inputs['queries-file'], line: query.line } : {}),
          error: error.message,
          ...(error.code ? { code: error.code } : {}),
        });
      }
      if (this.result.violations.length > 0) this.result.valid = false;
      for (const violation of this.result.violations)
        this.log(
          `✗ ${violation.query.replace(/\s+/g, ' ').slice(0, 160)}${violation.calls !== undefined ? ` (${violation.calls} calls)` : ''}: ${violation.error}`,
        );
      this.log(
        `${count(checked.length - after.size, 'statement')} of ${checked.length} still ${checked.length - after.size === 1 ? 'prepares' : 'prepare'} after the migration${after.size ? `; ${after.size} no longer ${after.size === 1 ? 'does' : 'do'}: the old code would fail with them during the shift` : ''}`,
      );
      return this.finish();
    } catch (error) {
      if (this.deps.signal.aborted) {
        this.result.valid = false;
        this.result.failures.push({
          title: 'Cancelled',
          message: `rehearse cancelled: ${messageOf(this.deps.signal.reason)}`,
        });
        return this.finish();
      }
      throw error instanceof UserError
        ? error
        : new UserError(`rehearse failed: ${this.secrets.redact(messageOf(error))}`, 'PostgreSQL');
    } finally {
      this.deps.signal.removeEventListener('abort', abort);
      await scratch?.end().catch(() => undefined);
      await this.dropScratch(admin);
      await admin.end().catch(() => undefined);
    }
  }

  /** The live database's statements (read only) and queries-file's. */
  private async readQueries(): Promise<AppQuery[]> {
    const live = await this.connectLive();
    const queries: AppQuery[] = [];
    try {
      const advice = await statementsAvailability(live);
      this.result.pgStatStatements = { available: !advice, ...(advice ? { advice } : {}) };
      if (advice) {
        this.deps.io.warning(
          `${advice}. Without it rehearse prepares only the queries of queries-file${this.inputs['queries-file'] ? '' : ' (none given)'}.`,
          { title: 'pg_stat_statements' },
        );
      } else {
        const top = await topStatements(live, this.inputs.queries);
        this.result.queries.fromStatements = top.length;
        queries.push(...top);
        this.log(
          `${count(top.length, 'statement')} from pg_stat_statements of ${this.result.database} (the most called first)`,
        );
      }
    } finally {
      await live.end().catch(() => undefined);
    }
    const file = this.inputs['queries-file'];
    if (file) {
      const { queries: fromFile, skipped } = await fileQueries(file, this.deps.cwd);
      this.result.queries.fromFile = fromFile.length;
      this.result.queries.skippedFromFile = skipped;
      queries.push(...fromFile);
      this.log(
        `${`${fromFile.length} ${fromFile.length === 1 ? 'query' : 'queries'}`} from ${file}${skipped.length ? ` (${skipped.length} not preparable, left out)` : ''}`,
      );
    }
    return queries;
  }

  private async createScratch(admin: pg.Client): Promise<void> {
    this.log(`scratch database ${this.scratchName} on ${this.result.scratch.server}`);
    try {
      await admin.query(`CREATE DATABASE "${this.scratchName}" TEMPLATE template0`);
      this.created = true;
    } catch (error) {
      throw new UserError(
        `Could not create the scratch database on ${this.result.scratch.server}: ${this.secrets.redact(messageOf(error))}. The role needs CREATEDB; or give scratch-url, a server where it has it`,
        'rehearse',
      );
    }
  }

  /** Always: a rehearsal leaves nothing behind, also after a failure or a cancellation. */
  private async dropScratch(admin: pg.Client): Promise<void> {
    if (!this.created) return;
    try {
      await admin.query(`DROP DATABASE IF EXISTS "${this.scratchName}" WITH (FORCE)`);
      this.result.scratch.dropped = true;
      this.log(`scratch database ${this.scratchName} dropped`);
    } catch (error) {
      this.deps.io.warning(
        `could not drop the scratch database ${this.scratchName}: ${this.secrets.redact(messageOf(error))}; drop it by hand`,
        { title: 'rehearse' },
      );
    }
  }

  /**
   * A rehearsal on an old backup judges another schema: the copy must have the live schema (less
   * owners and grants, which a copy need not keep) and the same files recorded as applied, or the
   * verdict would be about something else.
   */
  private async copyIsCurrent(scratch: pg.Client): Promise<boolean> {
    const schema = this.inputs['tracking-schema'];
    const live = await this.connectLive();
    const { runner } = this.deps;
    const env = this.deps.io.env;
    let liveSchema: string;
    let liveApplied: string[];
    try {
      liveSchema = comparable(await schemaDump(this.liveUrl, live, runner, env));
      liveApplied = (await trackingTableExists(live, schema))
        ? [...(await readApplied(live, schema)).keys()]
        : [];
    } finally {
      await live.end().catch(() => undefined);
    }
    const copySchema = comparable(await schemaDump(this.scratchUrl(), scratch, runner, env));
    const copyApplied = (await trackingTableExists(scratch, schema))
      ? new Set((await readApplied(scratch, schema)).keys())
      : new Set<string>();
    const missing = liveApplied.filter((file) => !copyApplied.has(file));
    const copy = this.result.copy.kind === 'backup' ? `backup ${this.result.copy.id}` : 'the schema copy';
    if (missing.length > 0 || liveSchema !== copySchema) {
      this.result.valid = false;
      this.result.failures.push({
        title: 'rehearse',
        message: `${copy} is not the live database as it is now: ${
          missing.length > 0
            ? `${count(missing.length, 'migration')} applied since it was taken (${missing.slice(0, 5).join(', ')})`
            : 'its schema differs from the live schema'
        }. A rehearsal on it would judge another schema: back up the live database first (the backup job, or the backup action), or use schema-only: true`,
      });
      return false;
    }
    return true;
  }

  private async copyInto(): Promise<void> {
    const started = this.deps.clock.now();
    if (this.inputs['schema-only']) await this.copySchema();
    else {
      const id = await latestBackupOf(this.liveUrl, backupSettingsOf(this.inputs), this.deps);
      if (!id)
        throw new UserError(
          `rehearse found no backup of ${this.result.database} in ${storeText(this.inputs.store)}: take one with the backup action first (the workflow's backup job does), or use schema-only: true`,
          'rehearse',
        );
      const outcome = await restoreBackup(this.liveUrl, id, backupSettingsOf(this.inputs), this.deps, {
        mode: 'fail-if-exists',
        target: this.scratchUrl(),
      }).catch((error: unknown) => {
        const message = this.secrets.redact(messageOf(error));
        throw new UserError(
          `rehearse could not restore the latest backup of ${this.result.database} into the scratch database: ${message}${
            /permission denied to create extension/.test(message)
              ? ' (an extension of the backup only a superuser may create: give scratch-url a role that may, or schema-only: true)'
              : /no backup|is empty|not found/i.test(message)
                ? ' (take one with the backup action first, or use schema-only: true)'
                : ''
          }`,
          'rehearse',
        );
      });
      this.result.copy = { kind: 'backup', id: outcome.id ?? 'latest' };
    }
    this.log(
      `copy ready in ${formatMs(this.deps.clock.now() - started)} (${this.result.copy.kind === 'backup' ? `backup ${this.result.copy.id}` : 'schema only'})`,
    );
  }

  /** pg_dump --schema-only of the live database (and the rows of switchyard_migrations) into the copy. */
  private async copySchema(): Promise<void> {
    const { runner } = this.deps;
    const env = this.deps.io.env;
    const dir = await mkdtemp(path.join(env.RUNNER_TEMP || os.tmpdir(), 'switchyard-rehearse-'));
    const live = await this.connectLive();
    try {
      const pgDump = await pgDumpFor(live, runner, env, this.liveUrl);
      const tracked = await trackingTableExists(live, this.inputs['tracking-schema']);
      const [pgRestore] = await findClients('pg_restore', defaultClientDirs(env), runner, () => true, env);
      if (!pgRestore)
        throw new UserError('pg_restore is not installed: install postgresql-client', 'rehearse');
      const liveEnv = { ...env, ...connectionEnv(new URL(this.liveUrl)) };
      const scratchEnv = { ...env, ...connectionEnv(new URL(this.scratchUrl())) };
      const step = async (argv: string[], childEnv: Record<string, string | undefined>, what: string) => {
        const result = await runner.run(argv, {
          env: childEnv,
          timeoutMs: 30 * 60_000,
          signal: this.deps.signal,
        });
        if (result.exitCode !== 0)
          throw new UserError(
            `rehearse: ${what} failed: ${this.secrets.redact(outputTail(result))}`,
            'rehearse',
          );
        return result.stdout;
      };
      const schemaFile = path.join(dir, 'schema.dump');
      await step(
        [pgDump, '--schema-only', '--format=custom', '--no-password', `--file=${schemaFile}`],
        liveEnv,
        'pg_dump --schema-only',
      );
      const list = await step([pgRestore.path, '--list', schemaFile], env, 'pg_restore --list');
      const listFile = path.join(dir, 'schema.list');
      await writeFile(listFile, withoutExtensions(list, LEFT_OUT_OF_COPY));
      // As the backup source restores into another database, reading a file instead of stdin.
      const restore = (file: string, list?: string) => [
        ...restoreCommand(pgRestore.path, 'fail-if-exists', this.scratchName, false, list),
        file,
      ];
      await step(restore(schemaFile, listFile), scratchEnv, 'pg_restore of the schema');
      if (tracked) {
        const trackingFile = path.join(dir, 'tracking.dump');
        await step(
          [
            pgDump,
            '--data-only',
            '--format=custom',
            '--no-password',
            `--table=${trackingTable(this.inputs['tracking-schema'])}`,
            `--file=${trackingFile}`,
          ],
          liveEnv,
          'pg_dump of switchyard_migrations',
        );
        await step(restore(trackingFile), scratchEnv, 'pg_restore of switchyard_migrations');
      }
    } finally {
      await live.end().catch(() => undefined);
      await rm(dir, { recursive: true, force: true });
    }
  }

  /** The pending files applied to the copy, as run applies them. Whether they all applied. */
  private async migrate(): Promise<boolean> {
    const run = await new MigrationRun(
      { ...this.inputs, 'database-url': this.scratchUrl(), backup: false, 'restore-on-failure': false },
      this.deps,
      { rehearsal: true },
    ).execute();
    this.result.pending = run.pending;
    this.result.applied = run.applied;
    if (run.failures.length > 0) {
      this.result.valid = false;
      this.result.failures.push(
        ...run.failures.map((failure) => ({
          ...failure,
          message: `on the copy of the live database: ${failure.message}`,
        })),
      );
      return false;
    }
    if (run.pending.length === 0)
      this.log(
        'no pending migration: the copy is the live schema, and every statement checked still prepares',
      );
    return true;
  }

  /** Each query PREPAREd; those PostgreSQL refused, with its error. */
  private async prepareAll(client: pg.Client, queries: AppQuery[]) {
    const refused = new Map<AppQuery, { message: string; code?: string }>();
    for (const query of queries) {
      if (this.deps.signal.aborted) throw this.deps.signal.reason;
      const error = await prepareError(client, query);
      if (error) refused.set(query, error);
    }
    return refused;
  }

  private finish(): RehearseResult {
    this.result.durationMs = this.deps.clock.now() - this.started;
    return this.result;
  }
}

export const rehearseMigrations = (inputs: ValidateMigrationInputs, deps: ActionDeps) =>
  new Rehearsal(inputs, deps).execute();
