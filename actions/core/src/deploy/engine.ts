import { hostname, userInfo } from 'node:os';
import { watchTargets } from '../analysis/watch.js';
import type { Breach } from '../analysis/limits.js';
import type { Clock } from '../clock.js';
import { InputError, UserError } from '../errors.js';
import type { ActionIO } from '../io.js';
import { readK6Summary } from '../k6/summary.js';
import { evaluateK6Gate, parseThresholdLines } from '../k6/thresholds.js';
import { createProbe } from '../probes/index.js';
import type { Probe, ProbeOptions } from '../probes/probe.js';
import { formatCommand, type ProcessRunner } from '../process.js';
import { githubClient, GitHubError, repoFromEnv } from '../github/client.js';
import { DeploymentRecorder, runLogUrl, type DeploymentOutcome } from '../github/deployments.js';
import { createRouter } from '../routers/index.js';
import { otherColor, type Color, type Router, type Weights } from '../routers/router.js';
import { formatMs, formatPercent } from '../summary.js';
import { describePlan, planPromotion, weightsFor, type DeployInputs, type PromotionPlan } from './plan.js';
import { openStateStore } from './state/index.js';
import type { DeployState, HistoryEntry, LockOwner, Release, StateStore } from './state/state.js';

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
  weights: Weights;
  rolledBack: boolean;
  reason?: string;
  /** The command did what it was asked (a rollback caused by a breach is not success). */
  succeeded: boolean;
  plan?: PromotionPlan;
  timeline: TimelinePoint[];
  breach?: Breach;
  /** Breach detected → previous colour verified at 100%, in ms. */
  restoreMs?: number;
  state: DeployState;
  router?: { verified?: string };
}

/** History kept in the state; older entries are dropped. */
const HISTORY_LIMIT = 200;
/** A lock whose holder has not shown life for this long is stale. */
const LOCK_STALE_MS = 30_000;

function lockOwner(env: DeployDeps['io']['env']): LockOwner {
  const run = env.GITHUB_RUN_ID ? `run ${env.GITHUB_RUN_ID}/${env.GITHUB_RUN_ATTEMPT ?? 1}` : 'local run';
  const who = actorOf(env);
  return {
    id: `${env.GITHUB_RUN_ID ?? 'local'}-${env.GITHUB_RUN_ATTEMPT ?? 1}-${process.pid}-${hostname()}`,
    description: `${run} by ${who} (pid ${process.pid} on ${hostname()})`,
  };
}

function actorOf(env: DeployDeps['io']['env']): string {
  if (env.GITHUB_ACTOR) return env.GITHUB_ACTOR;
  try {
    return userInfo().username;
  } catch {
    return 'unknown';
  }
}

function describeWeights(weights: Weights): string {
  return `blue ${weights.blue}% / green ${weights.green}%`;
}

/** Adds a line to the history, stamped with the time and the actor. */
function record(
  env: DeployDeps['io']['env'],
  state: DeployState,
  entry: Omit<HistoryEntry, 'at' | 'actor'>,
): DeployState {
  const line: HistoryEntry = { at: new Date().toISOString(), actor: actorOf(env), ...entry };
  return { ...state, history: [...state.history, line].slice(-HISTORY_LIMIT) };
}

/** Runs one deploy command. Holds the deploy lock for everything that changes traffic or state. */
export async function deploy(inputs: DeployInputs, deps: DeployDeps): Promise<DeployResult> {
  const store = deps.store ?? openStateStore(inputs.state, { cwd: process.cwd() });
  try {
    const state = await store.read();
    if (inputs.command === 'status') return await status(inputs, deps, store, state);
    if (inputs.command === 'plan') {
      const plan = planPromotion(inputs, state);
      for (const line of describePlan(plan)) deps.io.info(line);
      return { ...resultOf('plan', state), plan, succeeded: true };
    }
    const router = deps.router ?? buildRouter(inputs, deps);
    const lock = await store.lock(lockOwner(deps.io.env), {
      timeoutMs: inputs['lock-timeout'],
      staleAfterMs: LOCK_STALE_MS,
      clock: deps.clock,
      onWait: (holder, waited) =>
        deps.io.info(`waiting for the deploy lock, held by ${holder} (${formatMs(waited)})`),
    });
    if (lock.tookOverFrom) deps.io.warning(`took over a stale deploy lock from ${lock.tookOverFrom}`);
    try {
      const current = await store.read();
      switch (inputs.command) {
        case 'stage':
          return await stage(inputs, deps, store, current);
        case 'shift':
          return await shift(inputs, deps, store, router, current);
        case 'rollback':
          return await rollback(inputs, deps, store, router, current, inputs.reason);
        case 'promote':
          return await promote(inputs, deps, store, router, current);
      }
    } finally {
      await lock.release();
    }
  } finally {
    await store.close();
  }
}

