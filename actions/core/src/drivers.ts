import type { Redis } from 'ioredis';
import type pg from 'pg';
import { InputError, messageOf, UserError } from './errors.js';
import { redactUrl, type Secrets } from './mask.js';

/**
 * The database drivers, loaded on first use: an HTTP-only check should not pay for parsing them
 * at start-up. In the ncc bundle a lazily loaded CommonJS module whose export is a function
 * exposes it only as `default`, so the named export may be missing there: take either.
 */
export async function loadRedisClient(): Promise<typeof Redis> {
  const mod = (await import('ioredis')) as unknown as { Redis?: typeof Redis; default?: typeof Redis };
  const client = mod.Redis ?? mod.default;
  if (typeof client !== 'function') throw new Error('the ioredis module has no Redis client');
  return client;
}

export async function loadPg(): Promise<typeof pg> {
  const mod = (await import('pg')) as unknown as { default?: typeof pg } & typeof pg;
  return mod.default ?? mod;
}

/**
 * The URL as node-postgres should read it. With sslmode set, libpq's meaning is asked for, so our
 * connections and the ones libpq tools (pg_dump) make agree about certificates.
 */
export function pgConnectionString(url: URL): string {
  if (!url.searchParams.has('sslmode') || url.searchParams.has('uselibpqcompat')) return url.href;
  const compatible = new URL(url.href);
  if (compatible.searchParams.get('sslmode') === 'no-verify')
    compatible.searchParams.set('sslmode', 'require');
  compatible.searchParams.set('uselibpqcompat', 'true');
  return compatible.href;
}

/**
 * Ends a Redis connection: QUIT when it is up, given a second to answer, then the socket closed
 * if it still is not. A client that ended has no socket left: disconnecting it again arms a 2 s
 * timer that never clears.
 */
export async function closeRedis(client: Redis): Promise<void> {
  if (client.status === 'ready') {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      client.quit().catch(() => undefined),
      new Promise((resolve) => (timer = setTimeout(resolve, 1_000))),
    ]);
    clearTimeout(timer);
  }
  if (client.status === 'end') return;
  client.disconnect();
  client.stream?.destroy();
}

/**
 * A connected node-postgres client for the URL an input gave. A bad URL is that input's error; a
 * refused login says where (password masked). Errors of a connection dropped between queries are
 * reported by the query that fails, never as an unhandled event.
 */
export async function connectPostgres(
  url: string,
  options: { input: string; application: string; secrets: Secrets },
): Promise<pg.Client> {
  const display = redactUrl(url);
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new InputError(
      options.input,
      `"${display}" is not a URL: expected postgres:// then the user, password, host, port and database (a password's @ / ? # written %40 %2F %3F %23)`,
    );
  }
  if (parsed.protocol !== 'postgres:' && parsed.protocol !== 'postgresql:')
    throw new InputError(options.input, `${display} is not a PostgreSQL URL: expected postgres://…`);
  const driver = await loadPg();
  const client = new driver.Client({
    connectionString: pgConnectionString(parsed),
    application_name: options.application,
  });
  client.on('error', () => undefined);
  try {
    await client.connect();
  } catch (error) {
    await client.end().catch(() => undefined);
    throw new UserError(
      `Could not connect to ${display}: ${options.secrets.redact(messageOf(error))}`,
      'PostgreSQL',
    );
  }
  return client;
}
