import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { makeDirectory, syncDirectory } from '../../atomic-write.js';
import { InputError, UserError, errorCode } from '../../errors.js';
import { MANIFEST_FILE, partNameProblem } from '../manifest.js';
import type { BackupOwner, BackupStore, Leftover } from '../store.js';

/**
 * `local:DIR` — backups as folders on this machine: `DIR/<id>/<part files>` and
 * `DIR/<id>/manifest.json`.
 *
 * Every file is written under a temporary name, flushed to disk and renamed, so no reader ever
 * sees part of a file under its final name. The manifest goes last: until its rename, the folder
 * is an interrupted backup, which list() and readManifest() do not see. remove() first moves the
 * folder aside, so a half-removed backup is never listed either.
 */
export function createLocalStore(dir: string, options: { cwd?: string } = {}): BackupStore {
  return new LocalStore(path.resolve(options.cwd ?? process.cwd(), dir));
}

class LocalStore implements BackupStore {
  readonly location: string;

  constructor(private readonly dir: string) {
    this.location = `local:${dir}`;
  }

  async reserve(id: string, owner?: BackupOwner): Promise<boolean> {
    const folder = await this.folder(id, false);
    try {
      await makeDirectory(this.dir);
      // Not recursive: EEXIST is the answer "taken", decided by the file system for both runs.
      await fs.mkdir(folder);
    } catch (error) {
      if (errorCode(error) === 'EEXIST') return false;
      throw this.failure(error, `create ${folder}`);
    }
    // prune tells a dead backup's folder from a running one's by this record.
    if (owner)
      await this.writeSmallFile(id, OWNER_FILE, JSON.stringify(owner), `record who writes backup ${id}`);
    return true;
  }

  async writePart(id: string, name: string, data: Readable): Promise<void> {
    const folder = await this.folder(id, true);
    const final = path.join(folder, partFile(name));
    const temporary = path.join(folder, `.${partFile(name)}.${randomBytes(6).toString('hex')}.tmp`);
    try {
      const handle = await fs.open(temporary, 'wx', 0o600);
      try {
        for await (const chunk of data) {
          const bytes = typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer);
          let offset = 0;
          while (offset < bytes.length) offset += (await handle.write(bytes, offset)).bytesWritten;
        }
        await handle.sync();
      } finally {
        await handle.close();
      }
      await fs.rename(temporary, final);
      await syncDirectory(folder);
    } catch (error) {
      await fs.rm(temporary, { force: true });
      throw this.failure(error, `write part ${name} of backup ${id}`);
    }
  }

  async readPart(id: string, name: string): Promise<Readable> {
    const file = path.join(await this.folder(id, false), partFile(name));
    try {
      const handle = await fs.open(file, 'r');
      return handle.createReadStream();
    } catch (error) {
      if (errorCode(error) === 'ENOENT')
        throw new UserError(`backup ${id} in ${this.location} has no part ${name}`, 'Backup store');
      throw this.failure(error, `read part ${name} of backup ${id}`);
    }
  }

  async writeManifest(id: string, manifest: string): Promise<void> {
    await this.writeSmallFile(id, MANIFEST_FILE, manifest, `write the manifest of backup ${id}`);
    // Complete now: who wrote it no longer matters (and a leftover record would be harmless).
    await fs.rm(path.join(await this.folder(id, false), OWNER_FILE), { force: true });
  }

  async readManifest(id: string): Promise<string | undefined> {
    return this.readSmallFile(id, MANIFEST_FILE, `read the manifest of backup ${id}`);
  }

  async writeMark(id: string, mark: 'verified', text: string): Promise<void> {
    if (!(await this.readManifest(id)))
      throw new UserError(`backup ${id} is not in ${this.location}`, 'Backup store');
    await this.writeSmallFile(id, markFile(mark), text, `mark backup ${id} as ${mark}`);
  }

  async removeMark(id: string, mark: 'verified'): Promise<void> {
    const folder = await this.folder(id, false);
    try {
      await fs.rm(path.join(folder, markFile(mark)), { force: true });
      await syncDirectory(folder);
    } catch (error) {
      throw this.failure(error, `remove the ${mark} mark of backup ${id}`);
    }
  }

  async readMark(id: string, mark: 'verified'): Promise<string | undefined> {
    return this.readSmallFile(id, markFile(mark), `read the ${mark} mark of backup ${id}`);
  }

  /** Writes a file of the backup's folder under a temporary name, then renames it into place. */
  private async writeSmallFile(id: string, name: string, text: string, doing: string): Promise<void> {
    const folder = await this.folder(id, true);
    const temporary = path.join(folder, `.${name}.${randomBytes(6).toString('hex')}.tmp`);
    try {
      const handle = await fs.open(temporary, 'wx', 0o600);
      try {
        await handle.writeFile(text, 'utf8');
        await handle.sync();
      } finally {
        await handle.close();
      }
      await fs.rename(temporary, path.join(folder, name));
      await syncDirectory(folder);
    } catch (error) {
      await fs.rm(temporary, { force: true });
      throw this.failure(error, doing);
    }
  }

  private async readSmallFile(id: string, name: string, doing: string): Promise<string | undefined> {
    const file = path.join(await this.folder(id, false), name);
    try {
      return await fs.readFile(file, 'utf8');
    } catch (error) {
      const code = errorCode(error);
      if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
      throw this.failure(error, doing);
    }
  }

  /** What the store's directory holds; nothing when it does not exist yet. */
  private async entries(): Promise<string[]> {
    try {
      return await fs.readdir(this.dir);
    } catch (error) {
      if (errorCode(error) === 'ENOENT') return [];
      throw this.failure(error, 'list backups');
    }
  }

  async list(): Promise<string[]> {
    const names = await this.entries();
    const listed = await Promise.all(
      names.map(async (name) => {
        if (idProblem(name)) return undefined;
        const stats = await fs.stat(path.join(this.dir, name, MANIFEST_FILE)).catch(() => undefined);
        return stats?.isFile() ? name : undefined;
      }),
    );
    return listed.filter((name): name is string => name !== undefined);
  }

  async leftovers(): Promise<Leftover[]> {
    const names = await this.entries();
    const found = await Promise.all(
      names.map(async (name): Promise<Leftover | undefined> => {
        const aside = /^\.(.+)\.removing-[0-9a-f]+$/.exec(name);
        if (!aside && idProblem(name)) return undefined;
        const folder = path.join(this.dir, name);
        const stats = await fs.stat(path.join(folder, MANIFEST_FILE)).catch(() => undefined);
        if (!aside && stats) return undefined;
        const contents = await filesOf(folder);
        if (!contents) return undefined;
        const ownerText = contents.names.includes(OWNER_FILE)
          ? await fs.readFile(path.join(folder, OWNER_FILE), 'utf8').catch(() => undefined)
          : undefined;
        return {
          id: aside?.[1] ?? name,
          name,
          owner: ownerText ? parseOwner(ownerText) : undefined,
          removing: aside !== null,
          lastWriteMs: contents.lastWriteMs,
          files: contents.names.length,
          bytes: contents.bytes,
        };
      }),
    );
    return found.filter((leftover): leftover is Leftover => leftover !== undefined);
  }

  async removeLeftover(leftover: Leftover): Promise<void> {
    if (!leftover.removing) return this.remove(leftover.id);
    await fs.rm(path.join(this.dir, leftover.name), { recursive: true, force: true });
  }

  async remove(id: string): Promise<void> {
    const folder = await this.folder(id, false);
    const aside = path.join(this.dir, `.${id}.removing-${randomBytes(6).toString('hex')}`);
    try {
      await fs.rename(folder, aside);
    } catch (error) {
      if (errorCode(error) === 'ENOENT') return;
      throw this.failure(error, `remove backup ${id}`);
    }
    await fs.rm(aside, { recursive: true, force: true });
  }

  /** The folder of backup `id` (created when `create`); refuses ids that are not plain names. */
  private async folder(id: string, create: boolean): Promise<string> {
    const problem = idProblem(id);
    if (problem) throw new InputError('id', problem);
    const folder = path.join(this.dir, id);
    if (create) {
      try {
        await makeDirectory(folder);
      } catch (error) {
        throw this.failure(error, `create ${folder}`);
      }
    }
    return folder;
  }

  private failure(error: unknown, doing: string): unknown {
    if (error instanceof UserError) return error;
    const message = error instanceof Error ? error.message : String(error);
    return new UserError(`cannot ${doing} in ${this.location}: ${message}`, 'Backup store');
  }
}

