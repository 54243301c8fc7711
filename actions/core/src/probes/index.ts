import { InputError } from '../errors.js';
import { redactUrl } from '../mask.js';
import { HttpProbe } from './http.js';
import { PostgresProbe } from './postgres.js';
import type { Probe, ProbeOptions } from './probe.js';
import { RedisProbe } from './redis.js';
import { TcpProbe } from './tcp.js';

export type { BodyMatcher, Probe, ProbeOptions, ProbeResult, StatusRange } from './probe.js';

/** The probe for a target, chosen by its scheme. Throws InputError for a target no probe can check. */
export function createProbe(target: URL, options: ProbeOptions): Probe {
  switch (target.protocol) {
    case 'http:':
    case 'https:':
      return new HttpProbe(target, options);
    case 'tcp:':
      return new TcpProbe(target, options);
    case 'redis:':
    case 'rediss:':
      return new RedisProbe(target, options);
    case 'postgres:':
    case 'postgresql:':
      return new PostgresProbe(target, options);
    default:
      throw new InputError(
        'targets',
        `unsupported scheme "${target.protocol}" in ${redactUrl(target.href)}; use http(s)://, tcp://host:port, redis:// or postgres://`,
      );
  }
}
