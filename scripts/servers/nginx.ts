import { execFile } from 'node:child_process';
import { chmod, readFile, readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { requireProgram } from './install.js';
import {
  HOST,
  canConnect,
  delay,
  freePort,
  launch,
  logTail,
  makeServerDir,
  withFreshPortOnClash,
  type RunningServer,
} from './launch.js';

export interface NginxOptions {
  /** The inside of `http { … }`: usually one or more `server { listen 127.0.0.1:${port}; … }` blocks. */
  http?: (ctx: { port: number; dir: string }) => string;
}

export type RunningNginx = RunningServer & { url: string; reload(): Promise<void>; configFile: string };

const RELOAD_TIMEOUT_MS = 10_000;

export function startNginx(opts: NginxOptions = {}): Promise<RunningNginx> {
  return withFreshPortOnClash(() => startNginxOnce(opts));
}

async function startNginxOnce(opts: NginxOptions): Promise<RunningNginx> {
  const nginx = await requireProgram('nginx', 'nginx-light');
  const port = await freePort();
  const { dir, logFile } = await makeServerDir('nginx');
  // Workers drop root for `nobody` and must still reach the temp paths inside the directory.
  await chmod(dir, 0o755);
  const configFile = path.join(dir, 'nginx.conf');
  const pidFile = path.join(dir, 'nginx.pid');
  const body = (opts.http ?? defaultHttp)({ port, dir });
  await writeFile(configFile, mainConfig(dir, logFile, pidFile, body));

  // -e: nginx opens its compiled-in error log (/var/log/nginx) before reading the config unless told.
  const base = [nginx, '-p', `${dir}/`, '-c', configFile, '-e', logFile] as const;
  const server = await launch({
    name: 'nginx',
    argv: [...base, '-g', 'daemon off;'],
    port,
    dir,
    logFile,
    // The pid file is written only after every listen socket was bound, so the port is ours.
    ready: async () => (await masterPid(pidFile)) !== undefined && (await canConnect({ port })),
  });

  const reload = async (): Promise<void> => {
    const master = await masterPid(pidFile);
    if (master === undefined) throw new Error(`nginx is not running (no pid in ${pidFile})`);
    const before = await childrenOf(master);
    await run([...base, '-t', '-q'], 'nginx -t rejected the new configuration');
    await run([...base, '-s', 'reload'], 'nginx -s reload failed');
    // A reload took effect when new workers run and the old ones (still serving the old config) left.
    const deadline = Date.now() + RELOAD_TIMEOUT_MS;
    for (;;) {
      const now = await childrenOf(master);
      const fresh = now.filter((pid) => !before.includes(pid));
      const stale = now.filter((pid) => before.includes(pid));
      if (fresh.length > 0 && stale.length === 0) return;
      if (Date.now() > deadline) {
        throw new Error(
          `nginx did not finish reloading within ${RELOAD_TIMEOUT_MS / 1000} s. Last lines of its log:\n` +
            logTail(logFile),
        );
      }
      await delay(50);
    }
  };

  return { ...server, url: `http://${HOST}:${port}`, reload, configFile };
}

function defaultHttp({ port }: { port: number }): string {
  return `server {
    listen ${HOST}:${port};
    location / { return 200 "ok\\n"; }
  }`;
}

function mainConfig(dir: string, logFile: string, pidFile: string, body: string): string {
  const temp = (kind: string): string => path.join(dir, `${kind}_temp`);
  return `# Written by switchyard's test servers: everything this nginx touches is inside ${dir}.
worker_processes 1;
pid ${pidFile};
error_log ${logFile} notice;
events { worker_connections 512; }
http {
  access_log ${path.join(dir, 'access.log')};
  client_body_temp_path ${temp('client_body')};
  proxy_temp_path ${temp('proxy')};
  fastcgi_temp_path ${temp('fastcgi')};
  uwsgi_temp_path ${temp('uwsgi')};
  scgi_temp_path ${temp('scgi')};
  default_type text/plain;
  ${body}
}
`;
}

async function masterPid(pidFile: string): Promise<number | undefined> {
  try {
    const pid = Number.parseInt(await readFile(pidFile, 'utf8'), 10);
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

async function childrenOf(parent: number): Promise<number[]> {
  const children: number[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = await readFile(`/proc/${entry}/stat`, 'utf8');
      // The command name in parentheses may hold spaces; the parent pid is the 2nd field after it.
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === parent) children.push(Number(entry));
    } catch {
      // exited while we looked
    }
  }
  return children;
}

function run(argv: readonly string[], what: string): Promise<void> {
  const [program, ...args] = argv as [string, ...string[]];
  return new Promise((resolve, reject) => {
    execFile(program, args, (error, stdout, stderr) => {
      if (error) reject(new Error(`${what}:\n${`${stdout}${stderr}`.trim()}`));
      else resolve();
    });
  });
}
