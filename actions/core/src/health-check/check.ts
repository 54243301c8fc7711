import type { ActionIO } from '../io.js';
import type { Clock } from '../clock.js';
import type { InputValues } from '../inputs.js';
import { InputError } from '../errors.js';
import { prepareBodyMatcher } from '../probes/body-matcher.js';
import { createProbe } from '../probes/index.js';
import type { Probe, ProbeOptions, ProbeResult } from '../probes/probe.js';
import { mapBounded, retry } from '../retry.js';
import { count, formatMs, formatPercent } from '../summary.js';
import { redactUrl } from '../mask.js';
import type { K6GateResult } from '../k6/thresholds.js';
import { checkHoldSettings } from '../analysis/evidence.js';
import { combineVerdicts, type GateVerdict, type Verdict } from '../analysis/gate.js';
import { judgeK6, k6GateSettings } from '../analysis/k6-gate.js';
import { describeFailures, untilHealthy } from '../analysis/until-healthy.js';
import { ALL_TARGETS, watchTargets } from '../analysis/watch.js';
import type { Breach } from '../analysis/limits.js';
import { limitsFrom, probeOptionsFrom } from '../analysis/settings.js';
import { sampleOf, Window, type Sample, type WindowStats } from '../analysis/window.js';
import type { healthCheckInputs } from './inputs.js';

export type HealthCheckInputs = InputValues<typeof healthCheckInputs>;

export interface HealthCheckDeps {
  io: ActionIO;
  clock: Clock;
  signal?: AbortSignal;
  /** Replaceable so the engines can be tested with scripted probes. */
  createProbe?: (target: URL, options: ProbeOptions) => Probe;
}

export interface TargetReport extends WindowStats {
  target: string;
  kind: Probe['kind'];
  ok: boolean;
  detail: string;
  facts?: ProbeResult['facts'];
}

export interface HealthCheckResult {
  healthy: boolean;
  /** healthy is `verdict === 'passed'`: inconclusive (no evidence) is not healthy. */
  verdict: Verdict;
  mode: HealthCheckInputs['mode'];
  /** Why it is unhealthy, in one line. */
  reason?: string;
  targets: TargetReport[];
  failed: string[];
  overall: WindowStats;
  breach?: Breach;
  k6?: K6GateResult;
  samples: Sample[];
  elapsedMs: number;
}

/** Progress lines during long waits: at most one per this many ms. */
const PROGRESS_EVERY_MS = 5_000;

export async function healthCheck(
  inputs: HealthCheckInputs,
  deps: HealthCheckDeps,
): Promise<HealthCheckResult> {
  const { clock } = deps;
  const k6Settings = k6GateSettings(inputs['k6-summary'], inputs['k6-thresholds']);
  const probing = (inputs.targets ?? []).length > 0;
  if (!probing && !k6Settings) {
    throw new InputError(
      'targets',
      'lists nothing to probe: give targets, one per line (https://…/health, tcp://host:port, redis://…, postgres://…), ' +
        'or k6-summary to gate on a load test alone',
    );
  }
  if (probing) checkWindow(inputs);
  // A regex RE2 refuses is bad input: found now, before any probe.
  if (inputs['expect-body']) await prepareBodyMatcher(inputs['expect-body']);
  // Judged once now, so a threshold on a missing metric fails before any probing.
  const k6Before = k6Settings && (await judgeK6(k6Settings));
  const probes = buildProbes(inputs, deps);
  const started = clock.now();
  const last = new Map<string, ProbeResult>();
  const recording = probes.map((probe) => recordLast(probe, last));
  try {
    // With only k6-summary (a load-test job's gate), the summary is the whole evidence.
    const outcome = !probing
      ? nothingProbed()
      : inputs.mode === 'watch'
        ? await watch(inputs, recording, deps)
        : inputs.mode === 'until-healthy'
          ? await waitUntilHealthy(inputs, recording, deps)
          : await once(inputs, recording, deps);
    const k6 = k6Before;
    const targets = probes.map((probe) => {
      const result = last.get(probe.target);
      const stats = outcome.perTarget.get(probe.target) ?? new Window().stats();
      return {
        target: probe.target,
        kind: probe.kind,
        ok: !outcome.failed.includes(probe.target) && outcome.verdict.verdict !== 'inconclusive',
        detail: result?.detail ?? 'not probed',
        facts: result?.facts,
        ...stats,
      };
    });
    const { verdict, reason } = combineVerdicts([...(probing ? [outcome.verdict] : []), ...(k6 ? [k6] : [])]);
    return {
      healthy: verdict === 'passed',
      verdict,
      mode: inputs.mode,
      reason,
      targets,
      failed: outcome.failed,
      overall: outcome.overall,
      breach: outcome.breach,
      k6: k6?.result,
      samples: outcome.samples,
      elapsedMs: clock.now() - started,
    };
  } finally {
    await Promise.all(probes.map((probe) => probe.close().catch(() => undefined)));
  }
}

