import { z } from 'zod';
import { parseStoreSpec } from '../backup/inputs.js';
import {
  boolean,
  duration,
  integer,
  list,
  oneOf,
  parsedBy,
  rate,
  text,
  type InputDef,
  type InputValues,
} from '../inputs.js';
import { redactText } from '../mask.js';
import { parseExpectations } from './snapshot/compare.js';
import { RULE_IDS } from './rules/index.js';

export type RuleSetting = 'error' | 'warning' | 'off';

/** A glob of migration files: relative to the workspace, never reaching out of it. */
export function migrationGlob(entry: string): string | { pattern: string } {
  const pattern = entry.replaceAll('\\', '/');
  if (pattern.startsWith('/') || /^[A-Za-z]:\//.test(pattern))
    return `"${entry}" is an absolute path; give a glob relative to the workspace, e.g. migrations/**/*.sql`;
  if (pattern.split('/').includes('..'))
    return `"${entry}" reaches outside the workspace (".." in it); give a glob inside it, e.g. db/migrations/*.sql`;
  return { pattern };
}

/** What is wrong with a rule id, if anything: the ids of the rules we have, with a near miss named. */
export function ruleIdProblem(id: string): string | undefined {
  if (RULE_IDS.includes(id)) return undefined;
  const near = RULE_IDS.find((known) => known.replace(/-/g, '').includes(id.replace(/-/g, '').slice(0, 8)));
  return `"${id}" is not a rule${near ? ` (did you mean ${near}?)` : ''}; the rules are listed in docs/validate-migration.md`;
}

/** `rule: error|warning|off`, one per line (switchyard.yml: a map, which reads as these lines). */
export function parseRuleSettings(raw: string): Map<string, RuleSetting> | string {
  const settings = new Map<string, RuleSetting>();
  for (const line of raw.split('\n').map((each) => each.trim())) {
    if (!line || line.startsWith('#')) continue;
    const match = /^([\w-]+)\s*[:=]\s*(\w+)$/.exec(line);
    if (!match) return `"${line}" is not "rule: error|warning|off", e.g. ban-drop-column: warning`;
    const [, id = '', setting = ''] = match;
    const problem = ruleIdProblem(id);
    if (problem) return problem;
    if (setting !== 'error' && setting !== 'warning' && setting !== 'off')
      return `${id}: "${setting}" is not error, warning or off`;
    settings.set(id, setting);
  }
  return settings;
}

/** A ref or revision git can resolve (HEAD~1, main^, v1.4.0…), never one it would read as an option or a range. */
const gitRefProblem = (ref: string): string | undefined =>
  /^-|\.\.|[\s:?*[\\]/.test(ref)
    ? `"${ref}" is not a git ref (e.g. origin/main, HEAD~1, v1.4.0 or a commit id)`
    : undefined;

const postgresUrlProblem = (raw: string): string | undefined =>
  /^postgres(ql)?:\/\//.test(raw) ? undefined : `"${redactText(raw)}" is not a postgres:// URL`;

/** A schema name as PostgreSQL reads it unquoted (lower case), and one a user may create. */
const identifierProblem = (raw: string): string | undefined =>
  !/^[a-z_][a-z0-9_$]{0,62}$/.test(raw)
    ? `"${raw}" is not a plain schema name (lower-case letters, digits and _; at most 63), e.g. switchyard`
    : /^pg_|^information_schema$/.test(raw)
      ? `"${raw}" is PostgreSQL's own schema; name one of yours, e.g. switchyard`
      : undefined;

/** SQL queries, one per line, that must return no rows. */
const checkQuery = (entry: string) => {
  const query = entry.replace(/;\s*$/, '').trim();
  return query === '' ? `"${entry}" is not a query` : { query };
};

export const validateMigrationInputs = {
  command: oneOf(
    ['lint', 'run', 'rehearse', 'snapshot', 'compare', 'parity'],
    'What to do. lint: check the migration files for what breaks the old code or stalls live traffic; run: apply the pending files to database-url, each in its own transaction, after a backup, restoring it when one fails; rehearse: apply them to a scratch copy and PREPARE the queries the live database runs there, to find what the old code would break on; snapshot: record row counts, checksums and key patterns of database-url and redis-url; compare: check two snapshots against expect; parity: send the same requests to blue-url and green-url and compare the answers.',
    {
      default: 'lint',
    },
  ),
  migrations: list(
    "The migration files: globs relative to the workspace, one per line, checked in migration order (file names sorted with numbers as numbers). Down migrations (*.down.sql, down.sql, Flyway's U<version>__*.sql) are left out.",
    migrationGlob,
    { default: 'migrations/**/*.sql', example: 'db/migrate/*.sql' },
  ),
  'pg-version': integer(
    'The PostgreSQL major version the migrations run on; the rules that depend on it follow it.',
    {
      default: '17',
      min: 9,
      max: 18,
    },
  ),
  'assume-in-transaction': boolean(
    'Your migration tool runs each file inside a transaction (so BEGIN in a file nests, and CONCURRENTLY cannot run).',
    { default: 'false' },
  ),
  baseline: text(
    'A git ref: check only the migration files added or changed since it (e.g. the last deployed commit); empty checks every file.',
    { example: 'origin/main', check: gitRefProblem },
  ),
  squawk: boolean(
    'Also run squawk (when it is on PATH) and add the findings of its rules switchyard does not have.',
    {
      default: 'false',
    },
  ),
  rules: parsedBy(
    'Severity per rule, one "rule: error|warning|off" per line (in switchyard.yml, a map under validate-migration.rules).',
    parseRuleSettings,
    {
      example: 'ban-drop-column: warning',
      file: z.union([z.string(), z.record(z.string(), z.enum(['error', 'warning', 'off']))]),
    },
  ),
  ignore: list(
    'lint: rules to leave out entirely, by id (the same as "rule: off"). parity: JSON paths left out of the bodies compared ($.timestamp, $.items[*].id, $..version).',
    (entry) => ({ id: entry }),
    { commas: true, example: 'require-lock-timeout' },
  ),
  'database-url': text(
    'snapshot, run, rehearse: the PostgreSQL database, postgres://user:password@host:5432/db (rehearse only reads it).',
    {
      example: 'postgres://app:${{ secrets.PG_PASSWORD }}@db.internal:5432/shop',
      check: postgresUrlProblem,
    },
  ),
  'tracking-schema': text(
    'run, rehearse: the schema of the switchyard_migrations table, which records each file applied (its sha256, when, how long, by whom); created when missing.',
    { default: 'public', example: 'switchyard', check: identifierProblem },
  ),
  store: {
    ...parsedBy(
      "run: where the backup taken before the first file goes (the backup action's store: local:DIR, actions-cache or artifact); rehearse: where it finds the latest backup to restore. In switchyard.yml, the backup section's store when this section names none.",
      parseStoreSpec,
      { default: 'local:.switchyard/backups', example: 'local:/var/backups/switchyard' },
    ),
    sharedWith: 'backup',
  },
  backup: boolean(
    'run: back up database-url before the first pending file (false skips it, with a warning: a failure then cannot be undone).',
    { default: 'true' },
  ),
  'restore-on-failure': boolean(
    'run: when a file fails after earlier files (or a statement outside a transaction) changed the database, restore it from the backup.',
    { default: 'true' },
  ),
  'lock-timeout': duration(
    'run, rehearse: the longest a statement waits for a lock before it fails (lock_timeout, set in each transaction): a migration queued behind a long query stalls every query queued behind it.',
    { default: '5s', min: 1 },
  ),
  'statement-timeout': duration(
    'run, rehearse: the longest one statement may run (statement_timeout, set in each transaction).',
    { default: '15m', min: 1 },
  ),
  'pre-checks': list(
    'run, rehearse: SQL queries, one per line, that must return no rows before anything is applied, e.g. SELECT 1 FROM orders WHERE total < 0.',
    checkQuery,
    { example: 'SELECT 1 FROM orders WHERE total < 0' },
  ),
  'post-checks': list(
    'run, rehearse: SQL queries, one per line, that must return no rows once every file is applied (when one returns rows, run fails and restores the backup; rehearse fails).',
    checkQuery,
    { example: 'SELECT 1 FROM users WHERE email IS NULL' },
  ),
  'scratch-url': text(
    'rehearse: the server to create the scratch database on (the database in the URL is only where it connects to create it); default the server of database-url.',
    {
      example: 'postgres://postgres:${{ secrets.SCRATCH_PASSWORD }}@scratch.internal:5432/postgres',
      check: postgresUrlProblem,
    },
  ),
  'schema-only': boolean(
    'rehearse: copy only the schema of database-url into the scratch database (pg_dump --schema-only) instead of restoring the latest backup.',
    { default: 'false' },
  ),
  queries: integer(
    'rehearse: how many of the statements the live database runs most often (pg_stat_statements, by calls) are prepared against the migrated copy.',
    { default: '500', min: 1, max: 100000 },
  ),
  'queries-file': text(
    "rehearse: a SQL file of the application's queries ($1 for parameters), prepared against the migrated copy as well — or instead, when pg_stat_statements is not installed.",
    { example: 'db/app-queries.sql' },
  ),
  'github-token': text('store actions-cache or artifact: finds and writes backups.', {
    secret: true,
    example: '${{ github.token }}',
  }),
  'redis-url': text('snapshot: the Redis database, redis://[:password@]host:6379/0 (rediss:// for TLS).', {
    example: 'redis://:${{ secrets.REDIS_PASSWORD }}@cache.internal:6379/0',
    check: (raw) => (/^rediss?:\/\//.test(raw) ? undefined : `"${redactText(raw)}" is not a redis:// URL`),
  }),
  snapshot: text('snapshot: where to write the snapshot (JSON); default .switchyard/snapshots/<time>.json.', {
    example: '.switchyard/snapshots/before.json',
  }),
  sample: rate(
    'snapshot: the share of rows a table checksum reads (1 = all; less for large tables, then the checksum is probabilistic: a change in rows it did not read goes unseen).',
    { default: '100%' },
  ),
  before: text('compare: the snapshot taken before the migration.', {
    example: '.switchyard/snapshots/before.json',
  }),
  after: text('compare: the snapshot taken after it.', { example: '.switchyard/snapshots/after.json' }),
  expect: parsedBy(
    'compare: checks, one per line: rows(public.orders) unchanged, rows(t) >= before, checksum(t) unchanged, schema(t) unchanged, table(t) added, column(t.c) added|removed|unchanged, keys(v2:user:*) == before.keys(user:*), ttl(p) kept. Without it, every difference is listed.',
    (raw) => {
      try {
        return parseExpectations(raw);
      } catch (error) {
        return (error as Error).message.replace(/^Input "expect": /, '');
      }
    },
    { example: 'rows(public.orders) unchanged' },
  ),
  'blue-url': text('parity: the base URL of the blue colour, e.g. http://10.0.0.5:8080.', {
    example: 'http://10.0.0.5:8080',
  }),
  'green-url': text('parity: the base URL of the green colour.', { example: 'http://10.0.0.6:8080' }),
  requests: list(
    'parity: what to send to both, one per line: "/path" or "METHOD /path"; or one line naming a JSON or YAML file of { method, path, body, headers }.',
    undefined,
    { example: '/api/orders/1' },
  ),
  'max-latency-ratio': parsedBy(
    "parity: how much slower green's median answer may be than blue's (2 = twice as slow).",
    (raw) =>
      /^\d+(\.\d+)?$/.test(raw) && Number(raw) >= 1
        ? Number(raw)
        : `"${raw}" is not a ratio of at least 1, e.g. 1.5`,
    { default: '2', example: '1.5', file: z.union([z.string(), z.number().min(1)]) },
  ),
} satisfies Record<string, InputDef>;

export type ValidateMigrationInputs = InputValues<typeof validateMigrationInputs>;
