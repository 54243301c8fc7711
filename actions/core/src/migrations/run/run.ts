import os from 'node:os';
import type pg from 'pg';
import type { ActionDeps } from '../../action.js';
import { serverMajor } from '../../backup/sources/postgres.js';
import { connectPostgres } from '../../drivers.js';
import { InputError, messageOf, UserError } from '../../errors.js';
import { redactUrl, Secrets } from '../../mask.js';
import { count, formatMs } from '../../summary.js';
import { findMigrations, migrationOrder } from '../files.js';
import type { ValidateMigrationInputs } from '../inputs.js';
import type { Phase } from '../lint.js';
import type { Statement } from '../parser.js';
import { fingerprint, fingerprintDifferences, type Fingerprint } from './fingerprint.js';
import {
  planFile,
  positionIn,
  positionInBlock,
  readMigrationFile,
  sha256Of,
  StatementFailed,
  type PlannedFile,
} from './plan.js';
import {
  backUp,
  backupSettingsOf,
  dropCreated,
  listObjects,
  restoreBackup,
  watchingLocks,
} from './restore.js';
import {
  ensureTrackingTable,
  readApplied,
  recordApplied,
  trackingTable,
  trackingTableExists,
  type AppliedFile,
} from './tracking.js';

/** One file applied by this run. */
export interface AppliedEntry {
  file: string;
  sha256: string;
  phase: Phase;
  statements: number;
  durationMs: number;
  /** Statements run outside a transaction, e.g. `line 4: CREATE INDEX CONCURRENTLY`. */
  outsideTransaction: string[];
}

/** Why the run failed, where. */
export interface RunFailure {
  message: string;
  title: string;
  file?: string;
  line?: number;
  column?: number;
  /** PostgreSQL's SQLSTATE. */
  code?: string;
}

export interface CheckOutcome {
  kind: 'pre-check' | 'post-check';
  query: string;
  rows: number;
  /** The first row returned, for the log. */
  sample?: string;
}

export interface RestoreOutcome {
  backupId: string;
  /** Objects the run created, dropped before pg_restore. */
  dropped: string[];
  /** The database now equals its fingerprint from before the run (schema and every table's checksum). */
  verified: boolean;
  differences: string[];
  error?: string;
}

export interface RunResult {
  command: 'run';
  valid: boolean;
  database: string;
  trackingTable: string;
  /** Files applied by this run and kept (after a restore: none). */
  applied: AppliedEntry[];
  /** Files this run applied and the restore took back. */
  undone: string[];
  alreadyApplied: string[];
  pending: string[];
  backupId?: string;
  /** The phase of what this run applied: contract when any file was, expand when any changed the schema. */
  phase: Phase;
  checks: CheckOutcome[];
  failures: RunFailure[];
  /** The failed run had changed the database (committed files, or a statement outside a transaction). */
  changed: boolean;
  restored?: RestoreOutcome;
  durationMs: number;
}

/** A restore statement cancelled by the lock watch: worth another attempt. */
class LockWaitCancelled extends Error {}

/** The advisory lock two runs against one database take in turn: a fixed key per tracking schema. */
const LOCK_SQL = `SELECT pg_try_advisory_lock(hashtext('switchyard_migrations:' || $1)) AS locked`;

/**
 * validate-migration run: the pending files applied to database-url, each in its own transaction,
 * after a backup; when one fails after the database changed, the backup restored and the result
 * proven equal to the database before the run.
 */
export class MigrationRun {
  private readonly secrets = new Secrets();
  private readonly url: string;
  private readonly display: string;
  private readonly started: number;
  private client?: pg.Client;
  private readonly result: RunResult;
  /** Something of this run is in the database: a committed transaction, or a statement run outside one. */
  private changed = false;
  /** switchyard_migrations exists (committed). */
  private tracked = false;

