import { readlinkSync } from 'node:fs';
import os from 'node:os';
import { count, formatBytes } from '../summary.js';
import type { BackupOwner, BackupStore, Leftover } from './store.js';

/**
 * A folder without a manifest whose writer cannot be asked (another host, no record) is left
 * alone until nothing in it has changed for this long: a running backup keeps appending to its
 * part, and 6 h is the longest a GitHub-hosted job runs.
 */
export const LEFTOVER_IDLE_MS = 6 * 3_600_000;

/** Who is writing, as a backup records it beside its parts, and whether a process still runs. */
export interface Processes {
  self(): Omit<BackupOwner, 'startedAt'>;
  running(pid: number): boolean;
}

export const systemProcesses: Processes = {
  self: () => ({ pid: process.pid, host: os.hostname(), pidNamespace: pidNamespace() }),
  running(pid) {
    try {
      process.kill(pid, 0);
      return true;
    } catch (error) {
      // EPERM: it runs, as another user.
      return (error as NodeJS.ErrnoException).code === 'EPERM';
    }
  },
};

/**
 * Containers can share a host name but not their process ids: only a pid from our own pid
 * namespace can be looked up. Undefined off Linux.
 */
function pidNamespace(): string | undefined {
  try {
    return readlinkSync('/proc/self/ns/pid');
  } catch {
    return undefined;
  }
}

/**
 * Removes what dead backups left in the store (a folder without a manifest: a reserved id, a
 * `.tmp` part), never the files of one that may still be running: see docs/backup.md, "prune".
 */
export async function removeLeftovers(
  store: BackupStore,
  options: { now: number; processes: Processes; log: (line: string) => void },
): Promise<string[]> {
  if (!store.leftovers) return [];
  const removed: string[] = [];
  const self = options.processes.self();
  for (const leftover of await store.leftovers()) {
    const verdict = judge(leftover, self, options);
    if (verdict.keep) {
      options.log(`Kept ${leftover.id}: no manifest yet, ${verdict.why}`);
      continue;
    }
    await store.removeLeftover?.(leftover);
    removed.push(leftover.id);
    options.log(
      `Removed the leftovers of the ${leftover.removing ? 'interrupted removal of backup' : 'interrupted backup'} ${leftover.id} ` +
        `(${verdict.why}): ${count(leftover.files, 'file')}, ${formatBytes(leftover.bytes)}`,
    );
  }
  return removed;
}

function judge(
  leftover: Leftover,
  self: Omit<BackupOwner, 'startedAt'>,
  options: { now: number; processes: Processes },
): { keep: boolean; why: string } {
  if (leftover.removing) return { keep: false, why: 'moved aside by a removal that did not finish' };
  const owner = leftover.owner;
  const here =
    owner !== undefined &&
    owner.host === self.host &&
    (owner.pidNamespace === undefined ||
      self.pidNamespace === undefined ||
      owner.pidNamespace === self.pidNamespace);
  if (here) {
    // Only the id is known to belong to us: our own pid cannot be a dead backup's.
    if (owner.pid === self.pid || options.processes.running(owner.pid))
      return { keep: true, why: `its process ${owner.pid} on this host is running` };
    return { keep: false, why: `no manifest; its process ${owner.pid} on this host is gone` };
  }
  const idle = options.now - leftover.lastWriteMs;
  const by = owner ? `process ${owner.pid} on ${owner.host}` : 'an unknown process';
  const hours = (ms: number) => `${(ms / 3_600_000).toFixed(1)} h`;
  if (idle >= LEFTOVER_IDLE_MS)
    return { keep: false, why: `no manifest; nothing written for ${hours(idle)}, by ${by}` };
  return {
    keep: true,
    why: `written ${hours(idle)} ago by ${by} (removed after ${LEFTOVER_IDLE_MS / 3_600_000} h without a write)`,
  };
}
