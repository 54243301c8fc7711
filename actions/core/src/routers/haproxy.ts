// router: haproxy — changes the weights of the blue and green servers through HAProxy's runtime API
// (`set server <backend>/<server> weight N`), without a reload, and reads them back with
// `show servers state`. One server per colour: haproxy-blue-server and haproxy-green-server.
//
// When is a change in force? HAProxy applies `set server … weight` inside the command itself: the
// server's effective weight and its place in the backend's balancing tree change under the
// backend's lock before the answer is written, and that tree is shared by every thread (nbthread),
// so the next balancing decision on any thread uses it. apply() still waits until `show stat` —
// the effective weight balancing uses, not only the weight asked for — agrees with the change.
// Measured through HAProxy 2.6 with 1, 2 and 8 threads under load (test/integration/router-haproxy
// .test.ts): no request sent after apply() returned reached a server set to weight 0. The requests
// once seen reaching it were sent before a change and answered after it, counted in the wrong window.
//
// Runtime changes live in HAProxy's memory. To keep them across a restart or reload, haproxy.cfg needs
//     global
//       server-state-file /var/lib/haproxy/server-state
//     defaults            (or each backend)
//       load-server-state-from-file global
// and switchyard is given the same path (RouterOptions.haproxy.stateFile): after every change it saves
// `show servers state` there, and HAProxy restores each server's weight from it on start (as long as
// the server's weight in haproxy.cfg is still the one the file recorded).
import { text, type InputTable } from '../inputs.js';
import net from 'node:net';
import { writeFileAtomic } from '../atomic-write.js';
import { InputError, UserError } from '../errors.js';
import {
  checkWeights,
  otherColor,
  required,
  type ApplyOptions,
  type Color,
  type Router,
  type RouterKind,
  type RouterOptions,
  type Verification,
  type Weights,
} from './router.js';
import { verifyThroughUrl } from './verify.js';

const ANSWER_TIMEOUT_MS = 10_000;
/** How long `show stat` may take to agree with a change before apply() calls it not applied. */
const CONFIRM_TIMEOUT_MS = 2_000;
const CONFIRM_POLL_MS = 20;
/**
 * How long putting the first weight back is retried when the runtime API went away between the two
 * commands of a change: a reload of HAProxy replaces the socket within moments.
 */
const UNDO_RETRY_MS = 5_000;
const UNDO_POLL_MS = 100;

/** Where the runtime API listens: a unix socket path, or host:port. */
export type RuntimeApiAddress = { path: string } | { host: string; port: number };

export function parseRuntimeApiAddress(socket: string): RuntimeApiAddress {
  const tcp = /^(?:\[([0-9a-fA-F:.]+)\]|([^/:[\]]+)):(\d{1,5})$/.exec(socket);
  if (tcp) return { host: (tcp[1] ?? tcp[2]) as string, port: Number(tcp[3]) };
  // HAProxy's own notation for a unix socket in `stats socket` lines.
  return { path: socket.startsWith('unix@') ? socket.slice('unix@'.length) : socket };
}

/** One line of `show servers state`, in the words of its columns. */
export interface ServerState {
  backend: string;
  server: string;
  address: string;
  port?: number;
  /** srv_op_state: 0 stopped (down), 1 starting, 2 running, 3 stopping. */
  operational: number;
  /** srv_admin_state: bits for maintenance and drain; 0 means none. */
  admin: number;
  /** srv_uweight: the weight in force, as set by the configuration or `set server … weight`. */
  weight: number;
  /** srv_iweight: the weight in haproxy.cfg. */
  initialWeight: number;
}

const OPERATIONAL = ['DOWN', 'starting', 'running', 'stopping'];

/**
 * Parses `show servers state [backend]`: a format version line, a `# be_id be_name …` header naming
 * the columns, then one line per server. Columns are found by name, since versions add some.
 */
