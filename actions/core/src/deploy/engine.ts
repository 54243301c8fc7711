import { hostname, userInfo } from 'node:os';
import { checkHoldSettings } from '../analysis/evidence.js';
import { combineVerdicts, type GateVerdict, type Verdict } from '../analysis/gate.js';
import { judgeK6, k6GateSettings, type K6GateSettings } from '../analysis/k6-gate.js';
import type { Breach } from '../analysis/limits.js';
import { limitsFrom, probeOptionsFrom } from '../analysis/settings.js';
import { untilHealthy } from '../analysis/until-healthy.js';
import { watchTargets } from '../analysis/watch.js';
import type { Clock } from '../clock.js';
import { InputError, messageOf, UserError } from '../errors.js';
import { neutralise, type ActionIO } from '../io.js';
import { prepareBodyMatcher } from '../probes/body-matcher.js';
import { createProbe } from '../probes/index.js';
import type { Probe, ProbeOptions } from '../probes/probe.js';
import { formatCommand, outcomeOf, outputTail, succeeded, type ProcessRunner } from '../process.js';
import { githubClient, GitHubError, repoFromEnv } from '../github/client.js';
import { DeploymentRecorder, runLogUrl, type DeploymentOutcome } from '../github/deployments.js';
import {
  NothingToRevert,
  openRollbackPullRequest,
  RollbackPullRequestError,
  type RollbackPullRequestResult,
} from '../rollback-pr/index.js';
import { createRouter } from '../routers/index.js';
import { otherColor, type Color, type Router, type Weights } from '../routers/router.js';
import { formatMs, formatPercent } from '../summary.js';
import {
  describePlan,
  planPromotion,
  resumeFrom,
  weightsFor,
  type DeployInputs,
  type PromotionPlan,
} from './plan.js';
import { openStateStore } from './state/index.js';
import {
  LockLostError,
  type DeployState,
  type FrozenPromotion,
  type HeldLock,
  type HistoryEntry,
  type Release,
  type LockOwner,
  type StateStore,
} from './state/state.js';

export interface DeployDeps {
  io: ActionIO;
  clock: Clock;
  runner: ProcessRunner;
  /** Aborts on SIGINT/SIGTERM (a cancelled workflow). */
  signal?: AbortSignal;
  /** Replaceable for tests. */
  router?: Router;
  store?: StateStore;
  createProbe?: (target: URL, options: ProbeOptions) => Probe;
  /** The environment being deployed (names the GitHub deployment). */
  environment?: string;
  /** Where relative paths (a file: state) resolve; the process's cwd by default. */
  cwd?: string;
  /** Wall-clock time for the history's timestamps; `new Date()` by default. */
  date?: () => Date;
}

/** One point of the promotion's timeline: what the weights were and what the analysis saw. */
export interface TimelinePoint {
  /** ms since the command started. */
  at: number;
  weights: Weights;
  event?: string;
  errorRate?: number;
  p95?: number;
}

export interface DeployResult {
  command: DeployInputs['command'];
  active: Color;
  previous?: Color;
  /** The colour the command leaves without traffic, and its servers (where a load test goes). */
  idle: { color: Color; servers: string[] };
  weights: Weights;
  rolledBack: boolean;
  reason?: string;
  /** The command did what it was asked (a rollback caused by a breach is not success). */
  succeeded: boolean;
  /** The last gate verdict of a promotion. */
  verdict?: Verdict;
  plan?: PromotionPlan;
  timeline: TimelinePoint[];
  breach?: Breach;
  /** Breach detected → previous colour verified at 100%, in ms. */
  restoreMs?: number;
  state: DeployState;
  router?: { verified?: string };
  /** The rollback pull request opened or updated after the rollback (rollback-pr: true). */
  pullRequest?: RollbackPullRequestResult;
  /** Why the rollback pull request could not be opened: traffic is safe all the same. */
  pullRequestError?: RollbackPullRequestError;
  /**
   * The freeze this command made: its promotion failed after a contract-phase migration, and the
   * split was held instead of rolled back. (`state.frozen` says whether traffic is frozen now.)
   */
  froze?: FrozenPromotion;
  /**
   * What stopped the command, when something did after it began (a router or state store
   * failure, a lost lock): reported as the action's error once outputs, summary and report are
   * written. Bad input found before anything changed is thrown instead.
   */
  error?: Error;
}

/** History kept in the state; older entries are dropped. */
const HISTORY_LIMIT = 200;
/** A lock whose holder has not shown life for this long is stale. */
const LOCK_STALE_MS = 30_000;
/** stage polls the idle colour at most this far apart. */
const STAGE_POLL_MS = 1000;

function describeWeights(weights: Weights): string {
  return `blue ${weights.blue}% / green ${weights.green}%`;
}

/** "25% green (blue 75% / green 25%)": the held split, led by the new colour's share. */
export function describeFreeze(frozen: Pick<FrozenPromotion, 'to' | 'weights'>): string {
  return `${frozen.weights[frozen.to]}% ${frozen.to} (${describeWeights(frozen.weights)})`;
}

/**
 * Why traffic does not go back, and what to do: one text for the freeze's error, status, and the
 * refusals of rollback, shift and stage. `from` runs the old code.
 */
export function freezeAdvice(from: Color, to: Color, share: number): string {
  return (
    `A contract-phase migration was applied (migration-phase: contract): ${from}'s code predates it and would break on the new schema, ` +
    `wherever it still uses the columns, tables or constraints the migration dropped, renamed or tightened. ` +
    `To go on: fix forward — stage the fix (it goes over ${to}, which keeps its ${share}%) and promote, which resumes ${to} from ${share}%, forward only; ` +
    `or restore the database from the backup taken before the migration, then run rollback with force-rollback: true. ` +
    `Until then rollback and shift refuse.`
  );
}

/** Runs one deploy command. Holds the deploy lock for everything that changes traffic or state. */
export async function deploy(inputs: DeployInputs, deps: DeployDeps): Promise<DeployResult> {
  return new DeployRun(inputs, deps).execute();
}

/**
 * The action's engine: as `deploy`, but a refusal made once the state was read (a rollback to an
 * untested build, a stage that failed, a router that disagrees) also comes back as a failed
 * result, so `active`, `weights` and the report say where traffic is.
 */
export async function deployForAction(inputs: DeployInputs, deps: DeployDeps): Promise<DeployResult> {
  const run = new DeployRun(inputs, deps);
  try {
    return await run.execute();
  } catch (error) {
    const refused = run.refused(error);
    if (refused) return refused;
    throw error;
  }
}

/**
 * One deploy command from start to end. Every way it ends — success, a breach, a cancellation, a
 * router or state failure, a lost lock — comes back as a DeployResult built by `result()`, so the
 * action writes its outputs, summary and report on every path.
 */
export class DeployRun {
  private readonly io: ActionIO;
  private readonly clock: Clock;
  private readonly started: number;
  private readonly timeline: TimelinePoint[] = [];
  private store!: StateStore;
  private routerInstance?: Router;
  private lock?: HeldLock;
  private state!: DeployState;

  constructor(
    private readonly inputs: DeployInputs,
    private readonly deps: DeployDeps,
  ) {
    this.io = deps.io;
    this.clock = deps.clock;
    this.started = deps.clock.now();
  }

