import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { request } from 'node:http';
import { renderUpstream } from '../../actions/core/src/routers/nginx.js';
import {
  startNginx,
  startSampleService,
  type RunningNginx,
  type RunningServer,
} from '../../scripts/servers/index.js';

export interface BlueGreen {
  blue: RunningServer & { url: string };
  green: RunningServer & { url: string };
  nginx: RunningNginx;
  upstreamFile: string;
  /** The deploy inputs that point at this setup (router: nginx). */
  inputs: Record<string, string>;
  stop(): Promise<void>;
}

/** Blue and green sample services behind real nginx, through an upstream file switchyard owns. */
export async function startBlueGreen(): Promise<BlueGreen> {
  const blue = await startSampleService({ color: 'blue', version: 'v1' });
  const green = await startSampleService({ color: 'green', version: 'v1' });
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
    blue,
    green,
    nginx,
    upstreamFile,
    inputs: {
      router: 'nginx',
      blue: address(blue),
      green: address(green),
      'nginx-upstream-file': upstreamFile,
      'nginx-test-command': `${base} -t`,
      'nginx-reload-command': `${base} -s reload`,
      'verify-url': `${nginx.url}/`,
      'health-path': '/health',
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