export function parseServersState(text: string): ServerState[] {
  const lines = text.split('\n').map((line) => line.trim());
  const header = lines.find((line) => line.startsWith('# '));
  if (!header) throw new Error(`not a "show servers state" answer: ${JSON.stringify(text.slice(0, 200))}`);
  const columns = header.slice(2).split(/\s+/);
  const at = (name: string): number => {
    const index = columns.indexOf(name);
    if (index < 0)
      throw new Error(`"show servers state" has no ${name} column (columns: ${columns.join(' ')})`);
    return index;
  };
  const index = {
    backend: at('be_name'),
    server: at('srv_name'),
    address: at('srv_addr'),
    operational: at('srv_op_state'),
    admin: at('srv_admin_state'),
    weight: at('srv_uweight'),
    initialWeight: at('srv_iweight'),
    port: columns.indexOf('srv_port'),
  };
  const servers: ServerState[] = [];
  for (const line of lines) {
    // The first line is the format version; '#' starts the header.
    if (line === '' || line.startsWith('#') || /^\d+$/.test(line)) continue;
    const fields = line.split(/\s+/);
    const field = (i: number): string => fields[i] ?? '';
    const port = index.port >= 0 ? Number(field(index.port)) : NaN;
    servers.push({
      backend: field(index.backend),
      server: field(index.server),
      address: field(index.address),
      ...(Number.isInteger(port) && port > 0 ? { port } : {}),
      operational: Number(field(index.operational)),
      admin: Number(field(index.admin)),
      weight: Number(field(index.weight)),
      initialWeight: Number(field(index.initialWeight)),
    });
  }
  return servers;
}

/** A server's row in `show stat`: what balancing uses right now. */
export interface ServerStat {
  backend: string;
  server: string;
  /** The effective weight (after slowstart, drain and agent changes), not the one asked for. */
  weight: number;
  /** "UP", "DOWN", "DRAIN", "MAINT", "no check", … */
  status: string;
}

/** Parses `show stat` (CSV with a `# pxname,svname,…` header), server rows only. */
export function parseStat(text: string): ServerStat[] {
  const lines = text.split('\n').map((line) => line.trim());
  const header = lines[0]?.startsWith('# ') ? lines[0].slice(2).split(',') : undefined;
  if (!header) throw new Error(`not a "show stat" answer: ${JSON.stringify(text.slice(0, 200))}`);
  const at = (name: string): number => {
    const index = header.indexOf(name);
    if (index < 0) throw new Error(`"show stat" has no ${name} column`);
    return index;
  };
  const index = { backend: at('pxname'), server: at('svname'), weight: at('weight'), status: at('status') };
  return lines
    .slice(1)
    .filter((line) => line !== '')
    .map((line) => line.split(','))
    .filter((fields) => !['FRONTEND', 'BACKEND'].includes(fields[index.server] ?? ''))
    .map((fields) => ({
      backend: fields[index.backend] ?? '',
      server: fields[index.server] ?? '',
      weight: Number(fields[index.weight]),
      status: fields[index.status] ?? '',
    }));
}

// Names end up in runtime API command lines, where a space or `;` would start another word or command.
const HAPROXY_NAME = /^[A-Za-z0-9_.:-]+$/;

/** The inputs only router: haproxy reads. */
export const haproxyInputs = {
  'haproxy-socket': text('HAProxy: the runtime API, a unix socket path or host:port.', {
    example: '/run/haproxy/admin.sock',
  }),
  'haproxy-backend': text('HAProxy: the backend holding the blue and green servers.', { example: 'app' }),
  'haproxy-blue-server': text('HAProxy: the blue server name in that backend.', { default: 'blue' }),
  'haproxy-green-server': text('HAProxy: the green server name in that backend.', { default: 'green' }),
  'haproxy-state-file': text(
    'HAProxy: the server-state-file your haproxy.cfg declares; switchyard saves the weights there so they survive a restart.',
    {
      example: '/var/lib/haproxy/server-state',
    },
  ),
} satisfies InputTable;