  constructor(
    private readonly inputs: ValidateMigrationInputs,
    private readonly deps: ActionDeps,
    /** A rehearsal applies to a scratch copy: no backup, no restore, nothing to warn about. */
    private readonly options: { rehearsal?: boolean } = {},
  ) {
    const url = inputs['database-url'];
    if (!url)
      throw new InputError(
        'database-url',
        'is required to run migrations: the postgres:// URL of the database to apply them to, with its user and password (e.g. from a secret)',
      );
    this.url = url;
    this.secrets.addFromUrl(url);
    this.display = redactUrl(url);
    this.started = deps.clock.now();
    this.result = {
      command: 'run',
      valid: true,
      database: this.display,
      trackingTable: `${inputs['tracking-schema']}.switchyard_migrations`,
      applied: [],
      undone: [],
      alreadyApplied: [],
      pending: [],
      phase: 'none',
      checks: [],
      failures: [],
      changed: false,
      durationMs: 0,
    };
  }

  private log(line: string): void {
    this.deps.io.info(line);
  }

  async execute(): Promise<RunResult> {
    const { inputs } = this;
    const schema = inputs['tracking-schema'];
    const found = await findMigrations(
      inputs.migrations.map((each) => each.pattern),
      this.deps.cwd,
    );
    const client = await connectPostgres(this.url, {
      input: 'database-url',
      application: 'switchyard-migrate',
      secrets: this.secrets,
    });
    this.client = client;
    // A cancelled run stops the statement on the server too (ending the socket alone leaves it
    // running, holding its locks), then the session, whose open transaction rolls back.
    const abort = () => void this.cancelOnServer(client).finally(() => client.end().catch(() => undefined));
    this.deps.signal.addEventListener('abort', abort, { once: true });
    try {
      const major = await this.serverMajor();
      const locked = await client.query<{ locked: boolean }>(LOCK_SQL, [schema]);
      if (!locked.rows[0]?.locked)
        throw new UserError(
          `Another switchyard run is applying migrations to ${this.display} (it holds the lock of ${trackingTable(schema)}); nothing was applied. Wait for it, or find it in pg_stat_activity (application_name switchyard-migrate)`,
          'migrations locked',
        );
      // A first run creates the table with its first file, in the same transaction: a failure or a
      // restore then leaves the database exactly as it was, without it.
      this.tracked = await trackingTableExists(client, schema);
      const applied = this.tracked ? await readApplied(client, schema) : new Map<string, AppliedFile>();
      const pending = await this.pendingFiles(found.files, applied, major);
      if (this.result.failures.length > 0 || pending.length === 0) return this.finish();
      await this.runChecks('pre-check', inputs['pre-checks'] ?? []);
      if (this.result.failures.length > 0) return this.finish();
      const before = await this.prepareWayBack();
      await this.applyAll(pending);
      if (this.result.failures.length === 0) await this.runChecks('post-check', inputs['post-checks'] ?? []);
      if (this.result.failures.length > 0) await this.recover(before);
      return this.finish();
    } catch (error) {
      if (this.deps.signal.aborted) {
        this.fail({
          message: `cancelled: ${messageOf(this.deps.signal.reason)}; the statement running was cancelled and its transaction rolled back (a CREATE INDEX CONCURRENTLY cancelled leaves an INVALID index: DROP INDEX CONCURRENTLY it). ${this.keptText()}${this.result.backupId ? ` Nothing was restored: backup ${this.result.backupId} is the way back.` : ''}`,
          title: 'Cancelled',
        });
        return this.finish();
      }
      throw error instanceof UserError ? error : this.databaseError(error);
    } finally {
      this.deps.signal.removeEventListener('abort', abort);
      await client.end().catch(() => undefined);
    }
  }

  private async cancelOnServer(client: pg.Client): Promise<void> {
    const pid = (client as unknown as { processID?: number }).processID;
    if (!pid) return;
    const other = await connectPostgres(this.url, {
      input: 'database-url',
      application: 'switchyard-migrate',
      secrets: this.secrets,
    }).catch(() => undefined);
    await other?.query('SELECT pg_cancel_backend($1)', [pid]).catch(() => undefined);
    await other?.end().catch(() => undefined);
  }

  private async serverMajor(): Promise<number> {
    const found = await this.query<{ num: string }>(`SELECT current_setting('server_version_num') AS num`);
    return serverMajor(Number(found.rows[0]?.num ?? 0));
  }

