// The tcp:// probe: a connection that opens is healthy, and it is closed without a byte sent.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import net from 'node:net';
import { createProbe } from '../../actions/core/src/probes/index.js';
import type { ProbeOptions } from '../../actions/core/src/probes/probe.js';
import { freePort } from '../../scripts/servers/index.js';

const options: ProbeOptions = {
  timeoutMs: 2_000,
  expectStatus: [],
  headers: {},
  followRedirects: true,
  insecure: false,
};

/** What the listening server saw of each connection: the bytes it received before the close. */
const connections: Promise<number>[] = [];
let server: net.Server;
let port: number;

beforeAll(async () => {
  server = net.createServer((socket) => {
    connections.push(
      new Promise((resolve) => {
        let received = 0;
        socket.on('data', (chunk) => (received += chunk.length));
        socket.on('close', () => resolve(received));
        socket.on('error', () => undefined);
      }),
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as net.AddressInfo).port;
});

afterAll(async () => {
  await new Promise((resolve) => server.close(resolve));
});

describe('tcp probe', () => {
  it('passes when the port accepts a connection, and closes it without sending anything', async () => {
    const probe = createProbe(new URL(`tcp://127.0.0.1:${port}`), options);
    const result = await probe.check();
    expect(result.ok).toBe(true);
    expect(result.detail).toMatch(/^connected in \d+ ms$/);
    expect(connections).toHaveLength(1);
    expect(await connections[0]).toBe(0);
    await probe.close();
  });

  it('reports a refused connection', async () => {
    const probe = createProbe(new URL(`tcp://127.0.0.1:${await freePort()}`), options);
    expect(await probe.check()).toMatchObject({ ok: false, detail: 'connection refused' });
  });

  it('reports a host that does not resolve', async () => {
    const probe = createProbe(new URL('tcp://no-such-host.invalid:80'), options);
    expect(await probe.check()).toMatchObject({ ok: false, detail: 'host not found: no-such-host.invalid' });
  });
});
