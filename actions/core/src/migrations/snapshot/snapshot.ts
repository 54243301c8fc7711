/**
 * A snapshot of the data a migration must not lose: per table its shape, its exact row count and
 * a checksum of its content; per Redis key pattern how many keys of which type, and how many
 * expire. `snapshot` writes one before and after a migration; `compare` checks the two against
 * the `expect` lines.
 */
export const SNAPSHOT_FORMAT = 1;

export interface TableSnapshot {
  /** "schema.table", as PostgreSQL names it (quoted only where it must be). */
  name: string;
  columns: { name: string; type: string; nullable: boolean; default?: string }[];
  /** sha256 of the columns, constraints and indexes, normalised: equal when the shape is. */
  schemaDigest: string;
  /** The exact row count (count(*)), never an estimate. */
  rows: number;
  /**
   * sha256 over every row's text, in primary-key order (without a primary key, in the order of
   * the rows' own hashes), folded batch by batch. With `sample`, over the sampled rows only: then
   * `sampled` says the fraction (tables up to 100,000 rows are always read whole).
   */
  checksum: string;
  primaryKey?: string[];
  /** Present when `sample` took a fraction of a large table: the checksum is then probabilistic. */
  sampled?: { fraction: number; rows: number };
}

export interface KeyPatternSnapshot {
  /** e.g. "user:*:profile": numeric, hex and uuid parts of key names replaced by `*`. */
  pattern: string;
  keys: number;
  /** Keys per Redis type (string, hash, list, set, zset, stream). */
  types: Record<string, number>;
  /** How many of them have a TTL. */
  withTtl: number;
}

export interface Snapshot {
  format: typeof SNAPSHOT_FORMAT;
  takenAt: string;
  postgres?: {
    /** server_version, e.g. "17.2". */
    server: string;
    database: string;
    tables: TableSnapshot[];
  };
  redis?: {
    database: number;
    keys: number;
    patterns: KeyPatternSnapshot[];
  };
}
