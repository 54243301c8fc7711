import { createHash } from 'node:crypto';
import type pg from 'pg';
import { connectPostgres } from '../../drivers.js';
import { InputError, messageOf, UserError } from '../../errors.js';
import { Secrets, redactUrl } from '../../mask.js';
import type { Snapshot, TableSnapshot } from './snapshot.js';

/*
 * The PostgreSQL half of `validate-migration snapshot`: for every table its shape, exact row count
 * and a content checksum, all read in one READ ONLY, REPEATABLE READ transaction, so the numbers
 * are of one moment even while the application writes.
 *
 * Which tables: ordinary and partitioned tables of every schema except pg_catalog,
 * information_schema, pg_toast and the other pg_* schemas, and not the tables an extension owns
 * (as the backup leaves them out: an ALTER EXTENSION … UPDATE would otherwise show as lost data).
 * A partitioned table is ONE entry, its rows and checksum taken over all its partitions; the
 * partitions themselves are not listed. So a migration that re-partitions a table, attaches or
 * detaches-and-reattaches partitions compares equal when the data is. An inheritance child (old
 * style, not a partition) is a table of its own, and its parent is read with ONLY.
 *
 * The checksum is computed in the database; per batch only one 32-byte digest crosses the wire:
 * - Every row is hashed as sha256 of its text form (`t::text`, UTF-8), with the settings that
 *   shape that text pinned for the transaction (DateStyle, IntervalStyle, TimeZone,
 *   extra_float_digits, bytea_output, lc_monetary, search_path), so two sessions with different
 *   defaults agree.
 * - With a primary key (and no sampling): keyset batches of BATCH_ROWS rows in primary-key order
 *   (`WHERE (pk) > (last) ORDER BY pk LIMIT n`, an index range scan each), each batch folded to
 *   sha256 of its rows' hashes in order; the checksum is sha256 of the batch digests in order. No
 *   sort, no temporary files; the server holds one batch of hashes (BATCH_ROWS × 32 bytes), this
 *   process one running hash. (Measured on 2M rows, PostgreSQL 15: one
 *   `string_agg(md5(t::text) ORDER BY pk)` took 3.8 s and 131 MB of backend memory; the batches take
 *   4.6 s and 4.5 MB.)
 * - Without a primary key, or sampled: the rows' hashes sorted (by the hash, so no collation can
 *   change the order), in groups by the hash's leading bits (about BATCH_ROWS rows per group, at
 *   most 65,536 groups), folded the same way. The sort is the server's, within work_mem, spilling to
 *   temporary files beyond it (2M rows: 4.5 s, 18 MB of backend memory).
 * Equal content gives equal checksums whatever the physical order (VACUUM FULL, CLUSTER, a dump and
 * restore). The checksum does depend on the column order and on the primary key (rows are in its
 * order, so adding or changing a primary key changes the checksum of unchanged data; `primaryKey`
 * shows why), and a text primary key orders by its collation.
 */

/** Rows per batch (primary-key order) or, roughly, per group (hash order). Part of the checksum's definition. */
const BATCH_ROWS = 10_000;
/** Tables of at most this many rows are checksummed whole even when `sample` is given: that is cheap. */
export const SAMPLE_MIN_ROWS = 100_000;
/** TABLESAMPLE's seed: the same seed picks the same rows of an unchanged table. */
const SAMPLE_SEED = 42;
const INPUT = 'database-url';

export interface PostgresSnapshotOptions {
  /** A fraction 0 < f ≤ 1 of the rows of large tables to checksum; 1 or absent: every row. */
  sample?: number;
  /** Only these schemas (default: every user schema). */
  schemas?: string[];
}

interface TableRef {
  oid: number;
  /** schema.table, quoted by quote_ident: the name in the snapshot and in our SQL. */
  quoted: string;
  partitioned: boolean;
}

interface ColumnRow {
  oid: number;
  name: string;
  quoted: string;
  type: string;
  nullable: boolean;
  default: string | null;
  identity: string;
  generated: string;
  collation: string | null;
}