export const haproxyRouterKind: RouterKind<'haproxy', typeof haproxyInputs> = {
  kind: 'haproxy',
  inputs: haproxyInputs,
  check({ haproxy }) {
    const problems = required('haproxy', 'haproxy-socket', haproxy.socket);
    for (const [input, value] of [
      ['haproxy-backend', haproxy.backend],
      ['haproxy-blue-server', haproxy.blueServer],
      ['haproxy-green-server', haproxy.greenServer],
    ] as const) {
      problems.push(...required('haproxy', input, value));
      if (value && !HAPROXY_NAME.test(value)) {
        problems.push(new InputError(input, `"${value}" is not an HAProxy name (letters, digits, _ . : -)`));
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
    return problems;
  },
  create: (options) =>
    new HaproxyRouter({
      ...options,
      haproxy: {
        ...options.haproxy,
        socket: options.haproxy.socket as string,
        backend: options.haproxy.backend as string,
        blueServer: options.haproxy.blueServer as string,
        greenServer: options.haproxy.greenServer as string,
      },
    }),
};

/** The runtime API could not be reached (as opposed to answering with a refusal). */
class UnreachableError extends UserError {}

type Options = RouterOptions & {
  haproxy: { socket: string; backend: string; blueServer: string; greenServer: string };
};

export class HaproxyRouter implements Router {
  readonly kind = 'haproxy';
  private readonly address: RuntimeApiAddress;

  constructor(private readonly options: Options) {
    this.address = parseRuntimeApiAddress(options.haproxy.socket);
  }

  async read(): Promise<Weights | undefined> {
    const servers = await this.colorServers();
    const total = servers.blue.weight + servers.green.weight;
    if (total === 0) {
      throw new UserError(
        `HAProxy backend ${this.options.haproxy.backend} has both ${servers.blue.server} (blue) and ` +
          `${servers.green.server} (green) at weight 0, so it sends traffic to neither`,
        'HAProxy serves no colour',
      );
    }
    const blue = Math.round((100 * servers.blue.weight) / total);
    return { blue, green: 100 - blue };
  }

  /**
   * Sets both weights, the one that grows first: lowering first could, for a moment, leave both at
   * 0 (a rollback from green 100 to blue 100) and HAProxy would answer 503. A failure on the second
   * puts the first back. "Took effect" means `show servers state` reads back the new weights and
   * `show stat` shows balancing use them (see the top of this file). With a state file, the change
   * counts only once it is saved, so a restart cannot undo it silently.
   */
  async apply(weights: Weights, _options: ApplyOptions = {}): Promise<void> {
    checkWeights(weights);
    const before = await this.colorServers();
    const was: Weights = { blue: before.blue.weight, green: before.green.weight };
    await this.setBoth(weights, was);

    const { stateFile } = this.options.haproxy;
    try {
      await this.confirm(weights);
      if (stateFile) {
        await this.saveState(stateFile).catch((error: unknown) => {
          throw new UserError(
            `could not save the weights to the HAProxy state file ${stateFile}: ${(error as Error).message}. ` +
              'A restart would lose them',
            'HAProxy state not saved',
            stateFile,
          );
        });
      }
    } catch (error) {
      const problem = error instanceof UserError ? error : new UserError(String(error), 'HAProxy');
      throw new UserError(
        `${problem.message}. ${await this.undo(was, weights)}`,
        problem.title,
        problem.file,
      );
    }
    if (!stateFile) {
      this.options.log(
        'haproxy: the new weights live in HAProxy\'s memory only: a restart goes back to haproxy.cfg (see "server-state-file")',
      );
    }
  }

  /** Puts back the weights from before a change that was set but not confirmed or not saved. */
  private async undo(was: Weights, set: Weights): Promise<string> {
    const { clock, log } = this.options;
    const deadline = clock.now() + UNDO_RETRY_MS;
    for (;;) {
      try {
        await this.setBoth(was, set);
        return `The weights were put back to blue ${was.blue} / green ${was.green}.`;
      } catch (error) {
        if (!(error instanceof UnreachableError) || clock.now() >= deadline) {
          return (
            `Putting blue ${was.blue} / green ${was.green} back failed too (${(error as Error).message}): HAProxy may ` +
            `serve blue ${set.blue} / green ${set.green} until its weights are set by hand or it restarts.`
          );
        }
        log(
          `haproxy: the runtime API went away before the change was confirmed; retrying to put blue ${was.blue} / green ${was.green} back`,
        );
        await clock.sleep(UNDO_POLL_MS);
      }
    }
  }

  async verify(weights: Weights): Promise<Verification> {
    const servers = await this.colorServers();
    const problems: string[] = [];
    for (const color of ['blue', 'green'] as const) {
      const server = servers[color];
      if (server.weight !== weights[color])
        problems.push(`${color} is at weight ${server.weight}, not ${weights[color]}`);
      if (weights[color] > 0 && (server.operational !== 2 || server.admin !== 0)) {
        problems.push(
          `${color} (${server.server}) gets no traffic: it is ${OPERATIONAL[server.operational] ?? `in state ${server.operational}`}` +
            (server.admin !== 0 ? ` and in maintenance or drain (admin state ${server.admin})` : ''),
        );
      }
    }
    const detail = `show servers state ${this.options.haproxy.backend}: ${describeServers(servers)}`;
    const own: Verification = {
      ok: problems.length === 0,
      detail: problems.length === 0 ? detail : `${detail}; ${problems.join('; ')}`,
    };
    if (!this.options.verifyUrl) return own;
    const sampled = await verifyThroughUrl(this.options.verifyUrl, weights);
    return {
      ok: own.ok && sampled.ok,
      detail: `${own.detail}; ${sampled.detail}`,
      ...(sampled.measuredGreen === undefined ? {} : { measuredGreen: sampled.measuredGreen }),
    };
  }

  private async setBoth(target: Weights, current: Weights): Promise<void> {
    const first: Color = target.blue > current.blue ? 'blue' : 'green';
    const second = otherColor(first);
    await this.setWeight(first, target[first]);
    try {
      await this.setWeight(second, target[second]);
    } catch (error) {
      throw new UserError(
        `${(error as Error).message}; ${await this.putBack(first, current, target)}`,
        (error as UserError).title ?? 'HAProxy weights not applied',
      );
    }
  }

  /**
   * Undoes the first command of a change whose second failed. When the runtime API went away in
   * between (HAProxy reloading replaces its socket), retries for UNDO_RETRY_MS: until then HAProxy
   * serves a share nobody asked for. Says what HAProxy serves afterwards.
   */
  private async putBack(color: Color, current: Weights, target: Weights): Promise<string> {
    const { clock, log } = this.options;
    const deadline = clock.now() + UNDO_RETRY_MS;
    for (;;) {
      try {
        await this.setWeight(color, current[color]);
        return `${color} was put back to weight ${current[color]}, so HAProxy serves blue ${current.blue} / green ${current.green} as before`;
      } catch (error) {
        if (!(error instanceof UnreachableError) || clock.now() >= deadline) {
          const half = { ...current, [color]: target[color] };
          return (
            `putting ${color} back to weight ${current[color]} failed too (${error instanceof Error ? error.message : String(error)}): ` +
            `HAProxy serves blue ${half.blue} / green ${half.green} (weights, not percentages) until its weights are set by hand or it restarts`
          );
        }
        log(
          `haproxy: the runtime API went away in the middle of a change; retrying to put ${color} back to ${current[color]}`,
        );
        await clock.sleep(UNDO_POLL_MS);
      }
    }
  }

  /**
   * Returns once `show servers state` reads back the new weights and `show stat` shows balancing
   * use them: a server meant to get nothing at effective weight 0, every other one above 0.
   */
  private async confirm(weights: Weights): Promise<void> {
    const { clock } = this.options;
    const deadline = clock.now() + CONFIRM_TIMEOUT_MS;
    for (;;) {
      const after = await this.colorServers();
      const asked = (['blue', 'green'] as const).every((color) => after[color].weight === weights[color]);
      if (!asked) {
        throw new UserError(
          `HAProxy accepted the new weights but reads back ${describeServers(after)}; ` +
            'is another process changing them at the same time?',
          'HAProxy weights not applied',
        );
      }
      const stats = await this.colorStats();
      const balancing = (['blue', 'green'] as const).every(
        (color) => (stats[color].weight === 0) === (weights[color] === 0),
      );
      if (balancing) return;
      if (clock.now() >= deadline) {
        throw new UserError(
          `HAProxy reads back the new weights, but after ${CONFIRM_TIMEOUT_MS / 1000} s its balancing still uses ` +
            (['blue', 'green'] as const)
              .map((color) => `${color} ${stats[color].weight} (${stats[color].status})`)
              .join(', ') +
            ' (show stat)',
          'HAProxy weights not applied',
        );
      }
      await clock.sleep(CONFIRM_POLL_MS);
    }
  }

  private async colorStats(): Promise<Record<Color, ServerStat>> {
    const { backend } = this.options.haproxy;
    // Type 4: servers only; -1: all of them.
    const rows = parseStat(await this.ask(`show stat ${backend} 4 -1`)).filter(
      (row) => row.backend === backend,
    );
    const find = (color: Color): ServerStat => {
      const found = rows.find((row) => row.server === this.serverName(color));
      if (!found)
        throw new UserError(
          `HAProxy's show stat lists no server "${this.serverName(color)}" in ${backend}`,
          'HAProxy server not found',
        );
      return found;
    };
    return { blue: find('blue'), green: find('green') };
  }

  private async setWeight(color: Color, weight: number): Promise<void> {
    const { backend } = this.options.haproxy;
    const server = this.serverName(color);
    const command = `set server ${backend}/${server} weight ${weight}`;
    this.options.log(`haproxy: ${command}`);
    const answer = (await this.ask(command)).trim();
    // Success is silent; anything said is a refusal ("No such server.", "Permission denied", …).
    if (answer !== '') {
      throw new UserError(
        `HAProxy refused "${command}": ${answer}${hint(answer)}`,
        'HAProxy refused the new weights',
      );
    }
  }

  private async colorServers(): Promise<Record<Color, ServerState>> {
    const { backend } = this.options.haproxy;
    const answer = await this.ask(`show servers state ${backend}`);
    if (!answer.includes('# be_id')) {
      throw new UserError(
        `HAProxy answered "show servers state ${backend}" with "${answer.trim()}": check haproxy-backend ` +
          '(the name of the backend section in haproxy.cfg)',
        'HAProxy backend not found',
      );
    }
    const servers = parseServersState(answer).filter((s) => s.backend === backend);
    const find = (color: Color): ServerState => {
      const name = this.serverName(color);
      const found = servers.find((s) => s.server === name);
      if (!found) {
        throw new UserError(
          `HAProxy backend ${backend} has no server "${name}" (haproxy-${color}-server); its servers are: ` +
            `${servers.map((s) => s.server).join(', ') || 'none'}`,
          'HAProxy server not found',
        );
      }
      return found;
    };
    return { blue: find('blue'), green: find('green') };
  }

  private serverName(color: Color): string {
    return color === 'blue' ? this.options.haproxy.blueServer : this.options.haproxy.greenServer;
  }

  /** The whole `show servers state` (every backend: the file is global), written atomically. */
  private async saveState(file: string): Promise<void> {
    const state = await this.ask('show servers state');
    parseServersState(state);
    await writeFileAtomic(file, state);
    this.options.log(`haproxy: saved the server state to ${file}`);
  }

  /** One command per connection: HAProxy answers and closes (the non-interactive mode of the API). */
  private ask(command: string): Promise<string> {
    const where = 'path' in this.address ? this.address.path : `${this.address.host}:${this.address.port}`;
    return new Promise((resolve, reject) => {
      const socket =
        'path' in this.address
          ? net.connect(this.address.path)
          : net.connect(this.address.port, this.address.host);
      let answer = '';
      socket.setEncoding('utf8');
      socket.setTimeout(ANSWER_TIMEOUT_MS, () =>
        socket.destroy(new Error(`no answer within ${ANSWER_TIMEOUT_MS / 1000} s`)),
      );
      socket.once('connect', () => socket.write(`${command}\n`));
      socket.on('data', (chunk: string) => (answer += chunk));
      socket.once('end', () => resolve(answer));
      socket.once('error', (error: NodeJS.ErrnoException) => {
        reject(
          new UnreachableError(
            `cannot reach the HAProxy runtime API at ${where} (haproxy-socket): ${error.code ?? error.message}. ` +
              'It is the `stats socket <path> level admin` line of haproxy.cfg (or an `ipv4@host:port` one).',
            'HAProxy runtime API unreachable',
          ),
        );
      });
    });
  }
}

function describeServers(servers: Record<Color, ServerState>): string {
  return (['blue', 'green'] as const)
    .map((color) => `${color} (${servers[color].server}) weight ${servers[color].weight}`)
    .join(', ');
}

function hint(answer: string): string {
  if (/permission denied/i.test(answer)) return ' (the stats socket needs "level admin" to change weights)';
  if (/only accepts weights/i.test(answer))
    return ' (the backend balances with a static algorithm; use "balance roundrobin" or another dynamic one)';
  return '';
}
