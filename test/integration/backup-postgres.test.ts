// The postgres backup source against real PostgreSQL servers: a pgbench database plus json, bytea
// and array columns survives backup → drop → restore with equal per-table checksums; include and
// exclude; the three restore modes; and failures that say what went wrong without the password.
import {
  chmodSync,
  createReadStream,
  createWriteStream,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { PassThrough, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { spawnSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import pg from 'pg';
import { UserError } from '../../actions/core/src/errors.js';
import { systemRunner } from '../../actions/core/src/process.js';
import type {
  BackupSource,
  PartSummary,
  RestoreContext,
  SourceContext,
} from '../../actions/core/src/backup/source.js';
import {
  connectionEnv,
  createPostgresSource,
  findClients,
  type PostgresSourceOptions,
} from '../../actions/core/src/backup/sources/postgres.js';
import { startPostgres, type RunningPostgres } from '../../scripts/servers/index.js';

const PASSWORD = 'pg/s3cr3t@pw';

let source: RunningPostgres;
let target: RunningPostgres;
let scratch: string;
let fullPart: string;
let fullSummary: PartSummary;
let before: Record<string, Checksum>;

interface Checksum {
  rows: number;
  md5: string;
}

/** pgbench: on the PATH (Debian's wrapper), else in the newest /usr/lib/postgresql/<version>/bin. */
function pgbenchProgram(): string {
  const root = '/usr/lib/postgresql';
  const versions = existsSync(root)
    ? readdirSync(root).sort((a, b) => Number.parseFloat(b) - Number.parseFloat(a))
    : [];
  const found = ['/usr/bin', ...versions.map((v) => path.join(root, v, 'bin'))]
    .map((dir) => path.join(dir, 'pgbench'))
    .find((file) => existsSync(file));
  if (!found) throw new Error('pgbench is not installed: sudo apt-get install -y postgresql-contrib');
  return found;
}

async function sql<T extends pg.QueryResultRow = pg.QueryResultRow>(url: string, text: string): Promise<T[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<T>(text)).rows;
  } finally {
    await client.end();
  }
}

/** Rows and an md5 of every row's text, per table: equal checksums mean equal content. */
async function checksums(url: string): Promise<Record<string, Checksum>> {
  const tables = await sql<{ schema: string; name: string }>(
    url,
    `SELECT table_schema AS schema, table_name AS name FROM information_schema.tables
      WHERE table_type = 'BASE TABLE' AND table_schema NOT IN ('pg_catalog', 'information_schema')
      ORDER BY 1, 2`,
  );
  const out: Record<string, Checksum> = {};
  for (const { schema, name } of tables) {
    const quoted = `"${schema.replaceAll('"', '""')}"."${name.replaceAll('"', '""')}"`;
    const [row] = await sql<{ rows: string; md5: string }>(
      url,
      `SELECT count(*) AS rows, md5(coalesce(string_agg(t::text, E'\\n' ORDER BY t::text), '')) AS md5 FROM ONLY ${quoted} t`,
    );
    out[`${schema}.${name}`] = { rows: Number(row?.rows), md5: row?.md5 ?? '' };
  }
  return out;
}

function context(extra: Partial<RestoreContext> = {}): RestoreContext & { lines: string[] } {
  const lines: string[] = [];
  return {
    include: [],
    exclude: [],
    mode: 'fail-if-exists',
    log: (line) => lines.push(line),
    lines,
    ...extra,
  };
}

/** backup() into a file, through a PassThrough as the engine would put its own streams in between. */
async function backupToFile(from: BackupSource, file: string, ctx: SourceContext): Promise<PartSummary> {
  const through = new PassThrough();
  // A failed backup destroys the stream, which fails this pipeline too: the backup's error is the one to see.
  const written = pipeline(through, createWriteStream(file)).catch(() => undefined);
  try {
    return await from.backup(through, ctx);
  } finally {
    await written;
  }
}

const opener =
  (file: string): (() => Readable) =>
  () =>
    createReadStream(file);

function part(name: string): string {
  return path.join(scratch, name);
}

async function rejection(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected a rejection');
}

beforeAll(async () => {
  scratch = mkdtempSync(path.join(tmpdir(), 'switchyard-backup-pg-'));
  [source, target] = await Promise.all([startPostgres({ password: PASSWORD }), startPostgres()]);
  const init = spawnSync(pgbenchProgram(), ['-i', '-q', '-s', '5'], {
    env: { ...process.env, ...connectionEnv(new URL(source.url)) },
    encoding: 'utf8',
  });
  if (init.status !== 0) throw new Error(`pgbench -i failed: ${init.stderr}`);
  await sql(
    source.url,
    String.raw`
    CREATE TABLE kinds (id serial PRIMARY KEY, j json, jb jsonb, b bytea, ints int[], texts text[]);
    INSERT INTO kinds (j, jb, b, ints, texts) VALUES
      ('{"a": [1, 2, {"b": null}],  "s": "tab\there"}', '{"z": "ü€", "n": 1.50}', '\x00ff00fe80'::bytea,
       '{1,2,NULL,-3}', ARRAY['a b', 'quote"d', NULL, 'ü', '', 'back\slash']),
      (NULL, NULL, NULL, NULL, NULL),
      ('[]', '{}', ''::bytea, '{}', '{}');
    INSERT INTO kinds (j, jb, b, ints, texts)
      SELECT json_build_object('n', g), jsonb_build_object('g', g, 'h', md5(g::text)),
             decode(md5(g::text), 'hex') || '\x0000ff'::bytea, ARRAY[g, -g, g * g], ARRAY[md5(g::text), 'row ' || g]
        FROM generate_series(1, 2000) g;
    CREATE SCHEMA "sales dept";
    CREATE TABLE "sales dept"."Order Lines" (id int PRIMARY KEY, note text);
    INSERT INTO "sales dept"."Order Lines" SELECT g, 'note ' || g FROM generate_series(1, 50) g;
    `,
  );
  before = await checksums(source.url);
}, 60_000);

afterAll(async () => {
  await Promise.all([source?.stop(), target?.stop()]);
  if (scratch) rmSync(scratch, { recursive: true, force: true });
});

describe('postgres backup source', () => {
  it('restores a pgbench -s 5 database with json, bytea and array columns to equal checksums after a drop', async () => {
    // A pg_dump that writes down how it was called, then runs the real one.
    const [real] = await findClients('pg_dump', (process.env.PATH ?? '').split(':'), systemRunner);
    if (!real) throw new Error('pg_dump is not installed');
    const spyDir = path.join(scratch, 'spy');
    const argvLog = path.join(scratch, 'pg_dump.argv');
    mkdirSync(spyDir, { recursive: true });
    writeFileSync(
      path.join(spyDir, 'pg_dump'),
      `#!/bin/sh\n{ printf 'argv:'; printf ' %s' "$@"; printf '\\n'; [ -n "$PGPASSWORD" ] && echo 'PGPASSWORD is set'; } >> '${argvLog}'\nexec '${real.path}' "$@"\n`,
    );
    chmodSync(path.join(spyDir, 'pg_dump'), 0o755);
    const options: PostgresSourceOptions = { clientDirs: [spyDir, ...(process.env.PATH ?? '').split(':')] };
    const postgres = createPostgresSource(new URL(source.url), options);

    const ctx = context();
    fullPart = part('full.dump');
    fullSummary = await backupToFile(postgres, fullPart, ctx);
    expect(fullSummary.records).toEqual({
      'public.kinds': 2003,
      'public.pgbench_accounts': 500_000,
      'public.pgbench_branches': 5,
      'public.pgbench_history': 0,
      'public.pgbench_tellers': 50,
      '"sales dept"."Order Lines"': 50,
    });
    expect(before['public.pgbench_accounts']?.rows).toBe(500_000);
    expect(fullSummary.facts).toMatchObject({
      format: 'custom',
      server_version: expect.stringMatching(/^\d+\.\d+/),
      server_version_num: expect.any(Number),
      pg_dump_version: real.version,
      database: 'switchyard',
      tables: 6,
      counted_in: 'the dump snapshot',
    });
    expect(ctx.lines.at(-1)).toMatch(
      /^postgres-127\.0\.0\.1-\d+-switchyard: [\d.]+ [KM]B dumped in [\d.]+ s, /,
    );

    // The password went to pg_dump in its environment, never on its command line.
    const calls = readFileSync(argvLog, 'utf8');
    expect(calls).toMatch(
      /^argv: --format=custom --compress=1 --no-password --snapshot=\S+\nPGPASSWORD is set\n$/m,
    );
    expect(calls).not.toContain(PASSWORD);
    expect(calls).not.toContain(encodeURIComponent(PASSWORD));

    await sql(
      source.url,
      'DROP TABLE kinds, pgbench_accounts, pgbench_branches, pgbench_history, pgbench_tellers; DROP SCHEMA "sales dept" CASCADE',
    );
    expect(await checksums(source.url)).toEqual({});

    await postgres.checkTarget(opener(fullPart), context());
    const restored = await postgres.restore(opener(fullPart), context());
    expect(await checksums(source.url)).toEqual(before);
    expect(restored.records).toEqual(fullSummary.records);
    expect(restored.facts).toMatchObject({ mode: 'fail-if-exists', pg_restore_version: expect.any(String) });
    expect(await postgres.count(context())).toEqual(fullSummary.records);
  });

  it('takes only the tables include selects, minus exclude, and restores them into another database', async () => {
    const postgres = createPostgresSource(new URL(source.url));
    const ctx = context({
      include: ['pgbench_*', 'KINDS'],
      exclude: ['pgbench_history'],
      target: target.url,
    });
    const summary = await backupToFile(postgres, part('some.dump'), ctx);
    expect(summary.records).toEqual({
      'public.kinds': 2003,
      'public.pgbench_accounts': 500_000,
      'public.pgbench_branches': 5,
      'public.pgbench_tellers': 50,
    });

    await postgres.checkTarget(opener(part('some.dump')), ctx);
    const restored = await postgres.restore(opener(part('some.dump')), ctx);
    expect(restored.records).toEqual(summary.records);
    const { 'public.pgbench_history': _history, 'sales dept.Order Lines': _lines, ...chosen } = before;
    expect(await checksums(target.url)).toEqual(chosen);
    expect(await postgres.count(ctx)).toEqual(summary.records);
  });

  it('refuses an include that matches no table, by name', async () => {
    const postgres = createPostgresSource(new URL(source.url));
    const error = await rejection(
      backupToFile(postgres, part('none.dump'), context({ include: ['pgbench_*', 'invoices'] })),
    );
    expect(error).toBeInstanceOf(UserError);
    expect(error.message).toMatch(
      /^Input "include": "invoices" matches no table of postgres:\/\/switchyard:\*\*\*@/,
    );
  });

  it('fail-if-exists names what is in the way and changes nothing', async () => {
    const postgres = createPostgresSource(new URL(source.url));
    await sql(target.url, 'CREATE SCHEMA "sales dept"; CREATE TABLE "sales dept"."Order Lines" (id int)');
    const untouched = await checksums(target.url);
    const ctx = context({ target: target.url });

    const refused = await rejection(postgres.checkTarget(opener(fullPart), ctx));
    expect(refused).toBeInstanceOf(UserError);
    const [, named] =
      /in mode fail-if-exists: 7 objects of the backup already exist there: (.*) and 2 more\. Restore into an empty database/.exec(
        refused.message,
      ) ?? [];
    const inTheWay = [
      'schema "sales dept"',
      'table "sales dept"."Order Lines"',
      'table public.kinds',
      'sequence public.kinds_id_seq',
      'table public.pgbench_accounts',
      'table public.pgbench_branches',
      'table public.pgbench_tellers',
    ];
    expect(named?.split(', ')).toHaveLength(5);
    for (const name of named?.split(', ') ?? []) expect(inTheWay).toContain(name);
    expect(refused.message).toMatch(
      new RegExp(
        `^Input "mode": Cannot restore postgres-127\\.0\\.0\\.1-${source.port}-switchyard into postgres://switchyard:\\*\\*\\*@127\\.0\\.0\\.1:${target.port}/switchyard`,
      ),
    );

    // Even without the check, the restore is one transaction: the first conflict undoes it all.
    const failed = await rejection(postgres.restore(opener(fullPart), ctx));
    expect(failed).toBeInstanceOf(UserError);
    expect(failed.message).toMatch(
      /^pg_restore could not restore .* \(mode fail-if-exists\); nothing was changed.*already exists/s,
    );
    expect(await checksums(target.url)).toEqual(untouched);
  });

  it('replace drops and recreates the objects of the backup, over changed data, and leaves others alone', async () => {
    await sql(
      target.url,
      `DELETE FROM pgbench_accounts WHERE aid % 2 = 0; UPDATE kinds SET j = '{"changed": true}';
       CREATE TABLE keep_me (id int); INSERT INTO keep_me VALUES (7)`,
    );
    const postgres = createPostgresSource(new URL(source.url));
    const ctx = context({ target: target.url, mode: 'replace' });
    await postgres.checkTarget(opener(fullPart), ctx);
    const restored = await postgres.restore(opener(fullPart), ctx);
    expect(restored.records).toEqual(fullSummary.records);
    const after = await checksums(target.url);
    expect(after).toEqual({ ...before, 'public.keep_me': after['public.keep_me'] });
    expect(after['public.keep_me']?.rows).toBe(1);
  });

  it('merge adds the rows to existing tables, never moves a sequence back, and fails whole on a duplicate', async () => {
    const postgres = createPostgresSource(new URL(source.url));
    const ctx = context({ include: ['kinds'], target: target.url, mode: 'merge' });
    await backupToFile(postgres, part('kinds.dump'), ctx);
    await sql(target.url, "TRUNCATE kinds; SELECT setval('kinds_id_seq', 5000)");

    await postgres.checkTarget(opener(part('kinds.dump')), ctx);
    const merged = await postgres.restore(opener(part('kinds.dump')), ctx);
    expect(merged.records).toEqual({ 'public.kinds': 2003 });
    expect((await checksums(target.url))['public.kinds']).toEqual(before['public.kinds']);
    const [next] = await sql<{ id: string }>(target.url, "SELECT nextval('kinds_id_seq') AS id");
    expect(Number(next?.id)).toBe(5001);

    const duplicate = await rejection(postgres.restore(opener(part('kinds.dump')), ctx));
    expect(duplicate.message).toMatch(
      /^pg_restore could not restore .*\(mode merge\); nothing was changed.*duplicate key/s,
    );
    expect((await checksums(target.url))['public.kinds']).toEqual(before['public.kinds']);

    await sql(target.url, 'DROP TABLE pgbench_history');
    const missing = await rejection(postgres.checkTarget(opener(fullPart), ctx));
    expect(missing).toBeInstanceOf(UserError);
    expect(missing.message).toMatch(
      /in mode merge: merge adds rows to existing tables, and 1 table of the backup is missing there: table public\.pgbench_history\. Create them first/,
    );
  });

  it('reports a wrong password without showing it', async () => {
    const url = new URL(source.url);
    url.password = 'wrong-pw-123';
    const error = await rejection(backupToFile(createPostgresSource(url), part('denied.dump'), context()));
    expect(error).toBeInstanceOf(UserError);
    expect(error.message).toMatch(
      /^Cannot connect to postgres:\/\/switchyard:\*\*\*@127\.0\.0\.1:\d+\/switchyard: password authentication failed for user "switchyard"$/,
    );
    expect(error.message).not.toContain('wrong-pw-123');
  });

  it("fails the backup with pg_dump's own words, redacted, and never ends the part as if it were whole", async () => {
    // A pg_dump that writes half a part, complains in a way that leaks the password, and fails.
    const [real] = await findClients('pg_dump', (process.env.PATH ?? '').split(':'), systemRunner);
    const failing = path.join(scratch, 'failing');
    mkdirSync(failing, { recursive: true });
    writeFileSync(
      path.join(failing, 'pg_dump'),
      `#!/bin/sh\n[ "$1" = --version ] && exec '${real?.path}' --version\nprintf 'PGDMP-partial'\necho "pg_dump: error: connection lost to postgres://$PGUSER:$PGPASSWORD@$PGHOST" >&2\nexit 1\n`,
    );
    chmodSync(path.join(failing, 'pg_dump'), 0o755);
    const postgres = createPostgresSource(new URL(source.url), { clientDirs: [failing] });
    const through = new PassThrough();
    const ended = new Promise<string>((resolve) => {
      through.on('error', (error) => resolve(`destroyed: ${error.message}`));
      through.on('end', () => resolve('ended'));
      through.resume();
    });
    const error = await rejection(postgres.backup(through, context()));
    expect(error).toBeInstanceOf(UserError);
    // mask.ts blanks a URL's userinfo up to its first '@': of a password holding '@', a harmless tail may stay.
    expect(error.message).toMatch(
      /^pg_dump could not dump postgres:\/\/switchyard:\*\*\*@127\.0\.0\.1:\d+\/switchyard: pg_dump: error: connection lost to postgres:\/\/switchyard:\*\*\*@/,
    );
    expect(error.message).not.toContain(PASSWORD);
    expect(await ended).toBe(`destroyed: ${error.message}`);

    // And a real refusal: a forced row-level security policy would make the dump incomplete.
    await sql(
      source.url,
      `CREATE TABLE guarded (id int); INSERT INTO guarded VALUES (1);
       ALTER TABLE guarded ENABLE ROW LEVEL SECURITY; ALTER TABLE guarded FORCE ROW LEVEL SECURITY;
       CREATE POLICY nobody ON guarded USING (false)`,
    );
    try {
      const refused = await rejection(
        backupToFile(createPostgresSource(new URL(source.url)), part('guarded.dump'), context()),
      );
      expect(refused).toBeInstanceOf(UserError);
      expect(refused.message).toMatch(/row-level security policy for table "guarded"/);
      expect(refused.message).not.toContain(PASSWORD);
    } finally {
      await sql(source.url, 'DROP TABLE guarded');
    }
  });
});
