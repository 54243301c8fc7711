import type { Router, Verification, Weights } from '../../actions/core/src/routers/router.js';
import {
  INITIAL_STATE,
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
  async verify(weights: Weights): Promise<Verification> {
    return { ok: true, detail: `set to blue ${weights.blue} / green ${weights.green}` };
  }
}

/** State in memory, with a lock that is always free. */
export class MemoryStore implements StateStore {
  readonly location = 'memory';
  constructor(public state: DeployState = structuredClone(INITIAL_STATE)) {}
  async read(): Promise<DeployState> {
    return structuredClone(this.state);
  }
  async update(change: (state: DeployState) => DeployState): Promise<DeployState> {
    this.state = { ...change(structuredClone(this.state)), revision: this.state.revision + 1 };
    return structuredClone(this.state);
  }
  async lock(): Promise<HeldLock> {
    return { release: async () => undefined };
  }
  async close(): Promise<void> {}
}
