import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { requireProgram } from './install.js';
import {
  HOST,
  converse,
  freePort,
  launch,
  makeServerDir,
  withFreshPortOnClash,
  type RunningServer,
} from './launch.js';

export interface RedisOptions {
  /** redis.conf directives (name → value) merged over ours; port, bind and dir stay ours. */
  config?: Record<string, string>;
  password?: string;
}

export function startRedis(opts: RedisOptions = {}): Promise<RunningServer & { url: string }> {
  return withFreshPortOnClash(() => startRedisOnce(opts));
}

async function startRedisOnce(opts: RedisOptions): Promise<RunningServer & { url: string }> {
  const redisServer = await requireProgram('redis-server', 'redis-server');
  const port = await freePort();
  const { dir, logFile } = await makeServerDir('redis');

  const directives = new Map<string, string>([
    ['daemonize', 'no'],
    ['save', '""'],
    ['appendonly', 'no'],
    ['logfile', '""'],
    ['protected-mode', 'yes'],
    // Redis 7 refuses DEBUG (DIGEST is how tests compare data sets) unless this is on.
    ['enable-debug-command', 'yes'],
  ]);
  if (opts.password !== undefined) directives.set('requirepass', quoted(opts.password));
  for (const [name, value] of Object.entries(opts.config ?? {})) directives.set(name, raw(name, value));
  directives.set('bind', HOST);
  directives.set('port', String(port));
  directives.set('dir', dir);
  const configFile = path.join(dir, 'redis.conf');
  await writeFile(configFile, [...directives].map(([name, value]) => `${name} ${value}\n`).join(''));

  const commands = [...(opts.password === undefined ? [] : [['AUTH', opts.password]]), ['PING']];
  const request = commands.map(encodeCommand).join('');
  const answered = (reply: string): boolean => reply.split('\r\n').length > commands.length;
  const server = await launch({
    name: 'redis',
    argv: [redisServer, configFile],
    port,
    dir,
    logFile,
    ready: async () => (await converse({ port }, request, answered)).endsWith('+PONG\r\n'),
  });
  const credentials = opts.password === undefined ? '' : `:${encodeURIComponent(opts.password)}@`;
  return { ...server, url: `redis://${credentials}${HOST}:${port}` };
}

// Caller's values go in as written so that multi-argument directives (`save 900 1`) work; a line break
// would start a new directive.
function raw(name: string, value: string): string {
  if (/[\r\n]/.test(name + value)) throw new Error(`Redis config ${name} contains a line break`);
  return value === '' ? '""' : value;
}

// One argument whatever it holds (a password may contain spaces or quotes).
function quoted(value: string): string {
  return `"${value
    .replace(/[\\"]/g, (c) => `\\${c}`)
    .replace(/\r/g, '\\r')
    .replace(/\n/g, '\\n')}"`;
}

function encodeCommand(args: string[]): string {
  return `*${args.length}\r\n${args.map((arg) => `$${Buffer.byteLength(arg)}\r\n${arg}\r\n`).join('')}`;
}