  async execute(): Promise<DeployResult> {
    const { inputs } = this;
    this.store = this.deps.store ?? openStateStore(inputs.state, { cwd: this.deps.cwd ?? process.cwd() });
    try {
      this.state = await this.store.read();
      if (inputs.command === 'status') return await this.status();
      if (inputs.command === 'plan') return this.plan();
      this.checkCommandInputs();
      if (inputs.command === 'revert') return await this.revert();
      // The router's own input checks, and a regex RE2 refuses: before the lock or any record.
      void this.router;
      if (inputs['expect-body']) await prepareBodyMatcher(inputs['expect-body']);
      this.lock = await this.store.lock(this.owner(), {
        timeoutMs: inputs['lock-timeout'],
        staleAfterMs: LOCK_STALE_MS,
        clock: this.clock,
        onWait: (holder, waited) =>
          this.io.info(`waiting for the deploy lock, held by ${holder} (${formatMs(waited)})`),
      });
      if (this.lock.tookOverFrom)
        this.io.warning(`took over a stale deploy lock from ${this.lock.tookOverFrom}`);
      try {
        this.state = await this.store.read();
        switch (inputs.command) {
          case 'stage':
            return await this.stage();
          case 'shift':
            return await this.shift();
          case 'rollback':
            return await this.withPullRequest(await this.rollback(inputs.reason));
          case 'promote':
            return await this.promote();
        }
      } finally {
        await this.lock.release().catch((error: unknown) => {
          if (!(error instanceof UserError)) throw error;
          this.io.warning(`could not release the deploy lock: ${error.message}`);
        });
      }
    } finally {
      await this.store.close();
    }
  }

  // --- what every command shares ---

  private get router(): Router {
    this.routerInstance ??= this.deps.router ?? this.buildRouter();
    return this.routerInstance;
  }

  private at(): number {
    return this.clock.now() - this.started;
  }

  private now(): string {
    return (this.deps.date?.() ?? new Date()).toISOString();
  }

  private actor(): string {
    const env = this.io.env;
    if (env.GITHUB_ACTOR) return env.GITHUB_ACTOR;
    try {
      return userInfo().username;
    } catch {
      return 'unknown';
    }
  }

  private owner(): LockOwner {
    const env = this.io.env;
    const run = env.GITHUB_RUN_ID ? `run ${env.GITHUB_RUN_ID}/${env.GITHUB_RUN_ATTEMPT ?? 1}` : 'local run';
    return {
      id: `${env.GITHUB_RUN_ID ?? 'local'}-${env.GITHUB_RUN_ATTEMPT ?? 1}-${process.pid}-${hostname()}`,
      description: `${run} by ${this.actor()} (pid ${process.pid} on ${hostname()})`,
    };
  }

  /** A failed result for an error the user can act on, once there is a state to describe. */
  refused(error: unknown): DeployResult | undefined {
    if (!(error instanceof UserError) || !this.state) return undefined;
    return this.result({ succeeded: false, reason: error.message, error });
  }

  /** The one place a result is built: outputs, summary and report all come from it. */
  private result(extra: Partial<DeployResult> = {}): DeployResult {
    const state = this.state;
    const idle = otherColor(state.active);
    return {
      command: this.inputs.command,
      active: state.active,
      previous: previousOf(state),
      idle: {
        color: idle,
        servers: ((idle === 'green' ? this.inputs.green : this.inputs.blue) ?? []).map((s) => s.address),
      },
      weights: state.weights,
      rolledBack: false,
      succeeded: true,
      timeline: this.timeline,
      state,
      ...extra,
    };
  }

  /** A line for the history, stamped with the time and the actor. */
  private withHistory(state: DeployState, entry: Omit<HistoryEntry, 'at' | 'actor'>): DeployState {
    const line: HistoryEntry = { at: this.now(), actor: this.actor(), ...entry };
    return { ...state, history: [...state.history, line].slice(-HISTORY_LIMIT) };
  }

  /** Writes the state, only while the deploy lock is ours (checked in the same atomic step). */
  private async save(change: (state: DeployState) => DeployState): Promise<DeployState> {
    this.state = await this.store.update(change, this.lock);
    return this.state;
  }

  /**
   * Sets the weights and proves they took effect; returns the verification's words. The lock is
   * checked first: a run that lost it must not move traffic another run now owns.
   */
  private async setWeights(weights: Weights, cancellable = false): Promise<string> {
    await this.applyWeights(weights, cancellable);
    return this.verifyWeights(weights);
  }

  /**
   * The change itself, after the lock check. Routers apply atomically: when this throws, the
   * router serves as before.
   */
  private async applyWeights(weights: Weights, cancellable = false): Promise<void> {
    await this.lock?.check();
    // A change that puts traffic back runs to its end, cancelled workflow or not.
    await this.router.apply(weights, cancellable ? { signal: this.deps.signal } : {});
  }

  private async verifyWeights(weights: Weights): Promise<string> {
    const verification = await this.router.verify(weights);
    if (!verification.ok) {
      throw new UserError(
        `the change to ${describeWeights(weights)} is not confirmed: ${verification.detail}`,
        'Traffic not shifted',
      );
    }
    this.io.info(`traffic: ${describeWeights(weights)} — ${verification.detail}`);
    return verification.detail;
  }

  /**
   * Compares the state with what the router serves before a command moves traffic or stages over a
   * colour. A state that is new (a hosted runner's thrown-away workspace, an emptied Redis) takes
   * the router's word when the router has one colour at 100%; any other disagreement is refused:
   * acting on a state that does not describe the router could stage over, or shift traffic to,
   * the wrong colour.
   */
  private async checkRouterAgrees(): Promise<void> {
    const live = await this.router.read();
    const state = this.state;
    if (!live || (live.blue === state.weights.blue && live.green === state.weights.green)) return;
    const fresh = state.revision === 0 && state.history.length === 0;
    const sole: Color | undefined = live.blue === 100 ? 'blue' : live.green === 100 ? 'green' : undefined;
    if (fresh && sole) {
      this.io.warning(
        `the deploy state at ${this.store.location} is new, and the router serves ${describeWeights(live)}: ` +
          `taking ${sole} as the active colour`,
      );
      await this.save((s) => ({ ...s, active: sole, weights: live }));
      return;
    }
    throw new UserError(
      `the router serves ${describeWeights(live)}, but the deploy state at ${this.store.location} says ` +
        `${describeWeights(state.weights)} (active ${state.active}). Nothing was changed: acting on a state that does ` +
        `not describe the router could stage over, or shift traffic to, the wrong colour. ` +
        (fresh
          ? 'The state is new and the router splits traffic: put one colour at 100% on the router first (or use the state this deployment had).'
          : 'Point `state` at this deployment’s state, or run rollback to put the router back to what the state says.'),
      'Router and state disagree',
    );
  }

  /** Refusals that need no state: made before the lock is taken or anything changes. */
  private checkCommandInputs(): void {
    const { inputs } = this;
    // Only the commands that can open the pull request need the token: rollback-pr set in
    // switchyard.yml for every command must not stop a stage or a shift.
    const opensPullRequest =
      inputs.command === 'revert' ||
      (inputs['rollback-pr'] && (inputs.command === 'promote' || inputs.command === 'rollback'));
    if (opensPullRequest && !inputs['github-token'])
      throw new InputError(
        'github-token',
        `is required to open the rollback pull request (${inputs.command === 'revert' ? 'command: revert' : 'rollback-pr: true'}): pass \`github-token: \${{ github.token }}\``,
      );
    if (inputs.command === 'stage' && !inputs.version)
      throw new InputError('version', 'is required to stage: name what you deploy, e.g. version: v1.4.2');
    if (inputs.command === 'shift' && inputs.weight === undefined)
      throw new InputError('weight', "is required to shift: the idle colour's share, 0–100");
    if (inputs.command === 'promote' || inputs.command === 'plan') {
      checkHoldSettings(
        {
          durationMs: inputs['step-duration'],
          intervalMs: inputs.interval,
          minSamples: inputs['min-samples'],
        },
        { duration: 'step-duration', interval: 'interval', minSamples: 'min-samples' },
      );
      k6GateSettings(inputs['k6-summary'], inputs['k6-thresholds']);
    }
  }