/** Why `id` cannot name a backup (a folder here, a cache key or artifact name elsewhere), or undefined when it can. */
export function idProblem(id: string): string | undefined {
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$/.test(id) || id.includes('..'))
    return `${JSON.stringify(id)} is not a backup id: use up to 200 letters, digits, ".", "_" and "-", starting with a letter or digit (no path separators, no "..")`;
  return undefined;
}

/** The record of who writes a backup: a dot file, so never a part name, and never uploaded. */
const OWNER_FILE = '.owner.json';

function parseOwner(text: string): BackupOwner | undefined {
  try {
    const owner = JSON.parse(text) as Partial<BackupOwner>;
    if (typeof owner.pid !== 'number' || typeof owner.host !== 'string') return undefined;
    return {
      pid: owner.pid,
      host: owner.host,
      pidNamespace: typeof owner.pidNamespace === 'string' ? owner.pidNamespace : undefined,
      startedAt: String(owner.startedAt ?? ''),
    };
  } catch {
    return undefined;
  }
}

/** A folder's files (parts are flat), their bytes, and when it or any of them last changed. */
async function filesOf(
  folder: string,
): Promise<{ names: string[]; bytes: number; lastWriteMs: number } | undefined> {
  const own = await fs.stat(folder).catch(() => undefined);
  if (!own?.isDirectory()) return undefined;
  const names: string[] = [];
  let bytes = 0;
  let lastWriteMs = own.mtimeMs;
  for (const name of await fs.readdir(folder).catch(() => [])) {
    const stats = await fs.lstat(path.join(folder, name)).catch(() => undefined);
    if (!stats) continue;
    names.push(name);
    bytes += stats.size;
    lastWriteMs = Math.max(lastWriteMs, stats.mtimeMs);
  }
  return { names, bytes, lastWriteMs };
}

/** Marks live beside the parts; part names start with their kind, so they never meet. */
function markFile(mark: 'verified'): string {
  return `${mark}.mark.json`;
}

/** A part's file name, refusing anything that could leave the backup's folder or hit the manifest or a mark. */
function partFile(name: string): string {
  const problem = partNameProblem(name);
  if (problem) throw new UserError(`${JSON.stringify(name)} ${problem}`, 'Backup store');
  return name;
}
