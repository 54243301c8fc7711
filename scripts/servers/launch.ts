// Starting, watching and stopping the real servers that tests and the demo run on loopback.
//
// Every server runs under a small constant shell "guard" whose stdin is a pipe from this process: when
// this process dies for any reason (even SIGKILL of a jest worker) the pipe closes, the guard's `read`
// returns and it stops the server. Servers run in their own process group so one kill reaches the
// server's own children (nginx workers, postgres backends) too.
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, readFileSync, rmSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

export interface RunningServer {
  name: string;
  host: '127.0.0.1';
  port: number;
  dir: string;
  logFile: string;
  stop(): Promise<void>;
}

export const HOST = '127.0.0.1' as const;

const READY_TIMEOUT_MS = 20_000;
const STOP_GRACE_MS = 5_000;
const POLL_MS = 50;

// $1 is the signal that stops the server gracefully, $2 its directory, the rest the server's argv. TERM to
// the guard is forwarded as that signal. EOF on stdin means the parent died without stopping us: stop the
// server the same way (KILL after 5 s) and remove its directory, which the parent no longer can.
// An async list's stdin is /dev/null in a non-interactive sh, so the watcher reads the pipe through fd 3.
const GUARD_SCRIPT = [
  'sig=$1; dir=$2; shift 2; child=; stopping=; orphaned=',
  'trap \'stopping=1; [ -n "$child" ] && kill -s "$sig" "$child" 2>/dev/null\' TERM',
  'trap \'orphaned=1; [ -n "$child" ] && kill -s "$sig" "$child" 2>/dev/null\' USR1',
  'exec 3<&0',
  '"$@" 3<&- &',
  'child=$!',
  '[ -n "$stopping$orphaned" ] && kill -s "$sig" "$child" 2>/dev/null',
  '{ read _ignored; kill -s USR1 $$; sleep 5; kill -s KILL "$child"; } <&3 3<&- 2>/dev/null &',
  'watcher=$!',
  'exec 3<&-',
  'while :; do wait "$child"; status=$?; kill -0 "$child" 2>/dev/null || break; done',
  'kill "$watcher" 2>/dev/null',
  '[ -n "$orphaned" ] && rm -rf "$dir"',
  'exit "$status"',
].join('\n');

interface Tracked {
  name: string;
  child: ChildProcess;
  dir: string;
  exited: Promise<void>;
  stop(): Promise<void>;
}

const running = new Set<Tracked>();
let exitHooksInstalled = false;

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, HOST, () => {
      const address = server.address();
      server.close(() => {
        if (address && typeof address === 'object') resolve(address.port);
        else reject(new Error('the kernel gave no port for 127.0.0.1'));
      });
    });
  });
}

export async function makeServerDir(name: string): Promise<{ dir: string; logFile: string }> {
  const dir = await mkdtemp(path.join(os.tmpdir(), `switchyard-${name}-`));
  return { dir, logFile: path.join(dir, `${name}.log`) };
}

export function logTail(logFile: string, lines = 20): string {
  try {
    const text = readFileSync(logFile, 'utf8').trimEnd();
    return text.split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

export interface LaunchSpec {
  name: string;
  argv: [string, ...string[]];
  port: number;
  dir: string;
  logFile: string;
  /** Answers true once the server serves; polled until the deadline. */
  ready: () => Promise<boolean>;
  /** The signal that makes this server shut down quickly but cleanly. */
  stopSignal?: NodeJS.Signals;
  runAs?: { uid: number; gid: number };
  env?: NodeJS.ProcessEnv;
  readyTimeoutMs?: number;
}

export async function launch(spec: LaunchSpec): Promise<RunningServer> {
  installExitHooks();
  const log = openSync(spec.logFile, 'a');
  let child: ChildProcess;
  try {
    child = spawn(
      '/bin/sh',
      [
        '-c',
        GUARD_SCRIPT,
        'switchyard-guard',
        (spec.stopSignal ?? 'SIGTERM').slice(3),
        spec.dir,
        ...spec.argv,
      ],
      {
        cwd: spec.dir,
        env: spec.env ?? process.env,
        stdio: ['pipe', log, log],
        detached: true,
        ...(spec.runAs ?? {}),
      },
    );
  } finally {
    closeSync(log);
  }
  const exited = new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve();
    else child.once('exit', () => resolve());
  });
  // A spawn that fails (say, EPERM for another uid) reports 'error' and never 'exit'.
  const spawnError = new Promise<Error>((resolve) => child.once('error', resolve));
  child.unref();
  // The pipe only ever closes (when we die); an idle, unref'd one keeps nothing alive.
  const guardPipe = child.stdin as net.Socket | null;
  guardPipe?.on('error', () => {});
  guardPipe?.unref();

  let stopping: Promise<void> | undefined;
  const tracked: Tracked = {
    name: spec.name,
    child,
    dir: spec.dir,
    exited,
    stop: () => {
      stopping ??= (async () => {
        await terminate(child, exited);
        running.delete(tracked);
        await rm(spec.dir, { recursive: true, force: true, maxRetries: 3 });
      })();
      return stopping;
    },
  };
  running.add(tracked);

  const server: RunningServer = {
    name: spec.name,
    host: HOST,
    port: spec.port,
    dir: spec.dir,
    logFile: spec.logFile,
    stop: tracked.stop,
  };

  const deadline = Date.now() + (spec.readyTimeoutMs ?? READY_TIMEOUT_MS);
  let died = false;
  void exited.then(() => (died = true));
  const failure = await Promise.race([
    spawnError.then((error) => `could not start: ${error.message}`),
    (async () => {
      for (;;) {
        if (died) return `exited (${describeExit(child)}) before it was ready`;
        // A dying server must not wait for a probe that hangs on someone else's listener.
        const ok = await Promise.race([spec.ready().catch(() => false), exited.then(() => false)]);
        if (ok) return undefined;
        if (died) return `exited (${describeExit(child)}) before it was ready`;
        if (Date.now() > deadline)
          return `was not ready within ${(spec.readyTimeoutMs ?? READY_TIMEOUT_MS) / 1000} s`;
        await delay(POLL_MS);
      }
    })(),
  ]);
  if (failure !== undefined) {
    const tail = logTail(spec.logFile);
    await server.stop();
    throw new Error(`${spec.name} ${failure} on ${HOST}:${spec.port}. Last lines of its log:\n${tail}`);
  }
  return server;
}