/** Refuses a watch that could not gather min-samples probes per target (see analysis/evidence.ts). */
function checkWindow(inputs: HealthCheckInputs): void {
  if (inputs.mode !== 'watch') return;
  checkHoldSettings(
    { durationMs: inputs.duration, intervalMs: inputs.interval, minSamples: inputs['min-samples'] },
    { duration: 'duration', interval: 'interval', minSamples: 'min-samples' },
  );
}

function buildProbes(inputs: HealthCheckInputs, deps: HealthCheckDeps): Probe[] {
  const options = probeOptionsFrom(inputs, {
    followRedirects: inputs['follow-redirects'],
    insecure: inputs.insecure,
    maxMemoryUsage: inputs['max-memory-usage'],
    query: inputs.query,
  });
  const make = deps.createProbe ?? createProbe;
  const seen = new Set<string>();
  const probes: Probe[] = [];
  for (const url of inputs.targets ?? []) {
    if (seen.has(url.href)) {
      deps.io.warning(`targets: ${redactUrl(url.href)} is listed twice; probing it once`);
      continue;
    }
    seen.add(url.href);
    probes.push(make(url, options));
  }
  return probes;
}

function recordLast(probe: Probe, last: Map<string, ProbeResult>): Probe {
  return {
    target: probe.target,
    kind: probe.kind,
    close: () => probe.close(),
    check: async (signal) => {
      const result = await probe.check(signal);
      last.set(probe.target, result);
      return result;
    },
  };
}

interface Outcome {
  verdict: GateVerdict;
  failed: string[];
  breach?: Breach;
  samples: Sample[];
  perTarget: Map<string, WindowStats>;
  overall: WindowStats;
}

function nothingProbed(): Outcome {
  return {
    verdict: { gate: 'watch', verdict: 'inconclusive', reason: 'nothing probed' },
    failed: [],
    samples: [],
    ...tally([]),
  };
}

function tally(samples: Sample[]): { perTarget: Map<string, WindowStats>; overall: WindowStats } {
  const windows = new Map<string, Window>();
  const overall = new Window();
  for (const sample of samples) {
    if (!windows.has(sample.target)) windows.set(sample.target, new Window());
    windows.get(sample.target)?.add(sample);
    overall.add(sample);
  }
  return { perTarget: new Map([...windows].map(([t, w]) => [t, w.stats()])), overall: overall.stats() };
}

async function once(inputs: HealthCheckInputs, probes: Probe[], deps: HealthCheckDeps): Promise<Outcome> {
  const { io, clock } = deps;
  const started = clock.now();
  const samples: Sample[] = [];
  const retries = inputs.retries;
  const finals = await mapBounded(probes, inputs.concurrency, async (probe) => {
    const attempt = async () => {
      const at = clock.now() - started;
      const result = await probe.check(deps.signal);
      samples.push(sampleOf(probe.target, result, at));
      return result;
    };
    const { result } = await retry(attempt, (r) => r.ok, {
      retries,
      baseDelayMs: inputs['retry-delay'],
      clock,
      signal: deps.signal,
      onRetry: (n, delay, lastResult) =>
        io.info(`${probe.target}: ${lastResult.detail}; retry ${n} of ${retries} in ${formatMs(delay)}`),
    });
    io.info(`${result.ok ? '✓' : '✗'} ${probe.target}: ${result.detail}`);
    return { target: probe.target, result };
  });
  const failed = finals.filter((f) => !f.result.ok).map((f) => f.target);
  const detailOf = (t: string) => finals.find((f) => f.target === t)?.result.detail ?? '';
  const verdict: GateVerdict =
    probes.length === 0
      ? { gate: 'watch', verdict: 'inconclusive', reason: 'nothing to probe: no data to judge' }
      : failed.length > 0
        ? {
            gate: 'watch',
            verdict: 'failed',
            reason: `${failed.length} of ${probes.length} targets unhealthy: ${describeFailures(failed, detailOf)}`,
          }
        : deps.signal?.aborted
          ? { gate: 'watch', verdict: 'inconclusive', reason: 'cancelled' }
          : { gate: 'watch', verdict: 'passed' };
  return { verdict, failed, samples, ...tally(samples) };
}

