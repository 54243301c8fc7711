import type { ActionIO } from '../io.js';
import type { Clock } from '../clock.js';
import { InputError } from '../errors.js';
import type { InputValues } from '../inputs.js';
import { createProbe } from '../probes/index.js';
import type { Probe, ProbeOptions, ProbeResult } from '../probes/probe.js';
import { mapBounded, retry } from '../retry.js';
import { count, formatMs, formatPercent } from '../summary.js';
import { redactUrl } from '../mask.js';
import { readK6Summary, type K6Summary } from '../k6/summary.js';
import {
  evaluateK6Gate,
  parseThresholdLines,
  type K6GateResult,
  type ThresholdLine,
} from '../k6/thresholds.js';
import { ALL_TARGETS, watchTargets } from '../analysis/watch.js';
import type { Breach, Limits } from '../analysis/limits.js';
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
  checkWindow(inputs, deps.io);
  const gate = await loadK6Gate(inputs);
  const probes = buildProbes(inputs, deps);
  const started = clock.now();
  const last = new Map<string, ProbeResult>();
  const recording = probes.map((probe) => recordLast(probe, last));
  try {
    const outcome =
      inputs.mode === 'watch'
        ? await watch(inputs, recording, deps)
        : inputs.mode === 'until-healthy'
          ? await untilHealthy(inputs, recording, deps)
          : await once(inputs, recording, deps);
    const k6 = gate ? evaluateK6Gate(gate.summaries, gate.lines) : undefined;
    const targets = probes.map((probe) => {
      const result = last.get(probe.target);
      const stats = outcome.perTarget.get(probe.target) ?? new Window().stats();
      return {
        target: probe.target,
        kind: probe.kind,
        ok: !outcome.failed.includes(probe.target),
        detail: result?.detail ?? 'not probed',
        facts: result?.facts,
        ...stats,
      };
    });
    let reason = outcome.reason;
    if (!reason && k6 && !k6.passed) {
      const broken = k6.verdicts.filter((v) => !v.ok);
      reason = `k6 thresholds failed: ${broken
        .map(
          (v) => `${v.metric} ${v.expression}${v.actual !== undefined ? ` (actual ${round(v.actual)})` : ''}`,
        )
        .join('; ')}`;
    }
    return {
      healthy: !reason,
      mode: inputs.mode,
      reason,
      targets,
      failed: outcome.failed,
      overall: outcome.overall,
      breach: outcome.breach,
      k6,
      samples: outcome.samples,
      elapsedMs: clock.now() - started,
    };
  } finally {
    await Promise.all(probes.map((probe) => probe.close().catch(() => undefined)));
  }
}

const round = (n: number) => Math.round(n * 1000) / 1000;

/** Refuses a watch that could not probe once, and says when its rate limits can never apply. */
function checkWindow(inputs: HealthCheckInputs, io: ActionIO): void {
  if (inputs.mode !== 'watch') return;
  if (inputs.duration < inputs.interval) {
    throw new InputError(
      'duration',
      `${formatMs(inputs.duration)} is shorter than interval (${formatMs(inputs.interval)}), so watch would not probe at all. Make duration at least the interval.`,
    );
  }
  const rounds = Math.ceil(inputs.duration / inputs.interval);
  if (rounds < inputs['min-samples']) {
    io.warning(
      `watch makes ${rounds} probes per target (duration ${formatMs(inputs.duration)} ÷ interval ${formatMs(inputs.interval)}), ` +
        `fewer than min-samples (${inputs['min-samples']}): max-error-rate and max-p95 can only fail it over all targets together, or not at all; failure-limit still applies.`,
    );
  }
}

async function loadK6Gate(
  inputs: HealthCheckInputs,
): Promise<{ summaries: K6Summary[]; lines: ThresholdLine[] } | undefined> {
  const files = inputs['k6-summary'] ?? [];
  const lines = parseThresholdLines(inputs['k6-thresholds'] ?? []);
  if (files.length === 0) {
    if (lines.length > 0) {
      throw new InputError(
        'k6-thresholds',
        'needs k6-summary: the file k6 wrote with --summary-export or handleSummary()',
      );
    }
    return undefined;
  }
  const summaries = await Promise.all(files.map((file) => readK6Summary(file)));
  // Evaluate once now so a threshold on a missing metric fails before any probing.
  evaluateK6Gate(summaries, lines);
  return { summaries, lines };
}