function resultOf(command: DeployInputs['command'], state: DeployState): DeployResult {
  return {
    command,
    active: state.active,
    previous: previousOf(state),
    weights: state.weights,
    rolledBack: false,
    succeeded: true,
    timeline: [],
    state,
  };
}

/**
 * Whether a colour has served users: it ran a release switchyard staged, or it had traffic at
 * some point of the history (blue serves before switchyard's first promotion).
 */
function hasServed(state: DeployState, color: Color): boolean {
  return Boolean(state.releases[color]) || state.history.some((entry) => entry.weights[color] > 0);
}

/** The colour that served before the active one, if any. */
function previousOf(state: DeployState): Color | undefined {
  const other = otherColor(state.active);
  return hasServed(state, other) ? other : undefined;
}

function buildRouter(inputs: DeployInputs, deps: DeployDeps): Router {
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
    verifyUrl: inputs['verify-url'],
    runner: deps.runner,
    clock: deps.clock,
    log: (line) => deps.io.info(line),
  });
}

async function status(
  inputs: DeployInputs,
  deps: DeployDeps,
  store: StateStore,
  state: DeployState,
): Promise<DeployResult> {
  const { io } = deps;
  io.info(`state: ${store.location} (revision ${state.revision})`);
  io.info(`active: ${state.active}; weights: ${describeWeights(state.weights)}`);
  for (const color of ['blue', 'green'] as const) {
    const release = state.releases[color];
    io.info(
      `  ${color}: ${release ? `${release.version}${release.sha ? ` (${release.sha.slice(0, 7)})` : ''}, staged ${release.stagedAt}` : 'nothing staged'}`,
    );
  }
  if (state.promotion) {
    io.warning(
      `an unfinished promotion of ${state.promotion.to} (started ${state.promotion.startedAt} by ${state.promotion.owner}) ` +
        `stopped at ${state.promotion.steps[state.promotion.step]}%: run rollback to restore ${state.promotion.from}, or promote to start it again`,
    );
  }
  let router: { verified?: string } | undefined;
  if (
    inputs.blue?.length ||
    inputs.green?.length ||
    inputs.router !== 'nginx' ||
    inputs['nginx-upstream-file']
  ) {
    const live = await (deps.router ?? buildRouter(inputs, deps)).read();
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
      `  ${entry.at} ${entry.command} ${entry.version ?? ''} ${entry.verdict} by ${entry.actor}${entry.reason ? `: ${entry.reason}` : ''}`,
    );
  }
  return { ...resultOf('status', state), router };
}

/** Sets the weights and proves they took effect; returns the verification's words. */
async function setWeights(router: Router, weights: Weights, io: ActionIO): Promise<string> {
  await router.apply(weights);
  const verification = await router.verify(weights);
  if (!verification.ok) {
    throw new UserError(
      `the router did not take ${describeWeights(weights)}: ${verification.detail}`,
      'Traffic not shifted',
    );
  }
  io.info(`traffic: ${describeWeights(weights)} — ${verification.detail}`);
  return verification.detail;
}

