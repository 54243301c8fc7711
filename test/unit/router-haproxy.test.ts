import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { systemClock, type Clock } from '../../actions/core/src/clock.js';
import { systemRunner } from '../../actions/core/src/process.js';
import { parseRuntimeApiAddress, parseServersState } from '../../actions/core/src/routers/haproxy.js';
import { createRouter } from '../../actions/core/src/routers/index.js';
import type { RouterOptions } from '../../actions/core/src/routers/router.js';
import { FakeClock } from '../support/fake-clock.js';

// What HAProxy 2.6 answers to `show servers state app`.
const HEADER =
  '# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight srv_iweight ' +
  'srv_time_since_last_change srv_check_status srv_check_result srv_check_health srv_check_state ' +
  'srv_agent_state bk_f_forced_id srv_f_forced_id srv_fqdn srv_port srvrecord srv_use_ssl srv_check_port ' +
  'srv_check_addr srv_agent_addr srv_agent_port';
const stateOf = (blue: number, green: number, greenOperational = 2): string =>
  `1\n${HEADER}\n` +
  `3 app 1 blue 127.0.0.1 2 0 ${blue} 100 12 1 0 2 0 0 0 0 - 8081 - 0 0 - - 0\n` +
  `3 app 2 green 127.0.0.1 ${greenOperational} 0 ${green} 0 12 1 0 2 0 0 0 0 - 8082 - 0 0 - - 0\n\n`;

describe('parseServersState', () => {
  it('reads each server by column name', () => {
    expect(parseServersState(stateOf(90, 10))).toEqual([
      {
        backend: 'app',
        server: 'blue',
        address: '127.0.0.1',
        port: 8081,
        operational: 2,
        admin: 0,
        weight: 90,
        initialWeight: 100,
      },
      {
        backend: 'app',
        server: 'green',
        address: '127.0.0.1',
        port: 8082,
        operational: 2,
        admin: 0,
        weight: 10,
        initialWeight: 0,
      },
    ]);
  });

  it('copes with the shorter format of older versions and rejects what is not a state', () => {
    const old =
      '1\n# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight srv_iweight\n' +
      '2 web 1 s1 10.0.0.1 2 1 5 10\n';
    expect(parseServersState(old)).toEqual([
      {
        backend: 'web',
        server: 's1',
        address: '10.0.0.1',
        operational: 2,
        admin: 1,
        weight: 5,
        initialWeight: 10,
      },
    ]);
    expect(() => parseServersState("Can't find backend.\n")).toThrow(/not a "show servers state" answer/);
  });
});

describe('parseRuntimeApiAddress', () => {
  it('tells a socket path from host:port', () => {
    expect(parseRuntimeApiAddress('/run/haproxy/admin.sock')).toEqual({ path: '/run/haproxy/admin.sock' });
    expect(parseRuntimeApiAddress('unix@/run/haproxy/admin.sock')).toEqual({
      path: '/run/haproxy/admin.sock',
    });
    expect(parseRuntimeApiAddress('127.0.0.1:9999')).toEqual({ host: '127.0.0.1', port: 9999 });
    expect(parseRuntimeApiAddress('lb1.internal:9999')).toEqual({ host: 'lb1.internal', port: 9999 });
    expect(parseRuntimeApiAddress('[::1]:9999')).toEqual({ host: '::1', port: 9999 });
  });
});

/** A stand-in for HAProxy's runtime API: one command per connection, like the real one. */
class FakeRuntimeApi {
  readonly commands: string[] = [];
  weights = { blue: 100, green: 0 };
  greenOperational = 2;
  refuse: RegExp | undefined;
  /** How many `show stat` answers still show the effective weights from before the last change. */
  statLag = 0;
  /** Called with each command before it is answered. */
  onCommand: ((command: string) => void) | undefined;
  private effective = { blue: 100, green: 0 };
  private server = net.createServer((socket) => {
    socket.setEncoding('utf8');
    socket.once('data', (line: string) => socket.end(this.answer(line.trim())));
  });

