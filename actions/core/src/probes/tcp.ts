import type { InputTable } from '../inputs.js';
import net from 'node:net';
import { InputError } from '../errors.js';
import { Secrets, redactUrl } from '../mask.js';
import {
  hostOf,
  runAttempt,
  type Probe,
  type ProbeKind,
  type ProbeOptions,
  type ProbeResult,
} from './probe.js';

export const tcpInputs = {} satisfies InputTable;

export const tcpProbeKind: ProbeKind<typeof tcpInputs> = {
  inputs: tcpInputs,
  schemes: ['tcp:'],
  written: 'tcp://host:port',
  create: (target, options) => new TcpProbe(target, options),
};

/** Healthy when a TCP connection opens; it is closed at once without a byte sent. */
export class TcpProbe implements Probe {
  readonly kind = 'tcp';
  readonly target: string;
  private readonly secrets = new Secrets();
  private readonly host: string;
  private readonly port: number;

  constructor(
    url: URL,
    private readonly options: ProbeOptions,
  ) {
    this.target = redactUrl(url.href);
    this.secrets.addFromUrl(url.href);
    this.host = hostOf(url);
    this.port = Number(url.port);
    if (!this.host || !url.port) {
      throw new InputError('targets', `${this.target} needs a host and a port, e.g. tcp://db.internal:5432`);
    }
  }

  check(signal?: AbortSignal): Promise<ProbeResult> {
    return runAttempt(
      { timeoutMs: this.options.timeoutMs, signal, redact: (text) => this.secrets.redact(text) },
      ({ signal: stop, elapsed }) =>
        new Promise((resolve, reject) => {
          const socket = net.connect({ host: this.host, port: this.port });
          stop.addEventListener('abort', () => socket.destroy(), { once: true });
          socket.once('connect', () => {
            const latencyMs = elapsed();
            socket.destroy();
            resolve({ ok: true, latencyMs, detail: `connected in ${Math.round(latencyMs)} ms` });
          });
          socket.once('error', reject);
        }),
    );
  }

  async close(): Promise<void> {
    // Nothing is kept open between checks.
  }
}