  private buildRouter(): Router {
    const { inputs, deps } = this;
    return createRouter(inputs.router, {
      blue: (inputs.blue ?? []).map((s) => s.address),
      green: (inputs.green ?? []).map((s) => s.address),
      nginx: {
        upstreamFile: inputs['nginx-upstream-file'],
        upstreamName: inputs['nginx-upstream-name'],
        testCommand: inputs['nginx-test-command'],
        reloadCommand: inputs['nginx-reload-command'],
      },
      haproxy: {
        socket: inputs['haproxy-socket'],
        backend: inputs['haproxy-backend'],
        blueServer: inputs['haproxy-blue-server'],
        greenServer: inputs['haproxy-green-server'],
        stateFile: inputs['haproxy-state-file'],
      },
      command: inputs['router-command'],
      commandTimeoutMs: inputs['router-command-timeout'],
      verifyUrl: inputs['verify-url'],
      runner: deps.runner,
      clock: deps.clock,
      log: (line) => deps.io.info(line),
    });
  }

  private directProbes(color: Color): Probe[] {
    const make = this.deps.createProbe ?? createProbe;
    const options = probeOptionsFrom(this.inputs);
    const servers = (color === 'green' ? this.inputs.green : this.inputs.blue) ?? [];
    return servers.map((server) =>
      make(new URL(`http://${server.address}${this.inputs['health-path']}`), options),
    );
  }

  // --- status and plan: read only ---

  private async status(): Promise<DeployResult> {
    const { io, inputs, state } = this;
    io.info(`state: ${this.store.location} (revision ${state.revision})`);
    io.info(`active: ${state.active}; weights: ${describeWeights(state.weights)}`);
    for (const color of ['blue', 'green'] as const) {
      const release = state.releases[color];
      const untested =
        release && !hasBeenLive(state, color) ? ' — not live yet (untested, or its promotion failed)' : '';
      io.info(
        `  ${color}: ${release ? `${neutralise(release.version)}${release.sha ? ` (${release.sha.slice(0, 7)})` : ''}, staged ${release.stagedAt}${untested}` : 'nothing staged'}`,
      );
    }
    if (state.frozen) {
      const f = state.frozen;
      io.warning(
        `traffic is frozen at ${describeFreeze(f)} since ${f.at}: the promotion of ${f.to}${f.version ? ` (${neutralise(f.version)})` : ''} failed (${neutralise(f.reason)}) ` +
          `and was not rolled back. ${freezeAdvice(f.from, f.to, f.weights[f.to])}`,
      );
    }
    if (state.promotion) {
      io.warning(
        `an unfinished promotion of ${state.promotion.to} (started ${state.promotion.startedAt} by ${state.promotion.owner}) ` +
          `stopped at ${state.promotion.steps[state.promotion.step] ?? '?'}%: run rollback to restore ${state.promotion.from}, or promote to start it again`,
      );
    }
    let router: { verified?: string } | undefined;
    if (
      inputs.blue?.length ||
      inputs.green?.length ||
      inputs.router !== 'nginx' ||
      inputs['nginx-upstream-file']
    ) {
      const live = await this.router.read();
      if (live) {
        io.info(`router reports: ${describeWeights(live)}`);
        if (live.blue !== state.weights.blue)
          io.warning(
            `the router (${describeWeights(live)}) differs from the state (${describeWeights(state.weights)})`,
          );
        router = { verified: describeWeights(live) };
      }
    }
    for (const entry of state.history.slice(-5)) {
      io.info(
        `  ${entry.at} ${entry.command} ${neutralise(entry.version ?? '')} ${entry.verdict} by ${entry.actor}${entry.reason ? `: ${neutralise(entry.reason)}` : ''}`,
      );
    }
    return this.result({ router });
  }

  private plan(): DeployResult {
    this.checkCommandInputs();
    // The router's own checks too: plan refuses what promote would.
    void this.router;
    const plan = planPromotion(this.inputs, this.state);
    for (const line of describePlan(plan)) this.io.info(line);
    return this.result({ plan });
  }

  // --- stage ---

  private async stage(): Promise<DeployResult> {
    const { io, inputs } = this;
    const version = inputs.version as string;
    await this.checkRouterAgrees();
    const idle = otherColor(this.state.active);
    const frozen = this.state.frozen;
    if (frozen) {
      // Fixing forward: the frozen build is the one to replace, and the old code cannot take its users.
      io.warning(
        `traffic is frozen at ${describeFreeze(frozen)}: staging ${neutralise(version)} over ${idle}, whose users get it as stage-command installs it; promote then resumes ${idle} from ${frozen.weights[idle]}%`,
      );
    } else if (this.state.weights[idle] > 0) {
      throw new UserError(
        `${idle} still serves ${this.state.weights[idle]}% of traffic; staging over it would hit users. Run rollback (or promote) first.`,
        'Cannot stage',
      );
    }
    const servers = (idle === 'green' ? inputs.green : inputs.blue) ?? [];
    if (servers.length === 0)
      throw new InputError(idle, `lists no servers; stage needs the ${idle} servers to probe`);
    // Recorded before anything runs: from here on, the idle colour may run the new build, so it is
    // no longer the last good one (rollback refuses it until it has been live), even when staging fails.
    const sha = io.env.GITHUB_SHA;
    await this.save((s) =>
      this.withHistory(
        {
          ...s,
          releases: { ...s.releases, [idle]: { version, sha, stagedAt: this.now(), stage: 'started' } },
        },
        { command: 'stage', version, sha, weights: s.weights, verdict: 'started' },
      ),
    );
    try {
      await this.deployToIdle(idle, version, servers);
    } catch (error) {
      const reason = messageOf(error);
      await this.save((s) =>
        this.withHistory(withStage(s, idle, 'failed'), {
          command: 'stage',
          version,
          sha,
          weights: s.weights,
          verdict: 'failed',
          reason,
        }),
      ).catch(() => undefined);
      throw error;
    }
    await this.save((s) =>
      this.withHistory(withStage(s, idle, undefined), {
        command: 'stage',
        version,
        sha,
        weights: s.weights,
        verdict: 'succeeded',
      }),
    );
    return this.result();
  }

