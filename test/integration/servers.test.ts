// The real servers that every other integration test and the demo stand on: each one must really serve,
// and nothing it started may outlive stop(), a failed start, or a parent that dies.
import { afterAll, describe, expect, it } from '@jest/globals';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import net from 'node:net';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import pg from 'pg';
import {
  freePort,
  startHaproxy,
  startNginx,
  startPostgres,
  startRedis,
  startSampleService,
  type RunningServer,
} from '../../scripts/servers/index.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const started: RunningServer[] = [];

afterAll(async () => {
  await Promise.all(started.map((server) => server.stop()));
});

async function track<T extends RunningServer>(server: Promise<T>): Promise<T> {
  const running = await server;
  started.push(running);
  return running;
}

function isListening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

async function eventually(condition: () => Promise<boolean> | boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`condition still false after ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

async function expectGone(server: RunningServer): Promise<void> {
  await server.stop();
  expect(await isListening(server.port)).toBe(false);
  expect(existsSync(server.dir)).toBe(false);
  await server.stop(); // idempotent
}

async function get(
  url: string,
  init?: RequestInit,
): Promise<{ status: number; body: string; headers: Headers }> {
  const response = await fetch(url, init);
  return { status: response.status, body: await response.text(), headers: response.headers };
}

/** Runs TypeScript in a separate node process; `firstLine` resolves once it printed a line. */
function runNode(args: string[], opts: { uid?: number; gid?: number } = {}) {
  const child = spawn(process.execPath, ['--import', 'tsx', ...args], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
    ...opts,
  });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const firstLine = new Promise<string>((resolve, reject) => {
    child.stdout.on('data', () => {
      if (stdout.includes('\n')) resolve(stdout.slice(0, stdout.indexOf('\n')));
    });
    void exited.then(() => reject(new Error(`child exited before printing: ${stdout}${stderr}`)));
  });
  return { child, firstLine, exited };
}

function runScript(code: string, opts: { uid?: number; gid?: number } = {}) {
  return runNode(['--input-type=module', '-e', code], opts);
}

describe('freePort', () => {
  it('gives a loopback port nobody listens on', async () => {
    const port = await freePort();
    expect(port).toBeGreaterThan(1024);
    expect(await isListening(port)).toBe(false);
  });
});

describe('startRedis', () => {
  it('serves commands with the password, no persistence and DEBUG DIGEST, then stops', async () => {
    const redis = await track(
      startRedis({ password: 'se cret"pw', config: { 'maxmemory-policy': 'allkeys-lru' } }),
    );
    expect(redis.url).toBe(`redis://:${encodeURIComponent('se cret"pw')}@127.0.0.1:${redis.port}`);
    const client = new Redis(redis.url, { lazyConnect: true, maxRetriesPerRequest: 0 });
    try {
      await client.connect();
      expect(await client.ping()).toBe('PONG');
      await client.set('colour', 'green');
      expect(await client.get('colour')).toBe('green');
      expect(await client.call('DEBUG', 'DIGEST')).toMatch(/^[0-9a-f]{40}$/);
      expect(await client.config('GET', 'save')).toEqual(['save', '']);
      expect(await client.config('GET', 'appendonly')).toEqual(['appendonly', 'no']);
      expect(await client.config('GET', 'maxmemory-policy')).toEqual(['maxmemory-policy', 'allkeys-lru']);
    } finally {
      client.disconnect();
    }
    const anonymous = new Redis(redis.port, '127.0.0.1', {
      lazyConnect: true,
      enableReadyCheck: false,
      maxRetriesPerRequest: 0,
    });
    try {
      await anonymous.connect();
      await expect(anonymous.get('colour')).rejects.toThrow(/NOAUTH/);
    } finally {
      anonymous.disconnect();
    }
    await expectGone(redis);
  });
});

describe('startPostgres', () => {
  it('lets switchyard in with its password over TCP, rejects a wrong one, then stops', async () => {
    const postgres = await track(startPostgres({ password: 'p@ss:w/rd', database: 'orders' }));
    expect(postgres).toMatchObject({ user: 'switchyard', password: 'p@ss:w/rd', database: 'orders' });
    expect(postgres.url).toBe(
      `postgres://switchyard:${encodeURIComponent('p@ss:w/rd')}@127.0.0.1:${postgres.port}/orders`,
    );

    const client = new pg.Client({ connectionString: postgres.url });
    await client.connect();
    try {
      const { rows } = await client.query('SELECT 1 AS one, current_user AS who, current_database() AS db');
      expect(rows).toEqual([{ one: 1, who: 'switchyard', db: 'orders' }]);
      await client.query('CREATE TABLE deploys (id serial PRIMARY KEY, version text)');
      await client.query("INSERT INTO deploys (version) VALUES ('v2')");
      expect((await client.query('SELECT version FROM deploys')).rows).toEqual([{ version: 'v2' }]);
    } finally {
      await client.end();
    }

    const intruder = new pg.Client({
      host: '127.0.0.1',
      port: postgres.port,
      user: 'switchyard',
      password: 'wrong',
      database: 'orders',
    });
    await expect(intruder.connect()).rejects.toMatchObject({ code: '28P01' });
    await intruder.end().catch(() => undefined);

    await expectGone(postgres);
  });

  it('defaults to database switchyard and password switchyard-pw', async () => {
    const postgres = await track(startPostgres());
    expect(postgres.url).toBe(`postgres://switchyard:switchyard-pw@127.0.0.1:${postgres.port}/switchyard`);
    const client = new pg.Client({ connectionString: postgres.url });
    await client.connect();
    // A forgotten open connection must not hold up stop().
    expect((await client.query('SELECT current_database() AS db')).rows).toEqual([{ db: 'switchyard' }]);
    client.on('error', () => undefined);
    await expectGone(postgres);
  });
});

