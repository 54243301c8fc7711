import type { Readable } from 'node:stream';

/**
 * Where backups live: `local:DIR` (default), `actions-cache`, `artifact`; one file per kind under
 * stores/. A backup is a folder of parts plus manifest.json; the manifest is written last and
 * atomically, so a backup without one was interrupted and is neither listed nor restorable.
 */
export interface BackupStore {
  /** Human description, e.g. "local:/var/backups/switchyard". */
  readonly location: string;
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
  /** Removes a backup (parts and manifest). */
  remove(id: string): Promise<void>;
}