  /** The files not applied yet, planned; a changed applied file (drift) fails the run before anything runs. */
  private async pendingFiles(
    files: string[],
    applied: Map<string, { sha256: string; appliedAt: string }>,
    major: number,
  ): Promise<PlannedFile[]> {
    const planned: PlannedFile[] = [];
    const lastApplied = [...applied.keys()].sort(migrationOrder).at(-1);
    for (const file of files) {
      const bytes = await readMigrationFile(file, this.deps.cwd);
      const record = applied.get(file);
      // Only what will run is parsed: an applied file is only compared.
      if (!record) {
        planned.push(await planFile(file, bytes, major));
        continue;
      }
      this.result.alreadyApplied.push(file);
      const sha256 = sha256Of(bytes);
      if (record.sha256 !== sha256)
        this.fail({
          message: `${file} was applied on ${record.appliedAt} and has changed since (sha256 ${record.sha256.slice(0, 12)} then, ${sha256.slice(0, 12)} now): an applied migration must not change. Restore its old content and put the change in a new file; nothing was applied`,
          title: 'migration drift',
          file,
          line: 1,
        });
    }
    this.result.pending = planned.map((each) => each.file);
    const gone = [...applied.keys()].filter((file) => !files.includes(file));
    if (gone.length > 0)
      this.log(
        `recorded as applied but not among the migrations now (renamed or deleted, left alone): ${gone.join(', ')}`,
      );
    this.log(
      `${count(files.length, 'migration file')}: ${this.result.alreadyApplied.length} already applied, ${planned.length} pending (tracked in ${trackingTable(this.inputs['tracking-schema'])} of ${this.display})`,
    );
    if (lastApplied)
      for (const plan of planned)
        if (migrationOrder(plan.file, lastApplied) < 0)
          this.deps.io.warning(
            `${plan.file} sorts before ${lastApplied}, which is applied already: it runs now, after it (check it does not depend on running first)`,
            { file: plan.file, title: 'migration order' },
          );
    if (planned.length === 0 && this.result.failures.length === 0)
      this.log('nothing to apply: the database is up to date');
    return planned;
  }

  private async runChecks(kind: CheckOutcome['kind'], queries: { query: string }[]): Promise<void> {
    for (const { query } of queries) {
      let rows: Record<string, unknown>[];
      try {
        // Read only: a check must not be able to change what it checks.
        await this.query('BEGIN READ ONLY');
        rows = (await this.query<Record<string, unknown>>(query)).rows;
        await this.query('COMMIT');
      } catch (error) {
        await this.client?.query('ROLLBACK').catch(() => undefined);
        this.fail({
          message: `${kind} "${query}" failed: ${this.secrets.redact(messageOf(error))}`,
          title: kind,
        });
        return;
      }
      const outcome: CheckOutcome = {
        kind,
        query,
        rows: rows.length,
        ...(rows[0] ? { sample: JSON.stringify(rows[0]).slice(0, 200) } : {}),
      };
      this.result.checks.push(outcome);
      this.log(`${kind} ${rows.length === 0 ? '✓' : '✗'} ${query}: ${count(rows.length, 'row')}`);
      if (rows.length > 0)
        this.fail({
          message: `${kind} "${query}" returned ${count(rows.length, 'row')} (it must return none), e.g. ${outcome.sample}${kind === 'pre-check' ? '; nothing was applied' : ''}`,
          title: kind,
        });
    }
  }

  /** The backup, and what a restore is checked against: taken before the first file. */
  private async prepareWayBack(): Promise<{ objects: Set<string>; fingerprint?: Fingerprint } | undefined> {
    const { inputs, deps } = this;
    if (this.options.rehearsal) return undefined;
    if (!inputs.backup) {
      deps.io.warning(
        `backup: false — ${this.display} is not backed up before the migrations: if one fails after another committed, the database cannot be restored`,
        { title: 'no backup' },
      );
      return undefined;
    }
    const objects = await listObjects(this.requireClient());
    this.log(`backing up ${this.display} before the first file`);
    // Both only read: the fingerprint a restore is checked against is taken while the backup runs.
    const [before, backupId] = await Promise.all([
      inputs['restore-on-failure']
        ? fingerprint(this.url, this.requireClient(), deps.runner, deps.io.env)
        : undefined,
      backUp(this.url, backupSettingsOf(this.inputs), deps),
    ]);
    this.result.backupId = backupId;
    this.log(`backup ${backupId} taken (the way back if a file fails)`);
    return { objects, fingerprint: before };
  }