  /** stage-command for the idle colour, then the wait until every idle server is healthy. */
  private async deployToIdle(idle: Color, version: string, servers: { address: string }[]): Promise<void> {
    const { io, inputs, deps } = this;
    const command = inputs['stage-command'];
    if (command) {
      io.info(`staging ${neutralise(version)} on ${idle}: ${formatCommand(command)}`);
      const result = await deps.runner.run(command, {
        env: {
          ...io.env,
          SWITCHYARD_COLOR: idle,
          SWITCHYARD_VERSION: version,
          SWITCHYARD_SERVERS: servers.map((s) => s.address).join(','),
        },
        cwd: deps.cwd,
        timeoutMs: inputs['stage-command-timeout'],
        signal: deps.signal,
        // Live, as it happens: a deploy script's progress belongs in the log while it runs.
        onLine: (line) => io.info(`  ${line}`),
      });
      if (!succeeded(result)) {
        const tail = outputTail(result, 5);
        throw new UserError(`stage-command ${outcomeOf(result)}${tail ? `:\n${tail}` : ''}`, 'Stage failed');
      }
    }
    // Probed directly, not through the router: the idle colour has no traffic yet.
    const probes = this.directProbes(idle);
    try {
      const waited = await untilHealthy({
        probes,
        intervalMs: Math.min(inputs.interval, STAGE_POLL_MS),
        durationMs: inputs['stage-timeout'],
        concurrency: 20,
        clock: this.clock,
        signal: deps.signal,
        onWaiting: (pending, elapsed) =>
          io.info(
            `waiting for ${idle} to become healthy (${formatMs(elapsed)} of ${formatMs(inputs['stage-timeout'])}): ` +
              `${pending[0]?.target}: ${pending[0]?.detail}${pending.length > 1 ? ` (+${pending.length - 1} more)` : ''}`,
          ),
      });
      if (waited.verdict !== 'passed') {
        const because = waited.cancelled ? waited.reason : `${idle} did not become healthy: ${waited.reason}`;
        throw new UserError(`${because}`, 'Stage failed');
      }
      io.info(`${idle} is healthy with ${neutralise(version)} after ${formatMs(waited.elapsedMs)}`);
    } finally {
      await Promise.all(probes.map((p) => p.close()));
    }
  }

  // --- shift ---

  private async shift(): Promise<DeployResult> {
    await this.checkRouterAgrees();
    this.refuseShiftWhileFrozen();
    const idle = otherColor(this.state.active);
    const weights = weightsFor(idle, this.inputs.weight as number);
    const verified = await this.setWeights(weights);
    await this.save((s) =>
      this.withHistory(
        // force-rollback took traffic out of the freeze's hands: it ends here.
        { ...s, weights, frozen: undefined },
        { command: 'shift', version: s.releases[idle]?.version, weights, verdict: 'succeeded' },
      ),
    );
    return this.result({ router: { verified } });
  }

  // --- rollback ---

  /**
   * Puts the active colour (or, when the active colour already has everything and nothing is
   * under way, the previous one) back to 100% at once — but only a colour whose current build has
   * served traffic: a build staged and never promoted is untested, and shipping it at once to
   * everyone is no rollback.
   */
  private async rollback(reason: string): Promise<DeployResult> {
    // Decided on what the router serves when it says: a router switched outside switchyard must
    // still be put back to the last good colour, and the message must say where users are.
    const live = await this.router.read();
    const differs = live !== undefined && live.blue !== this.state.weights.blue;
    const state: DeployState = differs
      ? {
          ...this.state,
          weights: live,
          active: live.blue === 100 ? 'blue' : live.green === 100 ? 'green' : this.state.active,
        }
      : this.state;
    const clean = !state.promotion && state.weights[state.active] === 100;
    const target: Color = clean ? otherColor(state.active) : (state.promotion?.from ?? state.active);
    if (!hasBeenLive(state, target)) {
      const release = state.releases[target];
      throw new UserError(
        release
          ? `not rolling back to ${target}: it runs ${neutralise(release.version)}${release.sha ? ` (${release.sha.slice(0, 7)})` : ''}, ` +
              `staged ${release.stagedAt} and never live since (it has not had all the traffic), so it is an untested or failed build. ` +
              `Traffic stays on ${state.active} (${describeWeights(state.weights)}). Stage the last good version on ${target} and promote it instead.`
          : `nothing to roll back to: ${target} has never been live (it has had no build with all the traffic). ` +
              `Traffic stays as it is (${describeWeights(state.weights)}).`,
        'Cannot roll back',
      );
    }
    this.refuseBackAcrossContract(target, state);
    if (differs)
      this.io.warning(
        `the router serves ${describeWeights(state.weights)} while the state says ${describeWeights(this.state.weights)}; putting ${target} at 100%`,
      );
    const weights = weightsFor(target, 100);
    const started = this.clock.now();
    const verified = await this.setWeights(weights);
    this.io.info(
      `rolled back to ${target} in ${formatMs(this.clock.now() - started)}: ${neutralise(reason)}`,
    );
    if (state.promotion) {
      await this.closeDeployment(
        state.promotion.deploymentId,
        'failure',
        `interrupted, rolled back: ${reason}`,
      );
    } else if (clean) {
      // The colour that lost the traffic is no longer what the environment runs.
      await this.closeDeployment(
        state.releases[state.active]?.deploymentId,
        'inactive',
        `rolled back to ${target}: ${reason}`,
      );
    }
    const previous = state.active === target ? otherColor(target) : state.active;
    const forced = this.inputs['force-rollback'] && this.crossesContract(state);
    await this.save((s) =>
      this.withHistory(
        {
          ...s,
          active: target,
          weights,
          promotion: undefined,
          frozen: undefined,
          releases: markLive(s.releases, weights, this.now()),
        },
        {
          command: 'rollback',
          version: s.releases[target]?.version,
          weights,
          verdict: 'succeeded',
          reason: forced ? `${reason} (force-rollback: past a contract-phase migration)` : reason,
        },
      ),
    );
    return this.result({ previous, rolledBack: true, router: { verified } });
  }

  /** Whether putting the old colour back would cross a contract-phase migration. */
  private crossesContract(state: DeployState = this.state): boolean {
    return state.frozen !== undefined || this.inputs['migration-phase'] === 'contract';
  }

  /**
   * A rollback to `target` runs the old code on the new schema when a contract-phase migration was
   * applied: refused, traffic untouched, unless force-rollback says the database was restored (or
   * the old code is known to cope).
   */
  private refuseBackAcrossContract(target: Color, state: DeployState): void {
    if (!this.crossesContract(state)) return;
    const frozen = state.frozen;
    if (this.inputs['force-rollback']) {
      this.io.warning(
        `force-rollback: putting ${target} back at 100% although a contract-phase migration was applied` +
          `${frozen ? ` (traffic was frozen at ${describeFreeze(frozen)} since ${frozen.at})` : ''}: ` +
          `its code must work on the schema the database has now`,
      );
      return;
    }
    const to = otherColor(target);
    throw new UserError(
      `not rolling back to ${target}: ` +
        (frozen
          ? `traffic is frozen at ${describeFreeze(frozen)} since ${frozen.at}, after the promotion of ${to} failed (${neutralise(frozen.reason)}). `
          : `migration-phase is contract. `) +
        `Traffic stays as it is (${describeWeights(state.weights)}). ${freezeAdvice(target, to, state.weights[to])}`,
      'Traffic frozen',
    );
  }

  /** A shift would move what a frozen split holds (back to the old code, or on without analysis): refused unless forced. */
  private refuseShiftWhileFrozen(): void {
    const frozen = this.state.frozen;
    if (!frozen || this.inputs['force-rollback']) return;
    throw new UserError(
      `not shifting traffic: it is frozen at ${describeFreeze(frozen)} since ${frozen.at}, after the promotion of ${frozen.to} failed ` +
        `(${neutralise(frozen.reason)}). Nothing was changed. ${freezeAdvice(frozen.from, frozen.to, frozen.weights[frozen.to])} ` +
        '(shift with force-rollback: true moves traffic all the same, and ends the freeze.)',
      'Traffic frozen',
    );
  }

