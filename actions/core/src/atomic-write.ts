import { randomBytes } from 'node:crypto';
import { mkdir, open, rename, rm, stat, type FileHandle } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { errorCode } from './errors.js';

/** What a file is written from: text, bytes, or a stream of either (a backup part). */
export type FileData = string | Uint8Array | AsyncIterable<string | Uint8Array>;

export interface AtomicWriteOptions {
  /** Permission bits of the new file, applied after creation so the umask cannot narrow them. */
  mode?: number;
}

// A leading dot and a `.tmp` end: `include *.conf`, globs and directory listings pass it by, and a
// run killed between write and rename leaves something `isLeftoverTemporary` recognises.
const TEMPORARY = /^\..+\.switchyard-\d+-[0-9a-f]{12}\.tmp$/;

/** The name of a temporary file a killed run left behind (safe to delete once no run is active). */
export function isLeftoverTemporary(name: string): boolean {
  return TEMPORARY.test(basename(name));
}

async function writeAll(handle: FileHandle, data: FileData): Promise<void> {
  if (typeof data === 'string' || data instanceof Uint8Array) {
    await handle.writeFile(data);
    return;
  }
  for await (const chunk of data) {
    const bytes = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    let offset = 0;
    while (offset < bytes.length) offset += (await handle.write(bytes, offset)).bytesWritten;
  }
}

/**
 * Writes `data` to a new temporary file beside `file` (same directory, so a rename cannot cross
 * file systems), flushed to disk, and returns its path for the caller to rename or link into place.
 * On failure nothing is left behind.
 */
export async function writeTemporaryBeside(
  file: string,
  data: FileData,
  options: AtomicWriteOptions = {},
): Promise<string> {
  const temporary = join(
    dirname(file),
    `.${basename(file)}.switchyard-${process.pid}-${randomBytes(6).toString('hex')}.tmp`,
  );
  const mode = options.mode ?? 0o644;
  let handle: FileHandle | undefined;
  try {
    handle = await open(temporary, 'wx', mode);
    await writeAll(handle, data);
    if (options.mode !== undefined) await handle.chmod(mode);
    await handle.sync();
    await handle.close();
    return temporary;
  } catch (error) {
    await handle?.close().catch(() => {});
    await rm(temporary, { force: true });
    throw error;
  }
}

/**
 * `mkdir -p` that cannot hang. Node's recursive mkdir loops forever where the system answers
 * ENOENT for a folder whose parent exists (under /proc or /sys: `store: local:/proc/x` spun a
 * core and ignored SIGTERM); here each missing folder is made in turn, and that ENOENT is an error.
 */
export async function makeDirectory(directory: string): Promise<void> {
  const missing: string[] = [];
  for (let at = resolve(directory); ;) {
    try {
      await stat(at);
      break;
    } catch (error) {
      if (errorCode(error) !== 'ENOENT') throw error;
      missing.unshift(at);
      const parent = dirname(at);
      if (parent === at) break;
      at = parent;
    }
  }
  for (const folder of missing) {
    try {
      await mkdir(folder);
    } catch (error) {
      if (errorCode(error) !== 'EEXIST') throw error;
    }
  }
}

/** Makes a rename durable. Some platforms cannot open a directory: the rename is then as durable as it gets. */
export async function syncDirectory(directory: string): Promise<void> {
  let handle: FileHandle | undefined;
  try {
    handle = await open(directory, 'r');
    await handle.sync();
  } catch {
    // Best effort: the data itself was flushed before the rename.
  } finally {
    await handle?.close().catch(() => {});
  }
}

/**
 * Replaces (or creates) `file` so that readers see the old content or the new, never part of one,
 * even after a crash: a flushed temporary file beside it, renamed over it, the directory synced.
 * Errors are the file system's own; callers say what they were writing.
 */
export async function writeFileAtomic(
  file: string,
  data: FileData,
  options: AtomicWriteOptions = {},
): Promise<void> {
  const temporary = await writeTemporaryBeside(file, data, options);
  try {
    await rename(temporary, file);
  } catch (error) {
    await rm(temporary, { force: true });
    throw error;
  }
  await syncDirectory(dirname(file));
}