  private async applyAll(files: PlannedFile[]): Promise<void> {
    for (const file of files) {
      if (!(await this.applyFile(file))) return;
    }
  }

  /** One file: its steps in order, the record of it in its last transaction. Whether it applied. */
  private async applyFile(file: PlannedFile): Promise<boolean> {
    const { inputs } = this;
    const schema = inputs['tracking-schema'];
    const started = this.deps.clock.now();
    const outside: string[] = [];
    const timeouts = `lock_timeout ${formatMs(inputs['lock-timeout'])}, statement_timeout ${formatMs(inputs['statement-timeout'])}`;
    this.log(
      `${file.file} (${file.phase}): ${count(file.statements, 'statement')}, ${file.steps.length === 1 && file.steps[0]?.inTransaction === false ? 'alone, outside a transaction' : file.steps.length <= 1 ? 'in one transaction' : `in ${count(file.steps.length, 'step')}`} (${timeouts})${file.ownTransaction ? "; the file's own BEGIN/COMMIT replaced by the run's transaction" : ''}`,
    );
    const entry = (durationMs: number) => ({
      file: file.file,
      sha256: file.sha256,
      durationMs,
      appliedBy: this.appliedBy(),
      backupId: this.result.backupId,
    });
    // A file of no statements is recorded all the same: it was applied, doing nothing.
    const steps = file.steps.length > 0 ? file.steps : [{ inTransaction: true as const, statements: [] }];
    for (const [index, step] of steps.entries()) {
      const last = index === steps.length - 1;
      if (step.inTransaction) {
        await this.query('BEGIN');
        try {
          await this.query(`SET LOCAL lock_timeout = ${inputs['lock-timeout']}`);
          await this.query(`SET LOCAL statement_timeout = ${inputs['statement-timeout']}`);
          if (!this.tracked) await ensureTrackingTable(this.requireClient(), schema);
          for (const statement of step.statements) await this.runStatement(file, statement);
          if (last) await recordApplied(this.requireClient(), schema, entry(this.deps.clock.now() - started));
          await this.query('COMMIT');
          // What a later file or check fails after, the restore has to undo.
          this.changed = true;
          this.tracked = true;
        } catch (error) {
          await this.client?.query('ROLLBACK').catch(() => undefined);
          return this.failedStatement(file, error);
        }
      } else {
        this.log(
          `  line ${step.statement.start.line}: ${step.why} runs outside a transaction (PostgreSQL refuses it inside one)`,
        );
        outside.push(`line ${step.statement.start.line}: ${step.why}`);
        try {
          await this.query(`SET lock_timeout = ${inputs['lock-timeout']}`);
          await this.query(`SET statement_timeout = ${inputs['statement-timeout']}`);
          if (!this.tracked) {
            await ensureTrackingTable(this.requireClient(), schema);
            this.tracked = true;
          }
          // Outside a transaction nothing rolls back: a CONCURRENTLY build that fails leaves an
          // INVALID index behind. From here on the database counts as changed.
          this.changed = true;
          await this.runStatement(file, step.statement);
          if (last) await recordApplied(this.requireClient(), schema, entry(this.deps.clock.now() - started));
        } catch (error) {
          return this.failedStatement(file, error, { outsideTransaction: true });
        }
      }
    }
    // A file's own SET (search_path, statement_timeout…) outlives its transaction: not into the next file.
    await this.query('RESET ALL');
    const durationMs = Math.round(this.deps.clock.now() - started);
    this.result.applied.push({
      file: file.file,
      sha256: file.sha256,
      phase: file.phase,
      statements: file.statements,
      durationMs,
      outsideTransaction: outside,
    });
    this.log(`${file.file} applied in ${formatMs(durationMs)}`);
    return true;
  }