  // --- the rollback pull request ---

  /** After a rollback command: the pull request reverting the build that lost the traffic. */
  private async withPullRequest(result: DeployResult): Promise<DeployResult> {
    if (!this.inputs['rollback-pr'] || !result.rolledBack || !result.previous) return result;
    const bad = result.state.releases[result.previous];
    return { ...result, ...(await this.rollbackPullRequest({ bad, reason: this.inputs.reason })) };
  }

  /**
   * revert: only the pull request. For a build that never got traffic but is known bad (it
   * failed its load test): nothing to put back, but the branch should stop asking to deploy it.
   */
  private async revert(): Promise<DeployResult> {
    const idle = otherColor(this.state.active);
    const staged = this.state.releases[idle];
    const bad = staged && !hasBeenLive(this.state, idle) ? staged : undefined;
    const live = this.state.releases[this.state.active];
    const sha = (bad?.sha ?? this.io.env.GITHUB_SHA ?? '').toLowerCase();
    if (!bad && live?.sha && sha && live.sha.toLowerCase() === sha) {
      throw new UserError(
        `${sha.slice(0, 7)} (GITHUB_SHA) is the build ${this.state.active} serves to users (${neutralise(live.version)}), ` +
          `and nothing bad is staged on ${idle}: revert would open a pull request undoing the live build. ` +
          'If the live build is bad, run rollback (rollback-pr: true) to move traffic back first.',
        'Nothing to revert',
      );
    }
    this.io.info(
      `traffic stays as it is (${describeWeights(this.state.weights)}, ${this.state.active} active${this.state.frozen ? ', frozen' : ''}): revert opens the rollback pull request only`,
    );
    const outcome = await this.rollbackPullRequest({
      bad,
      reason: this.inputs.reason,
      frozen: this.state.frozen,
    });
    return this.result({ ...outcome, succeeded: !outcome.pullRequestError });
  }

  /**
   * Opens (or updates) the rollback pull request. Traffic is already safe when this runs, so a
   * failure is kept in the result and reported after it, never thrown.
   */
  async rollbackPullRequest(context: {
    bad?: Release | { version?: string; sha?: string };
    reason: string;
    breach?: Breach;
    /** Traffic was frozen rather than rolled back: the body says so, and what merging does not fix. */
    frozen?: FrozenPromotion;
  }): Promise<Pick<DeployResult, 'pullRequest' | 'pullRequestError'>> {
    const { io, inputs, state } = this;
    const where = context.frozen
      ? `traffic is frozen at ${describeFreeze(context.frozen)}`
      : `traffic is safe (${state.active} serves ${describeWeights(state.weights)})`;
    try {
      const pullRequest = await openRollbackPullRequest({
        io,
        runner: this.deps.runner,
        signal: this.deps.signal,
        cwd: this.deps.cwd ?? process.cwd(),
        environment: this.deps.environment ?? 'production',
        token: inputs['github-token'] ?? '',
        bad: { sha: context.bad?.sha ?? io.env.GITHUB_SHA ?? '', version: context.bad?.version },
        knownGood: knownGoodCommits(state),
        goodSha: inputs['good-sha'],
        baseBranch: inputs['base-branch'],
        labels: inputs.labels.map((label) => label.name),
        draft: inputs.draft,
        reason: context.reason,
        breach: context.breach,
        frozen: context.frozen && {
          from: context.frozen.from,
          to: context.frozen.to,
          weights: describeWeights(context.frozen.weights),
          share: context.frozen.weights[context.frozen.to],
        },
        servedBy: `${state.active} serves ${describeWeights(state.weights)}${state.releases[state.active] ? ` with ${state.releases[state.active]?.version}` : ''}`,
        timeline: this.timeline,
      });
      return { pullRequest };
    } catch (error) {
      if (error instanceof NothingToRevert) {
        io.info(`no rollback pull request: ${error.message}`);
        return {};
      }
      if (!(error instanceof UserError)) throw error;
      const failure =
        error instanceof RollbackPullRequestError
          ? error
          : new RollbackPullRequestError(error.message, error.title);
      return {
        pullRequestError: failure.reworded(
          `${where}, but the rollback pull request was not opened: ${error.message}`,
        ),
      };
    }
  }

  // --- promote: apply → verify → gates → record, step by step ---

  private async promote(): Promise<DeployResult> {
    const { io, inputs } = this;
    // After a contract-phase migration the old colour must not get traffic back: a frozen
    // promotion, or one a killed run left, goes on from the split it holds, forward only.
    const resumes = this.state.frozen !== undefined || (this.state.promotion && this.crossesContract());
    if (resumes) {
      const p = this.state.frozen ?? this.state.promotion;
      io.warning(
        `${this.state.frozen ? 'traffic is frozen' : 'found an unfinished promotion'} of ${p?.to} at ${describeWeights(this.state.weights)}, after a contract-phase migration: ` +
          `resuming from ${this.state.weights[p?.to ?? 'green']}% forward, without giving ${p?.from} traffic back`,
      );
    } else if (this.state.promotion) {
      // Documented behaviour: an interrupted promotion is restarted from the first step, after the
      // colour it was promoting over is restored to all traffic.
      const p = this.state.promotion;
      io.warning(
        `found an unfinished promotion of ${p.to} (started ${p.startedAt} by ${p.owner}, stopped at ` +
          `${p.steps[p.step] ?? '?'}%); restoring ${p.from} and starting again`,
      );
      await this.rollback('interrupted promotion restarted');
    }
    await this.checkRouterAgrees();
    const planned = planPromotion(inputs, this.state);
    const plan = resumes ? resumeFrom(planned, this.state.weights[planned.to]) : planned;
    const { to } = plan;
    const staged = this.state.releases[to];
    if (staged?.stage) {
      throw new UserError(
        `${to}'s stage of ${neutralise(staged.version)} ${staged.stage === 'failed' ? 'failed' : 'never finished'}, so ${to} may not run it; ` +
          `run the stage command again before promoting`,
        'Cannot promote',
      );
    }
    if (!staged) {
      throw new UserError(
        `${to} has nothing staged; run the stage command with a version first`,
        'Cannot promote',
      );
    }
    const k6 = k6GateSettings(inputs['k6-summary'], inputs['k6-thresholds']);
    // Read once now: a missing file or metric, or a summary with nothing to judge, is found before
    // any traffic moves, not after a step.
    if (k6 && (await judgeK6(k6)).result.verdicts.length === 0) {
      throw new InputError(
        'k6-summary',
        `${k6.files.join(', ')} holds no thresholds and k6-thresholds gives none, so the k6 gate could never pass: ` +
          'add thresholds to the k6 script, or k6-thresholds such as `http_req_failed: rate<0.01`',
      );
    }
    const probes = [
      ...(inputs.targets ?? []).map((url) =>
        (this.deps.createProbe ?? createProbe)(url, probeOptionsFrom(inputs)),
      ),
      ...this.directProbes(to),
    ];
    if (probes.length === 0) {
      throw new InputError('targets', `promote needs something to watch: give targets, or the ${to} servers`);
    }
    try {
      return await new Promotion(this, plan, probes, k6).run();
    } finally {
      await Promise.all(probes.map((p) => p.close()));
    }
  }

