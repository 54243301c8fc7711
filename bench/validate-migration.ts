// validate-migration lint on 10,000 generated statements (a realistic mix over 200 migration
// files) against squawk-cli on the same files, in the same run: the bundled action as the runner
// runs it, squawk as npm installs it (a Node shim that spawns its Rust binary) and that binary
// alone, and our engine in-process (the lint without Node's start-up).
// Prints medians, statements/s, the ratios and each tool's violation count. BENCH_RUNS (default
// 5) runs each, interleaved. Goal (issue 10): within 3× of squawk, under 2 s for the 10,000.
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { readActionInputs } from '../actions/core/src/action-inputs.js';
import { memoryIO } from '../actions/core/src/io.js';
import { validateMigrationInputs } from '../actions/core/src/migrations/inputs.js';
import { LintRun } from '../actions/core/src/migrations/lint.js';
import { systemRunner } from '../actions/core/src/process.js';
import { runLikeTheRunner } from '../scripts/run-action.js';
import { median, printTable } from './table.js';

const RUNS = Number(process.env.BENCH_RUNS ?? 5);
const FILES = 200;
const PER_FILE = 50;
const STATEMENTS = FILES * PER_FILE;
const SQUAWK = resolve('node_modules/.bin/squawk');
/** What the npm package's Node shim spawns: squawk's Rust binary for this platform. */
const SQUAWK_NATIVE = (
  createRequire(import.meta.url)('squawk-cli/js/index.js') as { getBinaryPath(): string }
).getBinaryPath();

/** mulberry32: a small seeded generator, so every run lints the same files. */
function random(seed: number): (n: number) => number {
  let state = seed >>> 0;
  return (n) => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = Math.imul(state ^ (state >>> 15), state | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) % n;
  };
}

/** Tables earlier deploys made: most statements change one of these, live under traffic. */
const EXISTING = [
  'accounts',
  'users',
  'invoices',
  'payments',
  'line_items',
  'events',
  'sessions',
  'audit_log',
];

const NOTES = [
  'café — naïve façade',
  '日本語のコメント: 顧客テーブル',
  'Größe in Bytes, ≤ 2⁶³',
  '🚀 backfill in batches',
  'ключ клиента',
  'plain ascii note',
];

/**
 * One migration file of exactly PER_FILE statements: tables created with identity keys, checks,
 * uniques and foreign keys; columns added with and without defaults and NOT NULL; indexes with
 * and without CONCURRENTLY; drops and renames; batched and whole-table backfills; lock_timeout;
 * transactions; plpgsql functions; line and block comments with multibyte text.
 */