  private async runStatement(file: PlannedFile, statement: Statement): Promise<void> {
    try {
      await this.requireClient().query(statement.text);
    } catch (error) {
      if (this.deps.signal.aborted) throw error;
      const details = error as {
        message?: string;
        position?: string;
        code?: string;
        detail?: string;
        hint?: string;
        where?: string;
      };
      const said = [
        details.message ?? messageOf(error),
        details.detail,
        details.hint && `Hint: ${details.hint}`,
      ]
        .filter(Boolean)
        .join('. ');
      throw new StatementFailed(
        file.file,
        positionInBlock(statement, details.where) ??
          positionIn(statement, Number(details.position) || undefined),
        statement.text,
        this.secrets.redact(said),
        details.code,
      );
    }
  }

  private failedStatement(
    file: PlannedFile,
    error: unknown,
    how: { outsideTransaction?: boolean } = {},
  ): false {
    if (!(error instanceof StatementFailed)) throw error;
    const first = error.statement.split('\n')[0] ?? '';
    this.fail({
      message: `${file.file}:${error.at.line}: PostgreSQL refused "${first.slice(0, 120)}": ${error.postgres}${error.code ? ` (SQLSTATE ${error.code})` : ''}`,
      title: 'migration failed',
      file: file.file,
      line: error.at.line,
      column: error.at.column,
      code: error.code,
    });
    this.log(
      how.outsideTransaction
        ? `${file.file} failed at line ${error.at.line}, outside a transaction: what it did stays until restored`
        : `${file.file} failed at line ${error.at.line}; its transaction rolled back`,
    );
    return false;
  }

  /** After a failure: restore when the database changed and a backup allows it, then prove it. */
  private async recover(
    before: { objects: Set<string>; fingerprint?: Fingerprint } | undefined,
  ): Promise<void> {
    const { inputs, result } = this;
    if (this.options.rehearsal) return;
    if (!this.changed) {
      this.log(
        'nothing was changed: the failing transaction rolled back, and no earlier file of this run committed',
      );
      return;
    }
    if (!before || !result.backupId || !inputs['restore-on-failure']) {
      this.fail({
        message: `the database is left as the failed run changed it: ${this.keptText()}${result.backupId ? ` Restore backup ${result.backupId} (backup action, command: restore, mode: replace) to undo them` : ''}`,
        title: 'not restored',
      });
      return;
    }
    const id = result.backupId;
    const restored: RestoreOutcome = { backupId: id, dropped: [], verified: false, differences: [] };
    result.restored = restored;
    try {
      restored.dropped = await this.withLockRetries('dropping what the run created', () =>
        dropCreated(this.requireClient(), before.objects, inputs['lock-timeout']),
      );
      if (restored.dropped.length > 0)
        this.log(
          `restore: dropped ${count(restored.dropped.length, 'object')} the run created: ${restored.dropped.slice(0, 10).join(', ')}`,
        );
      this.log(`restore: backup ${id} into ${this.display} (pg_restore --clean, one transaction)`);
      // pg_restore waits for a lock no longer than a migration would (a watch cancels it), and
      // tries again: each attempt is one transaction, so a cancelled one changes nothing.
      const application = `switchyard-restore-${process.pid}`;
      const deps = {
        ...this.deps,
        io: { ...this.deps.io, env: { ...this.deps.io.env, PGAPPNAME: application } },
      };
      await this.withLockRetries('pg_restore', async () => {
        const outcome = await watchingLocks(this.requireClient(), application, inputs['lock-timeout'], () =>
          restoreBackup(this.url, id, backupSettingsOf(this.inputs), deps, { mode: 'replace' }),
        );
        if (outcome.error === undefined) return outcome.value;
        throw outcome.cancelledForLock ? new LockWaitCancelled(messageOf(outcome.error)) : outcome.error;
      });
    } catch (error) {
      restored.error = this.secrets.redact(messageOf(error));
      const dropped = restored.dropped.length
        ? ` The objects the run created were dropped first (${restored.dropped.slice(0, 5).join(', ')}); the rest of what it changed is still there${this.result.applied.length ? `: ${this.result.applied.map((each) => each.file).join(', ')}` : ''}.`
        : ` ${this.keptText()}`;
      this.fail({
        message: `restoring backup ${id} failed: ${restored.error}.${dropped} Restore it by hand: backup action, command: restore, id: ${id}, mode: replace`,
        title: 'restore failed',
      });
      return;
    }
    result.undone = result.applied.map((each) => each.file);
    result.applied = [];
    if (before.fingerprint) {
      const now = await fingerprint(this.url, this.requireClient(), this.deps.runner, this.deps.io.env);
      restored.differences = fingerprintDifferences(before.fingerprint, now);
      restored.verified = restored.differences.length === 0;
    }
    if (restored.verified)
      this.log(
        `restored: the schema and ${Object.keys(before.fingerprint?.tables ?? {}).length} tables' checksums equal those before the run${result.undone.length ? `; undone: ${result.undone.join(', ')}` : ''}`,
      );
    else
      this.deps.io.warning(
        `backup ${id} was restored, but the database is not what it was before the run: ${restored.differences.slice(0, 5).join('; ')} (writes made while the run ran, or objects the restore does not cover)`,
        { title: 'restore differs' },
      );
  }

