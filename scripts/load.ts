// Continuous load through a router, from a separate process, measured in windows: the tests mark a
// window after each weight change and read back how many answers each colour gave in it and how many
// requests failed. The requests themselves are sent by scripts/load-worker.js (see there why each
// request opens its own connection by default), so the test process's event loop — busy applying
// weights — never delays or bunches them.
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export interface LoadOptions {
  url: string;
  /** Requests in flight at once (closed loop); default 8. */
  concurrency?: number;
  /** At most this many requests per second in total; default: as fast as answers come. */
  rate?: number;
  /** Per request; default 10 s. */
  timeoutMs?: number;
  /** Reuse connections (and resend once on a kept-alive connection the server closed); default false. */
  keepAlive?: boolean;
}

export interface LoadWindow {
  label: string;
  /** Answered or failed requests that were sent in this window. */
  total: number;
  blue: number;
  green: number;
  /** 2xx answers naming no colour. */
  unnamed: number;
  /** Non-2xx answers and socket errors. */
  failed: number;
  startMs: number;
  endMs?: number;
  /** Latency of the window's requests (send → end of answer), nearest-rank percentiles. */
  p50Ms?: number;
  p99Ms?: number;
}

export interface LoadReport {
  total: number;
  failed: number;
  /** Failures by reason: "HTTP 502", "ECONNRESET", "timeout after 10000 ms". */
  failures: Record<string, number>;
  firstFailures: { atMs: number; window: string; reason: string }[];
  /** keepAlive only: requests resent after the server closed their kept-alive connection. */
  resent: number;
  durationMs: number;
  windows: LoadWindow[];
}

export interface RunningLoad {
  pid: number;
  /** Starts a new window; resolves once the generator counts new requests in it. */
  mark(label: string): Promise<void>;
  /** Resolves with the current window once it holds `count` requests (rejects after `timeoutMs`, default 30 s). */
  until(count: number, timeoutMs?: number): Promise<LoadWindow>;
  stop(): Promise<LoadReport>;
}

const WORKER = fileURLToPath(new URL('./load-worker.js', import.meta.url));

type Reply = { type: 'ready' } | { type: 'done'; id: number; window?: LoadWindow; report?: LoadReport };

export async function startLoad(options: LoadOptions): Promise<RunningLoad> {
  // NODE_OPTIONS of a jest parent (--experimental-vm-modules) means nothing to the worker.
  const { NODE_OPTIONS: _ignored, ...env } = process.env;
  const child: ChildProcess = fork(WORKER, [JSON.stringify(options)], {
    env,
    execArgv: [],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const pending = new Map<number, (reply: Reply & { type: 'done' }) => void>();
  let nextId = 1;
  let exited = false;
  const gone = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  void gone.then(() => {
    exited = true;
    for (const settle of pending.values()) settle({ type: 'done', id: -1 });
    pending.clear();
  });

  await new Promise<void>((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code) =>
      reject(new Error(`the load generator exited (code ${code}) before it started`)),
    );
    child.on('message', (message: Reply) => {
      if (message.type === 'ready') resolve();
      else pending.get(message.id)?.(message);
      if (message.type === 'done') pending.delete(message.id);
    });
  });

  const ask = (message: object): Promise<Reply & { type: 'done' }> => {
    if (exited) return Promise.reject(new Error('the load generator is not running'));
    const id = nextId++;
    return new Promise((resolve, reject) => {
      pending.set(id, (reply) =>
        reply.id === -1 ? reject(new Error('the load generator exited')) : resolve(reply),
      );
      child.send({ ...message, id });
    });
  };

  return {
    pid: child.pid as number,
    async mark(label) {
      await ask({ type: 'mark', label });
    },
    async until(count, timeoutMs = 30_000) {
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`the load window did not reach ${count} requests within ${timeoutMs} ms`)),
          timeoutMs,
        );
      });
      try {
        const reply = await Promise.race([ask({ type: 'until', count }), timeout]);
        return reply.window as LoadWindow;
      } finally {
        clearTimeout(timer);
      }
    },
    async stop() {
      const reply = await ask({ type: 'stop' });
      await gone;
      return reply.report as LoadReport;
    },
  };
}

/** The green share of a window's answers that named a colour, in percent. */
export function greenShare(window: LoadWindow): number {
  const named = window.blue + window.green;
  return named === 0 ? NaN : (100 * window.green) / named;
}

/** One line per window, for a test's log or a benchmark note. */
export function formatWindows(report: LoadReport): string {
  const rows = report.windows.map((w) =>
    [
      w.label.padEnd(12),
      String(w.total).padStart(6),
      String(w.green).padStart(6),
      String(w.blue).padStart(6),
      `${greenShare(w).toFixed(1)}%`.padStart(7),
      String(w.failed).padStart(6),
      `${(w.endMs ?? report.durationMs) - w.startMs} ms`.padStart(9),
    ].join(' '),
  );
  return [
    ['window'.padEnd(12), ' total', ' green', '  blue', '  green%', 'failed', '     time'].join(' '),
    ...rows,
  ].join('\n');
}