/** Retries a whole start when another process took the port between freePort() and bind(). */
export async function withFreshPortOnClash<T>(start: () => Promise<T>, attempts = 3): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await start();
    } catch (error) {
      const clash = error instanceof Error && /Address already in use|EADDRINUSE/.test(error.message);
      if (!clash || attempt >= attempts) throw error;
    }
  }
}

export async function stopAllServers(): Promise<void> {
  await Promise.all([...running].map((server) => server.stop()));
}

async function terminate(child: ChildProcess, exited: Promise<void>): Promise<void> {
  const pid = child.pid;
  if (pid === undefined) return;
  if (child.exitCode === null && child.signalCode === null) {
    // Keep a script alive until its server has really gone.
    child.ref();
    signalGuard(pid, 'SIGTERM');
    const escalate = setTimeout(() => signalGroup(pid, 'SIGKILL'), STOP_GRACE_MS);
    await exited;
    clearTimeout(escalate);
  }
  // Whatever the server left behind in its group (it should be nothing) goes too.
  signalGroup(pid, 'SIGKILL');
}

function signalGuard(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch {
    // already gone
  }
}

function signalGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // the group is empty
  }
}

function describeExit(child: ChildProcess): string {
  return child.signalCode ? `signal ${child.signalCode}` : `exit code ${child.exitCode}`;
}

function installExitHooks(): void {
  if (exitHooksInstalled) return;
  exitHooksInstalled = true;
  // 'exit' allows only synchronous work: kill the whole groups and remove the directories.
  process.once('exit', () => {
    for (const server of running) {
      if (server.child.pid !== undefined) signalGroup(server.child.pid, 'SIGKILL');
      rmSync(server.dir, { recursive: true, force: true });
    }
    running.clear();
  });
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    const onSignal = (): void => {
      void stopAllServers().finally(() => {
        process.off(signal, onSignal);
        // Nobody else handles the signal: die of it as if we had never caught it.
        if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
      });
    };
    process.on(signal, onSignal);
  }
}

export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** True when something accepts TCP connections on host:port (or a unix socket path). */
export function canConnect(target: { port: number } | { path: string }, timeoutMs = 1_000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = 'path' in target ? net.connect(target.path) : net.connect(target.port, HOST);
    const done = (ok: boolean): void => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

/** Sends one request line-protocol style and returns everything the peer wrote until it closed. */
export function converse(
  target: { port: number } | { path: string },
  request: string,
  until: (reply: string) => boolean = () => false,
  timeoutMs = 2_000,
): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = 'path' in target ? net.connect(target.path) : net.connect(target.port, HOST);
    let reply = '';
    socket.setEncoding('utf8');
    socket.setTimeout(timeoutMs, () => {
      socket.destroy();
      reject(new Error(`no complete answer within ${timeoutMs} ms (got ${JSON.stringify(reply)})`));
    });
    socket.once('connect', () => socket.write(request));
    socket.on('data', (chunk: string) => {
      reply += chunk;
      if (until(reply)) {
        socket.destroy();
        resolve(reply);
      }
    });
    socket.once('end', () => {
      socket.destroy();
      resolve(reply);
    });
    socket.once('error', reject);
  });
}