async function stage(
  inputs: DeployInputs,
  deps: DeployDeps,
  store: StateStore,
  state: DeployState,
): Promise<DeployResult> {
  const { io } = deps;
  const idle = otherColor(state.active);
  if (state.weights[idle] > 0) {
    throw new UserError(
      `${idle} still serves ${state.weights[idle]}% of traffic; staging over it would hit users. Run rollback (or promote) first.`,
      'Cannot stage',
    );
  }
  if (!inputs.version)
    throw new InputError('version', 'is required to stage: name what you deploy, e.g. version: v1.4.2');
  const servers = (idle === 'green' ? inputs.green : inputs.blue) ?? [];
  if (servers.length === 0)
    throw new InputError(idle, `lists no servers; stage needs the ${idle} servers to probe`);
  const command = inputs['stage-command'];
  if (command) {
    io.info(`staging ${inputs.version} on ${idle}: ${formatCommand(command)}`);
    const result = await deps.runner.run(command, {
      env: {
        ...process.env,
        SWITCHYARD_COLOR: idle,
        SWITCHYARD_VERSION: inputs.version,
        SWITCHYARD_SERVERS: servers.map((s) => s.address).join(','),
      },
    });
    for (const line of result.stdout.trim().split('\n').filter(Boolean)) io.info(`  ${line}`);
    if (result.exitCode !== 0) {
      const tail = result.stderr.trim().split('\n').slice(-5).join('\n');
      throw new UserError(
        `stage-command exited ${result.exitCode}${tail ? `: ${tail}` : ''}`,
        'Stage failed',
      );
    }
  }
  // Probed directly, not through the router: the idle colour has no traffic yet.
  const probes = directProbes(inputs, deps, idle);
  const started = deps.clock.now();
  const pending = new Set(probes);
  let lastDetail = '';
  let lastLog = -Infinity;
  try {
    while (pending.size > 0) {
      for (const probe of [...pending]) {
        const result = await probe.check(deps.signal);
        lastDetail = `${probe.target}: ${result.detail}`;
        if (result.ok) pending.delete(probe);
      }
      if (pending.size === 0) break;
      const elapsed = deps.clock.now() - started;
      if (elapsed >= inputs['stage-timeout'] || deps.signal?.aborted) {
        throw new UserError(
          `${idle} did not become healthy within ${formatMs(inputs['stage-timeout'])}: ${lastDetail}`,
          'Stage failed',
        );
      }
      if (elapsed - lastLog >= 5000) {
        lastLog = elapsed;
        io.info(`waiting for ${idle} to become healthy (${formatMs(elapsed)}): ${lastDetail}`);
      }
      await deps.clock.sleep(Math.min(inputs.interval, 1000), deps.signal);
    }
  } finally {
    await Promise.all(probes.map((p) => p.close()));
  }
  io.info(`${idle} is healthy with ${inputs.version} after ${formatMs(deps.clock.now() - started)}`);
  const sha = deps.io.env.GITHUB_SHA;
  const next = await store.update((s) =>
    record(
      deps.io.env,
      {
        ...s,
        releases: {
          ...s.releases,
          [idle]: { version: inputs.version as string, sha, stagedAt: new Date().toISOString() },
        },
      },
      {
        command: 'stage',
        version: inputs.version,
        sha,
        weights: s.weights,
        verdict: 'succeeded',
      },
    ),
  );
  return resultOf('stage', next);
}

async function shift(
  inputs: DeployInputs,
  deps: DeployDeps,
  store: StateStore,
  router: Router,
  state: DeployState,
): Promise<DeployResult> {
  if (inputs.weight === undefined)
    throw new InputError('weight', "is required to shift: the idle colour's share, 0–100");
  const idle = otherColor(state.active);
  const weights = weightsFor(idle, inputs.weight);
  const verified = await setWeights(router, weights, deps.io);
  const next = await store.update((s) =>
    record(
      deps.io.env,
      { ...s, weights },
      {
        command: 'shift',
        version: s.releases[idle]?.version,
        weights,
        verdict: 'succeeded',
      },
    ),
  );
  return { ...resultOf('shift', next), router: { verified } };
}

/**
 * Puts the active colour (or, when the active colour already has everything and nothing is
 * under way, the previous one) back to 100% at once.
 */
