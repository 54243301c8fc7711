// Every kind of probe settles at its timeout, whether the host never answers the connection
// (a blackhole) or accepts it and then says nothing.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import { createProbe } from '../../actions/core/src/probes/index.js';
import type { ProbeOptions } from '../../actions/core/src/probes/probe.js';

const TIMEOUT_MS = 400;
/** How late past the timeout an attempt may settle. */
const MARGIN_MS = 200;

const options: ProbeOptions = {
  timeoutMs: TIMEOUT_MS,
  expectStatus: [],
  headers: {},
  followRedirects: true,
  insecure: false,
};

// A listener that never accepts: once the kernel's accept queue is full, it drops every new SYN, so
// a connection attempt hangs like one to a firewalled host. Its event loop is blocked for good, so
// node cannot accept either; it exits by itself after a minute should nobody stop it.
const BLACKHOLE = `
const server = require('node:net').createServer();
server.listen({ host: '127.0.0.1', port: 0, backlog: 1 }, () => {
  process.stdout.write(server.address().port + '\\n', () => {
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 60000);
    process.exit(0);
  });
});`;

let blackhole: ChildProcess;
let blackholePort: number;
const fillers: net.Socket[] = [];
let silent: net.Server;
let silentPort: number;
const held: net.Socket[] = [];

function connects(port: number, withinMs: number): Promise<net.Socket | undefined> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    const timer = setTimeout(() => {
      socket.destroy();
      resolve(undefined);
    }, withinMs);
    socket.once('connect', () => {
      clearTimeout(timer);
      resolve(socket);
    });
    socket.once('error', () => {
      clearTimeout(timer);
      resolve(undefined);
    });
  });
}

beforeAll(async () => {
  const { NODE_OPTIONS: _ignored, ...env } = process.env;
  blackhole = spawn(process.execPath, ['-e', BLACKHOLE], { env, stdio: ['ignore', 'pipe', 'inherit'] });
  blackholePort = await new Promise<number>((resolve, reject) => {
    blackhole.stdout?.once('data', (chunk: Buffer) => resolve(Number(chunk.toString().trim())));
    blackhole.once('exit', (code) => reject(new Error(`blackhole exited with ${code}`)));
  });
  // Fill the accept queue; the first connection that does not open shows it is full.
  for (;;) {
    const socket = await connects(blackholePort, 300);
    if (!socket) break;
    fillers.push(socket);
    if (fillers.length > 16) throw new Error('the blackhole keeps accepting connections');
  }

  silent = net.createServer((socket) => held.push(socket));
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  silentPort = (silent.address() as net.AddressInfo).port;
});

afterAll(async () => {
  for (const socket of [...fillers, ...held]) socket.destroy();
  blackhole?.kill('SIGKILL');
  await new Promise((resolve) => silent?.close(resolve));
});

const kinds = {
  http: (port: number) => `http://127.0.0.1:${port}/health`,
  tcp: (port: number) => `tcp://127.0.0.1:${port}`,
  redis: (port: number) => `redis://:secret-pw@127.0.0.1:${port}`,
  postgres: (port: number) => `postgres://switchyard:secret-pw@127.0.0.1:${port}/switchyard`,
};

async function expectTimeout(url: string): Promise<void> {
  const probe = createProbe(new URL(url), options);
  const started = performance.now();
  const result = await probe.check();
  const took = performance.now() - started;
  await probe.close();
  expect(result).toMatchObject({ ok: false, detail: `timed out after ${TIMEOUT_MS} ms` });
  expect(took).toBeGreaterThanOrEqual(TIMEOUT_MS - 1);
  expect(took).toBeLessThan(TIMEOUT_MS + MARGIN_MS);
}

describe('probe timeouts', () => {
  it.each(Object.entries(kinds))(
    '%s gives up on a host that never answers the connection',
    async (_kind, url) => {
      await expectTimeout(url(blackholePort));
    },
  );

  it.each(Object.entries(kinds).filter(([kind]) => kind !== 'tcp'))(
    '%s gives up on a server that accepts and then says nothing',
    async (_kind, url) => {
      await expectTimeout(url(silentPort));
    },
  );

  it('tcp passes on a server that accepts, whatever it says afterwards', async () => {
    const probe = createProbe(new URL(kinds.tcp(silentPort)), options);
    expect((await probe.check()).ok).toBe(true);
  });
});
