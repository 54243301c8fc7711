// router: haproxy — changes the weights of the blue and green servers through HAProxy's runtime API
// (`set server <backend>/<server> weight N`), without a reload, and reads them back with
// `show servers state`. One server per colour: haproxy-blue-server and haproxy-green-server.
//
// Runtime changes live in HAProxy's memory. To keep them across a restart or reload, haproxy.cfg needs
//     global
//       server-state-file /var/lib/haproxy/server-state
//     defaults            (or each backend)
//       load-server-state-from-file global
// and switchyard is given the same path (RouterOptions.haproxy.stateFile): after every change it saves
// `show servers state` there, and HAProxy restores each server's weight from it on start (as long as
// the server's weight in haproxy.cfg is still the one the file recorded).
import { randomBytes } from 'node:crypto';
import { open, rename, rm } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { UserError } from '../errors.js';
import {
  checkWeights,
  otherColor,
  type Color,
  type Router,
  type RouterOptions,
  type Verification,
  type Weights,
} from './router.js';
import { verifyThroughUrl } from './verify.js';

const ANSWER_TIMEOUT_MS = 10_000;

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
   * puts the first back. "Took effect" means `show servers state` reads back the new weights: HAProxy
   * applies a runtime weight to the very next balancing decision, no reload involved. With a state
   * file, the change counts only once it is saved, so a restart cannot undo it silently.
   */
  async apply(weights: Weights): Promise<void> {
    checkWeights(weights);
    const before = await this.colorServers();
    const was: Weights = { blue: before.blue.weight, green: before.green.weight };
    await this.setBoth(weights, was);

    const after = await this.colorServers();
    const mismatch = (['blue', 'green'] as const).filter((color) => after[color].weight !== weights[color]);
    if (mismatch.length > 0) {
      throw new UserError(
        `HAProxy accepted the new weights but reads back ${describeServers(after)}; ` +
          'is another process changing them at the same time?',
        'HAProxy weights not applied',
      );
    }
    const { stateFile } = this.options.haproxy;
    if (stateFile) {
      try {
        await this.saveState(stateFile);
      } catch (error) {
        await this.setBoth(was, weights).catch(() => undefined);
        throw new UserError(
          `could not save the weights to the HAProxy state file ${stateFile}: ${(error as Error).message}. ` +
            `The weights were put back to blue ${was.blue} / green ${was.green}, since a restart would lose them.`,
          'HAProxy state not saved',
          stateFile,
        );
      }
    } else {
      this.options.log(
        'haproxy: the new weights live in HAProxy\'s memory only: a restart goes back to haproxy.cfg (see "server-state-file")',
      );
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
      await this.setWeight(first, current[first]).catch(() => undefined);
      throw error;
    }
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
    const temp = path.join(
      path.dirname(file),
      `.${path.basename(file)}.switchyard-${randomBytes(4).toString('hex')}.tmp`,
    );
    try {
      const handle = await open(temp, 'wx', 0o644);
      try {
        await handle.writeFile(state);
        await handle.sync();
      } finally {
        await handle.close();
      }
      await rename(temp, file);
    } catch (error) {
      await rm(temp, { force: true });
      throw error;
    }
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
          new UserError(
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
