import { holdDeadlineMs } from '../analysis/evidence.js';
import type { InputValues } from '../inputs.js';
import { otherColor, type Color, type Weights } from '../routers/router.js';
import { formatMs, formatPercent } from '../summary.js';
import type { DeployState } from './state/state.js';
import type { deployInputs } from './inputs.js';

export type DeployInputs = InputValues<typeof deployInputs>;

export interface PromotionPlan {
  from: Color;
  to: Color;
  version?: string;
  steps: { weight: number; holdMs: number }[];
  totalMs: number;
  checks: string[];
  rollback: string;
}

/** The weights with `to` at `share` percent. */
export function weightsFor(to: Color, share: number): Weights {
  return to === 'green' ? { blue: 100 - share, green: share } : { blue: share, green: 100 - share };
}

export function planPromotion(inputs: DeployInputs, state: DeployState): PromotionPlan {
  const from = state.active;
  const to = otherColor(from);
  const steps = inputs.steps.map((weight) => ({ weight, holdMs: inputs['step-duration'] }));
  const checks: string[] = [];
  const direct = (to === 'green' ? inputs.green : inputs.blue) ?? [];
  if (inputs.targets?.length) checks.push(`${inputs.targets.length} target(s) through the router`);
  if (direct.length) checks.push(`${direct.length} ${to} server(s) directly at ${inputs['health-path']}`);
  checks.push(
    `every ${formatMs(inputs.interval)}: error rate ≤ ${formatPercent(inputs['max-error-rate'])}` +
      (inputs['max-p95'] !== undefined ? `, p95 ≤ ${formatMs(inputs['max-p95'])}` : '') +
      (inputs['failure-limit'] ? `, fewer than ${inputs['failure-limit']} failures in a row` : '') +
      ` (rates after ${inputs['min-samples']} samples)`,
  );
  checks.push(
    `a step passes only with at least ${inputs['min-samples']} probes of every target and a success of each; ` +
      `one short of that at its end is extended up to ${formatMs(holdDeadlineMs({ durationMs: inputs['step-duration'], intervalMs: inputs.interval, minSamples: inputs['min-samples'] }))} in all, then fails as inconclusive`,
  );
  if (inputs['k6-summary']?.length)
    checks.push(`k6 thresholds in ${inputs['k6-summary'].join(', ')} after each step`);
  return {
    from,
    to,
    version: state.releases[to]?.version,
    steps,
    totalMs: steps.reduce((sum, step) => sum + step.holdMs, 0),
    checks,
    rollback:
      inputs['migration-phase'] === 'contract' || state.frozen
        ? `on the first breach, traffic freezes at the split it has and the promotion stops (exit 1): a contract-phase migration was applied, and ${from}'s code would break on the new schema`
        : `on the first breach, ${from} goes back to 100% at once and the promotion stops (exit 1)`,
  };
}

/**
 * A promotion going on from a held split (frozen, or left by a killed run after a contract-phase
 * migration): the held share analysed again, then the steps above it. Nothing held, nothing to
 * resume: the plan as it is.
 */
export function resumeFrom(plan: PromotionPlan, held: number): PromotionPlan {
  if (held <= 0) return plan;
  const holdMs = plan.steps[0]?.holdMs ?? 0;
  const steps = [{ weight: held, holdMs }, ...plan.steps.filter((step) => step.weight > held)];
  return { ...plan, steps, totalMs: steps.reduce((sum, step) => sum + step.holdMs, 0) };
}

export function describePlan(plan: PromotionPlan): string[] {
  return [
    `promote ${plan.to}${plan.version ? ` (${plan.version})` : ''} over ${plan.from}: ` +
      `${plan.steps.map((s) => `${s.weight}%`).join(' → ')}, ${formatMs(plan.steps[0]?.holdMs)} per step, ` +
      `${formatMs(plan.totalMs)} in all`,
    ...plan.checks.map((check) => `  check: ${check}`),
    `  rollback: ${plan.rollback}`,
  ];
}