describe('startNginx', () => {
  it("serves the caller's configuration and a reload makes the changed one live", async () => {
    const nginx = await track(
      startNginx({
        http: ({ port }) => `server { listen 127.0.0.1:${port}; location / { return 418 "teapot\\n"; } }`,
      }),
    );
    expect(nginx.url).toBe(`http://127.0.0.1:${nginx.port}`);
    expect(await get(nginx.url)).toMatchObject({ status: 418, body: 'teapot\n' });

    const original = await readFile(nginx.configFile, 'utf8');
    await writeFile(nginx.configFile, original.replace('return 418 "teapot\\n"', 'return 200 "reloaded\\n"'));
    await nginx.reload();
    expect(await get(nginx.url)).toMatchObject({ status: 200, body: 'reloaded\n' });

    // A broken configuration is refused before nginx is told to reload, and the old one keeps serving.
    await writeFile(nginx.configFile, original.replace('return 418', 'retrun 418'));
    await expect(nginx.reload()).rejects.toThrow(/unknown directive "retrun"/);
    expect(await get(nginx.url)).toMatchObject({ status: 200, body: 'reloaded\n' });

    expect(await readFile(`${nginx.dir}/access.log`, 'utf8')).toContain('" 418 ');
    await expectGone(nginx);
  });

  it('answers 200 "ok" without a configuration', async () => {
    const nginx = await track(startNginx());
    expect(await get(nginx.url)).toMatchObject({ status: 200, body: 'ok\n' });
    await expectGone(nginx);
  });

  it('fails with the tail of the log when the server cannot start, and leaves nothing behind', async () => {
    const port = await freePort();
    const error = await startNginx({
      http: () => `server { listen 127.0.0.1:${port}; bogus_directive on; }`,
    }).catch((e: unknown) => e as Error);
    expect(error).toBeInstanceOf(Error);
    expect((error as Error).message).toMatch(/nginx exited .* before it was ready/);
    expect((error as Error).message).toContain('unknown directive "bogus_directive"');
    const dir = /\/tmp\/switchyard-nginx-\w+/.exec((error as Error).message)?.[0];
    expect(dir && existsSync(dir)).toBe(false);
  });
});

describe('startHaproxy', () => {
  it('answers on its runtime socket and proxies its frontend to a sample service', async () => {
    const green = await track(startSampleService({ color: 'green', version: 'v2' }));
    const haproxy = await track(
      startHaproxy({
        config: ({ port }) => `
frontend web
  bind 127.0.0.1:${port}
  default_backend app
backend app
  server green 127.0.0.1:${green.port}
`,
      }),
    );
    expect(haproxy.socket).toBe(`${haproxy.dir}/admin.sock`);
    const response = await get(haproxy.url);
    expect(response).toMatchObject({ status: 200, body: 'green v2\n' });
    expect(response.headers.get('x-switchyard-color')).toBe('green');

    const info = await askSocket(haproxy.socket, 'show info\n');
    expect(info).toContain('Name: HAProxy');
    const state = await askSocket(haproxy.socket, 'show servers state app\n');
    expect(state).toMatch(/app \d+ green 127\.0\.0\.1/);

    await expectGone(haproxy);
    await expectGone(green);
  });

  it('answers 200 without a configuration', async () => {
    const haproxy = await track(startHaproxy());
    expect(await get(haproxy.url)).toMatchObject({ status: 200, body: 'ok\n' });
    await expectGone(haproxy);
  });
});

function askSocket(path: string, command: string): Promise<string> {
  return new Promise((resolve, reject) => {
    let reply = '';
    const socket = net.connect(path, () => socket.write(command));
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => (reply += chunk));
    socket.once('end', () => resolve(reply));
    socket.once('error', reject);
  });
}