  listen(socketPath: string): Promise<void> {
    return new Promise((resolve) => this.server.listen(socketPath, resolve));
  }
  close(): Promise<void> {
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  private answer(command: string): string {
    this.commands.push(command);
    this.onCommand?.(command);
    if (this.refuse?.test(command)) return 'Permission denied\n\n';
    const set = /^set server app\/(blue|green) weight (\d+)$/.exec(command);
    if (set) {
      this.weights[set[1] as 'blue' | 'green'] = Number(set[2]);
      return '\n';
    }
    if (command === 'show stat app 4 -1') {
      if (this.statLag > 0) this.statLag--;
      else this.effective = { ...this.weights };
      return (
        '# pxname,svname,qcur,status,weight\n' +
        `app,blue,0,no check,${this.effective.blue}\n` +
        `app,green,0,no check,${this.effective.green}\n\n`
      );
    }
    if (command.startsWith('show servers state'))
      return stateOf(this.weights.blue, this.weights.green, this.greenOperational);
    return 'Unknown command.\n\n';
  }
}

describe('HaproxyRouter', () => {
  let dir: string;
  let api: FakeRuntimeApi;
  const logged: string[] = [];

  beforeEach(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'switchyard-haproxy-unit-'));
    api = new FakeRuntimeApi();
    await api.listen(path.join(dir, 'admin.sock'));
    logged.length = 0;
  });
  afterEach(async () => {
    await api.close();
    await rm(dir, { recursive: true, force: true });
  });

  const router = (stateFile?: string, clock: Clock = systemClock) => {
    const options: RouterOptions = {
      blue: [],
      green: [],
      nginx: {
        upstreamName: 'switchyard',
        testCommand: ['nginx', '-t'],
        reloadCommand: ['nginx', '-s', 'reload'],
      },
      haproxy: {
        socket: path.join(dir, 'admin.sock'),
        backend: 'app',
        blueServer: 'blue',
        greenServer: 'green',
        stateFile,
      },
      runner: systemRunner,
      clock,
      log: (line) => logged.push(line),
    };
    return createRouter('haproxy', options);
  };

  it('raises the growing colour first, so both are never at 0 at once', async () => {
    api.weights = { blue: 0, green: 100 };
    await router().apply({ blue: 100, green: 0 });
    expect(api.commands.filter((c) => c.startsWith('set'))).toEqual([
      'set server app/blue weight 100',
      'set server app/green weight 0',
    ]);
    api.commands.length = 0;
    await router().apply({ blue: 90, green: 10 });
    expect(api.commands.filter((c) => c.startsWith('set'))).toEqual([
      'set server app/green weight 10',
      'set server app/blue weight 90',
    ]);
    expect(await router().read()).toEqual({ blue: 90, green: 10 });
  });

  it('returns only once show stat shows balancing use the new weights, and fails when it never does', async () => {
    api.statLag = 3;
    await router().apply({ blue: 0, green: 100 });
    expect(api.commands.filter((c) => c.startsWith('show stat'))).toHaveLength(4);

    api.statLag = 1_000;
    await expect(router(undefined, new FakeClock()).apply({ blue: 100, green: 0 })).rejects.toThrow(
      'HAProxy reads back the new weights, but after 2 s its balancing still uses blue 0 (no check), green 100 (no check) (show stat)',
    );
  });

  it('retries putting the first weight back when the runtime API goes away between the two commands', async () => {
    const socket = path.join(dir, 'admin.sock');
    // A reload of HAProxy: the socket is gone for a moment, then answers again.
    api.onCommand = (command) => {
      if (command === 'set server app/green weight 50') {
        api.onCommand = undefined;
        void api.close().then(async () => {
          const back = new FakeRuntimeApi();
          back.weights = { ...api.weights };
          api = back;
          await api.listen(socket);
        });
      }
    };
    const error = (await router()
      .apply({ blue: 50, green: 50 })
      .catch((e: unknown) => e)) as Error;
    expect(error.message).toMatch(
      /^cannot reach the HAProxy runtime API at .*: ENOENT\..*; green was put back to weight 0, so HAProxy serves blue 100 \/ green 0 as before$/s,
    );
    expect(api.weights).toEqual({ blue: 100, green: 0 });
    expect(logged).toContain(
      'haproxy: the runtime API went away in the middle of a change; retrying to put green back to 0',
    );
  });

  it('puts the first weight back when HAProxy refuses the second', async () => {
    api.refuse = /app\/blue weight 75/;
    await expect(router().apply({ blue: 75, green: 25 })).rejects.toThrow(
      'HAProxy refused "set server app/blue weight 75": Permission denied (the stats socket needs "level admin" to change weights)',
    );
    expect(api.commands.filter((c) => c.startsWith('set'))).toEqual([
      'set server app/green weight 25',
      'set server app/blue weight 75',
      'set server app/green weight 0',
    ]);
    expect(api.weights).toEqual({ blue: 100, green: 0 });
  });

  it('saves the whole server state to the state file after a change', async () => {
    const stateFile = path.join(dir, 'server-state');
    await router(stateFile).apply({ blue: 50, green: 50 });
    expect(await readFile(stateFile, 'utf8')).toBe(stateOf(50, 50));
    expect(api.commands.at(-1)).toBe('show servers state');
  });

  it('undoes the change when the state file cannot be written', async () => {
    const stateFile = path.join(dir, 'missing-dir', 'server-state');
    await expect(router(stateFile).apply({ blue: 50, green: 50 })).rejects.toThrow(
      /could not save the weights to the HAProxy state file .*ENOENT.*The weights were put back to blue 100 \/ green 0/,
    );
    expect(api.weights).toEqual({ blue: 100, green: 0 });
  });

  it('fails verification when a colour that should get traffic is down', async () => {
    api.weights = { blue: 75, green: 25 };
    api.greenOperational = 0;
    expect(await router().verify({ blue: 75, green: 25 })).toEqual({
      ok: false,
      detail:
        'show servers state app: blue (blue) weight 75, green (green) weight 25; green (green) gets no traffic: it is DOWN',
    });
    api.greenOperational = 2;
    expect(await router().verify({ blue: 75, green: 25 })).toEqual({
      ok: true,
      detail: 'show servers state app: blue (blue) weight 75, green (green) weight 25',
    });
    expect((await router().verify({ blue: 50, green: 50 })).detail).toContain('blue is at weight 75, not 50');
  });

  it('says when both colours are at weight 0', async () => {
    api.weights = { blue: 0, green: 0 };
    await expect(router().read()).rejects.toThrow(
      'HAProxy backend app has both blue (blue) and green (green) at weight 0, so it sends traffic to neither',
    );
  });
});
