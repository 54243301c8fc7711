import { z } from 'zod';
import { formatDuration } from '../../analysis/evidence.js';
import type { Clock } from '../../clock.js';
import { UserError } from '../../errors.js';
import type { Color, Weights } from '../../routers/router.js';

/** What a colour runs. */
export interface Release {
  version: string;
  sha?: string;
  /** ISO time it was staged. */
  stagedAt: string;
  /** The GitHub deployment that made it live, to mark inactive when it stops serving. */
  deploymentId?: number;
  /** ISO time this build first had all the traffic; absent while untested or failed (rollback never picks it then). */
  liveAt?: string;
  /** Set while a stage of this version runs, and left when it failed: such a build is never promoted or rolled back to. */
  stage?: 'started' | 'failed';
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
  /** frozen: a failing promotion held its split instead of rolling back (a contract-phase migration was applied). */
  verdict: 'started' | 'succeeded' | 'failed' | 'rolled-back' | 'interrupted' | 'inconclusive' | 'frozen';
  reason?: string;
}

/**
 * A promotion that failed after a contract-phase migration was applied, and so held the split it
 * had instead of putting the old colour back (the old code would break on the new schema).
 * Stays until a promotion goes forward to 100% or a rollback is forced (force-rollback): rollback,
 * shift and stage refuse while it stands, so traffic never drifts back to the old code by default.
 */
export interface FrozenPromotion {
  /** ISO time it froze. */
  at: string;
  from: Color;
  to: Color;
  version?: string;
  sha?: string;
  /** The split held. */
  weights: Weights;
  /** Why the promotion failed. */
  reason: string;
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
  /** The GitHub deployment this promotion opened: whoever finishes it (rollback, a restart) closes it. */
  deploymentId?: number;
}

export interface DeployState {
  /** Increases by one with every write; lets readers spot a concurrent change. */
  revision: number;
  active: Color;
  weights: Weights;
  releases: Partial<Record<Color, Release>>;
  promotion?: PromotionInProgress;
  /** Set while traffic is frozen mid-promotion (see FrozenPromotion). */
  frozen?: FrozenPromotion;
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
  /** Throws LockLostError unless the lock is still ours: call it before every traffic change. */
  check(): Promise<void>;
  /** Releases the lock (and stops its heartbeat). Idempotent. */
  release(): Promise<void>;
}

/**
 * The deploy lock is no longer ours: it expired while we stalled, another run took it, or the
 * store lost it (a Redis restarted empty). `holder` names the run that holds it now, if any: then
 * that run owns the router and this one must touch nothing.
 */
export class LockLostError extends UserError {
  constructor(
    readonly location: string,
    readonly holder?: string,
  ) {
    super(
      holder
        ? `lost the deploy lock to ${holder} (${location}); this run stopped and left traffic to it`
        : `lost the deploy lock: it is gone from ${location} (expired, or the store lost it); this run stopped`,
      'Deploy lock lost',
    );
    this.name = 'LockLostError';
  }
}

/**
 * Where deploy state and the deploy lock live: `file:PATH` (default) or `redis://…`. One file per
 * kind. Writes are atomic: a reader sees the old state or the new one, never a torn one.
 */
export interface StateStore {
  /** Human description without credentials, e.g. "file:/var/lib/switchyard/state.json". */
  readonly location: string;
  read(): Promise<DeployState>;
  /**
   * Applies `change` to the current state and writes the result atomically; returns it. With
   * `lock`, the write happens only while that lock is still ours — checked in the same atomic
   * step — and otherwise throws LockLostError.
   */
  update(change: (state: DeployState) => DeployState, lock?: HeldLock): Promise<DeployState>;
  /** Takes the deploy lock, waiting up to `timeoutMs`; keeps a heartbeat until released. */
  lock(owner: LockOwner, options: LockOptions): Promise<HeldLock>;
  close(): Promise<void>;
}

// What every store shares: they must agree on what a valid state is and on what a waiting run is told.

const color = z.enum(['blue', 'green']);
const percent = z.number().int().min(0).max(100);
const weights = z
  .object({ blue: percent, green: percent })
  .refine((w) => w.blue + w.green === 100, 'blue and green must add up to 100');
const text = z.string().max(10_000);
const release = z.object({
  version: text,
  sha: text.optional(),
  stagedAt: text,
  deploymentId: z.number().int().optional(),
  liveAt: text.refine((t) => !Number.isNaN(Date.parse(t)), 'must be an ISO time').optional(),
  stage: z.enum(['started', 'failed']).optional(),
});
const historyEntry = z.object({
  at: text,
  command: z.enum(['stage', 'shift', 'promote', 'rollback']),
  actor: text,
  version: text.optional(),
  sha: text.optional(),
  weights,
  verdict: z.enum(['started', 'succeeded', 'failed', 'rolled-back', 'interrupted', 'inconclusive', 'frozen']),
  reason: text.optional(),
});
const promotion = z
  .object({
    id: text,
    from: color,
    to: color,
    version: text.optional(),
    sha: text.optional(),
    startedAt: text,
    step: z.number().int().min(0),
    steps: z.array(percent).min(1),
    owner: text,
    deploymentId: z.number().int().optional(),
  })
  .refine((p) => p.from !== p.to, 'promotes a colour over itself');
