import type { Clock } from '../../clock.js';
import type { Color, Weights } from '../../routers/router.js';

/** What a colour runs. */
export interface Release {
  version: string;
  sha?: string;
  /** ISO time it was staged. */
  stagedAt: string;
}

/** One line of the deploy history, newest last. */
export interface HistoryEntry {
  /** ISO time. */
  at: string;
  command: 'stage' | 'shift' | 'promote' | 'rollback';
  /** The workflow actor (GITHUB_ACTOR) or the local user. */
  actor: string;
  version?: string;
  sha?: string;
  weights: Weights;
  verdict: 'started' | 'succeeded' | 'failed' | 'rolled-back' | 'interrupted';
  reason?: string;
}

/** A promotion that was under way; present while running, and left behind when a run was killed. */
export interface PromotionInProgress {
  id: string;
  from: Color;
  to: Color;
  version?: string;
  sha?: string;
  /** ISO time. */
  startedAt: string;
  /** Index into `steps` of the step being held. */
  step: number;
  steps: number[];
  owner: string;
}

export interface DeployState {
  /** Increases by one with every write; lets readers spot a concurrent change. */
  revision: number;
  active: Color;
  weights: Weights;
  releases: Partial<Record<Color, Release>>;
  promotion?: PromotionInProgress;
  history: HistoryEntry[];
}

export const INITIAL_STATE: DeployState = {
  revision: 0,
  active: 'blue',
  weights: { blue: 100, green: 0 },
  releases: {},
  history: [],
};

/** Who holds (or wants) the deploy lock. */
export interface LockOwner {
  /** Unique per run: e.g. "run 123456 attempt 1 (octocat) pid 4242 on runner-1". */
  id: string;
  /** For the "held by" message. */
  description: string;
}

export interface LockOptions {
  /** How long to wait for a held lock before failing with a message naming the holder. */
  timeoutMs: number;
  /** A lock whose heartbeat is older than this is stale and may be taken over. */
  staleAfterMs: number;
  clock: Clock;
  /** Called while waiting, at most every few seconds: who holds it, and for how long we've waited. */
  onWait?: (holder: string, waitedMs: number) => void;
}

export interface HeldLock {
  /** Whether the lock was taken over from a stale holder (whose description is given). */
  tookOverFrom?: string;
  /** Releases the lock (and stops its heartbeat). Idempotent. */
  release(): Promise<void>;
}

/**
 * Where deploy state and the deploy lock live: `file:PATH` (default) or `redis://…`. One file per
 * kind. Writes are atomic: a reader sees the old state or the new one, never a torn one.
 */
export interface StateStore {
  /** Human description without credentials, e.g. "file:/var/lib/switchyard/state.json". */
  readonly location: string;
  read(): Promise<DeployState>;
  /** Applies `change` to the current state and writes the result atomically; returns it. */
  update(change: (state: DeployState) => DeployState): Promise<DeployState>;
  /** Takes the deploy lock, waiting up to `timeoutMs`; keeps a heartbeat until released. */
  lock(owner: LockOwner, options: LockOptions): Promise<HeldLock>;
  close(): Promise<void>;
}