export async function snapshotPostgres(
  url: string,
  options: PostgresSnapshotOptions = {},
): Promise<NonNullable<Snapshot['postgres']>> {
  const fraction = checkSample(options.sample);
  const secrets = new Secrets();
  secrets.addFromUrl(url);
  const display = redactUrl(url);
  const client = await connectPostgres(url, { input: INPUT, application: 'switchyard-snapshot', secrets });
  let doing = `reading the catalog of ${display}`;
  try {
    await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY');
    // A row-level security policy must fail the snapshot, not hide rows from it.
    await client.query(
      `SET LOCAL row_security = off; SET LOCAL search_path = ''; SET LOCAL DateStyle = 'ISO, YMD';
       SET LOCAL IntervalStyle = 'postgres'; SET LOCAL TimeZone = 'UTC'; SET LOCAL extra_float_digits = 1;
       SET LOCAL bytea_output = 'hex'; SET LOCAL lc_monetary = 'C'`,
    );
    const about = await client.query<{ server: string; database: string }>(
      `SELECT current_setting('server_version') AS server, current_database() AS database`,
    );
    const server = /^\S+/.exec(about.rows[0]?.server ?? '')?.[0] ?? 'unknown';
    const database = about.rows[0]?.database ?? '';
    if (options.schemas) await checkSchemas(client, options.schemas, display);

    const tables = await listTables(client, options.schemas);
    const shapes = await describeTables(
      client,
      tables.map((t) => t.oid),
    );
    const snapshots: TableSnapshot[] = [];
    for (const table of tables) {
      doing = `taking the checksum of ${table.quoted} in ${display}`;
      const shape = shapes.get(table.oid) ?? { columns: [], description: [], primaryKey: [] };
      snapshots.push({
        name: table.quoted,
        columns: shape.columns,
        schemaDigest: sha256Hex(shape.description.join('\n')),
        ...(await contentOf(client, table, shape, fraction)),
      });
    }
    await client.query('COMMIT');
    return { server, database, tables: snapshots };
  } catch (error) {
    if (error instanceof UserError) throw error;
    throw new UserError(
      `PostgreSQL failed while ${doing}: ${secrets.redact(messageOf(error))}`,
      'PostgreSQL',
    );
  } finally {
    await client.end().catch(() => undefined);
  }
}

function checkSample(sample: number | undefined): number {
  if (sample === undefined) return 1;
  if (!Number.isFinite(sample) || sample <= 0 || sample > 1)
    throw new InputError(
      'sample',
      `${sample} is not a fraction of the rows: give a number above 0 and at most 1, e.g. 0.1`,
    );
  return sample;
}

async function checkSchemas(client: pg.Client, schemas: string[], display: string): Promise<void> {
  const found = await client.query<{ name: string }>(
    'SELECT nspname AS name FROM pg_catalog.pg_namespace WHERE nspname = ANY($1::text[])',
    [schemas],
  );
  const known = new Set(found.rows.map((row) => row.name));
  const missing = schemas.filter((schema) => !known.has(schema));
  if (missing.length > 0)
    throw new InputError(
      'schemas',
      `${missing.map((name) => JSON.stringify(name)).join(', ')} ${missing.length === 1 ? 'is not a schema' : 'are not schemas'} of ${display}`,
    );
}

async function listTables(client: pg.Client, schemas: string[] | undefined): Promise<TableRef[]> {
  const result = await client.query<{ oid: string; quoted: string; kind: string }>(
    `SELECT c.oid::int8 AS oid, quote_ident(n.nspname) || '.' || quote_ident(c.relname) AS quoted,
            c.relkind::text AS kind
       FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
      WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition
        AND n.nspname <> 'information_schema' AND n.nspname !~ '^pg_'
        AND ($1::text[] IS NULL OR n.nspname = ANY($1::text[]))
        AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d
                         WHERE d.classid = 'pg_catalog.pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')
      ORDER BY n.nspname, c.relname`,
    [schemas ?? null],
  );
  return result.rows.map((row) => ({
    oid: Number(row.oid),
    quoted: row.quoted,
    partitioned: row.kind === 'p',
  }));
}

interface Shape {
  columns: TableSnapshot['columns'];
  /** Quoted column names and types of the primary key, in its order. */
  primaryKey: { name: string; quoted: string; type: string }[];
  /** The lines the schema digest is taken of. */
  description: string[];
}

/**
 * Columns (in their order: it is part of the shape, `SELECT *` sees it), then constraints and
 * indexes sorted, as PostgreSQL itself prints them (pg_get_constraintdef, pg_get_indexdef; with
 * an empty search_path every name in them is schema-qualified, the same in every session).
 */