  /** For the Promotion: the run's own tools. */
  get tools() {
    return {
      io: this.io,
      clock: this.clock,
      inputs: this.inputs,
      signal: this.deps.signal,
      timeline: this.timeline,
      at: () => this.at(),
      owner: () => this.owner().description,
      now: () => this.now(),
      state: () => this.state,
      save: (change: (state: DeployState) => DeployState) => this.save(change),
      withHistory: (state: DeployState, entry: Omit<HistoryEntry, 'at' | 'actor'>) =>
        this.withHistory(state, entry),
      applyWeights: (weights: Weights, cancellable = false) => this.applyWeights(weights, cancellable),
      verifyWeights: (weights: Weights) => this.verifyWeights(weights),
      /**
       * Puts traffic back. The lock is checked unless it is known lost, but only another run
       * holding it stops the change: a state store that cannot answer must not strand traffic.
       */
      applyRestore: async (weights: Weights, lockLost: boolean) => {
        if (!lockLost) {
          try {
            await this.lock?.check();
          } catch (error) {
            if (error instanceof LockLostError && error.holder) throw error;
            this.io.warning(
              `the deploy lock could not be checked (${messageOf(error)}); putting traffic back all the same`,
            );
          }
        }
        await this.router.apply(weights);
      },
      /** What the router says it serves, when it can say (a freeze records what is really held). */
      readRouter: () => this.router.read(),
      /** A failure now must hold the split rather than put the old colour back. */
      crossesContract: () => this.crossesContract(),
      /** What this run knows the router serves when the state could not record it. */
      assume: (change: (state: DeployState) => DeployState) => {
        this.state = change(this.state);
      },
      result: (extra: Partial<DeployResult>) => this.result(extra),
      recordDeployment: (color: Color, version?: string, sha?: string) =>
        this.recordDeployment(color, version, sha),
      rollbackPullRequest: (context: Parameters<DeployRun['rollbackPullRequest']>[0]) =>
        this.inputs['rollback-pr'] ? this.rollbackPullRequest(context) : Promise.resolve({}),
    };
  }

  // --- GitHub deployments ---

  /** Where GitHub deployments are recorded, when a token is given and a commit is known. */
  private deploymentTarget(ref: string | undefined, description: string) {
    const token = this.inputs['github-token'];
    if (!token || !ref) return undefined;
    const { io } = this;
    return {
      octokit: githubClient(token, io.env, { log: (line) => io.debug(line) }),
      ...repoFromEnv(io.env),
      ref,
      environment: this.deps.environment ?? 'production',
      description,
      logUrl: runLogUrl(io.env),
      log: (line: string) => io.info(line),
    };
  }

  /** A GitHub deployment for this promotion, when a token is given; failures to record only warn. */
  private async recordDeployment(
    color: Color,
    version: string | undefined,
    sha: string | undefined,
  ): Promise<DeploymentRecorder | undefined> {
    if (!this.inputs['github-token']) return undefined;
    const { io } = this;
    const ref = sha ?? io.env.GITHUB_SHA;
    if (!ref) {
      io.warning(
        'github-token is set but no commit is known (GITHUB_SHA): not recording a GitHub deployment',
      );
      return undefined;
    }
    try {
      const target = this.deploymentTarget(ref, `switchyard: ${color}${version ? ` ${version}` : ''}`);
      if (!target) return undefined;
      const recorder = await DeploymentRecorder.start({ ...target, payload: { color, version } });
      io.info(`recording GitHub deployment to ${target.environment} for ${ref.slice(0, 12)}`);
      return recorder;
    } catch (error) {
      if (!(error instanceof UserError)) throw error;
      io.warning(`not recording a GitHub deployment: ${error.message}`);
      return undefined;
    }
  }

  /** Records how an earlier run's deployment ended (it cannot: it was killed, or rolled back later). */
  private async closeDeployment(
    id: number | undefined,
    outcome: DeploymentOutcome,
    description: string,
  ): Promise<void> {
    if (id === undefined) return;
    try {
      const target = this.deploymentTarget(this.io.env.GITHUB_SHA ?? 'unknown', description);
      if (!target) return;
      await DeploymentRecorder.existing(target, id).finish(outcome, description);
    } catch (error) {
      if (!(error instanceof UserError)) throw error;
      this.io.warning(`could not mark GitHub deployment ${id} ${outcome}: ${error.message}`);
    }
  }
}

type RunTools = DeployRun['tools'];

/**
 * One promotion: each step applies the weights, proves them, holds the gates over the step's
 * window and records the step; the first verdict that is not `passed` puts the old colour back.
 * Every way out goes through `finish`, which builds the result.
 */
class Promotion {
  private readonly tools: RunTools;
  private recorder?: DeploymentRecorder;
  private readonly from: Color;
  private readonly to: Color;
  private readonly version?: string;
  private readonly sha?: string;
  /** Whether this run changed traffic yet: nothing to put back before the first step. */
  private moved = false;
  /**
   * A contract-phase migration was applied (migration-phase: contract, or the promotion resumes
   * a freeze): every way this promotion fails holds the split instead of restoring `from`.
   */
  private readonly holds: boolean;

  constructor(
    run: DeployRun,
    private readonly plan: PromotionPlan,
    private readonly probes: Probe[],
    private readonly k6: K6GateSettings | undefined,
  ) {
    this.tools = run.tools;
    this.from = plan.from;
    this.to = plan.to;
    const release = this.tools.state().releases[plan.to];
    this.version = release?.version;
    this.sha = release?.sha;
    this.holds = this.tools.crossesContract();
  }

  async run(): Promise<DeployResult> {
    const { io } = this.tools;
    for (const line of describePlan(this.plan)) io.info(line);
    try {
      await this.start();
      for (const [index, step] of this.plan.steps.entries()) {
        if (this.tools.signal?.aborted) return await this.cancelled();
        const weights = weightsFor(this.to, step.weight);
        // Routers apply atomically: until apply() returns, nothing moved and nothing needs putting back.
        await this.tools.applyWeights(weights, true);
        this.moved = true;
        await this.tools.verifyWeights(weights);
        await this.tools.save((s) => ({
          ...s,
          weights,
          promotion: s.promotion && { ...s.promotion, step: index },
        }));
        this.tools.timeline.push({ at: this.tools.at(), weights, event: `${step.weight}%` });
        io.info(
          `step ${index + 1}/${this.plan.steps.length}: ${this.to} at ${step.weight}%, holding ${formatMs(step.holdMs)}`,
        );
        const { verdict, reason, breach, held } = await this.hold(step.weight, step.holdMs, weights);
        if (this.tools.signal?.aborted) return await this.cancelled();
        if (verdict !== 'passed') {
          return await this.rollBack(`${reason} at ${step.weight}%`, verdict, breach);
        }
        io.info(
          `  ✓ ${this.to} ${step.weight}% held ${formatMs(held.elapsedMs)}${held.extendedMs > 0 ? ` (extended ${formatMs(held.extendedMs)} for min-samples)` : ''}: ` +
            `${held.overall.samples} probes, error rate ${formatPercent(held.overall.errorRate)}, p95 ${formatMs(held.overall.p95)}`,
        );
      }
      return await this.promoted();
    } catch (error) {
      if (this.tools.signal?.aborted && !(error instanceof LockLostError)) return await this.cancelled();
      return await this.failed(error);
    }
  }

