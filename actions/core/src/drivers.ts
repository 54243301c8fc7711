import type { Redis } from 'ioredis';
import type pg from 'pg';

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