async function rollback(
  inputs: DeployInputs,
  deps: DeployDeps,
  store: StateStore,
  router: Router,
  state: DeployState,
  reason: string,
): Promise<DeployResult> {
  const clean = !state.promotion && state.weights[state.active] === 100;
  const target: Color = clean ? otherColor(state.active) : (state.promotion?.from ?? state.active);
  if (clean && !hasServed(state, target)) {
    throw new UserError(
      `nothing to roll back to: ${state.active} has all traffic and ${target} never served`,
      'Cannot roll back',
    );
  }
  const weights = weightsFor(target, 100);
  const started = deps.clock.now();
  const verified = await setWeights(router, weights, deps.io);
  deps.io.info(`rolled back to ${target} in ${formatMs(deps.clock.now() - started)}: ${reason}`);
  if (state.promotion) {
    await closeDeployment(
      inputs,
      deps,
      state.promotion.deploymentId,
      'failure',
      `interrupted, rolled back: ${reason}`,
    );
  } else if (clean) {
    // The colour that lost the traffic is no longer what the environment runs.
    await closeDeployment(
      inputs,
      deps,
      state.releases[state.active]?.deploymentId,
      'inactive',
      `rolled back to ${target}: ${reason}`,
    );
  }
  const previous = state.active === target ? otherColor(target) : state.active;
  const next = await store.update((s) =>
    record(
      deps.io.env,
      { ...s, active: target, weights, promotion: undefined },
      {
        command: 'rollback',
        version: s.releases[target]?.version,
        weights,
        verdict: 'succeeded',
        reason,
      },
    ),
  );
  return { ...resultOf('rollback', next), previous, router: { verified } };
}

function directProbes(inputs: DeployInputs, deps: DeployDeps, color: Color): Probe[] {
  const make = deps.createProbe ?? createProbe;
  const options = probeOptions(inputs);
  const servers = (color === 'green' ? inputs.green : inputs.blue) ?? [];
  return servers.map((server) => make(new URL(`http://${server.address}${inputs['health-path']}`), options));
}

function probeOptions(inputs: DeployInputs): ProbeOptions {
  return {
    timeoutMs: inputs.timeout,
    expectStatus: inputs['expect-status'],
    expectBody: inputs['expect-body'],
    headers: Object.fromEntries(inputs.headers ?? []),
    followRedirects: true,
    insecure: false,
  };
}