describe('startSampleService', () => {
  it('says who answered, returns chosen statuses after chosen delays, and fails on request', async () => {
    const blue = await track(startSampleService({ color: 'blue', version: 'v7' }));
    const root = await get(blue.url);
    expect(root).toMatchObject({ status: 200, body: 'blue v7\n' });
    expect(root.headers.get('x-switchyard-color')).toBe('blue');
    expect(root.headers.get('x-switchyard-version')).toBe('v7');
    expect(await get(`${blue.url}/health`)).toMatchObject({ status: 200, body: 'healthy\n' });

    let t = Date.now();
    expect(await get(`${blue.url}/status/503?body=down&delay=150`)).toMatchObject({
      status: 503,
      body: 'down',
    });
    expect(Date.now() - t).toBeGreaterThanOrEqual(140);
    t = Date.now();
    expect((await get(`${blue.url}/delay/150`)).status).toBe(200);
    expect(Date.now() - t).toBeGreaterThanOrEqual(140);
    expect((await get(`${blue.url}/nowhere`)).status).toBe(404);

    expect((await get(`${blue.url}/fail-rate?rate=0.2`, { method: 'POST' })).status).toBe(200);
    const statuses: number[] = [];
    for (let i = 0; i < 10; i++) statuses.push((await get(blue.url)).status);
    expect(statuses.filter((s) => s === 500)).toHaveLength(2);
    expect(statuses.filter((s) => s === 200)).toHaveLength(8);

    await get(`${blue.url}/fail-rate?rate=1`, { method: 'POST' });
    expect((await get(`${blue.url}/health`)).status).toBe(503);
    expect((await get(blue.url)).status).toBe(500);
    await get(`${blue.url}/fail-rate?rate=0`, { method: 'POST' });
    expect((await get(blue.url)).status).toBe(200);
    expect((await get(`${blue.url}/fail-rate?rate=2`, { method: 'POST' })).status).toBe(400);

    await expectGone(blue);
  });

  it('listens on the port it is given', async () => {
    const port = await freePort();
    const green = await track(startSampleService({ color: 'green', port }));
    expect(green).toMatchObject({ name: 'sample-service', host: '127.0.0.1', port });
    expect(await readFile(green.logFile, 'utf8')).toContain(`listening on http://127.0.0.1:${port}`);
    expect(await get(`http://127.0.0.1:${port}/`)).toMatchObject({ status: 200, body: 'green v1\n' });
    await expectGone(green);
  });

  it('says so when the port it is given is taken', async () => {
    const squatter = net.createServer().listen(0, '127.0.0.1');
    await new Promise((resolve) => squatter.once('listening', resolve));
    const { port } = squatter.address() as net.AddressInfo;
    try {
      await expect(startSampleService({ port })).rejects.toThrow(/sample-service exited .*EADDRINUSE/s);
    } finally {
      squatter.close();
    }
  });
});

describe('nothing outlives its owner', () => {
  it('stops redis when the process that started it is SIGKILLed', async () => {
    const owner = runScript(`
      import { startRedis } from './scripts/servers/index.ts';
      const redis = await startRedis();
      console.log(JSON.stringify({ port: redis.port, dir: redis.dir }));
      setInterval(() => {}, 1000);
    `);
    const { port, dir } = JSON.parse(await owner.firstLine) as { port: number; dir: string };
    expect(await isListening(port)).toBe(true);
    owner.child.kill('SIGKILL');
    await owner.exited;
    await eventually(async () => !(await isListening(port)) && !existsSync(dir));
  });

  it('stops servers at a plain exit and on SIGTERM', async () => {
    const exiting = runScript(`
      import { startRedis } from './scripts/servers/index.ts';
      const redis = await startRedis();
      console.log(JSON.stringify({ port: redis.port, dir: redis.dir }));
      process.exit(0);
    `);
    const exited = JSON.parse(await exiting.firstLine) as { port: number; dir: string };
    expect(await exiting.exited).toBe(0);
    expect(existsSync(exited.dir)).toBe(false);
    await eventually(async () => !(await isListening(exited.port)));

    const cli = runNode(['scripts/servers/cli.ts', 'start', 'sample-service:green:v3']);
    const printed = JSON.parse(await cli.firstLine) as {
      name: string;
      url: string;
      port: number;
      dir: string;
    };
    expect(printed).toMatchObject({ name: 'sample-service', url: `http://127.0.0.1:${printed.port}` });
    expect(await get(printed.url)).toMatchObject({ status: 200, body: 'green v3\n' });
    cli.child.kill('SIGTERM');
    await cli.exited;
    expect(cli.child.signalCode).toBe('SIGTERM');
    // The CLI waited for its servers before dying of the signal.
    expect(await isListening(printed.port)).toBe(false);
    expect(existsSync(printed.dir)).toBe(false);
  });

  it('tells a user who cannot install packages exactly what to install', async () => {
    // As root this would install packages, so the check runs as `nobody`.
    const user = runScript(
      `
      import { requireProgram } from './scripts/servers/install.ts';
      await requireProgram('switchyard-missing-server', 'switchyard-missing-package').catch((e) => console.log(e.message));
    `,
      process.getuid?.() === 0 ? { uid: 65534, gid: 65534 } : {},
    );
    expect(await user.firstLine).toBe(
      'switchyard-missing-server is not installed: run "sudo apt-get install -y switchyard-missing-package"',
    );
  });
});