async function describeTables(client: pg.Client, oids: number[]): Promise<Map<number, Shape>> {
  const shapes = new Map<number, Shape>(
    oids.map((oid) => [oid, { columns: [], primaryKey: [], description: [] }]),
  );
  const columns = await client.query<ColumnRow>(
    `SELECT a.attrelid::int8 AS oid, a.attname AS name, quote_ident(a.attname) AS quoted,
            pg_catalog.format_type(a.atttypid, a.atttypmod) AS type, NOT a.attnotnull AS nullable,
            pg_catalog.pg_get_expr(d.adbin, d.adrelid) AS default, a.attidentity::text AS identity,
            a.attgenerated::text AS generated,
            CASE WHEN a.attcollation <> t.typcollation THEN co.collname END AS collation
       FROM pg_catalog.pg_attribute a
       JOIN pg_catalog.pg_type t ON t.oid = a.atttypid
       LEFT JOIN pg_catalog.pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
       LEFT JOIN pg_catalog.pg_collation co ON co.oid = a.attcollation
      WHERE a.attrelid = ANY($1::oid[]) AND a.attnum > 0 AND NOT a.attisdropped
      ORDER BY a.attrelid, a.attnum`,
    [oids],
  );
  for (const row of columns.rows) {
    const shape = shapes.get(Number(row.oid));
    if (!shape) continue;
    shape.columns.push({
      name: row.name,
      type: row.type,
      nullable: row.nullable,
      ...(row.default === null ? {} : { default: row.default }),
    });
    shape.description.push(
      [
        `column ${row.quoted} ${row.type}`,
        row.nullable ? '' : ' not null',
        row.default === null
          ? ''
          : ` ${row.generated ? `generated ${row.generated}` : 'default'} ${row.default}`,
        row.identity ? ` identity ${row.identity}` : '',
        row.collation === null ? '' : ` collate ${row.collation}`,
      ].join(''),
    );
  }
  const byName = new Map(columns.rows.map((row) => [`${row.oid}/${row.name}`, row]));

  const constraints = await client.query<{ oid: string; line: string; key: string[] | null }>(
    `SELECT c.conrelid::int8 AS oid,
            'constraint ' || quote_ident(c.conname) || ' ' || pg_catalog.pg_get_constraintdef(c.oid, true) AS line,
            CASE WHEN c.contype = 'p' THEN
              ARRAY(SELECT a.attname::text FROM unnest(c.conkey) WITH ORDINALITY k(attnum, i)
                      JOIN pg_catalog.pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.attnum
                     ORDER BY k.i)
            END AS key
       FROM pg_catalog.pg_constraint c WHERE c.conrelid = ANY($1::oid[])`,
    [oids],
  );
  const indexes = await client.query<{ oid: string; line: string }>(
    `SELECT i.indrelid::int8 AS oid, 'index ' || pg_catalog.pg_get_indexdef(i.indexrelid) AS line
       FROM pg_catalog.pg_index i WHERE i.indrelid = ANY($1::oid[])`,
    [oids],
  );
  const rest = new Map<number, string[]>();
  for (const row of [...constraints.rows, ...indexes.rows]) {
    const oid = Number(row.oid);
    rest.set(oid, [...(rest.get(oid) ?? []), row.line]);
  }
  for (const row of constraints.rows) {
    const shape = shapes.get(Number(row.oid));
    if (!shape || !row.key) continue;
    shape.primaryKey = row.key.map((name) => {
      const column = byName.get(`${row.oid}/${name}`);
      return { name, quoted: column?.quoted ?? name, type: column?.type ?? 'text' };
    });
  }
  for (const [oid, lines] of rest) shapes.get(oid)?.description.push(...lines.sort());
  return shapes;
}

async function contentOf(
  client: pg.Client,
  table: TableRef,
  shape: Shape,
  fraction: number,
): Promise<Pick<TableSnapshot, 'rows' | 'checksum' | 'primaryKey' | 'sampled'>> {
  const primaryKey = shape.primaryKey.length > 0 ? { primaryKey: shape.primaryKey.map((c) => c.name) } : {};
  if (fraction === 1 && shape.primaryKey.length > 0) {
    const { rows, checksum } = await checksumByKey(client, table, shape.primaryKey);
    return { rows, checksum, ...primaryKey };
  }
  const from = `${table.partitioned ? '' : 'ONLY '}${table.quoted} t`;
  const counted = await client.query<{ n: string }>(`SELECT count(*) AS n FROM ${from}`);
  const rows = Number(counted.rows[0]?.n ?? 0);
  if (fraction === 1 || rows <= SAMPLE_MIN_ROWS) {
    const { checksum } = await checksumByHash(client, from, rows);
    return { rows, checksum, ...primaryKey };
  }
  // A sampled checksum is probabilistic: it sees only the sampled rows, so a change elsewhere goes
  // unnoticed. And BERNOULLI picks rows by their physical place (block and line), so the same seed
  // selects the same rows only while the table's layout is unchanged: after a rewrite (VACUUM FULL,
  // CLUSTER, an ALTER TABLE that rewrites, a dump and restore) or heavy updates, the sampled
  // checksum can differ although no data changed. The row count is always exact.
  const sampled = `${from} TABLESAMPLE BERNOULLI (${fraction * 100}) REPEATABLE (${SAMPLE_SEED})`;
  const { checksum, rows: sampledRows } = await checksumByHash(client, sampled, Math.round(rows * fraction));
  return { rows, checksum, ...primaryKey, sampled: { fraction, rows: sampledRows } };
}

