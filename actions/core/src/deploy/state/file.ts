import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { makeDirectory, writeFileAtomic, writeTemporaryBeside } from '../../atomic-write.js';
import { errorCode, messageOf, UserError } from '../../errors.js';
import {
  INITIAL_STATE,
  checkState,
  lockWaiter,
  startHeartbeat,
  type DeployState,
  type HeldLock,
  type LockOptions,
  type LockOwner,
  type StateStore,
  LockLostError,
} from './state.js';

/**
 * Deploy state as one JSON file, plus two files beside it:
 *
 * - `PATH.lock` — the deploy lock, held for a whole command (minutes). JSON naming its owner, with a
 *   heartbeat rewritten every staleAfterMs/3. It is created with link(2) from a complete temporary
 *   file, which fails with EEXIST when the lock exists: a reader never sees a half-written lock.
 * - `PATH.mutex` — held for milliseconds around every read-modify-write: of the state (update()) and
 *   of an existing lock file (heartbeat, release, take-over). Created the same way.
 *
 * Why take-over is safe when several waiters find the same stale lock at once: replacing a lock
 * file only ever happens under the mutex, and only after reading the lock file again there and
 * finding it byte-for-byte what was judged stale. The first waiter through the mutex replaces it
 * with its own lock (an atomic rename, so the lock file never disappears and no outsider can slip in
 * a create); every later one reads the winner's fresh lock, finds it differs from the stale one, and
 * goes back to waiting. The one operation outside the mutex — creating a lock where there is none —
 * is exclusive by itself.
 *
 * The mutex can be left behind too (a process killed inside update()). It is stale when its process
 * is gone (same host) or it is older than MUTEX_STALE_MS. Breaking it: rename it to a unique name
 * (only one breaker can move a given file), then read what was moved; if it is not the stale file
 * that was judged (a faster breaker already replaced it with a live one), link it back. That last
 * step could fail only if yet another process created a mutex in the microseconds between the
 * rename and the link, after two processes judged the same one stale at the same moment.
 */
export class FileStateStore implements StateStore {
  readonly location: string;
  private readonly lockFile: string;
  private readonly mutexFile: string;
  private readonly held = new Set<HeldLock>();
  private readonly tokens = new WeakMap<HeldLock, string>();

  constructor(readonly file: string) {
    this.location = `file:${file}`;
    this.lockFile = `${file}.lock`;
    this.mutexFile = `${file}.mutex`;
  }

  async read(): Promise<DeployState> {
    let text: string;
    try {
      text = await fs.readFile(this.file, 'utf8');
    } catch (error) {
      if (errorCode(error) === 'ENOENT') return structuredClone(INITIAL_STATE);
      throw new UserError(
        `cannot read the deploy state file ${this.file}: ${messageOf(error)}`,
        'Deploy state',
        this.file,
      );
    }
    return parseState(text, this.file);
  }

  async update(change: (state: DeployState) => DeployState, lock?: HeldLock): Promise<DeployState> {
    const token = lock && this.tokens.get(lock);
    if (lock && token === undefined) throw new LockLostError(this.lockFile);
    try {
      return await this.withMutex(async () => {
        // Under the mutex every lock change happens too: checked here, the lock cannot change before the write.
        if (token !== undefined) await this.checkLock(token);
        const current = await this.read();
        const next = { ...change(structuredClone(current)), revision: current.revision + 1 };
        await writeFileAtomic(this.file, `${JSON.stringify(next, null, 2)}\n`);
        return next;
      });
    } catch (error) {
      throw this.fileFailure(error);
    }
  }

  async lock(owner: LockOwner, options: LockOptions): Promise<HeldLock> {
    try {
      return await this.acquire(owner, options);
    } catch (error) {
      throw this.fileFailure(error);
    }
  }

  async close(): Promise<void> {
    // A lock that cannot be released now goes stale and is taken over by the next run.
    await Promise.all([...this.held].map((lock) => lock.release().catch(() => undefined)));
  }

  /** A file system refusal (a read-only or full disk, permissions) as something the user can act on. */
  private fileFailure(error: unknown): unknown {
    const syscall = (error as NodeJS.ErrnoException | undefined)?.syscall;
    if (error instanceof UserError || typeof syscall !== 'string') return error;
    return new UserError(
      `cannot use the deploy state at ${this.file}: ${messageOf(error)}`,
      'Deploy state',
      this.file,
    );
  }