const frozen = z
  .object({
    at: text,
    from: color,
    to: color,
    version: text.optional(),
    sha: text.optional(),
    weights,
    reason: text,
  })
  .refine((f) => f.from !== f.to, 'freezes a colour over itself');
const stateSchema = z.object({
  revision: z.number().int().min(0),
  active: color,
  weights,
  releases: z.object({ blue: release.optional(), green: release.optional() }),
  promotion: promotion.optional(),
  frozen: frozen.optional(),
  history: z.array(historyEntry),
});

/**
 * What is wrong with a stored state, or undefined when it is a DeployState. Checked in full, so a
 * hand-edited or damaged file is refused with where it is wrong before anything (traffic
 * included) is changed on its word.
 */
export function checkState(value: unknown): string | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    return 'does not hold a JSON object';
  const parsed = stateSchema.safeParse(value);
  if (parsed.success) return undefined;
  const issue = parsed.error.issues[0];
  if (!issue) return 'is not a deploy state';
  const where = issue.path.length > 0 ? `"${issue.path.join('.')}"` : 'the state';
  if (issue.code === 'invalid_type' && /received undefined/.test(issue.message)) return `has no ${where}`;
  return `has an invalid ${where}: ${issue.message}`;
}

/** The holder of a lock as a store read it back. */
export interface LockHolderView {
  description: string;
  /** ISO times. */
  acquiredAt: string;
  heartbeatAt: string;
}

/** The message of a lock wait that ran out: who holds it, since when, and what to do. */
export function describeLockTimeout(lockLocation: string, holder: LockHolderView, timeoutMs: number): string {
  const silent = Math.max(0, Math.round((Date.now() - Date.parse(holder.heartbeatAt)) / 1000));
  return (
    `the deploy lock at ${lockLocation} is held by ${holder.description} since ${holder.acquiredAt} ` +
    `(heartbeat ${silent} s ago); waited ${formatDuration(timeoutMs)}. Wait for it to finish or cancel that run.`
  );
}

/** How often a waiting run looks at the lock: often enough to notice a release or a stale holder quickly. */
export function lockPollMs(options: Pick<LockOptions, 'timeoutMs' | 'staleAfterMs'>): number {
  return Math.min(1000, Math.max(20, Math.min(options.timeoutMs, options.staleAfterMs) / 10));
}

/**
 * A lock's heartbeat, every `everyMs` on a real timer: other processes judge staleness by the
 * wall clock, so an injected test clock must not drive it. `beat` resolves false once the lock is
 * no longer ours (taken over while we stalled), which ends the heartbeat; a failed beat (a full
 * disk, a blip in the connection) is retried on the next tick — staleness allows two misses.
 * The timer does not keep the process alive: a run that forgot to release can still exit, and
 * its lock then goes stale.
 */
export function startHeartbeat(
  beat: (stopped: () => boolean) => Promise<boolean>,
  everyMs: number,
): { stop(): Promise<void> } {
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let beating: Promise<void> = Promise.resolve();
  const schedule = () => {
    if (stopped) return;
    timer = setTimeout(
      () => {
        beating = beat(() => stopped).then(
          (ours) => {
            if (!ours) stopped = true;
          },
          () => undefined,
        );
        void beating.then(schedule);
      },
      Math.max(1, everyMs),
    );
    timer.unref();
  };
  schedule();
  return {
    stop: async () => {
      stopped = true;
      clearTimeout(timer);
      await beating;
    },
  };
}

/**
 * Waiting for a lock someone else holds, the same in every store: call the returned function each
 * time the lock is found held. It fails once `timeoutMs` has passed, naming the holder; says who
 * is being waited for at most every 5 s; and otherwise sleeps until the next look.
 */
export function lockWaiter(
  location: string,
  options: LockOptions,
): (holder: LockHolderView) => Promise<void> {
  const { clock, timeoutMs } = options;
  const started = clock.now();
  let reportedAt: number | undefined;
  return async (holder) => {
    const waited = clock.now() - started;
    if (waited >= timeoutMs) {
      throw new UserError(describeLockTimeout(location, holder, timeoutMs), 'Deploy lock held');
    }
    if (options.onWait && (reportedAt === undefined || clock.now() - reportedAt >= 5_000)) {
      reportedAt = clock.now();
      options.onWait(holder.description, waited);
    }
    await clock.sleep(Math.min(lockPollMs(options), timeoutMs - waited));
  };
}
