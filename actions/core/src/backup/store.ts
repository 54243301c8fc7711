import type { Readable } from 'node:stream';

/**
 * Where backups live: `local:DIR` (default), `actions-cache`, `artifact`; one file per kind under
 * stores/. A backup is a folder of parts plus manifest.json; the manifest is written last and
 * atomically, so a backup without one was interrupted and is neither listed nor restorable.
 */
export interface BackupStore {
  /** Human description, e.g. "local:/var/backups/switchyard". */
  readonly location: string;
  /**
   * Claims `id` for a new backup: false when a backup, complete or interrupted, holds it. Atomic
   * where the store allows, so two runs starting in the same second never share an id.
   */
  reserve(id: string, owner?: BackupOwner): Promise<boolean>;
  /** Streams one part of backup `id` into the store. */
  writePart(id: string, name: string, data: Readable): Promise<void>;
  /** Opens one part for reading (may be called several times). */
  readPart(id: string, name: string): Promise<Readable>;
  /** Writes manifest.json last, atomically: only then does the backup exist. */
  writeManifest(id: string, manifest: string): Promise<void>;
  /** The manifest text, or undefined when the backup has none (interrupted, or unknown id). */
  readManifest(id: string): Promise<string | undefined>;
  /** Ids of the backups that have a manifest, in any order. */
  list(): Promise<string[]>;
  /**
   * Records a fact about a finished backup beside it — `verified`: when `verify` last passed, and
   * what it checked (prune never deletes the newest verified backup). Replaces an earlier mark.
   */
  writeMark(id: string, mark: 'verified', text: string): Promise<void>;
  /** Takes the mark back (a verify that failed): readMark then answers undefined. */
  removeMark(id: string, mark: 'verified'): Promise<void>;
  /** The mark's text, or undefined when there is none. */
  readMark(id: string, mark: 'verified'): Promise<string | undefined>;
  /** Removes a backup (parts and manifest). */
  remove(id: string): Promise<void>;
  /**
   * What interrupted backups left: folders without a manifest, and removals that did not finish
   * (stores whose unfinished backups never outlive their run have none).
   */
  leftovers?(): Promise<Leftover[]>;
  removeLeftover?(leftover: Leftover): Promise<void>;
}

/** The process writing a backup, recorded when its id is reserved (prune asks whether it still runs). */
export interface BackupOwner {
  pid: number;
  host: string;
  /** Linux: the pid namespace, since containers can share a host name but not their pids. */
  pidNamespace?: string;
  startedAt: string;
}

export interface Leftover {
  id: string;
  /** The store's own name for it (a folder). */
  name: string;
  owner?: BackupOwner;
  /** A removal moved it aside and did not finish: nobody writes it any more. */
  removing: boolean;
  /** The last time anything in it changed (ms since the epoch). */
  lastWriteMs: number;
  files: number;
  bytes: number;
}
