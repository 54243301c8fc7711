import http from 'node:http';
import { fileURLToPath } from 'node:url';
import { HOST, freePort, launch, makeServerDir, withFreshPortOnClash, type RunningServer } from './launch.js';

export interface SampleServiceOptions {
  color?: string;
  version?: string;
  port?: number;
}

const SCRIPT = fileURLToPath(new URL('./sample-service.js', import.meta.url));

export function startSampleService(
  opts: SampleServiceOptions = {},
): Promise<RunningServer & { url: string }> {
  // A port the caller chose is not ours to swap for another one.
  return opts.port === undefined ? withFreshPortOnClash(() => startOnce(opts)) : startOnce(opts);
}

async function startOnce(opts: SampleServiceOptions): Promise<RunningServer & { url: string }> {
  const color = opts.color ?? 'blue';
  const version = opts.version ?? 'v1';
  const port = opts.port ?? (await freePort());
  const { dir, logFile } = await makeServerDir('sample-service');
  // NODE_OPTIONS of a jest parent (--experimental-vm-modules) means nothing to the service.
  const { NODE_OPTIONS: _ignored, ...env } = process.env;
  const server = await launch({
    name: 'sample-service',
    argv: [process.execPath, SCRIPT, '--port', String(port), '--color', color, '--version', version],
    port,
    dir,
    logFile,
    env,
    ready: () => answersAsSampleService(port, color),
  });
  return { ...server, url: `http://${HOST}:${port}` };
}

function answersAsSampleService(port: number, color: string): Promise<boolean> {
  return new Promise((resolve) => {
    const req = http.get({ host: HOST, port, path: '/health', agent: false, timeout: 1_000 }, (res) => {
      res.resume();
      resolve(res.statusCode === 200 && res.headers['x-switchyard-color'] === color);
    });
    req.once('timeout', () => req.destroy());
    req.once('error', () => resolve(false));
  });
}