function migration(fileIndex: number): string {
  const pick = random(fileIndex * 7919 + 17);
  const out: string[] = [`-- migration ${fileIndex}: ${NOTES[fileIndex % NOTES.length]}\n`];
  let count = 0;
  const emit = (sql: string, comment = pick(4) === 0) => {
    if (comment) {
      const note = NOTES[pick(NOTES.length)];
      out.push(pick(2) ? `-- ${note}\n` : `/* ${note}\n   (see the runbook) */\n`);
    }
    out.push(`${sql};\n`);
    count++;
  };
  const tables: string[] = [];
  // Mostly a live table; now and then one this file created (where locks do not matter).
  const table = () =>
    (tables.length > 0 && pick(5) === 0
      ? tables[pick(tables.length)]
      : EXISTING[pick(EXISTING.length)]) as string;
  let n = 0;
  const name = (prefix: string) => `${prefix}_${fileIndex}_${n++}`;
  while (count < PER_FILE) {
    const left = PER_FILE - count;
    const kind = pick(20);
    if (kind < 2) {
      const t = name('orders');
      tables.push(t);
      emit(
        `CREATE TABLE ${t} (\n` +
          `  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,\n` +
          `  account_id bigint NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,\n` +
          `  reference text NOT NULL UNIQUE,\n` +
          `  status text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'paid', 'refunded')),\n` +
          `  amount numeric(12, 2) NOT NULL CHECK (amount >= 0),\n` +
          `  note text DEFAULT '${NOTES[pick(NOTES.length)]}',\n` +
          `  metadata jsonb NOT NULL DEFAULT '{}'::jsonb,\n` +
          `  created_at timestamptz NOT NULL DEFAULT now(),\n` +
          `  CONSTRAINT ${t}_ref_len CHECK (char_length(reference) <= 64)\n` +
          `)`,
        true,
      );
    } else if (kind < 5 && left >= 2) {
      emit(`SET lock_timeout = '${1 + pick(5)}s'`);
      const variant = pick(4);
      const column = name('col');
      if (variant === 0) emit(`ALTER TABLE ${table()} ADD COLUMN ${column} text`);
      else if (variant === 1) emit(`ALTER TABLE ${table()} ADD COLUMN ${column} integer DEFAULT 0`);
      else if (variant === 2)
        emit(`ALTER TABLE ${table()} ADD COLUMN ${column} boolean NOT NULL DEFAULT false`);
      else emit(`ALTER TABLE ${table()} ADD COLUMN ${column} text NOT NULL`);
    } else if (kind < 7) {
      emit(`ALTER TABLE ${table()} ADD COLUMN ${name('col')} timestamptz DEFAULT now()`);
    } else if (kind < 10) {
      const t = table();
      emit(
        pick(2)
          ? `CREATE INDEX CONCURRENTLY IF NOT EXISTS ${name('idx')} ON ${t} (account_id, created_at DESC)`
          : `CREATE INDEX ${name('idx')} ON ${t} USING btree (status) WHERE status <> 'refunded'`,
      );
    } else if (kind === 10) {
      emit(`ALTER TABLE ${table()} DROP COLUMN IF EXISTS legacy_${pick(9)}`);
    } else if (kind === 11) {
      emit(`ALTER TABLE ${table()} RENAME COLUMN note TO remark_${n++}`);
    } else if (kind === 12) {
      emit(
        pick(2) ? `DROP TABLE IF EXISTS archive_${fileIndex}_${n++}` : `DROP INDEX IF EXISTS idx_old_${n++}`,
      );
    } else if (kind === 13) {
      const t = table();
      emit(
        pick(2)
          ? `UPDATE ${t} SET status = 'paid', note = '${NOTES[pick(NOTES.length)]}' WHERE id BETWEEN ${pick(1000) * 1000} AND ${pick(1000) * 1000 + 999}`
          : `UPDATE ${t} SET metadata = metadata || '{"migrated": true}'::jsonb`,
      );
    } else if (kind === 14) {
      const rows = Array.from(
        { length: 3 + pick(4) },
        (_, i) =>
          `(${pick(9999)}, 'ref-${fileIndex}-${i}', ${pick(500)}.${pick(100)}, '${NOTES[pick(NOTES.length)]}')`,
      );
      emit(`INSERT INTO ${table()} (account_id, reference, amount, note) VALUES\n  ${rows.join(',\n  ')}`);
    } else if (kind === 15 && left >= 4) {
      emit('BEGIN');
      emit(`ALTER TABLE ${table()} ADD COLUMN ${name('flag')} boolean`);
      emit(`CREATE INDEX ${pick(4) ? '' : 'CONCURRENTLY '}${name('idx')} ON ${table()} (reference)`);
      emit('COMMIT');
    } else if (kind === 16) {
      const fn = name('touch');
      emit(
        `CREATE OR REPLACE FUNCTION ${fn}() RETURNS trigger\n` +
          `LANGUAGE plpgsql AS $$\n` +
          `BEGIN\n` +
          `  -- ${NOTES[pick(NOTES.length)]}\n` +
          `  NEW.created_at := coalesce(NEW.created_at, now());\n` +
          `  IF NEW.amount < 0 THEN\n` +
          `    RAISE EXCEPTION 'amount % is negative', NEW.amount;\n` +
          `  END IF;\n` +
          `  RETURN NEW;\n` +
          `END;\n` +
          `$$`,
        true,
      );
    } else if (kind === 17) {
      emit(`ALTER TABLE ${table()} ALTER COLUMN amount SET DEFAULT 0`);
    } else if (kind === 18) {
      emit(`COMMENT ON TABLE ${table()} IS '${NOTES[pick(NOTES.length)]}'`);
    } else {
      emit(
        `ALTER TABLE ${table()} ADD CONSTRAINT ${name('fk')} FOREIGN KEY (account_id) REFERENCES accounts (id) NOT VALID`,
      );
    }
  }
  return out.join('\n');
}

/** The generated files, in `migrations/` under a fresh temp dir; their paths relative to it. */
function writeMigrations(dir: string): string[] {
  mkdirSync(join(dir, 'migrations'));
  const files: string[] = [];
  for (let i = 0; i < FILES; i++) {
    const file = `migrations/V${String(i + 1).padStart(4, '0')}__change_${i}.sql`;
    writeFileSync(join(dir, file), migration(i));
    files.push(file);
  }
  return files;
}