function buildProbes(inputs: HealthCheckInputs, deps: HealthCheckDeps): Probe[] {
  const options: ProbeOptions = {
    timeoutMs: inputs.timeout,
    expectStatus: inputs['expect-status'],
    expectBody: inputs['expect-body'],
    headers: Object.fromEntries(inputs.headers ?? []),
    followRedirects: inputs['follow-redirects'],
    insecure: inputs.insecure,
    maxMemoryUsage: inputs['max-memory-usage'],
    query: inputs.query,
  };
  const make = deps.createProbe ?? createProbe;
  const seen = new Set<string>();
  const probes: Probe[] = [];
  for (const url of inputs.targets) {
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
  failed: string[];
  reason?: string;
  breach?: Breach;
  samples: Sample[];
  perTarget: Map<string, WindowStats>;
  overall: WindowStats;
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

function describeFailures(failed: string[], last: (target: string) => string): string {
  const shown = failed.slice(0, 5).map((t) => `${t} (${last(t)})`);
  const more = failed.length > 5 ? ` and ${failed.length - 5} more` : '';
  return `${shown.join(', ')}${more}`;
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
  return {
    failed,
    reason: failed.length
      ? `${failed.length} of ${probes.length} targets unhealthy: ${describeFailures(failed, detailOf)}`
      : undefined,
    samples,
    ...tally(samples),
  };
}

async function untilHealthy(
  inputs: HealthCheckInputs,
  probes: Probe[],
  deps: HealthCheckDeps,
): Promise<Outcome> {
  const { io, clock } = deps;
  const started = clock.now();
  const elapsed = () => clock.now() - started;
  const durationMs = inputs.duration;
  const intervalMs = inputs.interval;
  const samples: Sample[] = [];
  const lastDetail = new Map<string, string>();
  let pending = probes;
  // The first progress line comes after a wait worth reporting, not at once.
  let lastProgress = 0;
  while (pending.length > 0 && !deps.signal?.aborted) {
    const results = await mapBounded(pending, inputs.concurrency, async (probe) => {
      const at = elapsed();
      const result = await probe.check(deps.signal);
      samples.push(sampleOf(probe.target, result, at));
      lastDetail.set(probe.target, result.detail);
      if (result.ok) io.info(`✓ ${probe.target}: ${result.detail} after ${formatMs(elapsed())}`);
      return result.ok;
    });
    pending = pending.filter((_, i) => !results[i]);
    if (pending.length === 0 || elapsed() >= durationMs) break;
    // The last attempt is made at the deadline itself, not one interval before it.
    const nextRound = Math.min((Math.floor(elapsed() / intervalMs) + 1) * intervalMs, durationMs);
    if (elapsed() - lastProgress >= PROGRESS_EVERY_MS) {
      lastProgress = elapsed();
      const first = pending[0] as Probe;
      io.info(
        `waiting for ${pending.length} of ${probes.length} targets (${formatMs(elapsed())} of ${formatMs(durationMs)}): ` +
          `${first.target} — ${lastDetail.get(first.target)}${pending.length > 1 ? ` (+${pending.length - 1} more)` : ''}`,
      );
    }
    await clock.sleep(started + nextRound - clock.now(), deps.signal);
  }
  const failed = pending.map((p) => p.target);
  return {
    failed,
    reason: failed.length
      ? `${failed.length} of ${probes.length} targets not healthy within ${formatMs(durationMs)}: ${describeFailures(failed, (t) => lastDetail.get(t) ?? 'not probed')}`
      : undefined,
    samples,
    ...tally(samples),
  };
}

async function watch(inputs: HealthCheckInputs, probes: Probe[], deps: HealthCheckDeps): Promise<Outcome> {
  const { io } = deps;
  const durationMs = inputs.duration;
  const limits: Limits = {
    maxErrorRate: inputs['max-error-rate'],
    maxP95Ms: inputs['max-p95'],
    failureLimit: inputs['failure-limit'],
    minSamples: inputs['min-samples'],
  };
  // The first progress line comes after a wait worth reporting, not at once.
  let lastProgress = 0;
  const result = await watchTargets({
    probes,
    intervalMs: inputs.interval,
    durationMs,
    limits,
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
  io.info(
    `watch ${result.breach ? 'stopped' : 'finished'} after ${formatMs(result.elapsedMs)}: ${count(result.overall.samples, 'sample')}, ` +
      `error rate ${formatPercent(result.overall.errorRate)}, p95 ${formatMs(result.overall.p95)}`,
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
  }
  return {
    failed,
    breach,
    reason: breach ? `${breach.message} after ${formatMs(breach.at)}` : undefined,
    samples: result.samples,
    perTarget: result.perTarget,
    overall: result.overall,
  };
}
