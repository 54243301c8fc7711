import type { Breach } from './limits.js';

/**
 * What a gate concluded. `passed` needs evidence; anything that could not gather enough of it is
 * `inconclusive`, and only `passed` lets a check succeed or a promotion advance.
 */
export type Verdict = 'passed' | 'failed' | 'inconclusive';

/** The verdict of one gate (a watch over probes, k6 summaries…), with why when it is not `passed`. */
export interface GateVerdict {
  gate: 'watch' | 'until-healthy' | 'k6';
  verdict: Verdict;
  /** One line a person can act on; set whenever the verdict is not `passed`. */
  reason?: string;
  /** The limit crossed, when a limit made it fail. */
  breach?: Breach;
}

/** The first verdict that is not `passed` (failed before inconclusive), or a pass of them all. */
export function combineVerdicts(verdicts: GateVerdict[]): {
  verdict: Verdict;
  reason?: string;
  breach?: Breach;
} {
  const failed = verdicts.find((v) => v.verdict === 'failed');
  const open = verdicts.find((v) => v.verdict === 'inconclusive');
  const decisive = failed ?? open;
  if (!decisive) return { verdict: 'passed' };
  return { verdict: decisive.verdict, reason: decisive.reason, breach: decisive.breach };
}
