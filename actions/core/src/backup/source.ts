import { InputError } from '../errors.js';
import type { Readable, Writable } from 'node:stream';
import { urlItem } from '../inputs.js';
import type { ProcessRunner } from '../process.js';
import type { PatternSyntax } from './patterns.js';
import type { SourceName } from './sources/index.js';

/**
 * One kind of data a backup can hold (a PostgreSQL database, a Redis database, files). Each kind
 * lives in its own file under sources/. A source writes and reads its part as an uncompressed
 * byte stream: compression, checksums and storage are the backup engine's business, so every
 * source gets them alike and never holds a whole part in memory.
 */
export interface BackupSource {
  readonly kind: SourceName;
  /** The source as it may be shown: credentials redacted. */
  readonly display: string;
  /** A file-name-safe stem for its part, e.g. "postgres-127.0.0.1-5432-shop". */
  readonly partName: string;
  /** Streams the part into `out` and ends it; resolves with what it wrote. */
  backup(out: Writable, context: SourceContext): Promise<PartSummary>;
  /**
   * Checks, before anything is written, that the target can take this part in `mode`; throws a
   * UserError naming what is in the way. `open` re-reads the part (it may be called again).
   */
  checkTarget(open: () => Readable, context: RestoreContext): Promise<void>;
  /** Restores the part read from `open()` into the target; resolves with what it restored. */
  restore(open: () => Readable, context: RestoreContext): Promise<PartSummary>;
  /** The same counts `backup` reports, read from the target now (to confirm a restore). */
  count(context: SourceContext): Promise<Record<string, number>>;
  close(): Promise<void>;
}

export interface SourceContext {
  /** Tables (postgres), key patterns (redis) or globs (file) to take; empty = everything. */
  include: string[];
  exclude: string[];
  /** Progress lines, at most every few seconds: bytes and records per second. */
  log: (line: string) => void;
  signal?: AbortSignal;
}

export type RestoreMode = 'fail-if-exists' | 'replace' | 'merge';

export interface RestoreContext extends SourceContext {
  mode: RestoreMode;
  /**
   * Where to restore instead of the source itself: a URL of the same scheme (postgres, redis) or
   * a directory (file). Undefined restores over the source.
   */
  target?: string;
}

export interface PartSummary {
  /** Records per group: rows per table, keys per pattern and type ("string", "hash"…), files/links/dirs. */
  records: Record<string, number>;
  /** Facts for the manifest: server version, dump format, … */
  facts: Record<string, string | number>;
}

/**
 * The restore target holds data the chosen `mode` may not touch (or lacks what it needs). It names
 * the `mode` input, since choosing another mode or an empty target is the fix.
 */
export class TargetInTheWay extends InputError {
  constructor(detail: string) {
    super('mode', detail);
  }
}

/** One line of `sources`, as its kind read it: a database URL, or a path or glob. */
export type SourceSpec = UrlSourceSpec | PathSourceSpec;

export interface UrlSourceSpec {
  kind: SourceName;
  url: URL;
  /** The line as written. */
  raw: string;
}

export interface PathSourceSpec {
  kind: SourceName;
  path: string;
  raw: string;
}

/** What opening a source may need. */
export interface OpenOptions {
  cwd: string;
  env: Record<string, string | undefined>;
  runner: ProcessRunner;
}

/**
 * One kind of source, as SOURCE_KINDS lists it: how its `sources` lines start and are read, what
 * its include/exclude patterns look like, what its parts are called, and its factory.
 */
export interface SourceKind<Spec extends SourceSpec = SourceSpec, Name extends string = SourceName> {
  readonly kind: Name;
  /** What its `sources` lines start with, lower-cased: URL schemes (`redis:`, `rediss:`) or `file:`. */
  readonly schemes: readonly string[];
  /** How its lines are written, for messages: `redis://…`. */
  readonly written: string;
  /** What its parts hold, before the compression's own suffix: `.pgdump`. */
  readonly suffix: string;
  readonly patterns: PatternSyntax;
  /** A `sources` line starting with one of `schemes`; a string says what is wrong with it. */
  parse(entry: string): Spec | string;
  /**
   * The line a manifest recorded a part's source as (credentials redacted), taken as it is: the
   * manifest was checked as a whole, and a restore without `sources` goes back exactly there.
   */
  recorded(source: string): Spec;
  open(spec: Spec, options: OpenOptions): BackupSource;
  /**
   * Where a part of this kind is restored when `target` is not read as one of its `sources` lines;
   * without it, `target` must be a line of this kind.
   */
  openTarget?(target: string, options: OpenOptions): BackupSource;
}

/** What a kind whose sources are URLs with one of `schemes` reads them with. */
export function urlSourceKind<Name extends SourceName>(
  kind: Name,
  schemes: readonly string[],
): Pick<SourceKind<UrlSourceSpec, Name>, 'kind' | 'schemes' | 'parse' | 'recorded'> {
  return {
    kind,
    schemes,
    parse(entry) {
      const url = urlItem(schemes)(entry);
      return typeof url === 'string' ? url : { kind, url, raw: entry };
    },
    recorded: (source) => ({ kind, url: new URL(source), raw: source }),
  };
}