  /** Recorded only now that every input has been checked: a refused promotion leaves no trace. */
  private async start(): Promise<void> {
    const { tools } = this;
    await tools.save((s) =>
      tools.withHistory(
        {
          ...s,
          promotion: {
            id: `${tools.now()}`,
            from: this.from,
            to: this.to,
            version: this.version,
            sha: this.sha,
            startedAt: tools.now(),
            step: 0,
            steps: tools.inputs.steps,
            owner: tools.owner(),
          },
        },
        { command: 'promote', version: this.version, sha: this.sha, weights: s.weights, verdict: 'started' },
      ),
    );
    tools.timeline.push({ at: tools.at(), weights: tools.state().weights, event: 'start' });
    this.recorder = await tools.recordDeployment(this.to, this.version, this.sha);
    const id = this.recorder?.id;
    if (id !== undefined) {
      await tools.save((s) => ({ ...s, promotion: s.promotion && { ...s.promotion, deploymentId: id } }));
    }
  }

  /** The gates over one step: the watch over the probes, then the k6 summaries. */
  private async hold(weight: number, holdMs: number, weights: Weights) {
    const { tools } = this;
    const { inputs, io } = tools;
    const held = await watchTargets({
      probes: this.probes,
      intervalMs: inputs.interval,
      durationMs: holdMs,
      limits: limitsFrom(inputs),
      concurrency: 20,
      clock: tools.clock,
      signal: tools.signal,
      onRound: (elapsed, overall) => {
        tools.timeline.push({ at: tools.at(), weights, errorRate: overall.errorRate, p95: overall.p95 });
        if (Math.floor(elapsed / 5000) !== Math.floor((elapsed - inputs.interval) / 5000)) {
          io.info(
            `  ${this.to} ${weight}% · ${formatMs(tools.at())} · ${overall.samples} probes · error rate ${formatPercent(overall.errorRate)} · p95 ${formatMs(overall.p95)}`,
          );
        }
      },
    });
    const verdicts: GateVerdict[] = [held];
    if (held.verdict === 'passed' && this.k6 && !tools.signal?.aborted) verdicts.push(await judgeK6(this.k6));
    return { ...combineVerdicts(verdicts), held };
  }

  private async promoted(): Promise<DeployResult> {
    const { tools } = this;
    const weights = weightsFor(this.to, 100);
    const id = this.recorder?.id;
    await tools.save((s) =>
      tools.withHistory(
        {
          ...s,
          active: this.to,
          weights,
          promotion: undefined,
          frozen: undefined,
          releases: markLive(
            {
              ...s.releases,
              [this.to]: {
                ...s.releases[this.to],
                version: s.releases[this.to]?.version ?? '',
                deploymentId: id,
              },
            },
            weights,
            tools.now(),
          ),
        },
        { command: 'promote', version: this.version, sha: this.sha, weights, verdict: 'succeeded' },
      ),
    );
    tools.timeline.push({ at: tools.at(), weights, event: 'promoted' });
    await this.finishRecord(
      'success',
      `${this.to}${this.version ? ` (${this.version})` : ''} has all traffic`,
    );
    tools.io.info(
      `promoted: ${this.to}${this.version ? ` (${neutralise(this.version)})` : ''} has all traffic after ${formatMs(tools.at())}`,
    );
    return tools.result({ previous: this.from, plan: this.plan, verdict: 'passed' });
  }

  /** A gate did not pass: the old colour back at once, then the record. */
  private async rollBack(reason: string, verdict: Verdict, breach?: Breach): Promise<DeployResult> {
    const { io } = this.tools;
    if (this.holds) return this.freeze(reason, verdict, breach);
    io.info(`${verdict === 'failed' ? 'breach' : 'not enough evidence'}: ${reason}; restoring ${this.from}`);
    let restored: Restored;
    try {
      restored = await this.restore(reason, verdict === 'failed' ? 'rolled-back' : 'inconclusive');
    } catch (error) {
      return this.failed(error);
    }
    const restoreMs = this.reportRestore(restored);
    if (restoreMs !== undefined)
      io.info(`${this.from} restored to 100% ${formatMs(restoreMs)} after the decision`);
    await this.finishRecord('failure', `rolled back: ${reason}`);
    // Only a breach shows the build is bad; a window short of evidence says nothing about the commit.
    const pullRequest =
      verdict === 'failed'
        ? await this.tools.rollbackPullRequest({
            bad: { version: this.version, sha: this.sha },
            reason,
            breach,
          })
        : {};
    if (verdict !== 'failed' && this.tools.inputs['rollback-pr'])
      io.info(
        'no rollback pull request: the analysis was inconclusive, which does not show the build is bad',
      );
    return this.tools.result({
      previous: this.to,
      rolledBack: true,
      succeeded: false,
      reason,
      verdict,
      plan: this.plan,
      breach,
      restoreMs,
      ...pullRequest,
    });
  }

  private async cancelled(): Promise<DeployResult> {
    const reason = 'cancelled (SIGINT/SIGTERM)';
    if (this.holds && this.moved) return this.freeze(reason, 'inconclusive');
    this.tools.io.warning(`${reason}: restoring ${this.from} to 100%`);
    let restoreMs: number | undefined;
    if (this.moved) {
      try {
        restoreMs = this.reportRestore(await this.restore(reason, 'interrupted'));
      } catch (error) {
        return this.failed(error);
      }
    } else await this.clearPromotion(reason, 'interrupted');
    await this.finishRecord('inactive', reason);
    return this.tools.result({
      rolledBack: this.moved,
      succeeded: false,
      reason,
      verdict: 'inconclusive',
      plan: this.plan,
      restoreMs,
    });
  }

  /**
   * Something broke mid-promotion (the router, its verification, the state store, the lock): put
   * the old colour back before reporting it — unless another run now holds the lock, and so owns
   * the router.
   */
  private async failed(error: unknown): Promise<DeployResult> {
    const { io } = this.tools;
    const failure = error instanceof Error ? error : new Error(String(error));
    const lostTo = error instanceof LockLostError ? error.holder : undefined;
    let rolledBack = false;
    let restoreMs: number | undefined;
    let reason = failure.message;
    if (lostTo) {
      io.warning(`${failure.message}: not touching the router`);
    } else if (this.moved && this.holds) {
      return this.freeze(failure.message, 'inconclusive', undefined, failure);
    } else if (this.moved) {
      io.warning(`promotion failed (${failure.message}); restoring ${this.from}`);
      try {
        const restored = await this.restore(failure.message, 'failed', error instanceof LockLostError);
        rolledBack = true;
        if (restored.unverified) {
          reason = `${failure.message}; ${this.from} was set back to 100%, but ${restored.unverified}`;
        } else {
          restoreMs = restored.restoreMs;
          reason = `${failure.message}; ${this.from} was restored to 100%`;
        }
      } catch (restoreError) {
        reason = `${failure.message}; restoring ${this.from} failed too (${messageOf(restoreError)}): run the rollback command`;
      }
    } else {
      // The router refused the first change and serves as before: no promotion is under way.
      await this.clearPromotion(failure.message, 'failed').catch(() => undefined);
      reason = `${failure.message}; no traffic was moved`;
    }
    await this.finishRecord('error', failure.message);
    return this.tools.result({
      previous: this.to,
      rolledBack,
      succeeded: false,
      reason,
      verdict: 'inconclusive',
      plan: this.plan,
      restoreMs,
      error: error instanceof UserError ? new UserError(reason, error.title) : failure,
    });
  }