const ROW_HASH = `pg_catalog.sha256(pg_catalog.convert_to(t::text, 'UTF8'))`;

/** Keyset batches in primary-key order: sha256 over the batches' digests. */
async function checksumByKey(
  client: pg.Client,
  table: TableRef,
  key: Shape['primaryKey'],
): Promise<{ rows: number; checksum: string }> {
  const from = `${table.partitioned ? '' : 'ONLY '}${table.quoted} t`;
  const columns = key.map((c) => `t.${c.quoted}`);
  const order = columns.join(', ');
  const after = `ROW(${order}) > ROW(${key.map((c, i) => `$${i + 1}::${c.type}`).join(', ')})`;
  const lastKey = key.map((_, i) => `max(b.k${i}) FILTER (WHERE b.rn = ${BATCH_ROWS}) AS k${i}`).join(', ');
  const batch = (where: string) =>
    `SELECT count(*) AS n, pg_catalog.sha256(string_agg(b.h, ''::bytea ORDER BY b.rn)) AS digest, ${lastKey}
       FROM (SELECT ${ROW_HASH} AS h, ${columns.map((c, i) => `${c}::text AS k${i}`).join(', ')},
                    row_number() OVER (ORDER BY ${order}) AS rn
               FROM ${from} ${where} ORDER BY ${order} LIMIT ${BATCH_ROWS}) b`;
  const first = batch('');
  const next = batch(`WHERE ${after}`);
  const hash = createHash('sha256');
  let rows = 0;
  let last: string[] | undefined;
  for (;;) {
    const result = await client.query<Record<string, string | Buffer | null>>(last ? next : first, last);
    const row = result.rows[0] ?? {};
    const n = Number(row.n ?? 0);
    rows += n;
    if (row.digest instanceof Buffer) hash.update(row.digest);
    if (n < BATCH_ROWS) break;
    last = key.map((_, i) => String(row[`k${i}`]));
  }
  return { rows, checksum: hash.digest('hex') };
}

/**
 * The rows' hashes sorted, grouped by their leading bits (a server-side cursor hands over one
 * digest per group): sha256 over the groups' digests in order.
 */
async function checksumByHash(
  client: pg.Client,
  from: string,
  expectedRows: number,
): Promise<{ rows: number; checksum: string }> {
  const bits = Math.min(16, Math.max(0, Math.ceil(Math.log2(expectedRows / BATCH_ROWS))));
  // OFFSET 0 keeps each row's hash computed once, not once per use.
  await client.query(
    `DECLARE switchyard_snapshot NO SCROLL CURSOR FOR
     SELECT count(*) AS n, pg_catalog.sha256(string_agg(s.h, ''::bytea ORDER BY s.h)) AS digest
       FROM (SELECT r.h, (get_byte(r.h, 0) * 256 + get_byte(r.h, 1)) >> ${16 - bits} AS g
               FROM (SELECT ${ROW_HASH} AS h FROM ${from} OFFSET 0) r OFFSET 0) s
      GROUP BY s.g ORDER BY s.g`,
  );
  const hash = createHash('sha256');
  let rows = 0;
  for (;;) {
    const result = await client.query<{ n: string; digest: Buffer }>('FETCH 1000 FROM switchyard_snapshot');
    for (const row of result.rows) {
      rows += Number(row.n);
      hash.update(row.digest);
    }
    if (result.rows.length < 1000) break;
  }
  await client.query('CLOSE switchyard_snapshot');
  return { rows, checksum: hash.digest('hex') };
}

function sha256Hex(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}