async function waitUntilHealthy(
  inputs: HealthCheckInputs,
  probes: Probe[],
  deps: HealthCheckDeps,
): Promise<Outcome> {
  const { io } = deps;
  const result = await untilHealthy({
    probes,
    intervalMs: inputs.interval,
    durationMs: inputs.duration,
    concurrency: inputs.concurrency,
    clock: deps.clock,
    signal: deps.signal,
    progressEveryMs: PROGRESS_EVERY_MS,
    onHealthy: (target, probed, elapsedMs) =>
      io.info(`✓ ${target}: ${probed.detail} after ${formatMs(elapsedMs)}`),
    onWaiting: (pending, elapsedMs) => {
      const first = pending[0];
      if (!first) return;
      io.info(
        `waiting for ${pending.length} of ${probes.length} targets (${formatMs(elapsedMs)} of ${formatMs(inputs.duration)}): ` +
          `${first.target} — ${first.detail}${pending.length > 1 ? ` (+${pending.length - 1} more)` : ''}`,
      );
    },
  });
  return { verdict: result, failed: result.pending, samples: result.samples, ...tally(result.samples) };
}

async function watch(inputs: HealthCheckInputs, probes: Probe[], deps: HealthCheckDeps): Promise<Outcome> {
  const { io } = deps;
  const durationMs = inputs.duration;
  // The first progress line comes after a wait worth reporting, not at once.
  let lastProgress = 0;
  const result = await watchTargets({
    probes,
    intervalMs: inputs.interval,
    durationMs,
    limits: limitsFrom(inputs),
    concurrency: inputs.concurrency,
    clock: deps.clock,
    signal: deps.signal,
    onRound: (elapsedMs, overall) => {
      if (elapsedMs - lastProgress < PROGRESS_EVERY_MS) return;
      lastProgress = elapsedMs;
      io.info(
        `watch ${formatMs(elapsedMs)} of ${formatMs(durationMs)}: ${count(overall.samples, 'sample')}, ` +
          `error rate ${formatPercent(overall.errorRate)}, p95 ${formatMs(overall.p95)}`,
      );
    },
  });
  const ended = result.breach ? 'stopped' : result.cancelled ? 'cancelled' : 'finished';
  const extended =
    result.extendedMs > 0 ? ` (extended by ${formatMs(result.extendedMs)} for min-samples)` : '';
  io.info(
    `watch ${ended} after ${formatMs(result.elapsedMs)}${extended}: ${count(result.overall.samples, 'sample')}, ` +
      `error rate ${formatPercent(result.overall.errorRate)}, p95 ${formatMs(result.overall.p95)} — ${result.verdict}`,
  );
  const breach = result.breach;
  let failed: string[] = [];
  if (breach) {
    failed =
      breach.scope === ALL_TARGETS
        ? [...result.perTarget]
            .filter(([, s]) => s.failures > 0 || breach.limit === 'max-p95')
            .map(([t]) => t)
        : [breach.scope];
  } else if (result.verdict === 'failed') {
    failed = [...result.perTarget]
      .filter(([, s]) => s.samples > 0 && s.failures === s.samples)
      .map(([t]) => t);
  }
  const reason = breach ? `${breach.message} after ${formatMs(breach.at)}` : result.reason;
  return {
    verdict: { ...result, reason },
    failed,
    breach,
    samples: result.samples,
    perTarget: result.perTarget,
    overall: result.overall,
  };
}
