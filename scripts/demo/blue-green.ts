import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { request } from 'node:http';
import { renderUpstream } from '../../actions/core/src/routers/nginx.js';
import { startHaproxy, startNginx, startSampleService, type RunningServer } from '../servers/index.js';

export interface BlueGreen {
  router: 'nginx' | 'haproxy';
  blue: RunningServer & { url: string };
  green: RunningServer & { url: string };
  /** The router's front door. */
  url: string;
  /** nginx only: the upstream file switchyard owns. */
  upstreamFile?: string;
  /** The deploy inputs that point at this setup. */
  inputs: Record<string, string>;
  stop(): Promise<void>;
}

/**
 * Blue (v1) and green sample services behind a real router: nginx through an upstream file
 * switchyard owns, or HAProxy through its runtime API with a server-state file.
 */
export async function startBlueGreen(router: 'nginx' | 'haproxy' = 'nginx'): Promise<BlueGreen> {
  const blue = await startSampleService({ color: 'blue', version: 'v1' });
  const green = await startSampleService({ color: 'green', version: 'v1' });
  const common = { blue: address(blue), green: address(green) };
  if (router === 'haproxy') {
    let stateFile = '';
    const haproxy = await startHaproxy({
      config: ({ port, dir }) => {
        stateFile = join(dir, 'server-state');
        return `
global
  server-state-file ${stateFile}

frontend web
  bind 127.0.0.1:${port}
  default_backend app

backend app
  balance roundrobin
  load-server-state-from-file global
  server blue ${address(blue)} weight 100
  server green ${address(green)} weight 0
`;
      },
    });
    return {
      router,
      blue,
      green,
      url: haproxy.url,
      inputs: {
        router: 'haproxy',
        ...common,
        'haproxy-socket': haproxy.socket,
        'haproxy-backend': 'app',
        'haproxy-state-file': stateFile,
        'verify-url': `${haproxy.url}/`,
      },
      stop: async () => {
        await haproxy.stop();
        await blue.stop();
        await green.stop();
      },
    };
  }
  let upstreamFile = '';
  const nginx = await startNginx({
    http: ({ port, dir }) => {
      upstreamFile = join(dir, 'switchyard-upstream.conf');
      // nginx refuses to start on a missing include: begin with blue serving everything.
      writeFileSync(
        upstreamFile,
        renderUpstream(
          'switchyard',
          { blue: [address(blue)], green: [address(green)] },
          { blue: 100, green: 0 },
        ),
      );
      return `include ${upstreamFile};
        server {
          listen 127.0.0.1:${port};
          location / { proxy_pass http://switchyard; }
        }`;
    },
  });
  const base = `nginx -p ${nginx.dir}/ -c ${nginx.configFile} -e ${nginx.logFile}`;
  return {
    router,
    blue,
    green,
    url: nginx.url,
    upstreamFile,
    inputs: {
      router: 'nginx',
      ...common,
      'nginx-upstream-file': upstreamFile,
      'nginx-test-command': `${base} -t`,
      'nginx-reload-command': `${base} -s reload`,
      'verify-url': `${nginx.url}/`,
    },
    stop: async () => {
      await nginx.stop();
      await blue.stop();
      await green.stop();
    },
  };
}

export function address(server: { port: number }): string {
  return `127.0.0.1:${server.port}`;
}

/** Tells a sample service to answer 500 to this share of `/` requests. */
export function setFailRate(service: { url: string }, rate: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const req = request(`${service.url}/fail-rate?rate=${rate}`, { method: 'POST' }, (res) => {
      res.resume();
      res.on('end', () =>
        res.statusCode === 200 ? resolve() : reject(new Error(`fail-rate: HTTP ${res.statusCode}`)),
      );
    });
    req.on('error', reject);
    req.end();
  });
}