async function promote(
  inputs: DeployInputs,
  deps: DeployDeps,
  store: StateStore,
  router: Router,
  initial: DeployState,
): Promise<DeployResult> {
  const { io, clock } = deps;
  const started = clock.now();
  const timeline: TimelinePoint[] = [];
  const at = () => clock.now() - started;
  let state = initial;

  if (state.promotion) {
    // Documented behaviour: an interrupted promotion is restarted from the first step, after the
    // colour it was promoting over is restored to all traffic.
    io.warning(
      `found an unfinished promotion of ${state.promotion.to} (started ${state.promotion.startedAt} by ${state.promotion.owner}, ` +
        `stopped at ${state.promotion.steps[state.promotion.step]}%); restoring ${state.promotion.from} and starting again`,
    );
    state = (await rollback(inputs, deps, store, router, state, 'interrupted promotion restarted')).state;
  }
  const plan = planPromotion(inputs, state);
  const { from, to } = plan;
  if (!state.releases[to]) {
    throw new UserError(
      `${to} has nothing staged; run the stage command with a version first`,
      'Cannot promote',
    );
  }
  const thresholds = parseThresholdLines(inputs['k6-thresholds'] ?? []);
  if (thresholds.length > 0 && !inputs['k6-summary']?.length) {
    throw new InputError(
      'k6-thresholds',
      'needs k6-summary: the file k6 wrote with --summary-export or handleSummary()',
    );
  }
  for (const line of describePlan(plan)) io.info(line);

  const version = state.releases[to]?.version;
  const sha = state.releases[to]?.sha;
  const owner = lockOwner(io.env).description;
  state = await store.update((s) =>
    record(
      deps.io.env,
      {
        ...s,
        promotion: {
          id: `${Date.now()}`,
          from,
          to,
          version,
          sha,
          startedAt: new Date().toISOString(),
          step: 0,
          steps: inputs.steps,
          owner,
        },
      },
      {
        command: 'promote',
        version,
        sha,
        weights: s.weights,
        verdict: 'started',
      },
    ),
  );
  timeline.push({ at: at(), weights: state.weights, event: 'start' });

  const probes = [
    ...(inputs.targets ?? []).map((url) => (deps.createProbe ?? createProbe)(url, probeOptions(inputs))),
    ...directProbes(inputs, deps, to),
  ];
  if (probes.length === 0) {
    throw new InputError('targets', `promote needs something to watch: give targets, or the ${to} servers`);
  }

  const recorder = await recordDeployment(inputs, deps, to, version, sha);
  if (recorder) {
    state = await store.update((s) => ({
      ...s,
      promotion: s.promotion && { ...s.promotion, deploymentId: recorder.id },
    }));
  }
  const finishRecord = async (outcome: DeploymentOutcome, description: string) => {
    await recorder?.finish(outcome, description).catch((error: unknown) => {
      if (!(error instanceof GitHubError)) throw error;
      io.warning(`could not record the deployment's ${outcome}: ${error.message}`);
    });
  };

  const restore = async (reason: string, verdict: HistoryEntry['verdict']): Promise<number> => {
    const restoreStarted = clock.now();
    const weights = weightsFor(from, 100);
    await setWeights(router, weights, io);
    const restoreMs = clock.now() - restoreStarted;
    timeline.push({ at: at(), weights, event: 'rollback' });
    state = await store.update((s) =>
      record(
        deps.io.env,
        { ...s, active: from, weights, promotion: undefined },
        {
          command: 'promote',
          version,
          sha,
          weights,
          verdict,
          reason,
        },
      ),
    );
    return restoreMs;
  };

  try {
    for (const [index, step] of plan.steps.entries()) {
      if (deps.signal?.aborted) break;
      const weights = weightsFor(to, step.weight);
      await setWeights(router, weights, io);
      state = await store.update((s) => ({
        ...s,
        weights,
        promotion: s.promotion && { ...s.promotion, step: index },
      }));
      timeline.push({ at: at(), weights, event: `${step.weight}%` });
      io.info(
        `step ${index + 1}/${plan.steps.length}: ${to} at ${step.weight}%, holding ${formatMs(step.holdMs)}`,
      );
      const watch = await watchTargets({
        probes,
        intervalMs: inputs.interval,
        durationMs: step.holdMs,
        limits: {
          maxErrorRate: inputs['max-error-rate'],
          maxP95Ms: inputs['max-p95'],
          failureLimit: inputs['failure-limit'],
          minSamples: inputs['min-samples'],
        },
        concurrency: 20,
        clock,
        signal: deps.signal,
        onRound: (elapsed, overall) => {
          timeline.push({ at: at(), weights, errorRate: overall.errorRate, p95: overall.p95 });
          if (Math.floor(elapsed / 5000) !== Math.floor((elapsed - inputs.interval) / 5000)) {
            io.info(
              `  ${to} ${step.weight}% · ${formatMs(at())} · ${overall.samples} probes · error rate ${formatPercent(overall.errorRate)} · p95 ${formatMs(overall.p95)}`,
            );
          }
        },
      });
      let reason = watch.breach ? `${watch.breach.message} at ${step.weight}%` : undefined;
      if (!reason && !deps.signal?.aborted && inputs['k6-summary']?.length) {
        const summaries = await Promise.all(inputs['k6-summary'].map((file) => readK6Summary(file)));
        const gate = evaluateK6Gate(summaries, thresholds);
        const broken = gate.verdicts.filter((v) => !v.ok);
        if (broken.length)
          reason = `k6 thresholds failed at ${step.weight}%: ${broken.map((v) => `${v.metric} ${v.expression}`).join('; ')}`;
      }
      if (!reason) {
        io.info(
          `  ✓ ${to} ${step.weight}% held ${formatMs(watch.elapsedMs)}: ${watch.overall.samples} probes, ` +
            `error rate ${formatPercent(watch.overall.errorRate)}, p95 ${formatMs(watch.overall.p95)}`,
        );
      }
      if (reason) {
        io.info(`breach: ${reason}; restoring ${from}`);
        const restoreMs = await restore(reason, 'rolled-back');
        io.info(`${from} restored to 100% ${formatMs(restoreMs)} after the breach was detected`);
        await finishRecord('failure', `rolled back: ${reason}`);
        return {
          ...resultOf('promote', state),
          previous: to,
          rolledBack: true,
          succeeded: false,
          reason,
          plan,
          timeline,
          breach: watch.breach,
          restoreMs,
        };
      }
    }
    if (deps.signal?.aborted) {
      const reason = 'cancelled (SIGINT/SIGTERM)';
      io.warning(`${reason}: restoring ${from} to 100%`);
      const restoreMs = await restore(reason, 'interrupted');
      await finishRecord('inactive', reason);
      return {
        ...resultOf('promote', state),
        rolledBack: true,
        succeeded: false,
        reason,
        plan,
        timeline,
        restoreMs,
      };
    }
  } catch (error) {
    // A router or state failure mid-promotion: put the old colour back before reporting it.
    if (!(error instanceof UserError) || error.title !== 'Cannot promote') {
      io.warning(`promotion failed (${(error as Error).message}); restoring ${from}`);
      await restore((error as Error).message, 'failed').catch((restoreError: Error) =>
        io.error(`could not restore ${from}: ${restoreError.message}. Run the rollback command.`),
      );
      await finishRecord('error', (error as Error).message);
    }
    throw error;
  } finally {
    await Promise.all(probes.map((p) => p.close()));
  }

  state = await store.update((s) =>
    record(
      deps.io.env,
      {
        ...s,
        active: to,
        weights: weightsFor(to, 100),
        promotion: undefined,
        releases: { ...s.releases, [to]: { ...(s.releases[to] as Release), deploymentId: recorder?.id } },
      },
      {
        command: 'promote',
        version,
        sha,
        weights: weightsFor(to, 100),
        verdict: 'succeeded',
      },
    ),
  );
  timeline.push({ at: at(), weights: state.weights, event: 'promoted' });
  await finishRecord('success', `${to}${version ? ` (${version})` : ''} has all traffic`);
  io.info(`promoted: ${to}${version ? ` (${version})` : ''} has all traffic after ${formatMs(at())}`);
  return { ...resultOf('promote', state), previous: from, plan, timeline };
}