  private async acquire(owner: LockOwner, options: LockOptions): Promise<HeldLock> {
    const { staleAfterMs } = options;
    await makeDirectory(path.dirname(this.file));
    const token = randomBytes(12).toString('hex');
    const acquiredAt = new Date().toISOString();
    const ours = (): LockRecord => ({
      id: owner.id,
      description: owner.description,
      token,
      pid: process.pid,
      hostname: os.hostname(),
      acquiredAt,
      heartbeatAt: new Date().toISOString(),
    });
    const waitFor = lockWaiter(this.lockFile, options);
    for (;;) {
      if (await createExclusive(this.lockFile, serialize(ours()))) return this.hold(token, staleAfterMs);
      const holder = await this.readLock();
      if (!holder) continue; // released between our create and our read
      const stale = staleness(holder, staleAfterMs);
      if (stale) {
        const tookOver = await this.withMutex(async () => {
          const again = await this.readLock();
          if (again?.raw !== holder.raw) return false;
          await writeFileAtomic(this.lockFile, serialize(ours()));
          return true;
        });
        if (tookOver) return this.hold(token, staleAfterMs, `${holder.description} (${stale})`);
        continue;
      }
      await waitFor(holder);
    }
  }

  /** Keeps the heartbeat going until released; a real timer, as other processes judge it by the wall clock. */
  private hold(token: string, staleAfterMs: number, tookOverFrom?: string): HeldLock {
    const heartbeat = startHeartbeat(
      (stopped) =>
        this.withMutex(async () => {
          const record = (await this.readLock())?.record;
          if (record?.token !== token) return false;
          if (!stopped())
            await writeFileAtomic(
              this.lockFile,
              serialize({ ...record, heartbeatAt: new Date().toISOString() }),
            );
          return true;
        }),
      staleAfterMs / 3,
    );
    const lock: HeldLock = {
      tookOverFrom,
      check: async () => {
        try {
          await this.withMutex(() => this.checkLock(token));
        } catch (error) {
          throw this.fileFailure(error);
        }
      },
      release: async () => {
        if (!this.held.delete(lock)) return;
        await heartbeat.stop();
        try {
          await this.withMutex(async () => {
            const current = await this.readLock();
            if (current?.token === token) await fs.rm(this.lockFile, { force: true });
          });
        } catch (error) {
          throw this.fileFailure(error);
        }
      },
    };
    this.held.add(lock);
    this.tokens.set(lock, token);
    return lock;
  }

  /** Throws LockLostError unless the lock file is ours; call it holding the mutex. */
  private async checkLock(token: string): Promise<void> {
    const current = await this.readLock();
    if (current?.token !== token) throw new LockLostError(this.lockFile, current?.description);
  }

  private async readLock(): Promise<LockHolder | undefined> {
    let raw: string;
    let mtimeMs: number;
    try {
      const handle = await fs.open(this.lockFile, 'r');
      try {
        raw = await handle.readFile('utf8');
        mtimeMs = (await handle.stat()).mtimeMs;
      } finally {
        await handle.close();
      }
    } catch (error) {
      if (errorCode(error) === 'ENOENT') return undefined;
      throw error;
    }
    const record = parseLockRecord(raw);
    if (record) return { ...record, raw, record };
    // Written by hand or by something else: an owner we cannot name, judged by when it was written.
    const at = new Date(mtimeMs).toISOString();
    return {
      raw,
      description: `an unreadable lock file (${this.lockFile})`,
      acquiredAt: at,
      heartbeatAt: at,
    };
  }

  /** Runs `work` holding PATH.mutex; waits (briefly, it is held for milliseconds) while another process has it. */
  private async withMutex<T>(work: () => Promise<T>): Promise<T> {
    await makeDirectory(path.dirname(this.file));
    const token = randomBytes(12).toString('hex');
    const mine = JSON.stringify({
      token,
      pid: process.pid,
      hostname: os.hostname(),
      at: new Date().toISOString(),
    });
    const started = Date.now();
    let pause = 1;
    while (!(await createExclusive(this.mutexFile, mine))) {
      const holder = await readMutex(this.mutexFile);
      if (!holder) continue;
      if (isMutexStale(holder)) {
        await breakStaleFile(this.mutexFile, holder.raw);
        continue;
      }
      if (Date.now() - started > MUTEX_WAIT_MS) {
        throw new UserError(
          `the deploy state file ${this.file} has been busy for ${Math.round(MUTEX_WAIT_MS / 1000)} s ` +
            `(${this.mutexFile} is held by ${holder.who}). If no switchyard run is using it, delete ${this.mutexFile}.`,
          'Deploy state busy',
          this.file,
        );
      }
      // Jittered, so a crowd of updaters does not retry in lock-step.
      await delay(pause + Math.random() * pause);
      pause = Math.min(pause * 2, 25);
    }
    try {
      return await work();
    } finally {
      const current = await readMutex(this.mutexFile).catch(() => undefined);
      if (current?.raw === mine) await fs.rm(this.mutexFile, { force: true });
    }
  }
}

/** The mutex is held for the milliseconds of one read-modify-write; this old, its holder is stuck or gone. */
const MUTEX_STALE_MS = 30_000;
const MUTEX_WAIT_MS = 60_000;

