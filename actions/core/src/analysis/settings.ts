import type { ProbeOptions } from '../probes/probe.js';
import type { BodyMatcher, StatusRange } from '../probes/probe.js';
import type { Limits } from './limits.js';

/** The analysis inputs health-check and deploy share, by their input names. */
export interface AnalysisInputs {
  timeout: number;
  'expect-status': StatusRange[];
  'expect-body'?: BodyMatcher;
  headers?: [string, string][];
  'max-error-rate'?: number;
  'max-p95'?: number;
  'failure-limit'?: number;
  'min-samples': number;
}

/** The limits a watch judges by, from the inputs that set them. */
export function limitsFrom(inputs: AnalysisInputs): Limits {
  return {
    maxErrorRate: inputs['max-error-rate'],
    maxP95Ms: inputs['max-p95'],
    failureLimit: inputs['failure-limit'],
    minSamples: inputs['min-samples'],
  };
}

/** How every probe is made, from the inputs that set it; `extra` holds what only health-check has. */
export function probeOptionsFrom(
  inputs: AnalysisInputs,
  extra: Partial<Pick<ProbeOptions, 'followRedirects' | 'insecure' | 'maxMemoryUsage' | 'query'>> = {},
): ProbeOptions {
  return {
    timeoutMs: inputs.timeout,
    expectStatus: inputs['expect-status'],
    expectBody: inputs['expect-body'],
    headers: Object.fromEntries(inputs.headers ?? []),
    followRedirects: extra.followRedirects ?? true,
    insecure: extra.insecure ?? false,
    maxMemoryUsage: extra.maxMemoryUsage,
    query: extra.query,
  };
}
