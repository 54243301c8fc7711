import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { requireProgram } from './install.js';
import {
  HOST,
  canConnect,
  converse,
  freePort,
  launch,
  makeServerDir,
  withFreshPortOnClash,
  type RunningServer,
} from './launch.js';

export interface HaproxyOptions {
  /** Frontend/backend sections; the frontend binds `127.0.0.1:${port}`. `global` and `defaults` are ours. */
  config?: (ctx: { port: number; dir: string; socket: string }) => string;
}

export type RunningHaproxy = RunningServer & { url: string; socket: string; configFile: string };

export function startHaproxy(opts: HaproxyOptions = {}): Promise<RunningHaproxy> {
  return withFreshPortOnClash(() => startHaproxyOnce(opts));
}

async function startHaproxyOnce(opts: HaproxyOptions): Promise<RunningHaproxy> {
  const haproxy = await requireProgram('haproxy', 'haproxy');
  const port = await freePort();
  const { dir, logFile } = await makeServerDir('haproxy');
  const socket = path.join(dir, 'admin.sock');
  const configFile = path.join(dir, 'haproxy.cfg');
  const sections = (opts.config ?? defaultSections)({ port, dir, socket });
  await writeFile(
    configFile,
    `# Written by switchyard's test servers: everything this HAProxy touches is inside ${dir}.
global
  stats socket ${socket} mode 600 level admin
  stats timeout 30s

defaults
  mode http
  timeout connect 2s
  timeout client 30s
  timeout server 30s

${sections}
`,
  );

  const server = await launch({
    name: 'haproxy',
    // -db: stay in the foreground, without the master-worker mode.
    argv: [haproxy, '-f', configFile, '-db'],
    port,
    dir,
    logFile,
    // The admin socket lives in our private directory, so an answer from it proves this HAProxy is up.
    ready: async () =>
      (await converse({ path: socket }, 'show info\n')).includes('Name: HAProxy') &&
      (await canConnect({ port })),
  });
  return { ...server, url: `http://${HOST}:${port}`, socket, configFile };
}

function defaultSections({ port }: { port: number }): string {
  return `frontend main
  bind ${HOST}:${port}
  http-request return status 200 content-type text/plain string "ok\\n"
`;
}
