import type { Router, Verification, Weights } from '../../actions/core/src/routers/router.js';
import { UserError } from '../../actions/core/src/errors.js';
import {
  INITIAL_STATE,
  LockLostError,
  type DeployState,
  type HeldLock,
  type StateStore,
} from '../../actions/core/src/deploy/state/state.js';

/** A router that only remembers: for engine tests that must not depend on nginx. */
export class RecordingRouter implements Router {
  readonly kind = 'command' as const;
  applied: Weights[] = [];
  failNextApply?: string;
  async read(): Promise<Weights | undefined> {
    return this.applied[this.applied.length - 1];
  }
  async apply(weights: Weights): Promise<void> {
    if (this.failNextApply) {
      const message = this.failNextApply;
      this.failNextApply = undefined;
      throw new Error(message);
    }
    this.applied.push(weights);
  }
  /** Makes the next verification fail with this detail (once). */
  failVerify?: string;
  async verify(weights: Weights): Promise<Verification> {
    if (this.failVerify) {
      const detail = this.failVerify;
      this.failVerify = undefined;
      return { ok: false, detail };
    }
    return { ok: true, detail: `set to blue ${weights.blue} / green ${weights.green}` };
  }
}

/** State in memory, with a lock that is always free. */
export class MemoryStore implements StateStore {
  readonly location = 'memory';
  constructor(public state: DeployState = structuredClone(INITIAL_STATE)) {}
  /** Set to a holder's description (or '' for "gone") to make the lock lost from then on. */
  lostTo?: string;
  /** Set to make every call fail from then on, as an unreachable store does. */
  down?: string;
  async read(): Promise<DeployState> {
    if (this.down) throw new UserError(this.down, 'Deploy state');
    return structuredClone(this.state);
  }
  async update(change: (state: DeployState) => DeployState, lock?: HeldLock): Promise<DeployState> {
    if (this.down) throw new UserError(this.down, 'Deploy state');
    if (lock) await lock.check();
    this.state = { ...change(structuredClone(this.state)), revision: this.state.revision + 1 };
    return structuredClone(this.state);
  }
  async lock(): Promise<HeldLock> {
    return {
      check: async () => {
        if (this.down) throw new UserError(this.down, 'Deploy state');
        if (this.lostTo !== undefined) throw new LockLostError('memory', this.lostTo || undefined);
      },
      release: async () => undefined,
    };
  }
  async close(): Promise<void> {}
}
