/**
 * A probe checks one target once. Probes never throw for an unhealthy target: a refused
 * connection, a timeout or a wrong status is a result with `ok: false` and a `detail` a person
 * can read. They throw only for programming errors.
 */
export interface ProbeResult {
  ok: boolean;
  /** Wall time of the attempt in milliseconds (connect + request + response). */
  latencyMs: number;
  /** Short human text: "HTTP 200", "connection refused", "PONG, SET/GET/DEL ok", … */
  detail: string;
  /** Extra facts worth reporting (server version, memory use, keyspace hit rate, …). */
  facts?: Record<string, string | number | boolean>;
}

export interface Probe {
  /** The target as it may be shown: credentials already redacted. */
  readonly target: string;
  readonly kind: 'http' | 'tcp' | 'redis' | 'postgres';
  /** One attempt; must settle within the timeout it was created with, or when `signal` aborts. */
  check(signal?: AbortSignal): Promise<ProbeResult>;
  /** Release pooled connections; called once when the check is over. */
  close(): Promise<void>;
}

/** An inclusive range of acceptable HTTP status codes, e.g. 200-399. */
export interface StatusRange {
  min: number;
  max: number;
}

export type BodyMatcher = { kind: 'substring'; text: string } | { kind: 'regex'; regex: RegExp };

export interface ProbeOptions {
  /** Per-attempt timeout in milliseconds. */
  timeoutMs: number;
  /** HTTP: acceptable statuses (default 200-399). */
  expectStatus: StatusRange[];
  /** HTTP: a substring or regex the body must contain. */
  expectBody?: BodyMatcher;
  /** HTTP: extra request headers. */
  headers: Record<string, string>;
  /** HTTP: follow redirects (up to 5) instead of judging the 3xx itself. */
  followRedirects: boolean;
  /** HTTPS: accept self-signed certificates. */
  insecure: boolean;
  /** Redis: fail when used_memory / maxmemory exceeds this fraction (0–1). */
  maxMemoryUsage?: number;
  /** PostgreSQL: an extra query that must succeed (and, if it returns a row, whose first column is truthy). */
  query?: string;
}