interface LockRecord {
  id: string;
  description: string;
  token: string;
  pid: number;
  hostname: string;
  /** ISO times. */
  acquiredAt: string;
  heartbeatAt: string;
}

interface LockHolder {
  raw: string;
  description: string;
  acquiredAt: string;
  heartbeatAt: string;
  token?: string;
  pid?: number;
  hostname?: string;
  record?: LockRecord;
}

function serialize(record: LockRecord): string {
  return `${JSON.stringify(record, null, 2)}\n`;
}

function parseLockRecord(raw: string): LockRecord | undefined {
  try {
    const value = JSON.parse(raw) as Partial<LockRecord> | null;
    if (
      typeof value?.token === 'string' &&
      typeof value.description === 'string' &&
      typeof value.pid === 'number' &&
      typeof value.hostname === 'string' &&
      typeof value.acquiredAt === 'string' &&
      typeof value.heartbeatAt === 'string' &&
      !Number.isNaN(Date.parse(value.heartbeatAt))
    ) {
      return value as LockRecord;
    }
  } catch {
    // falls through: not a lock we wrote
  }
  return undefined;
}

/** Why the holder is stale, or undefined while it is alive. */
function staleness(holder: LockHolder, staleAfterMs: number): string | undefined {
  if (holder.pid !== undefined && holder.hostname === os.hostname() && !isAlive(holder.pid)) {
    return `process ${holder.pid} on ${holder.hostname} is gone`;
  }
  const silentMs = Date.now() - Date.parse(holder.heartbeatAt);
  if (silentMs > staleAfterMs) return `no heartbeat for ${Math.round(silentMs / 1000)} s`;
  return undefined;
}

function isAlive(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it exists but belongs to another user.
    return errorCode(error) !== 'ESRCH';
  }
}

interface MutexHolder {
  raw: string;
  who: string;
  pid?: number;
  hostname?: string;
  atMs: number;
}

async function readMutex(file: string): Promise<MutexHolder | undefined> {
  let raw: string;
  let mtimeMs: number;
  try {
    [raw, { mtimeMs }] = await Promise.all([fs.readFile(file, 'utf8'), fs.stat(file)]);
  } catch (error) {
    if (errorCode(error) === 'ENOENT') return undefined;
    throw error;
  }
  try {
    const value = JSON.parse(raw) as { pid?: unknown; hostname?: unknown; at?: unknown };
    if (typeof value.pid === 'number' && typeof value.hostname === 'string' && typeof value.at === 'string') {
      return {
        raw,
        who: `process ${value.pid} on ${value.hostname} since ${value.at}`,
        pid: value.pid,
        hostname: value.hostname,
        atMs: Date.parse(value.at),
      };
    }
  } catch {
    // falls through
  }
  return { raw, who: 'an unknown process', atMs: mtimeMs };
}

function isMutexStale(holder: MutexHolder): boolean {
  if (holder.pid !== undefined && holder.hostname === os.hostname() && !isAlive(holder.pid)) return true;
  return !(Date.now() - holder.atMs <= MUTEX_STALE_MS);
}

/** Removes `file` if it still holds `judged`; see the class comment for why the rename comes first. */
async function breakStaleFile(file: string, judged: string): Promise<void> {
  const aside = `${file}.stale-${randomBytes(6).toString('hex')}`;
  try {
    await fs.rename(file, aside);
  } catch (error) {
    if (errorCode(error) === 'ENOENT') return; // someone else broke it
    throw error;
  }
  try {
    const moved = await fs.readFile(aside, 'utf8');
    if (moved !== judged) {
      await fs.link(aside, file).catch((error: unknown) => {
        if (errorCode(error) !== 'EEXIST') throw error;
      });
    }
  } finally {
    await fs.rm(aside, { force: true });
  }
}

/** Creates `file` holding `content`, or returns false when it exists. Never leaves a partial file. */
async function createExclusive(file: string, content: string): Promise<boolean> {
  const temp = await writeTemporaryBeside(file, content);
  try {
    await fs.link(temp, file);
    return true;
  } catch (error) {
    if (errorCode(error) === 'EEXIST') return false;
    throw error;
  } finally {
    await fs.rm(temp, { force: true });
  }
}

function parseState(text: string, file: string): DeployState {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw corrupt(file, `is not valid JSON (${messageOf(error)})`);
  }
  const problem = checkState(value);
  if (problem) throw corrupt(file, problem);
  return value as DeployState;
}

function corrupt(file: string, problem: string): UserError {
  return new UserError(
    `the deploy state file ${file} ${problem}. It was left as it is: repair it, or move it away to start ` +
      `a new history (the colours' traffic and releases are then unknown to switchyard).`,
    'Deploy state unreadable',
    file,
  );
}

const delay = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
