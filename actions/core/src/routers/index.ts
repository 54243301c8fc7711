import { InputError, UserErrors } from '../errors.js';
import { CommandRouter } from './command.js';
import { HaproxyRouter } from './haproxy.js';
import { NginxRouter } from './nginx.js';
import type { Router, RouterOptions } from './router.js';

export type { ApplyOptions, Color, Router, RouterOptions, Verification, Weights } from './router.js';
export { otherColor } from './router.js';

export type RouterKind = Router['kind'];

// Addresses and names end up inside nginx's configuration and HAProxy's command lines, where a `;`,
// a brace or a newline would be syntax: only what a host, port, socket path or name can hold passes.
const HOST_PORT = /^(?:\[[0-9a-fA-F:.]+\]|[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?):(\d{1,5})$/;
const UNIX_SOCKET = /^unix:\/[\w./-]+$/;
const NGINX_NAME = /^[A-Za-z0-9_.-]+$/;
const HAPROXY_NAME = /^[A-Za-z0-9_.:-]+$/;

/**
 * The router of a kind, once every input it needs is present and well-formed; nothing is read,
 * written or run before that. All problems are reported together, each naming its input.
 */
export function createRouter(kind: RouterKind, options: RouterOptions): Router {
  const problems: InputError[] = [];
  const need = (input: string, value: unknown): void => {
    const empty = value === undefined || value === '' || (Array.isArray(value) && value.length === 0);
    if (empty) problems.push(new InputError(input, `is required with router: ${kind}`));
  };

  if (options.verifyUrl !== undefined) {
    let url: URL | undefined;
    try {
      url = new URL(options.verifyUrl);
    } catch {
      url = undefined;
    }
    if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:')) {
      problems.push(
        new InputError('verify-url', 'must be an http:// or https:// URL that goes through the router'),
      );
    }
  }

  switch (kind) {
    case 'nginx': {
      const { nginx } = options;
      if (!nginx.upstreamFile) {
        problems.push(
          new InputError(
            'nginx-upstream-file',
            'is required with router: nginx; give the path of a file switchyard may own (it writes the ' +
              '`upstream` block there), e.g. /etc/nginx/conf.d/switchyard-upstream.conf, and include it in nginx.conf',
          ),
        );
      }
      need('blue', options.blue);
      need('green', options.green);
      for (const color of ['blue', 'green'] as const) {
        for (const address of options[color]) {
          const port = HOST_PORT.exec(address)?.[1];
          const valid =
            UNIX_SOCKET.test(address) || (port !== undefined && Number(port) >= 1 && Number(port) <= 65535);
          if (!valid) {
            problems.push(
              new InputError(
                color,
                `"${address}" is not host:port (port 1–65535), [ipv6]:port or unix:/path`,
              ),
            );
          }
        }
      }
      const shared = options.blue.filter((address) => options.green.includes(address));
      if (shared.length > 0) {
        problems.push(
          new InputError(
            'green',
            `${shared.join(', ')} is in blue as well; each server belongs to one colour`,
          ),
        );
      }
      if (!NGINX_NAME.test(nginx.upstreamName)) {
        problems.push(
          new InputError(
            'nginx-upstream-name',
            `"${nginx.upstreamName}" is not a name nginx accepts (letters, digits, _ . -)`,
          ),
        );
      }
      need('nginx-test-command', nginx.testCommand);
      need('nginx-reload-command', nginx.reloadCommand);
      break;
    }
    case 'haproxy': {
      const { haproxy } = options;
      need('haproxy-socket', haproxy.socket);
      for (const [input, value] of [
        ['haproxy-backend', haproxy.backend],
        ['haproxy-blue-server', haproxy.blueServer],
        ['haproxy-green-server', haproxy.greenServer],
      ] as const) {
        need(input, value);
        if (value && !HAPROXY_NAME.test(value)) {
          problems.push(
            new InputError(input, `"${value}" is not an HAProxy name (letters, digits, _ . : -)`),
          );
        }
      }
      if (haproxy.blueServer && haproxy.blueServer === haproxy.greenServer) {
        problems.push(
          new InputError('haproxy-green-server', `is "${haproxy.greenServer}", the same server as blue`),
        );
      }
      if (haproxy.socket && /[\s;]/.test(haproxy.socket)) {
        problems.push(new InputError('haproxy-socket', 'must be a unix socket path or host:port'));
      }
      break;
    }
    case 'command':
      need('router-command', options.command);
      break;
    default:
      problems.push(
        new InputError('router', `"${String(kind)}" is not a router; use nginx, haproxy or command`),
      );
  }

  if (problems.length === 1) throw problems[0];
  if (problems.length > 1) throw new UserErrors(problems);

  switch (kind) {
    case 'nginx':
      return new NginxRouter({
        ...options,
        nginx: { ...options.nginx, upstreamFile: options.nginx.upstreamFile as string },
      });
    case 'haproxy':
      return new HaproxyRouter({
        ...options,
        haproxy: {
          ...options.haproxy,
          socket: options.haproxy.socket as string,
          backend: options.haproxy.backend as string,
          blueServer: options.haproxy.blueServer as string,
          greenServer: options.haproxy.greenServer as string,
        },
      });
    case 'command':
      return new CommandRouter({ ...options, command: options.command as string[] });
  }
}
