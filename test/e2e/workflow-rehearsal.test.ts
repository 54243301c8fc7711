/**
 * Issue 9: a rehearsal of .github/workflows/blue-green.yml, end to end. The workflow's own jobs,
 * `if:`s and outputs, run by the rehearsal runner; the actions' committed bundles; real nginx in
 * front of blue and green sample services; a real git origin with a good commit and a bad one on
 * main; and the GitHub API fake, which checks every request against GitHub's OpenAPI description.
 *
 * The two releases go in order on the same servers and state, as on a real repository: the good
 * one first, so the deploy state knows it was good when the bad one is rolled back.
 *
 * (e) and (f) are a second repository, on fresh servers and state, whose migrate job has a real
 * PostgreSQL (the database_url secret): a release whose migration fails on the data, then a fixed one.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { readFileSync } from 'node:fs';
import pg from 'pg';
import { snapshotPostgres } from '../../actions/core/src/migrations/snapshot/postgres.js';
import { annotations, workflowCommands } from '../../scripts/run-action.js';
import { startPostgres, type RunningPostgres } from '../../scripts/servers/index.js';
import {
  ENVIRONMENT,
  git,
  startBlueGreenRehearsal,
  type BlueGreenRehearsal,
  type Release,
} from '../../scripts/workflow/rehearse-blue-green.js';

const resultsOf = (release: Release) =>
  Object.fromEntries(Object.entries(release.result.jobs).map(([id, job]) => [id, job.result]));

describe('blue-green.yml rehearsed on this machine', () => {
  let rehearsal: BlueGreenRehearsal;
  let good: Release | undefined;

  beforeAll(async () => {
    rehearsal = await startBlueGreenRehearsal();
  });

  afterAll(async () => {
    await rehearsal?.stop();
  });

  it('(a) a good release is promoted: its jobs succeed and nginx sends all traffic to the new colour', async () => {
    good = await rehearsal.release('v2', 'checkout: one-page checkout', {
      'app/VERSION': 'v2\n',
      'app/checkout.txt': 'one page\n',
      // An expand-only migration: blue keeps working while traffic shifts.
      'db/migrations/002_orders_note.sql':
        "SET lock_timeout = '2s';\nALTER TABLE orders ADD COLUMN note text;\n",
    });
    expect(resultsOf(good)).toEqual({
      preflight: 'success',
      backup: 'skipped',
      // No database_url: the migrations are linted, not applied, and stage runs all the same.
      migrate: 'skipped',
      stage: 'success',
      'load-test': 'success',
      promote: 'success',
      rollback: 'skipped',
      restore: 'skipped',
    });
    const promote = good.result.jobs.promote;
    expect(promote?.outputs).toMatchObject({ active: 'green', 'rolled-back': 'false', verdict: 'passed' });
    // The migrations were linted before anything was staged: expand only.
    expect(good.result.jobs.preflight?.outputs).toMatchObject({ 'migration-phase': 'expand' });
    // The load test's summary reached promote, which gates on it at every step (no contract-phase warning).
    expect(promote?.steps.map((step) => step.outcome)).toEqual(['success', 'success', 'skipped', 'success']);
    expect(good.result.outputs).toMatchObject({
      active: 'green',
      'rolled-back': 'false',
      'pull-request-url': '',
    });
    expect(good.result.conclusion).toBe('success');
    expect(await rehearsal.servedBy(40)).toEqual({ green: 40 });
    expect(rehearsal.api.violations).toEqual([]);
  }, 45_000);

  it('(b) a release that breaks at 25% is rolled back, and its rollback PR reverts main to the good tree', async () => {
    if (!good) throw new Error('needs (a): the good release is what the deploy state rolls back to');
    const bad = await rehearsal.release(
      'v3',
      'pricing: new rounding',
      { 'app/VERSION': 'v3\n', 'app/pricing.txt': 'round up\n' },
      { breakAt: 25 },
    );
    expect(resultsOf(bad)).toMatchObject({
      stage: 'success',
      'load-test': 'success',
      promote: 'failure',
      // promote put the traffic back itself, so the rollback job has nothing to do.
      rollback: 'skipped',
    });
    const promote = bad.result.jobs.promote;
    expect(promote?.outputs).toMatchObject({ active: 'green', 'rolled-back': 'true', verdict: 'failed' });
    expect(annotations(promote?.log.join('\n') ?? '')).toEqual([
      expect.stringMatching(/^Rolled back: .*exceeds max-error-rate .* at 25%$/),
    ]);
    expect(await rehearsal.servedBy(40)).toEqual({ green: 40 });

    const short = (sha: string) => sha.slice(0, 7);
    const pulls = rehearsal.pulls();
    expect(pulls).toHaveLength(1);
    const pull = pulls[0];
    expect(pull?.title).toBe(`Roll back ${ENVIRONMENT} to ${short(good.sha)}`);
    expect(pull?.head.ref).toBe(`switchyard/rollback-${ENVIRONMENT}-${short(bad.sha)}`);
    expect(pull?.base.ref).toBe('main');
    expect(bad.result.outputs).toMatchObject({ 'rolled-back': 'true', 'pull-request-url': pull?.html_url });
    // The branch is on the real origin, and its tree is the good commit's: the bad one undone.
    const tree = (ref: string) => git(rehearsal.origin, 'rev-parse', `${ref}^{tree}`);
    expect(tree(`refs/heads/${pull?.head.ref}`)).toBe(tree(good.sha));
    expect(git(rehearsal.origin, 'rev-parse', 'refs/heads/main')).toBe(bad.sha);
    expect(rehearsal.api.violations).toEqual([]);
  }, 45_000);

  it('(c) a migration that breaks the old code stops the deploy in preflight, before anything is staged', async () => {
    if (!good) throw new Error('needs (a): the live build is the lint’s baseline');
    const before = rehearsal.pulls().length;
    const dropped = await rehearsal.release('v4', 'orders: drop total', {
      'db/migrations/003_drop_total.sql': "SET lock_timeout = '2s';\nALTER TABLE orders DROP COLUMN total;\n",
    });
    expect(resultsOf(dropped)).toMatchObject({ preflight: 'failure', stage: 'skipped', promote: 'skipped' });
    const errors = annotations(dropped.result.jobs.preflight?.log.join('\n') ?? '');
    expect(errors).toEqual([expect.stringContaining('blue')]);
    expect(dropped.result.jobs.preflight?.log.join('\n')).toMatch(
      /::error title=ban-drop-column,file=db\/migrations\/003_drop_total.sql,line=2/,
    );
    // Only the new file was checked: the ones the live build already ran are its history.
    expect(dropped.result.jobs.preflight?.log.join('\n')).toContain(
      '1 migration file added or changed since',
    );
    expect(await rehearsal.servedBy(20)).toEqual({ green: 20 });
    expect(rehearsal.pulls()).toHaveLength(before);
  }, 45_000);

  it('(d) after a contract-phase migration, a release that breaks at 25% freezes: nginx keeps the split, the rollback job holds it', async () => {
    if (!good) throw new Error('needs (a): the live build is the lint’s baseline');
    const before = rehearsal.pulls().length;
    // The team marks the drop (c) refused as the contract phase it is; applying it is theirs
    // (no database_url), so promote gets the phase preflight's lint found.
    const contract = await rehearsal.release(
      'v5',
      'orders: drop total, as the contract phase',
      {
        'db/migrations/003_drop_total.sql':
          "-- switchyard: contract\nSET lock_timeout = '2s';\nALTER TABLE orders DROP COLUMN total;\n",
        'app/VERSION': 'v5\n',
      },
      { breakAt: 25 },
    );
    expect(resultsOf(contract)).toEqual({
      preflight: 'success',
      backup: 'skipped',
      migrate: 'skipped',
      stage: 'success',
      'load-test': 'success',
      promote: 'failure',
      // It runs (promote failed without rolling back), and holds.
      rollback: 'success',
      restore: 'skipped',
    });
    expect(contract.result.jobs.preflight?.outputs).toMatchObject({ 'migration-phase': 'contract' });
    const promote = contract.result.jobs.promote;
    expect(promote?.outputs).toMatchObject({ 'rolled-back': 'false', frozen: 'true', verdict: 'failed' });
    expect(annotations(promote?.log.join('\n') ?? '')).toEqual([
      expect.stringMatching(
        /^traffic is frozen at 25% blue \(blue 25% \/ green 75%\), not rolled back: .*exceeds max-error-rate .* at 25%\. A contract-phase migration was applied/,
      ),
    ]);
    const rollback = contract.result.jobs.rollback;
    expect(
      Object.fromEntries((rollback?.steps ?? []).filter((s) => s.id).map((s) => [s.id, s.outcome])),
    ).toEqual({ status: 'success', rollback: 'skipped', frozen: 'success', revert: 'skipped' });
    expect(rollback?.outputs).toMatchObject({ frozen: 'true', 'traffic-safe': 'false' });
    expect(contract.result.outputs).toMatchObject({ frozen: 'true', 'rolled-back': 'false' });
    // nginx still splits as the failing step left it: the old code got no traffic back.
    const upstream = readFileSync(rehearsal.setup.upstreamFile ?? '', 'utf8');
    expect(/# switchyard-weights: (.*)/.exec(upstream)?.[1]).toBe('{"blue":25,"green":75}');
    const served = await rehearsal.servedBy(60);
    expect(Object.keys(served).sort()).toEqual(['blue', 'green']);
    // The rollback pull request still opened, saying traffic is frozen, not rolled back.
    const pulls = rehearsal.pulls();
    expect(pulls).toHaveLength(before + 1);
    const body = pulls.at(-1)?.body ?? '';
    expect(body).toContain('switchyard **froze** traffic on **production** instead of rolling it back');
    expect(body).toContain('Merging this alone does not make the old code safe');
    expect(contract.result.outputs['pull-request-url']).toBe(pulls.at(-1)?.html_url);
    expect(rehearsal.api.violations).toEqual([]);
  }, 60_000);
});

describe('blue-green.yml rehearsed with a database: the migrate job', () => {
  const PASSWORD = 'rehe@rsal-Db-pw';
  let rehearsal: BlueGreenRehearsal;
  let postgres: RunningPostgres;
  let failed = false;

  const sql = async <R extends object = Record<string, unknown>>(text: string): Promise<R[]> => {
    const client = new pg.Client({ connectionString: postgres.url });
    await client.connect();
    try {
      return (await client.query<R>(text)).rows;
    } finally {
      await client.end();
    }
  };
  const weights = () =>
    /# switchyard-weights: (.*)/.exec(readFileSync(rehearsal.setup.upstreamFile ?? '', 'utf8'))?.[1];
  // The repository's own migrations: db/items, applied to the database the secret names.
  const withDatabase = () => ({
    inputs: { migrations: 'db/items/*.sql' },
    secrets: { database_url: postgres.url },
  });

  beforeAll(async () => {
    [rehearsal, postgres] = await Promise.all([
      startBlueGreenRehearsal(),
      startPostgres({ password: PASSWORD, createDb: true }),
    ]);
    await sql(`CREATE TABLE items (id int PRIMARY KEY, label text NOT NULL);
      INSERT INTO items SELECT g, 'item ' || g FROM generate_series(1, 200) g;`);
  }, 60_000);

  afterAll(async () => {
    await postgres?.stop();
    await rehearsal?.stop();
  });

  it('(e) a migration that fails on the data fails migrate at its line, the database is restored, and nothing is staged', async () => {
    const before = await snapshotPostgres(postgres.url);
    expect(before.tables.map((table) => [table.name, table.rows])).toEqual([['public.items', 200]]);
    const upstream = readFileSync(rehearsal.setup.upstreamFile ?? '', 'utf8');
    expect(weights()).toBe('{"blue":100,"green":0}');
    const broken = await rehearsal.release(
      'v2',
      'items: price, and labels as numbers',
      {
        'app/VERSION': 'v2\n',
        'db/items/V1__ok.sql': "SET lock_timeout = '2s';\nALTER TABLE items ADD COLUMN price numeric;\n",
        // It passes the lint (the team says why the type change is safe for blue), and fails on
        // the rows: the labels are not numbers.
        'db/items/V2__broken.sql':
          "SET lock_timeout = '2s';\n-- switchyard-ignore changing-column-type: only the new code reads labels\nALTER TABLE items ALTER COLUMN label TYPE int USING label::int;\n",
      },
      withDatabase(),
    );
    failed = true;
    expect(resultsOf(broken)).toEqual({
      preflight: 'success',
      backup: 'skipped',
      migrate: 'failure',
      stage: 'skipped',
      'load-test': 'skipped',
      promote: 'skipped',
      rollback: 'skipped',
      restore: 'skipped',
    });
    expect(broken.result.conclusion).toBe('failure');
    const migrate = broken.result.jobs.migrate;
    // No scratch_url: no rehearsal, straight to run.
    expect(migrate?.steps.map((step) => [step.id, step.outcome])).toEqual([
      [undefined, 'success'],
      ['rehearse', 'skipped'],
      ['run', 'failure'],
    ]);
    const log = migrate?.log.join('\n') ?? '';
    const errors = workflowCommands(log, 'error');
    expect(errors).toEqual([
      expect.objectContaining({ file: 'db/items/V2__broken.sql', line: '3', title: 'migration failed' }),
    ]);
    expect(errors[0]?.message).toContain('invalid input syntax for type integer');
    expect(log).toContain("tables' checksums equal those before the run");
    expect(migrate?.outputs).toMatchObject({ phase: 'none', applied: '[]' });
    expect(log).not.toContain(PASSWORD);
    // The database is as it was: the same tables, rows and checksums, and no price column.
    expect((await snapshotPostgres(postgres.url)).tables).toEqual(before.tables);
    expect(
      await sql(
        `SELECT column_name FROM information_schema.columns WHERE table_name = 'items' AND column_name = 'price'`,
      ),
    ).toEqual([]);
    // Nothing was staged: nginx and blue as they were.
    expect(readFileSync(rehearsal.setup.upstreamFile ?? '', 'utf8')).toBe(upstream);
    expect(await rehearsal.servedBy(20)).toEqual({ blue: 20 });
    expect(broken.result.outputs).toMatchObject({ active: '', 'rolled-back': 'false' });
    expect(rehearsal.pulls()).toEqual([]);
  }, 45_000);

  it('(f) the fixed release: migrate applies it, promote gets its phase, and the release is promoted', async () => {
    if (!failed) throw new Error('needs (e): the release it fixes');
    git(rehearsal.work, 'rm', '-q', 'db/items/V2__broken.sql');
    const fixed = await rehearsal.release(
      'v3',
      'items: price, and a numeric code beside the label',
      {
        'app/VERSION': 'v3\n',
        'db/items/V2__code.sql': "SET lock_timeout = '2s';\nALTER TABLE items ADD COLUMN code int;\n",
      },
      withDatabase(),
    );
    expect(resultsOf(fixed)).toEqual({
      preflight: 'success',
      backup: 'skipped',
      migrate: 'success',
      stage: 'success',
      'load-test': 'success',
      promote: 'success',
      rollback: 'skipped',
      restore: 'skipped',
    });
    const migrate = fixed.result.jobs.migrate;
    expect(migrate?.outputs.phase).toBe('expand');
    expect(JSON.parse(migrate?.outputs.applied ?? '[]')).toEqual([
      expect.objectContaining({ file: 'db/items/V1__ok.sql', phase: 'expand' }),
      expect.objectContaining({ file: 'db/items/V2__code.sql', phase: 'expand' }),
    ]);
    expect(migrate?.outputs['backup-id']).toMatch(/\S/);
    // What migrate applied is the phase promote was given.
    const promote = fixed.result.jobs.promote?.steps.find((step) => step.id === 'promote');
    expect(promote?.inputs?.['migration-phase']).toBe('expand');
    expect(fixed.result.jobs.promote?.outputs).toMatchObject({ active: 'green', verdict: 'passed' });
    expect(await sql<{ file: string }>('SELECT file FROM switchyard_migrations ORDER BY file')).toEqual([
      { file: 'db/items/V1__ok.sql' },
      { file: 'db/items/V2__code.sql' },
    ]);
    expect(
      await sql(
        `SELECT column_name FROM information_schema.columns WHERE table_name = 'items' ORDER BY ordinal_position`,
      ),
    ).toEqual(['id', 'label', 'price', 'code'].map((column_name) => ({ column_name })));
    expect(weights()).toBe('{"blue":0,"green":100}');
    expect(await rehearsal.servedBy(20)).toEqual({ green: 20 });
    expect(rehearsal.api.violations).toEqual([]);
  }, 45_000);
});
