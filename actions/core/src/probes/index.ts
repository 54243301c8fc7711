import { alternatives, InputError } from '../errors.js';
import { redactUrl } from '../mask.js';
import { httpProbeKind } from './http.js';
import { postgresProbeKind } from './postgres.js';
import type { Probe, ProbeKind, ProbeOptions } from './probe.js';
import { redisProbeKind } from './redis.js';
import { tcpProbeKind } from './tcp.js';

export type { BodyMatcher, Probe, ProbeKind, ProbeOptions, ProbeResult, StatusRange } from './probe.js';

/** Every kind of probe: adding one is adding its file and a line here. */
export const PROBE_KINDS: readonly ProbeKind[] = [
  httpProbeKind,
  tcpProbeKind,
  redisProbeKind,
  postgresProbeKind,
];

/** Every scheme some probe checks, as `URL.protocol` spells it. */
export const PROBE_SCHEMES: readonly string[] = PROBE_KINDS.flatMap((kind) => kind.schemes);

/** The probe for a target, chosen by its scheme. Throws InputError for a target no probe can check. */
export function createProbe(target: URL, options: ProbeOptions): Probe {
  const kind = PROBE_KINDS.find((each) => each.schemes.includes(target.protocol));
  if (kind) return kind.create(target, options);
  throw new InputError(
    'targets',
    `unsupported scheme "${target.protocol}" in ${redactUrl(target.href)}; use ${alternatives(PROBE_KINDS.map((each) => each.written))}`,
  );
}
