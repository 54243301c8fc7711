import { text, type InputTable } from '../inputs.js';
import net from 'node:net';
import type pg from 'pg';
import { Secrets, redactUrl } from '../mask.js';
import { loadPg } from '../drivers.js';
import {
  isError,
  runAttempt,
  type Outcome,
  type Probe,
  type ProbeKind,
  type ProbeOptions,
  type ProbeResult,
} from './probe.js';

/** What a first column says when a check query answers "no". */
const FALSE_ANSWERS = new Set<unknown>([null, undefined, false, 0, 0n, '0', 'f', 'false']);

/** The inputs only this probe reads. */
export const postgresInputs = {
  query: text('PostgreSQL: a query that must succeed (a first column of false fails it).', {
    example: 'SELECT count(*) > 0 FROM users',
  }),
} satisfies InputTable;

export const postgresProbeKind: ProbeKind<typeof postgresInputs> = {
  inputs: postgresInputs,
  schemes: ['postgres:', 'postgresql:'],
  written: 'postgres://',
  create: (target, options) => new PostgresProbe(target, options),
};

/**
 * Connects, runs `SELECT 1` (which also reads the server version) and the optional query, then
 * disconnects. A fresh connection per check: it is what a restarted or failed-over server needs.
 */
export class PostgresProbe implements Probe {
  readonly kind = 'postgres';
  readonly target: string;
  private readonly secrets = new Secrets();
  private readonly connectionString: string;

  constructor(
    url: URL,
    private readonly options: ProbeOptions,
  ) {
    this.target = redactUrl(url.href);
    this.secrets.addFromUrl(url.href);
    this.connectionString = connectionString(url, options.insecure);
  }

  check(signal?: AbortSignal): Promise<ProbeResult> {
    const timeoutMs = this.options.timeoutMs;
    return runAttempt(
      { timeoutMs, signal, redact: (text) => this.secrets.redact(text) },
      async ({ signal: stop, elapsed }) => {
        // Our own socket, so a timeout can cut it whatever state the driver is in.
        const socket = new net.Socket();
        stop.addEventListener('abort', () => socket.destroy(), { once: true });
        // Loaded on first use: an HTTP-only check should not pay for parsing the PostgreSQL driver at start-up.
        const driver = await loadPg();
        // Aborted while the driver loaded: connecting now would outlive the verdict.
        if (stop.aborted) throw new Error('aborted');
        const client = new driver.Client({
          connectionString: this.connectionString,
          stream: () => socket,
          connectionTimeoutMillis: timeoutMs,
          query_timeout: timeoutMs,
          // The server gives up on a slow query too, instead of running it for nobody.
          statement_timeout: Math.max(1, Math.round(timeoutMs)),
          application_name: 'switchyard-health-check',
        });
        // A connection dropped between queries is reported by the query that fails.
        client.on('error', () => undefined);
        try {
          await client.connect();
        } catch (error) {
          socket.destroy();
          throw error;
        }
        try {
          return await this.inspect(client, elapsed);
        } finally {
          // Not awaited: saying goodbye is not part of the check and must not count against its timeout.
          if (stop.aborted) socket.destroy();
          else client.end().catch(() => socket.destroy());
        }
      },
    );
  }

  async close(): Promise<void> {
    // Nothing is kept open between checks.
  }

  private async inspect(client: pg.Client, elapsed: () => number): Promise<Outcome> {
    const first = await client.query<{ ok: number; server_version: string; in_recovery: boolean }>(
      "SELECT 1 AS ok, current_setting('server_version') AS server_version, pg_is_in_recovery() AS in_recovery",
    );
    const row = first.rows[0];
    if (row?.ok !== 1) return { ok: false, detail: `SELECT 1 returned ${JSON.stringify(row?.ok ?? null)}` };
    const facts = { server_version: row.server_version, in_recovery: row.in_recovery };
    let queried = '';
    if (this.options.query) {
      let answer: unknown;
      try {
        const results = (await client.query({ text: this.options.query, rowMode: 'array' })) as
          pg.QueryArrayResult | pg.QueryArrayResult[];
        // Several statements give one result each; the last one is the answer.
        const last = Array.isArray(results) ? results[results.length - 1] : results;
        const row = last?.rows[0];
        // No row, or a row without columns (SELECT FROM … WHERE …): the statement succeeded, which is the answer.
        answer = row && row.length > 0 ? row[0] : true;
      } catch (error) {
        if (!isError(error) || !('severity' in error)) throw error;
        return { ok: false, detail: `query failed: ${error.message}`, facts };
      }
      if (FALSE_ANSWERS.has(answer)) return { ok: false, detail: `query returned ${String(answer)}`, facts };
      queried = ', query ok';
    }
    const latencyMs = elapsed();
    return {
      ok: true,
      detail: `SELECT 1 ok${queried}, PostgreSQL ${row.server_version} in ${Math.round(latencyMs)} ms`,
      facts,
      latencyMs,
    };
  }
}

/**
 * The URL as pg reads it (sslmode included, with pg's meaning); `insecure` keeps TLS but stops
 * checking the certificate, which pg spells sslmode=no-verify.
 */
function connectionString(url: URL, insecure: boolean): string {
  const params = url.searchParams;
  const sslmode = params.get('sslmode');
  const ssl = params.get('ssl');
  const usesTls = (sslmode !== null && sslmode !== 'disable') || ssl === 'true' || ssl === '1';
  if (!insecure || !usesTls) return url.href;
  const relaxed = new URL(url.href);
  relaxed.searchParams.set('sslmode', 'no-verify');
  relaxed.searchParams.delete('uselibpqcompat');
  return relaxed.href;
}