  /**
   * The promotion failed after a contract-phase migration: traffic stays at the split it has (the
   * old code would break on the new schema), the freeze is recorded so that status shows it and
   * rollback, shift and stage refuse, and the command fails saying what to do. A breach still
   * opens the rollback pull request, which says that traffic was frozen, not rolled back.
   */
  private async freeze(
    why: string,
    verdict: Verdict,
    breach?: Breach,
    failure?: Error,
  ): Promise<DeployResult> {
    const { tools } = this;
    const { io } = tools;
    // What the router serves is what is held; after a failed change the state may lag behind it.
    const live = await tools.readRouter().catch(() => undefined);
    const weights = live ?? tools.state().weights;
    const frozen: FrozenPromotion = {
      at: tools.now(),
      from: this.from,
      to: this.to,
      version: this.version,
      sha: this.sha,
      weights,
      reason: why,
    };
    const held = describeFreeze(frozen);
    io.info(
      `${verdict === 'failed' ? 'breach' : 'promotion stopped'}: ${why}; holding traffic at ${held} (not restoring ${this.from})`,
    );
    const record = (s: DeployState): DeployState => ({ ...s, weights, promotion: undefined, frozen });
    try {
      await tools.save((s) =>
        tools.withHistory(record(s), {
          command: 'promote',
          version: this.version,
          sha: this.sha,
          weights,
          verdict: 'frozen',
          reason: why,
        }),
      );
    } catch (error) {
      // Traffic is held either way; the next run's status must be told by hand.
      if (!(error instanceof UserError)) throw error;
      tools.assume(record);
      io.warning(`traffic is frozen at ${held}, but the state could not record it: ${error.message}`);
    }
    tools.timeline.push({ at: tools.at(), weights, event: 'frozen' });
    await this.finishRecord('failure', `frozen at ${held}: ${why}`);
    const pullRequest =
      verdict === 'failed'
        ? await tools.rollbackPullRequest({
            bad: { version: this.version, sha: this.sha },
            reason: why,
            breach,
            frozen,
          })
        : {};
    const message =
      `traffic is frozen at ${held}, not rolled back: ${why}. ` +
      freezeAdvice(this.from, this.to, weights[this.to]);
    return tools.result({
      previous: this.to,
      rolledBack: false,
      succeeded: false,
      reason: `frozen at ${held} instead of rolled back (a contract-phase migration was applied): ${why}`,
      verdict,
      plan: this.plan,
      breach,
      froze: frozen,
      error: new UserError(
        message,
        failure instanceof UserError ? `Traffic frozen: ${failure.title}` : 'Traffic frozen',
      ),
      ...pullRequest,
    });
  }

  /** The restore's time when it was proven; a warning when the router could not prove it. */
  private reportRestore(restored: Restored): number | undefined {
    if (!restored.unverified) return restored.restoreMs;
    this.tools.io.warning(`${this.from} was set back to 100%, but ${restored.unverified}`);
    return undefined;
  }

  /**
   * The old colour at 100%, then proven, then recorded (when the lock is still ours to record
   * with). Throws only when the change itself failed; a change the router could not prove is
   * said in `unverified`.
   */
  private async restore(
    reason: string,
    verdict: HistoryEntry['verdict'],
    lockLost = false,
  ): Promise<Restored> {
    const { tools } = this;
    const started = tools.clock.now();
    const weights = weightsFor(this.from, 100);
    await tools.applyRestore(weights, lockLost);
    const restored = (s: DeployState): DeployState => ({
      ...s,
      active: this.from,
      weights,
      promotion: undefined,
    });
    tools.assume(restored);
    let unverified: string | undefined;
    try {
      await tools.verifyWeights(weights);
    } catch (error) {
      unverified = `the router could not prove it: ${messageOf(error)}`;
    }
    const restoreMs = tools.clock.now() - started;
    tools.timeline.push({ at: tools.at(), weights, event: 'rollback' });
    if (!lockLost) await this.recordRestore(restored, reason, verdict);
    return { restoreMs, unverified };
  }

  private async recordRestore(
    restored: (s: DeployState) => DeployState,
    reason: string,
    verdict: HistoryEntry['verdict'],
  ): Promise<void> {
    const { tools } = this;
    const weights = weightsFor(this.from, 100);
    try {
      await tools.save((s) =>
        tools.withHistory(restored(s), {
          command: 'promote',
          version: this.version,
          sha: this.sha,
          weights,
          verdict,
          reason,
        }),
      );
    } catch (error) {
      // Traffic is safe; the record is what failed, and the next status says so.
      if (!(error instanceof UserError)) throw error;
      tools.io.warning(`${this.from} is back at 100%, but the state could not record it: ${error.message}`);
    }
  }

  private async clearPromotion(reason: string, verdict: HistoryEntry['verdict']): Promise<void> {
    const { tools } = this;
    await tools.save((s) =>
      tools.withHistory(
        { ...s, promotion: undefined },
        { command: 'promote', version: this.version, sha: this.sha, weights: s.weights, verdict, reason },
      ),
    );
  }

  private async finishRecord(outcome: DeploymentOutcome, description: string): Promise<void> {
    await this.recorder?.finish(outcome, description).catch((error: unknown) => {
      if (!(error instanceof GitHubError)) throw error;
      this.tools.io.warning(`could not record the deployment's ${outcome}: ${error.message}`);
    });
  }
}

/**
 * Whether a colour's current build has been live: it had all the traffic at some point since it
 * was staged (promoted, rolled back to, or what served before switchyard's first promotion). A
 * build staged and never live — including one whose promotion failed at 10% — is not a rollback
 * target: it is untested, or known bad.
 */
export function hasBeenLive(state: DeployState, color: Color): boolean {
  const release = state.releases[color];
  if (release?.stage) return false;
  if (release?.liveAt) return true;
  // History from before liveAt was recorded: a command that succeeded with this colour at 100%.
  const liveIn = (entry: HistoryEntry) => entry.verdict === 'succeeded' && entry.weights[color] === 100;
  if (!release) return state.active === color || state.history.some(liveIn);
  return state.history.some((entry) => entry.at > release.stagedAt && liveIn(entry));
}

/** The colour that served before the active one, if any. */
function previousOf(state: DeployState): Color | undefined {
  const other = otherColor(state.active);
  return hasBeenLive(state, other) ? other : undefined;
}

/** Stamps the first time each colour's current build has all the traffic. */
function markLive(releases: DeployState['releases'], weights: Weights, at: string): DeployState['releases'] {
  const next = { ...releases };
  for (const color of ['blue', 'green'] as const) {
    const release = next[color];
    if (release && weights[color] === 100 && !release.liveAt) next[color] = { ...release, liveAt: at };
  }
  return next;
}

/** How a restore went: how long it took, and why the router could not prove it, when it could not. */
interface Restored {
  restoreMs: number;
  unverified?: string;
}

/** The state with a colour's stage marked under way or failed, or (undefined) finished. */
function withStage(state: DeployState, color: Color, stage: Release['stage']): DeployState {
  const release = state.releases[color];
  if (!release) return state;
  const { stage: _previous, ...rest } = release;
  return { ...state, releases: { ...state.releases, [color]: stage ? { ...rest, stage } : rest } };
}

/**
 * Commits the deploy state knows served well, newest first: the active colour's build when it has
 * been live, then the builds of earlier promotions that passed.
 */
function knownGoodCommits(state: DeployState): string[] {
  const found: string[] = [];
  const active = state.releases[state.active];
  if (active?.sha && hasBeenLive(state, state.active)) found.push(active.sha);
  for (const entry of [...state.history].reverse())
    if (entry.command === 'promote' && entry.verdict === 'succeeded' && entry.sha) found.push(entry.sha);
  return found;
}
