// router: nginx — switchyard owns one include file holding `upstream <name> { … }` with the blue and
// green servers, and changes traffic by rewriting it, testing the configuration and reloading nginx.
import { commandLine, text, type InputTable } from '../inputs.js';
import { readFile, readdir, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { writeFileAtomic } from '../atomic-write.js';
import { InputError, messageOf, UserError } from '../errors.js';
import { formatCommand, outcomeOf, outputTail, succeeded } from '../process.js';
import {
  checkWeights,
  required,
  type ApplyOptions,
  type Color,
  type Router,
  type RouterKind,
  type RouterOptions,
  type Verification,
  type Weights,
} from './router.js';
import { sampleColors, tolerance, verifyThroughUrl, type ColorCounts } from './verify.js';

// Addresses and the upstream name end up inside nginx's configuration, where a `;`, a brace or a
// newline would be syntax: only what a host, port, socket path or name can hold passes.
const HOST_PORT = /^(?:\[[0-9a-fA-F:.]+\]|[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?):(\d{1,5})$/;
const UNIX_SOCKET = /^unix:\/[\w./-]+$/;
const NGINX_NAME = /^[A-Za-z0-9_.-]+$/;

/** The inputs only router: nginx reads. */
export const nginxInputs = {
  'nginx-upstream-file': text(
    'nginx: the upstream include file switchyard owns (and your config includes).',
    {
      example: '/etc/nginx/conf.d/switchyard-upstream.conf',
    },
  ),
  'nginx-upstream-name': text('nginx: the name of the upstream block.', { default: 'switchyard' }),
  'nginx-test-command': commandLine('nginx: checks the configuration before a reload.', {
    default: 'nginx -t',
    example: 'sudo nginx -t',
  }),
  'nginx-reload-command': commandLine('nginx: applies the configuration.', {
    default: 'nginx -s reload',
    example: 'sudo systemctl reload nginx',
  }),
} satisfies InputTable;

export const nginxRouterKind: RouterKind<'nginx', typeof nginxInputs> = {
  kind: 'nginx',
  inputs: nginxInputs,
  check(options) {
    const { nginx } = options;
    const problems: InputError[] = [];
    if (!nginx.upstreamFile) {
      problems.push(
        new InputError(
          'nginx-upstream-file',
          'is required with router: nginx; give the path of a file switchyard may own (it writes the ' +
            '`upstream` block there), e.g. /etc/nginx/conf.d/switchyard-upstream.conf, and include it in nginx.conf',
        ),
      );
    }
    problems.push(...required('nginx', 'blue', options.blue), ...required('nginx', 'green', options.green));
    for (const color of ['blue', 'green'] as const) {
      for (const address of options[color]) {
        const port = HOST_PORT.exec(address)?.[1];
        const valid =
          UNIX_SOCKET.test(address) || (port !== undefined && Number(port) >= 1 && Number(port) <= 65535);
        if (!valid) {
          problems.push(
            new InputError(color, `"${address}" is not host:port (port 1–65535), [ipv6]:port or unix:/path`),
          );
        }
      }
    }
    // A server in both colours would take traffic whatever the weights say.
    const shared = options.blue.filter((address) => options.green.includes(address));
    if (shared.length > 0) {
      problems.push(
        new InputError('green', `${shared.join(', ')} is in blue as well; each server belongs to one colour`),
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
    problems.push(
      ...required('nginx', 'nginx-test-command', nginx.testCommand),
      ...required('nginx', 'nginx-reload-command', nginx.reloadCommand),
    );
    return problems;
  },
  create: (options) =>
    new NginxRouter({
      ...options,
      nginx: { ...options.nginx, upstreamFile: options.nginx.upstreamFile as string },
    }),
};

/** The line that marks a file as switchyard's and records the weights it was written for. */
export const WEIGHTS_LINE = '# switchyard-weights:';

/** nginx -t and a reload normally take well under a second; an ssh hop or sudo prompt must not hang a deploy. */
export const NGINX_COMMAND_TIMEOUT_MS = 30_000;
/** How long a reload may take to show in the traffic before apply() leaves the judgement to verify(). */
const SETTLE_TIMEOUT_MS = 15_000;
/** A master forks its new workers within milliseconds of the signal; none in this long means not here. */
const LOCAL_RELOAD_WAIT_MS = 3_000;
const WORKER_POLL_MS = 20;
const SETTLE_SAMPLES = 40;
const SETTLE_RETRY_MS = 50;
/** Five times nginx's 100 ms in which both worker generations accept. */
const SETTLE_STABLE_MS = 500;

/** What each server gets in the rendered file: an nginx weight (≥ 1), or no traffic at all. */
export type ServerWeight = number | 'down';

/**
 * Per-server weights for a colour split. nginx weights start at 1, so a colour at 0 is marked `down`
 * on all its servers: `backup` would not do, because nginx sends traffic to backup servers whenever
 * every primary one fails — the idle colour, perhaps half-staged, would then take the traffic that
 * was meant to fail. With several servers per colour each blue server gets blue × (green servers) and
 * each green one green × (blue servers): the colour totals are then blue × nb × ng : green × ng × nb,
 * exactly the asked-for ratio. Dividing by the common factor keeps nginx's round (and the file) short.
 */
export function serverWeights(
  weights: Weights,
  blueServers: number,
  greenServers: number,
): { blue: ServerWeight; green: ServerWeight } {
  if (weights.blue === 0) return { blue: 'down', green: 1 };
  if (weights.green === 0) return { blue: 1, green: 'down' };
  const blue = weights.blue * greenServers;
  const green = weights.green * blueServers;
  const common = gcd(blue, green);
  return { blue: blue / common, green: green / common };
}

/** The whole include file, the same bytes for the same inputs. */
export function renderUpstream(name: string, servers: Record<Color, string[]>, weights: Weights): string {
  const perServer = serverWeights(weights, servers.blue.length, servers.green.length);
  const lines = [
    '# Written by switchyard, which rewrites this file whole on every traffic change: edits here are lost.',
    `${WEIGHTS_LINE} ${JSON.stringify({ blue: weights.blue, green: weights.green })}`,
    `upstream ${name} {`,
  ];
  for (const color of ['blue', 'green'] as const) {
    const weight = perServer[color];
    for (const address of servers[color]) {
      lines.push(
        weight === 'down'
          ? `    server ${address} down;  # ${color}: no traffic`
          : `    server ${address} weight=${weight};  # ${color}`,
      );
    }
  }
  lines.push('}', '');
  return lines.join('\n');
}

/**
 * The weights recorded in an upstream file switchyard wrote; undefined for an empty file. A file
 * with content but no weights line is someone else's, and switchyard will not take it over.
 */
export function parseUpstreamWeights(text: string, file: string): Weights | undefined {
  if (text.trim() === '') return undefined;
  const line = text.split('\n').find((l) => l.startsWith(WEIGHTS_LINE));
  if (line === undefined) {
    throw new UserError(
      `${file} was not written by switchyard (it has no "${WEIGHTS_LINE}" line). switchyard rewrites ` +
        `nginx-upstream-file whole, so it must be a file of its own: point nginx-upstream-file at a new ` +
        `file (for example ${path.join(path.dirname(file), 'switchyard-upstream.conf')}) and include that ` +
        `in your nginx configuration instead of your own upstream block.`,
      'Upstream file not owned by switchyard',
      file,
    );
  }
  let weights: Weights | undefined;
  try {
    const parsed = JSON.parse(line.slice(WEIGHTS_LINE.length)) as Partial<Weights>;
    if (typeof parsed.blue === 'number' && typeof parsed.green === 'number') {
      weights = { blue: parsed.blue, green: parsed.green };
      checkWeights(weights);
    }
  } catch {
    weights = undefined;
  }
  if (!weights) {
    throw new UserError(
      `${file}: the line "${line}" does not hold the weights as {"blue":N,"green":M} adding up to 100; ` +
        `it was edited by hand — delete the file and run the deploy again to rewrite it`,
      'Upstream file damaged',
      file,
    );
  }
  return weights;
}

interface Snapshot {
  text: string;
  mode: number;
  weights: Weights | undefined;
}

export class NginxRouter implements Router {
  readonly kind = 'nginx';
  private readonly file: string;

  constructor(
    private readonly options: RouterOptions & { nginx: { upstreamFile: string } },
    /** Where nginx's workers are seen; tests pass their own. */
    private readonly listWorkers: () => Promise<NginxWorker[]> = localNginxWorkers,
  ) {
    this.file = path.resolve(options.nginx.upstreamFile);
  }

  async read(): Promise<Weights | undefined> {
    return (await this.snapshot())?.weights;
  }

  /**
   * Write → `nginx -t` → reload, putting the previous file back when either command fails, so nginx
   * keeps serving what it served; then wait until the change took effect. A reload is asynchronous:
   * the reload command only signals the master, which starts workers with the new file, lets both
   * generations accept connections for about 100 ms, then tells the old workers to stop accepting
   * and finish the requests they hold. "Took effect" means that last step happened — every new
   * connection now meets the new weights — and is established, in this order of preference:
   *  - on this host: the master whose workers were replaced has no worker left from before the reload
   *    that still accepts (nginx retitles a worker "worker process is shutting down" in the same step
   *    in which it closes its listening sockets; we do not wait for it to finish long requests);
   *  - with verify-url (nginx on another host, reached through ssh): fresh connections through it
   *    answer by the new weights — exactly, for 0 and 100; nearer the new share than the old one in
   *    between — in every sample batch for SETTLE_STABLE_MS, longer than the overlap above;
   *  - otherwise: the reload command exited 0, and that is all switchyard can know.
   * Neither wait fails the change: after SETTLE_TIMEOUT_MS apply() returns and verify() reports.
   */
  async apply(weights: Weights, options: ApplyOptions = {}): Promise<void> {
    checkWeights(weights);
    const { nginx, log } = this.options;
    const previous = await this.snapshot();
    const next = renderUpstream(
      nginx.upstreamName,
      { blue: this.options.blue, green: this.options.green },
      weights,
    );
    const started = this.options.clock.now();
    await this.write(next, previous?.mode);
    log(`nginx: wrote ${this.file} (blue ${weights.blue}, green ${weights.green})`);

    // A cancelled test changes nothing: the file is put back and nginx was never told.
    const test = await this.run(nginx.testCommand, options.signal);
    if (!succeeded(test)) {
      const restored = await this.restore(previous);
      throw new UserError(
        `nginx-test-command \`${formatCommand(nginx.testCommand)}\` rejected the new upstream file ${this.file} ` +
          `(${outcomeOf(test)}):\n${outputTail(test)}\n${restored}; nginx was not reloaded and keeps serving ` +
          `${describe(previous?.weights)}.`,
        'nginx rejected the new weights',
        this.file,
      );
    }

    const workersBefore = await this.listWorkers();
    // Not cancellable: stopped half-way, a reload leaves nobody knowing which file nginx serves.
    const reload = await this.run(nginx.reloadCommand);
    if (!succeeded(reload)) {
      const restored = await this.restore(previous);
      const workersAgain = await this.listWorkers();
      const again = await this.run(nginx.reloadCommand);
      // The failed reload may have gone through all the same (an ssh cut off after it ran): the
      // error is thrown once the old weights are what nginx serves, not while the new ones still are.
      if (succeeded(again) && previous?.weights)
        await this.waitForReload(workersAgain, previous.weights, weights);
      const after = succeeded(again)
        ? `and nginx was reloaded with it, so it serves ${describe(previous?.weights)} as before`
        : `but reloading nginx with it failed as well (${outcomeOf(again)}):\n${outputTail(again)}\n` +
          'Check that nginx is running and that the reload command works before the next deploy';
      throw new UserError(
        `nginx-reload-command \`${formatCommand(nginx.reloadCommand)}\` failed (${outcomeOf(reload)}):\n` +
          `${outputTail(reload)}\n${restored} ${after}.`,
        'nginx reload failed',
        this.file,
      );
    }
    log(`nginx: configuration tested and reloaded in ${Math.round(this.options.clock.now() - started)} ms`);
    await this.waitForReload(workersBefore, weights, previous?.weights);
  }

  /** Until a reload took effect, in the ways apply() describes. */
  private async waitForReload(
    workersBefore: NginxWorker[],
    target: Weights,
    previous: Weights | undefined,
  ): Promise<void> {
    if (await this.oldWorkersStopped(workersBefore)) return;
    if (this.options.verifyUrl) await this.settle(this.options.verifyUrl, target, previous);
    else
      this.options.log(
        'nginx: no nginx reloaded on this host and no verify-url: trusting the reload command',
      );
  }

  /** Through verify-url when set; else what the file says, which is all switchyard can see. */
  async verify(weights: Weights): Promise<Verification> {
    if (this.options.verifyUrl) return verifyThroughUrl(this.options.verifyUrl, weights);
    const current = await this.read();
    const ok = current?.blue === weights.blue && current.green === weights.green;
    return {
      ok,
      detail: `${this.file} sets ${describe(current)} and nginx accepted it (set verify-url to sample the traffic itself)`,
    };
  }

  /**
   * True once the workers that ran before the reload stopped accepting (see apply()); false when no
   * nginx on this host was reloaded, so the change must be seen some other way.
   */
  private async oldWorkersStopped(before: NginxWorker[]): Promise<boolean> {
    if (before.length === 0) return false;
    const { clock, log } = this.options;
    const started = clock.now();
    const old = new Set(before.map((w) => w.pid));
    for (;;) {
      const now = await this.listWorkers();
      const reloaded = new Set(now.filter((w) => !old.has(w.pid)).map((w) => w.master));
      const accepting = now.filter((w) => old.has(w.pid) && reloaded.has(w.master) && !w.shuttingDown);
      const elapsed = Math.round(clock.now() - started);
      if (reloaded.size > 0 && accepting.length === 0) {
        log(
          `nginx: the workers of the previous configuration stopped accepting ${elapsed} ms after the reload`,
        );
        return true;
      }
      if (reloaded.size === 0 && elapsed > LOCAL_RELOAD_WAIT_MS) return false;
      if (elapsed > SETTLE_TIMEOUT_MS) {
        log(
          `nginx: after ${SETTLE_TIMEOUT_MS / 1000} s, worker(s) ${accepting.map((w) => w.pid).join(', ')} of the ` +
            'previous configuration still accept connections',
        );
        return true;
      }
      await clock.sleep(WORKER_POLL_MS);
    }
  }

  private async settle(url: string, target: Weights, previous: Weights | undefined): Promise<void> {
    const { clock, log } = this.options;
    const started = clock.now();
    let agreeingSince: number | undefined;
    for (let batch = 1; ; batch++) {
      const batchStarted = clock.now();
      const last = await sampleColors(url, { samples: SETTLE_SAMPLES });
      agreeingSince = showsNewWeights(last, target, previous) ? (agreeingSince ?? batchStarted) : undefined;
      if (agreeingSince !== undefined && clock.now() - agreeingSince >= SETTLE_STABLE_MS) {
        log(
          `nginx: verify-url shows the new weights ${Math.round(agreeingSince - started)} ms after the reload ` +
            `(${batch} batches of ${SETTLE_SAMPLES} samples)`,
        );
        return;
      }
      if (clock.now() - started > SETTLE_TIMEOUT_MS) {
        log(
          `nginx: verify-url does not show blue ${target.blue} / green ${target.green} after ` +
            `${SETTLE_TIMEOUT_MS / 1000} s (last batch: ${last.green} green, ${last.blue} blue of ${last.samples})`,
        );
        return;
      }
      await clock.sleep(SETTLE_RETRY_MS);
    }
  }

  private async snapshot(): Promise<Snapshot | undefined> {
    let text: string;
    let mode: number;
    try {
      [text, mode] = await Promise.all([
        readFile(this.file, 'utf8'),
        stat(this.file).then((s) => s.mode & 0o7777),
      ]);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw new UserError(
        `cannot read nginx-upstream-file ${this.file}: ${(error as Error).message}`,
        'nginx',
        this.file,
      );
    }
    return { text, mode, weights: parseUpstreamWeights(text, this.file) };
  }

  /**
   * A temporary file beside the target, then rename(): nginx (or anyone reading the file) sees the
   * old content or the new, never half of one. Its name does not end in .conf, so an `include *.conf`
   * never picks it up.
   */
  private async write(text: string, mode = 0o644): Promise<void> {
    try {
      await writeFileAtomic(this.file, text, { mode });
    } catch (error) {
      throw new UserError(
        `cannot write nginx-upstream-file ${this.file}: ${messageOf(error)} (switchyard writes a ` +
          `temporary file in the same directory and renames it over, so it needs write access to ${path.dirname(this.file)})`,
        'nginx',
        this.file,
      );
    }
  }

  /** Puts the file back as it was before apply(); says what it did, for the error message. */
  private async restore(previous: Snapshot | undefined): Promise<string> {
    try {
      if (previous) {
        await this.write(previous.text, previous.mode);
        this.options.log(`nginx: put the previous ${this.file} back`);
        return 'The previous upstream file was put back';
      }
      await rm(this.file, { force: true });
      this.options.log(`nginx: removed ${this.file} again (it did not exist before)`);
      return `${this.file} was removed again (it did not exist before)`;
    } catch (error) {
      return `Putting the previous upstream file back FAILED too (${(error as Error).message}): fix ${this.file} by hand`;
    }
  }

  private run(argv: string[], signal?: AbortSignal) {
    const { log, runner } = this.options;
    log(`$ ${formatCommand(argv)}`);
    return runner.run(argv, {
      timeoutMs: NGINX_COMMAND_TIMEOUT_MS,
      ...(signal ? { signal } : {}),
      onLine: (line) => log(`  ${line}`),
    });
  }
}

/**
 * Whether a batch of samples shows the new configuration rather than the old one. Exact for 0 and
 * 100. In between, within the tolerance of verify() and nearer the new share than the old, so that a
 * small step (0 → 10) is not taken for done while the old workers still answer.
 */
export function showsNewWeights(
  counts: ColorCounts,
  target: Weights,
  previous: Weights | undefined,
): boolean {
  const named = counts.blue + counts.green;
  if (named === 0 || named < counts.samples / 2) return false;
  if (target.green === 0) return counts.green === 0;
  if (target.green === 100) return counts.blue === 0;
  const measured = (100 * counts.green) / named;
  const off = Math.abs(measured - target.green);
  if (off > tolerance(target.green, named)) return false;
  return (
    previous === undefined || previous.green === target.green || off < Math.abs(measured - previous.green)
  );
}

/** An nginx worker process, as `ps` would show it. */
export interface NginxWorker {
  pid: number;
  master: number;
  /** Retitled "nginx: worker process is shutting down": it no longer accepts connections. */
  shuttingDown: boolean;
}

/** The nginx workers running on this host (none where there is no /proc, or no nginx). */
export async function localNginxWorkers(): Promise<NginxWorker[]> {
  let entries: string[];
  try {
    entries = await readdir('/proc');
  } catch {
    return [];
  }
  const workers: NginxWorker[] = [];
  await Promise.all(
    entries
      .filter((entry) => /^\d+$/.test(entry))
      .map(async (entry) => {
        try {
          const title = await readFile(`/proc/${entry}/cmdline`, 'utf8');
          if (!title.startsWith('nginx: worker process')) return;
          const stat = await readFile(`/proc/${entry}/stat`, 'utf8');
          // The command name in parentheses may hold spaces; the parent pid is the 2nd field after it.
          const master = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
          workers.push({ pid: Number(entry), master, shuttingDown: title.includes('shutting down') });
        } catch {
          // it exited while we looked
        }
      }),
  );
  return workers;
}

function describe(weights: Weights | undefined): string {
  return weights ? `blue ${weights.blue} / green ${weights.green}` : 'its previous configuration';
}

function gcd(a: number, b: number): number {
  return b === 0 ? a : gcd(b, a % b);
}
