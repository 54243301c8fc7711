import type { InputTable } from '../inputs.js';
import type { Clock } from '../clock.js';
import { InputError, UserError } from '../errors.js';
import type { ProcessRunner } from '../process.js';

export type Color = 'blue' | 'green';

export const otherColor = (color: Color): Color => (color === 'blue' ? 'green' : 'blue');

/** Traffic shares in percent; they always add up to 100. */
export interface Weights {
  blue: number;
  green: number;
}

/** What the router showed when asked to prove the weights took effect. */
export interface Verification {
  ok: boolean;
  /** e.g. "40 samples through http://…: 9 green (22%), 31 blue" or "show servers state: blue 90, green 10". */
  detail: string;
  /** Measured green share in percent, when sampled. */
  measuredGreen?: number;
}

/** What one change may be stopped by. */
export interface ApplyOptions {
  /**
   * Stops the commands the change runs (router: command's executable, nginx's configuration test)
   * when aborted: pass the run's cancellation for a change forward, and none for the change that
   * puts traffic back after a cancellation, which must run to its end (bounded by its timeout).
   */
  signal?: AbortSignal;
}

/**
 * One way of steering traffic between blue and green. `apply` is atomic from the user's point of
 * view: it either takes effect or leaves the router serving exactly as before and throws a
 * UserError saying what failed. Each kind lives in its own file; `createRouter` picks one.
 */
export interface Router {
  /** The name its RouterKind registers (the `router` input's value). */
  readonly kind: string;
  /** The weights the router is serving now; undefined when it has never been set by switchyard. */
  read(): Promise<Weights | undefined>;
  apply(weights: Weights, options?: ApplyOptions): Promise<void>;
  verify(weights: Weights): Promise<Verification>;
}

/** Throws unless the weights are whole percentages that add up to 100 (what every router is built for). */
export function checkWeights(weights: Weights): void {
  const { blue, green } = weights;
  const percent = (n: number): boolean => Number.isInteger(n) && n >= 0 && n <= 100;
  if (!percent(blue) || !percent(green) || blue + green !== 100) {
    throw new UserError(
      `weights must be whole percentages adding up to 100; got blue ${blue}, green ${green}`,
      'Invalid weights',
    );
  }
}

export interface RouterOptions {
  /** host:port of each blue server, of each green server. */
  blue: string[];
  green: string[];
  nginx: {
    upstreamFile?: string;
    upstreamName: string;
    /** argv, already split. Default ['nginx', '-t']. */
    testCommand: string[];
    /** argv, already split. Default ['nginx', '-s', 'reload']. */
    reloadCommand: string[];
  };
  haproxy: {
    /** A unix socket path, or host:port for the runtime API over TCP. */
    socket?: string;
    backend?: string;
    blueServer?: string;
    greenServer?: string;
    /**
     * The `server-state-file` that haproxy.cfg declares in `global` (read at start with
     * `load-server-state-from-file global`). After every change the router saves `show servers state`
     * there, so the weights survive a restart or reload of HAProxy. Without it they live in memory only.
     */
    stateFile?: string;
  };
  /** argv of the user's executable (router: command). */
  command?: string[];
  /** How long router: command's executable may run (router-command-timeout); default 30 s. */
  commandTimeoutMs?: number;
  /** A URL whose responses name their colour (x-switchyard-color header or body), sampled by verify(). */
  verifyUrl?: string;
  runner: ProcessRunner;
  clock: Clock;
  log: (line: string) => void;
}

/**
 * One kind of router, as ROUTER_KINDS lists it: its name, the checks of the inputs only it reads,
 * and its factory. `create` is only called once `check` and the shared checks found nothing, so it
 * may take the inputs `check` requires as present.
 */
export interface RouterKind<Name extends string = string, Inputs extends InputTable = InputTable> {
  readonly kind: Name;
  /** The inputs only this kind reads, in the order the deploy action lists them. */
  readonly inputs: Inputs;
  /** Every problem with this kind's inputs, each naming its input; nothing is read, written or run. */
  check(options: RouterOptions): InputError[];
  create(options: RouterOptions): Router;
}

/** The problem of `input` being absent (undefined, empty, or an empty list) when router `kind` needs it. */
export function required(kind: string, input: string, value: unknown): InputError[] {
  const empty = value === undefined || value === '' || (Array.isArray(value) && value.length === 0);
  return empty ? [new InputError(input, `is required with router: ${kind}`)] : [];
}
