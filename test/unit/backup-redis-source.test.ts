// The Redis backup source without a server: how it names and shows itself, the URLs it refuses,
// Redis's glob rules for include/exclude, the servers it refuses (Cluster, Sentinel) from INFO,
// and the data type read from a dump.
import { describe, expect, it } from '@jest/globals';
import { InputError } from '../../actions/core/src/errors.js';
import {
  createRedisSource,
  parseInfo,
  redisGlob,
  typeOfDump,
  unsupportedServer,
} from '../../actions/core/src/backup/sources/redis.js';

describe('createRedisSource', () => {
  it('names its part after host, port and database, and never shows the password', () => {
    const source = createRedisSource(new URL('redis://backup:s3cret%2Fpw@cache.internal:6380/2'));
    expect(source.kind).toBe('redis');
    expect(source.partName).toBe('redis-cache.internal-6380-db2');
    expect(source.display).toBe('redis://backup:***@cache.internal:6380/2');
  });

  it('takes database 0 and port 6379 when the URL leaves them out', () => {
    expect(createRedisSource(new URL('redis://127.0.0.1')).partName).toBe('redis-127.0.0.1-6379-db0');
    expect(createRedisSource(new URL('rediss://[::1]:7000/')).partName).toBe('redis-_1-7000-db0');
  });

  it('refuses a path that is not a database number, naming the input', () => {
    const make = () => createRedisSource(new URL('redis://:pw123@cache:6379/sessions'));
    expect(make).toThrow(InputError);
    expect(make).toThrow(
      'Input "sources": the path of redis://:***@cache:6379/sessions must be a database number (e.g. redis://cache:6379/2), not "/sessions"',
    );
  });

  it('refuses a URL of another scheme', () => {
    expect(() => createRedisSource(new URL('http://cache:6379/0'))).toThrow(
      'Input "sources": http://cache:6379/0 is not a Redis URL; expected redis://host:port/db or rediss://…',
    );
  });
});

describe('redisGlob (Redis glob rules, matched on bytes)', () => {
  const cases: [pattern: string, matches: string[], misses: string[]][] = [
    ['*', ['', 'anything:at:all', 'line\nbreak'], []],
    ['*x*', ['x', 'axb'], ['', 'ab']],
    ['user:*', ['user:', 'user:1', 'user:1:cart'], ['users:1', 'xuser:1']],
    ['user:?', ['user:1', 'user:x'], ['user:', 'user:10']],
    ['h?llo', ['hello', 'hallo'], ['héllo']], // é is two bytes
    ['h??llo', ['héllo'], ['hello']],
    ['h[ae]llo', ['hello', 'hallo'], ['hillo', 'hllo']],
    ['h[^e]llo', ['hallo', 'hbllo'], ['hello', 'hllo']],
    ['h[a-c]llo', ['hallo', 'hbllo', 'hcllo'], ['hdllo']],
    ['h[c-a]llo', ['hbllo'], ['hdllo']], // a reversed range works as the range
    ['a\\*b', ['a*b'], ['ab', 'axb']],
    ['a\\?b', ['a?b'], ['axb']],
    ['a[\\]]b', ['a]b'], ['ab']],
    ['a[\\-]b', ['a-b'], ['a\\b']],
    ['[]x', [], ['x', ']x', '[]x']], // an empty class matches nothing
    ['[^]x', ['ax', ']x'], ['x']], // its negation, any one byte
    ['a[bc', ['ab', 'ac'], ['a[bc', 'abc']], // an unclosed class runs to the end
    ['a\\', ['a\\'], ['a']], // a trailing backslash is itself
    ['***x**', ['x', 'abx', 'xa'], ['', 'ab']],
    ['price.(usd)+$', ['price.(usd)+$'], ['priceX(usd)+$', 'price.usd']], // regex characters are plain
  ];
  it.each(cases)('%s', (pattern, matches, misses) => {
    const matches_ = redisGlob(pattern);
    for (const key of matches) expect([key, matches_(Buffer.from(key))]).toEqual([key, true]);
    for (const key of misses) expect([key, matches_(Buffer.from(key))]).toEqual([key, false]);
  });

  it('does not take exponential time on a pattern of many stars', () => {
    const started = performance.now();
    expect(redisGlob('*a*a*a*a*a*a*a*a*a*b')(Buffer.alloc(5_000, 'a'))).toBe(false);
    expect(performance.now() - started).toBeLessThan(2_000);
  });
});

describe('unsupportedServer', () => {
  const info = (lines: string[]) => parseInfo(['# Server', 'redis_version:7.2.4', ...lines, ''].join('\r\n'));

  it('accepts a standalone server', () => {
    expect(
      unsupportedServer(info(['redis_mode:standalone', '# Cluster', 'cluster_enabled:0']), 'redis://a'),
    ).toBe(undefined);
  });

  it('refuses a Redis Cluster node, saying what to do instead', () => {
    const error = unsupportedServer(
      info(['redis_mode:cluster', '# Cluster', 'cluster_enabled:1']),
      'redis://node-1:7000',
    );
    expect(error?.message).toBe(
      'redis://node-1:7000 is a Redis Cluster node, and Redis Cluster is not supported: its keys are spread over several ' +
        'primaries and a SCAN sees one of them. Back up each primary separately as a plain Redis, or take snapshots ' +
        "with the cluster's own tooling (BGSAVE on every primary).",
    );
    expect(error?.title).toBe('Redis Cluster not supported');
  });

  it('refuses a Sentinel, which holds no data', () => {
    expect(unsupportedServer(info(['redis_mode:sentinel']), 'redis://sentinel:26379')?.message).toMatch(
      /^redis:\/\/sentinel:26379 is a Redis Sentinel, which holds no data: back up the primary it monitors/,
    );
  });
});

describe('typeOfDump', () => {
  it.each([
    [0, 'string'],
    [4, 'hash'],
    [16, 'hash'],
    [14, 'list'],
    [18, 'list'],
    [11, 'set'],
    [20, 'set'],
    [5, 'zset'],
    [17, 'zset'],
    [15, 'stream'],
    [21, 'stream'],
    [7, 'other'],
    [99, 'other'],
  ])('RDB object type %i is a %s', (byte, type) => {
    expect(typeOfDump(Buffer.from([byte, 0, 0]))).toBe(type);
  });
});