interface Sample {
  ms: number;
  violations: number;
}

async function action(dir: string): Promise<Sample> {
  const started = performance.now();
  const run = await runLikeTheRunner(
    'validate-migration',
    { migrations: 'migrations/**/*.sql' },
    {},
    { cwd: dir },
  );
  const ms = performance.now() - started;
  if (run.exitCode !== 0 && run.exitCode !== 1)
    throw new Error(`the action exited ${run.exitCode}: ${run.stderr}`);
  // The violations output holds the first 500; the report holds them all.
  const report = JSON.parse(run.report ?? '{}') as { violations?: unknown[] };
  return { ms, violations: report.violations?.length ?? 0 };
}

function squawk(binary: string, dir: string, files: string[]): Sample {
  const started = performance.now();
  const run = spawnSync(binary, ['--reporter', 'json', '--pg-version=17.0', '--', ...files], {
    cwd: dir,
    stdio: 'pipe',
    maxBuffer: 1 << 30,
  });
  const ms = performance.now() - started;
  // Exit 1 when it found something: the JSON decides.
  if (run.status !== 0 && run.status !== 1) throw new Error(`squawk exited ${run.status}: ${run.stderr}`);
  return { ms, violations: (JSON.parse(run.stdout.toString() || '[]') as unknown[]).length };
}

async function engine(dir: string): Promise<Sample> {
  const started = performance.now();
  const { io } = memoryIO({ inputs: { migrations: 'migrations/**/*.sql' }, env: { RUNNER_TEMP: dir } });
  const inputs = readActionInputs(io, 'validate-migration', validateMigrationInputs);
  const result = await new LintRun(inputs, { io, runner: systemRunner, cwd: dir }).execute();
  const ms = performance.now() - started;
  const statements = result.files.reduce((sum, file) => sum + file.statements, 0);
  if (statements !== STATEMENTS)
    throw new Error(`the engine parsed ${statements} statements, not ${STATEMENTS}`);
  return { ms, violations: result.violations.length };
}

export async function validateMigrationBench(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'switchyard-bench-migrations-'));
  try {
    const files = writeMigrations(dir);
    const version = spawnSync(SQUAWK, ['--version']).stdout.toString().trim();
    const contenders: [string, () => Promise<Sample> | Sample][] = [
      ['validate-migration dist (`node dist/index.js`, as the runner runs it)', () => action(dir)],
      [`${version} (\`node_modules/.bin/squawk\`)`, () => squawk(SQUAWK, dir, files)],
      [`${version}, its native binary alone (no Node shim)`, () => squawk(SQUAWK_NATIVE, dir, files)],
      ['`LintRun` in-process (no Node start-up)', () => engine(dir)],
    ];
    const samples = new Map<string, Sample[]>(contenders.map(([name]) => [name, []]));
    // Interleaved, so drift in machine load hits every contender alike.
    for (let i = 0; i < RUNS; i++) for (const [name, run] of contenders) samples.get(name)?.push(await run());
    const msOf = (index: number) => median(samples.get(contenders[index]![0])!.map((s) => s.ms));
    const [squawkMs, nativeMs] = [msOf(1), msOf(2)];
    const row = (name: string, ms: number, violations: string) => [
      name,
      `${ms.toFixed(0)} ms`,
      Math.round((STATEMENTS / ms) * 1000).toLocaleString('en-US'),
      `${(ms / squawkMs).toFixed(2)}×`,
      `${(ms / nativeMs).toFixed(2)}×`,
      violations,
    ];
    const rows = contenders.map(([name], index) => {
      const runs = samples.get(name)!;
      return row(name, msOf(index), [...new Set(runs.map((s) => s.violations))].join(' / '));
    });
    // The in-process engine's first run also loads and compiles the parser's .wasm, cold.
    rows.push(
      row('`LintRun` in-process, its first run only (cold)', samples.get(contenders[3]![0])![0]!.ms, ''),
    );
    printTable(
      `validate-migration lint, ${STATEMENTS.toLocaleString('en-US')} statements in ${FILES} files (median of ${RUNS}, interleaved)`,
      ['command', 'median', 'statements/s', '÷ squawk (goal ≤ 3×)', '÷ squawk native', 'violations'],
      rows,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await validateMigrationBench();
