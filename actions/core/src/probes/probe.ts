import type { InputTable } from '../inputs.js';
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
  /** Its module's name for it: http, tcp, redis, postgres. */
  readonly kind: string;
  /** One attempt; must settle within the timeout it was created with, or when `signal` aborts. */
  check(signal?: AbortSignal): Promise<ProbeResult>;
  /** Release pooled connections; called once when the check is over. */
  close(): Promise<void>;
}

/** One kind of probe, as PROBE_KINDS lists it: the target schemes it checks and its factory. */
export interface ProbeKind<Inputs extends InputTable = InputTable> {
  /** The inputs only this kind reads (health-check lists them in PROBE_KINDS order). */
  readonly inputs: Inputs;
  /** As `URL.protocol` spells them: `http:`, `https:`. */
  readonly schemes: readonly string[];
  /** How its targets are written, for messages: `tcp://host:port`. */
  readonly written: string;
  /** Throws InputError for a target of its scheme it still cannot check (a tcp:// without a port). */
  create(target: URL, options: ProbeOptions): Probe;
}

/** An inclusive range of acceptable HTTP status codes, e.g. 200-399. */
export interface StatusRange {
  min: number;
  max: number;
}

/**
 * A regex runs on RE2 (linear time in the body; see body-matcher.ts); `source` is the
 * `/pattern/flags` as written, `flags` the ones that change a match (i, m, s).
 */
export type BodyMatcher =
  { kind: 'substring'; text: string } | { kind: 'regex'; pattern: string; flags: string; source: string };

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

/** What an exchange found; `latencyMs` only when it timed the attempt itself (e.g. to quote it in `detail`). */
export type Outcome = Omit<ProbeResult, 'latencyMs'> & { latencyMs?: number };

export interface Exchange {
  /** Aborts when the attempt's timeout passes or the caller gives up: release sockets then. */
  signal: AbortSignal;
  /** Milliseconds since the attempt started. */
  elapsed(): number;
}

/**
 * Runs one attempt of a probe. The attempt settles when the exchange does or, at the latest, when
 * the timeout passes or `signal` aborts — whether or not the exchange noticed — so a blackholed
 * host cannot hold a health check past its timeout. An exchange that throws is an unhealthy result
 * whose detail is the error in a person's words; every text leaving here passes through `redact`.
 */
export async function runAttempt(
  options: { timeoutMs: number; signal?: AbortSignal; redact: (text: string) => string },
  exchange: (attempt: Exchange) => Promise<Outcome>,
): Promise<ProbeResult> {
  const started = performance.now();
  const elapsed = () => performance.now() - started;
  const stop = new AbortController();
  const timedOut = `timed out after ${Math.round(options.timeoutMs)} ms`;
  let give: (reason: string) => void = () => undefined;
  const givenUp = new Promise<Outcome>((resolve) => {
    give = (detail) => {
      stop.abort(new Error(detail));
      resolve({ ok: false, detail });
    };
  });
  const timer = setTimeout(() => give(timedOut), options.timeoutMs);
  const onAbort = () => give('aborted');
  options.signal?.addEventListener('abort', onAbort, { once: true });
  if (options.signal?.aborted) onAbort();
  try {
    const running = options.signal?.aborted
      ? givenUp
      : exchange({ signal: stop.signal, elapsed }).catch((error: unknown): Outcome => ({
          ok: false,
          // A driver's own timer may fire a hair before ours; the user set one timeout.
          detail: stop.signal.aborted ? (stop.signal.reason as Error).message : describeError(error),
        }));
    const outcome = await Promise.race([running, givenUp]);
    const result: ProbeResult = {
      ok: outcome.ok,
      latencyMs: outcome.latencyMs ?? elapsed(),
      detail: options.redact(outcome.detail),
    };
    if (outcome.facts) {
      result.facts = Object.fromEntries(
        Object.entries(outcome.facts).map(([name, value]) => [
          name,
          typeof value === 'string' ? options.redact(value) : value,
        ]),
      );
    }
    return result;
  } finally {
    clearTimeout(timer);
    options.signal?.removeEventListener('abort', onAbort);
  }
}

const NETWORK_ERRORS: Record<string, string> = {
  ECONNREFUSED: 'connection refused',
  ECONNRESET: 'connection reset by the server',
  EPIPE: 'connection closed by the server',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
  ETIMEDOUT: 'connection timed out',
  EADDRNOTAVAIL: 'address not available',
};

const TLS_ERRORS = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

/** A driver or socket error in a person's words: "connection refused", "host not found: db.internal". */
export function describeError(error: unknown): string {
  if (!isError(error)) return String(error);
  // Node tries every address of a name (IPv6 and IPv4) and reports all failures together.
  const { errors } = error as { errors?: unknown };
  if (Array.isArray(errors) && errors.length > 0) return describeError(errors[0]);
  const { code, hostname } = error as Error & { code?: unknown; hostname?: unknown };
  if (typeof code === 'string') {
    const known = NETWORK_ERRORS[code];
    if (known) return known;
    if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') {
      return `host not found${typeof hostname === 'string' ? `: ${hostname}` : ''}`;
    }
    if (TLS_ERRORS.has(code)) return `TLS certificate rejected: ${error.message} (insecure: true accepts it)`;
  }
  return error.message || error.name;
}

/**
 * Whether a value is an error. Not `instanceof Error`: errors made by node's own modules come from
 * another realm when the code runs in a VM context (as under jest), and fail that test.
 */
export function isError(value: unknown): value is Error {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as Error).message === 'string' &&
    typeof (value as Error).name === 'string'
  );
}

/** The host of a URL as a socket wants it: without the brackets of an IPv6 literal. */
export function hostOf(url: URL): string {
  return url.hostname.replace(/^\[(.*)\]$/, '$1');
}
