import { describe, expect, it } from '@jest/globals';
import type { z } from 'zod';
import { systemClock } from '../../actions/core/src/clock.js';
import { deployInputs } from '../../actions/core/src/deploy/inputs.js';
import { InputError, UserErrors } from '../../actions/core/src/errors.js';
import { systemRunner } from '../../actions/core/src/process.js';
import { createRouter, ROUTER_KINDS } from '../../actions/core/src/routers/index.js';
import type { RouterOptions } from '../../actions/core/src/routers/router.js';

const base: RouterOptions = {
  blue: ['127.0.0.1:8081'],
  green: ['127.0.0.1:8082'],
  nginx: {
    upstreamName: 'switchyard',
    testCommand: ['nginx', '-t'],
    reloadCommand: ['nginx', '-s', 'reload'],
  },
  haproxy: {},
  runner: systemRunner,
  clock: systemClock,
  log: () => undefined,
};

function problems(fn: () => unknown): string[] {
  try {
    fn();
  } catch (error) {
    if (error instanceof UserErrors) return error.errors.map((e) => e.message);
    if (error instanceof InputError) return [error.message];
    throw error;
  }
  return [];
}

describe('createRouter', () => {
  it('names nginx-upstream-file when router: nginx has none', () => {
    expect(problems(() => createRouter('nginx', base))).toEqual([
      'Input "nginx-upstream-file": is required with router: nginx; give the path of a file switchyard may own ' +
        '(it writes the `upstream` block there), e.g. /etc/nginx/conf.d/switchyard-upstream.conf, and include it in nginx.conf',
    ]);
  });

  it('keeps nginx syntax out of addresses and names', () => {
    const options: RouterOptions = {
      ...base,
      blue: ['127.0.0.1:8081; include /etc/shadow', '[::1]:8081', 'unix:/run/app.sock'],
      green: ['app-green.internal:0', '127.0.0.1:8081'],
      nginx: { ...base.nginx, upstreamFile: '/tmp/up.conf', upstreamName: 'my app' },
    };
    expect(problems(() => createRouter('nginx', options))).toEqual([
      'Input "blue": "127.0.0.1:8081; include /etc/shadow" is not host:port (port 1–65535), [ipv6]:port or unix:/path',
      'Input "green": "app-green.internal:0" is not host:port (port 1–65535), [ipv6]:port or unix:/path',
      'Input "nginx-upstream-name": "my app" is not a name nginx accepts (letters, digits, _ . -)',
    ]);
    expect(
      problems(() =>
        createRouter('nginx', {
          ...options,
          blue: ['127.0.0.1:8081'],
          green: ['127.0.0.1:8081'],
          nginx: { ...options.nginx, upstreamName: 'app' },
        }),
      ),
    ).toEqual(['Input "green": 127.0.0.1:8081 is in blue as well; each server belongs to one colour']);
  });

  it('names every missing HAProxy input, and refuses names that would be runtime API syntax', () => {
    expect(problems(() => createRouter('haproxy', base))).toEqual([
      'Input "haproxy-socket": is required with router: haproxy',
      'Input "haproxy-backend": is required with router: haproxy',
      'Input "haproxy-blue-server": is required with router: haproxy',
      'Input "haproxy-green-server": is required with router: haproxy',
    ]);
    const sneaky = {
      socket: '/run/haproxy.sock',
      backend: 'app; shutdown sessions',
      blueServer: 'blue',
      greenServer: 'blue',
    };
    expect(problems(() => createRouter('haproxy', { ...base, haproxy: sneaky }))).toEqual([
      'Input "haproxy-backend": "app; shutdown sessions" is not an HAProxy name (letters, digits, _ . : -)',
      'Input "haproxy-green-server": is "blue", the same server as blue',
    ]);
  });

  it('wants an http(s) verify-url', () => {
    const options = { ...base, command: ['./set-weights'], verifyUrl: 'ftp://lb/whoami' };
    expect(problems(() => createRouter('command', options))).toEqual([
      'Input "verify-url": must be an http:// or https:// URL that goes through the router',
    ]);
  });

  it('builds the router of each kind once its inputs are there', () => {
    expect(
      createRouter('nginx', { ...base, nginx: { ...base.nginx, upstreamFile: '/tmp/up.conf' } }).kind,
    ).toBe('nginx');
    const haproxy = { socket: '127.0.0.1:9999', backend: 'app', blueServer: 'blue', greenServer: 'green' };
    expect(createRouter('haproxy', { ...base, haproxy }).kind).toBe('haproxy');
    expect(createRouter('command', { ...base, command: ['./set-weights'] }).kind).toBe('command');
  });
});

// Adding a router is adding its file and a line in ROUTER_KINDS: nothing else may list the kinds.
describe('ROUTER_KINDS', () => {
  const bare: RouterOptions = {
    ...base,
    blue: [],
    green: [],
    nginx: { upstreamName: 'switchyard', testCommand: [], reloadCommand: [] },
  };

  it('is what the router input accepts, in its order', () => {
    const names = ROUTER_KINDS.map((each) => each.kind);
    expect((deployInputs.router.file as z.ZodEnum).options).toEqual(names);
    expect(deployInputs.router.example).toBe(names[0]);
    for (const name of names) expect(deployInputs.router.parse.safeParse(name).success).toBe(true);
    expect(deployInputs.router.parse.safeParse('traefik').success).toBe(false);
  });

  it("reports exactly each kind's own checks, and offers every kind for an unknown one", () => {
    for (const kind of ROUTER_KINDS) {
      const own = kind.check(bare).map((each) => each.message);
      expect(own.length).toBeGreaterThan(0);
      expect(problems(() => createRouter(kind.kind, bare))).toEqual(own);
    }
    const [unknown] = problems(() => createRouter('traefik' as never, bare));
    for (const kind of ROUTER_KINDS) expect(unknown).toContain(kind.kind);
  });
});

describe('each router kind owns its inputs', () => {
  it("puts every one of them in the deploy action's table, as declared", async () => {
    const { ROUTER_KINDS } = await import('../../actions/core/src/routers/index.js');
    const { deployInputs } = await import('../../actions/core/src/deploy/inputs.js');
    for (const kind of ROUTER_KINDS) {
      expect(Object.keys(kind.inputs).length).toBeGreaterThan(0);
      for (const [name, def] of Object.entries(kind.inputs))
        expect((deployInputs as Record<string, unknown>)[name]).toBe(def);
    }
  });
});