  /** Runs `attempt`, again after a lock timeout (SQLSTATE 55P03 or its message), up to 5 times with a growing pause. */
  private async withLockRetries<T>(what: string, attempt: () => Promise<T>): Promise<T> {
    for (let round = 1; ; round++) {
      try {
        return await attempt();
      } catch (error) {
        const lockTimeout =
          error instanceof LockWaitCancelled ||
          (error as { code?: string }).code === '55P03' ||
          /lock timeout/i.test(messageOf(error));
        if (!lockTimeout || round >= 5 || this.deps.signal.aborted) throw error;
        this.log(
          `restore: ${what} could not take its locks within lock-timeout (attempt ${round} of 5); trying again`,
        );
        await this.deps.clock.sleep(1_000 * 2 ** (round - 1), this.deps.signal).catch(() => undefined);
      }
    }
  }

  /** What the database keeps of this run, in words. */
  private keptText(): string {
    const kept = this.result.applied.map((each) => each.file);
    return kept.length > 0
      ? `Applied and recorded in ${this.result.trackingTable}: ${kept.join(', ')}.`
      : 'No file of this run was recorded as applied.';
  }

  private appliedBy(): string {
    const env = this.deps.io.env;
    if (env.GITHUB_ACTOR)
      return `${env.GITHUB_ACTOR}${env.GITHUB_RUN_ID ? ` (${env.GITHUB_REPOSITORY ?? ''} run ${env.GITHUB_RUN_ID})` : ''}`;
    try {
      return os.userInfo().username;
    } catch {
      return 'unknown';
    }
  }

  private fail(failure: RunFailure): void {
    this.result.valid = false;
    this.result.failures.push(failure);
  }

  private finish(): RunResult {
    const { result } = this;
    const phases = result.applied.map((each) => each.phase);
    result.phase = phases.includes('contract') ? 'contract' : phases.includes('expand') ? 'expand' : 'none';
    result.changed = this.changed && result.failures.length > 0;
    result.durationMs = Math.round(this.deps.clock.now() - this.started);
    if (result.valid && result.applied.length > 0)
      this.log(
        `${count(result.applied.length, 'file')} applied in ${formatMs(result.durationMs)}; phase ${result.phase}${result.backupId ? `; backup ${result.backupId}` : ''}`,
      );
    return result;
  }

  private requireClient(): pg.Client {
    if (!this.client) throw new Error('not connected');
    return this.client;
  }

  private query<R extends object = Record<string, unknown>>(text: string, values?: unknown[]) {
    return this.requireClient().query<R>(text, values);
  }

  private databaseError(error: unknown): UserError {
    return new UserError(
      `PostgreSQL failed while running migrations on ${this.display}: ${this.secrets.redact(messageOf(error))}. ${this.keptText()}${this.result.backupId ? ` The backup taken first is ${this.result.backupId}.` : ''}`,
      'PostgreSQL',
    );
  }
}

export const runMigrations = (inputs: ValidateMigrationInputs, deps: ActionDeps) =>
  new MigrationRun(inputs, deps).execute();
