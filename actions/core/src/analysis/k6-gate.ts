import { InputError } from '../errors.js';
import { readK6Summary } from '../k6/summary.js';
import {
  evaluateK6Gate,
  parseThresholdLines,
  type K6GateResult,
  type ThresholdLine,
} from '../k6/thresholds.js';
import type { GateVerdict } from './gate.js';

export interface K6GateVerdict extends GateVerdict {
  gate: 'k6';
  result: K6GateResult;
}

/** The k6 gate's settings, checked before anything runs: thresholds need a summary to judge. */
export interface K6GateSettings {
  files: string[];
  lines: ThresholdLine[];
}

export function k6GateSettings(
  files: string[] | undefined,
  thresholds: string[] | undefined,
): K6GateSettings | undefined {
  const lines = parseThresholdLines(thresholds ?? []);
  if (!files?.length) {
    if (lines.length > 0) {
      throw new InputError(
        'k6-thresholds',
        'needs k6-summary: the file k6 wrote with --summary-export or handleSummary()',
      );
    }
    return undefined;
  }
  return { files, lines };
}

const round = (n: number) => Math.round(n * 1000) / 1000;

/**
 * Reads the summaries (again: a load test may still be writing them between promotion steps) and
 * judges every threshold in them and in k6-thresholds. No threshold at all, or one k6 let pass on
 * a metric with no samples, is no evidence: inconclusive, never passed.
 */
export async function judgeK6(settings: K6GateSettings): Promise<K6GateVerdict> {
  const summaries = await Promise.all(settings.files.map((file) => readK6Summary(file)));
  const result = evaluateK6Gate(summaries, settings.lines);
  const broken = result.verdicts.filter((v) => !v.ok);
  if (broken.length > 0) {
    const listed = broken
      .map(
        (v) => `${v.metric} ${v.expression}${v.actual !== undefined ? ` (actual ${round(v.actual)})` : ''}`,
      )
      .join('; ');
    return { gate: 'k6', verdict: 'failed', reason: `k6 thresholds failed: ${listed}`, result };
  }
  if (result.verdicts.length === 0) {
    return {
      gate: 'k6',
      verdict: 'inconclusive',
      reason: `k6: ${settings.files.join(', ')} holds no thresholds and k6-thresholds gives none, so nothing was judged`,
      result,
    };
  }
  const empty = result.verdicts.filter((v) => v.note);
  if (empty.length > 0) {
    return {
      gate: 'k6',
      verdict: 'inconclusive',
      reason: `k6: ${empty.map((v) => `${v.metric} ${v.expression}`).join('; ')} had no samples (did the load test send requests?)`,
      result,
    };
  }
  return { gate: 'k6', verdict: 'passed', result };
}