/** Where GitHub deployments are recorded, when a token is given and a commit is known. */
function deploymentTarget(
  inputs: DeployInputs,
  deps: DeployDeps,
  ref: string | undefined,
  description: string,
) {
  const token = inputs['github-token'];
  if (!token || !ref) return undefined;
  const { io } = deps;
  return {
    octokit: githubClient(token, io.env, { log: (line) => io.debug(line) }),
    ...repoFromEnv(io.env),
    ref,
    environment: deps.environment ?? 'production',
    description,
    logUrl: runLogUrl(io.env),
    log: (line: string) => io.info(line),
  };
}

/** A GitHub deployment for this promotion, when a token is given; failures to record only warn. */
async function recordDeployment(
  inputs: DeployInputs,
  deps: DeployDeps,
  color: Color,
  version: string | undefined,
  sha: string | undefined,
): Promise<DeploymentRecorder | undefined> {
  if (!inputs['github-token']) return undefined;
  const { io } = deps;
  const ref = sha ?? io.env.GITHUB_SHA;
  if (!ref) {
    io.warning('github-token is set but no commit is known (GITHUB_SHA): not recording a GitHub deployment');
    return undefined;
  }
  try {
    const target = deploymentTarget(inputs, deps, ref, `switchyard: ${color}${version ? ` ${version}` : ''}`);
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
async function closeDeployment(
  inputs: DeployInputs,
  deps: DeployDeps,
  id: number | undefined,
  outcome: DeploymentOutcome,
  description: string,
): Promise<void> {
  if (id === undefined) return;
  try {
    const target = deploymentTarget(inputs, deps, deps.io.env.GITHUB_SHA ?? 'unknown', description);
    if (!target) return;
    await DeploymentRecorder.existing(target, id).finish(outcome, description);
  } catch (error) {
    if (!(error instanceof UserError)) throw error;
    deps.io.warning(`could not mark GitHub deployment ${id} ${outcome}: ${error.message}`);
  }
}
