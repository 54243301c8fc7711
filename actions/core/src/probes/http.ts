import { boolean, type InputTable } from '../inputs.js';
import http from 'node:http';
import https from 'node:https';
import { Secrets, redactUrl } from '../mask.js';
import { prepareBodyMatcher, type BodyTest } from './body-matcher.js';
import {
  runAttempt,
  type Outcome,
  type Probe,
  type ProbeKind,
  type ProbeOptions,
  type ProbeResult,
  type StatusRange,
} from './probe.js';

const MAX_REDIRECTS = 5;
/** Enough for any health page; a larger body is matched on its beginning only. */
const MAX_BODY_BYTES = 1024 * 1024;
const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);
const DEFAULT_STATUS: StatusRange[] = [{ min: 200, max: 399 }];
const CREDENTIAL_HEADER = /auth|token|key|secret|cookie|pass|signature|session|credential/i;

/**
 * Whether a header carries a credential (Authorization, Cookie, X-Api-Key, X-Auth-Token…): its
 * value is masked in logs and it is never sent to an origin other than the one it was written
 * for. One rule for both, so a header the docs call a credential cannot leak by either path.
 */
export function isCredentialHeader(name: string): boolean {
  return CREDENTIAL_HEADER.test(name);
}

interface Reply {
  status: number;
  location?: string;
  body: string;
  /** The body was longer than MAX_BODY_BYTES and only its beginning was read. */
  cut: boolean;
}

/** The inputs only this probe reads. */
export const httpInputs = {
  'follow-redirects': boolean('HTTP: follow up to 5 redirects instead of judging the 3xx response.', {
    default: 'true',
  }),
  insecure: boolean('HTTPS: accept certificates that do not verify (self-signed).', { default: 'false' }),
} satisfies InputTable;

export const httpProbeKind: ProbeKind<typeof httpInputs> = {
  inputs: httpInputs,
  schemes: ['http:', 'https:'],
  written: 'http(s)://',
  create: (target, options) => new HttpProbe(target, options),
};

/** GET a URL and judge its status and body; redirects are followed when asked to. */
export class HttpProbe implements Probe {
  readonly kind = 'http';
  readonly target: string;
  private readonly secrets = new Secrets();
  // One keep-alive agent per scheme and probe: repeated checks reuse their connection.
  private readonly agents: { 'http:': http.Agent; 'https:': https.Agent };

  constructor(
    private readonly url: URL,
    private readonly options: ProbeOptions,
  ) {
    this.target = redactUrl(url.href);
    this.secrets.addFromUrl(url.href);
    this.agents = {
      'http:': new http.Agent({ keepAlive: true }),
      'https:': new https.Agent({ keepAlive: true, rejectUnauthorized: !options.insecure }),
    };
  }

  check(signal?: AbortSignal): Promise<ProbeResult> {
    return runAttempt(
      { timeoutMs: this.options.timeoutMs, signal, redact: (text) => this.secrets.redact(text) },
      async ({ signal: stop, elapsed }) => {
        let url = this.url;
        let headers = requestHeaders(this.options.headers);
        for (let redirects = 0; ; redirects++) {
          const response = await this.get(url, headers, stop);
          if (
            this.options.followRedirects &&
            REDIRECT_STATUSES.has(response.status) &&
            response.location !== undefined
          ) {
            const next = new URL(response.location, url);
            if (redirects === MAX_REDIRECTS) {
              return {
                ok: false,
                detail: `more than ${MAX_REDIRECTS} redirects (the last to ${redactUrl(next.href)})`,
              };
            }
            if (next.protocol !== 'http:' && next.protocol !== 'https:') {
              return {
                ok: false,
                detail: `HTTP ${response.status} redirects to ${redactUrl(next.href)}, which is not http(s)`,
              };
            }
            if (next.origin !== url.origin) headers = withoutOriginHeaders(headers);
            url = next;
            continue;
          }
          const latencyMs = elapsed();
          const facts: Outcome['facts'] = { status: response.status };
          if (redirects > 0) {
            facts.url = redactUrl(url.href);
            facts.redirects = redirects;
          }
          const bodyTest = this.options.expectBody && (await prepareBodyMatcher(this.options.expectBody));
          return { ...this.judge(response, latencyMs, bodyTest), latencyMs, facts };
        }
      },
    );
  }

  async close(): Promise<void> {
    this.agents['http:'].destroy();
    this.agents['https:'].destroy();
  }

  private judge(response: Reply, latencyMs: number, bodyTest?: BodyTest): { ok: boolean; detail: string } {
    const ranges = this.options.expectStatus.length > 0 ? this.options.expectStatus : DEFAULT_STATUS;
    if (!ranges.some((r) => response.status >= r.min && response.status <= r.max)) {
      const said = firstLine(response.body);
      return {
        ok: false,
        detail: `HTTP ${response.status} (expected ${ranges.map(formatRange).join(', ')})${said ? `: ${JSON.stringify(said)}` : ''}`,
      };
    }
    const matcher = this.options.expectBody;
    if (matcher && bodyTest && !bodyTest(response.body)) {
      const where = response.cut ? ` in its first ${MAX_BODY_BYTES / 1024 / 1024} MiB` : '';
      const expected =
        matcher.kind === 'substring' ? `contain ${JSON.stringify(matcher.text)}` : `match ${matcher.source}`;
      return { ok: false, detail: `HTTP ${response.status} but the body does not ${expected}${where}` };
    }
    return { ok: true, detail: `HTTP ${response.status} in ${Math.round(latencyMs)} ms` };
  }

  private get(url: URL, headers: Record<string, string>, stop: AbortSignal, fresh = false): Promise<Reply> {
    const protocol = url.protocol as 'http:' | 'https:';
    const transport = protocol === 'https:' ? https : http;
    return new Promise((resolve, reject) => {
      const req = transport.request(url, {
        method: 'GET',
        headers,
        agent: this.agents[protocol],
        signal: stop,
      });
      req.on('error', (error: Error & { code?: string }) => {
        // A kept-alive socket the server closed while idle: the request never reached it, so ask again.
        if (req.reusedSocket && !fresh && (error.code === 'ECONNRESET' || error.code === 'EPIPE')) {
          resolve(this.get(url, headers, stop, true));
        } else {
          reject(error);
        }
      });
      req.once('response', (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        const done = (cut: boolean) => {
          const location = res.headers.location;
          resolve({
            status: res.statusCode ?? 0,
            location,
            // The last chunk may run past the limit: what is matched stays within it.
            body: Buffer.concat(chunks).subarray(0, MAX_BODY_BYTES).toString('utf8'),
            cut,
          });
        };
        res.on('data', (chunk: Buffer) => {
          chunks.push(chunk);
          size += chunk.length;
          if (size >= MAX_BODY_BYTES) {
            // The rest is not needed: give up this connection rather than download it.
            res.destroy();
            done(true);
          }
        });
        res.once('end', () => done(false));
        res.on('error', reject);
      });
      req.end();
    });
  }
}

/**
 * An absolute path (and query) on the servers' own address. It is appended to `http://host:port`,
 * so anything that could move the request elsewhere (`@host`, `//host`, a scheme, a backslash,
 * which URL parsers read as `/`) is refused rather than sent to a host nobody named.
 */
export function healthPathProblem(raw: string): string | undefined {
  const fix = 'write an absolute path such as /health or /health?deep=1';
  if (/[\s\p{Cc}]/u.test(raw))
    return `"${JSON.stringify(raw).slice(1, -1)}" contains a space or control character; ${fix}`;
  if (!raw.startsWith('/')) return `"${raw}" must start with /; ${fix}`;
  if (raw.startsWith('//')) return `"${raw}" starts with //, which names another host; ${fix}`;
  if (raw.includes('\\')) return `"${raw}" contains \\, which URL parsers read as /; ${fix}`;
  if (raw.includes('#')) return `"${raw}" has a #fragment, which is never sent to the server; ${fix}`;
  const path = raw.split('?', 1)[0] as string;
  if (path.includes('@')) return `"${raw}" contains @, which reads as a user name before a host; ${fix}`;
  // What the checks above mean to keep out, asked of the parser that will read it.
  if (new URL(`http://127.0.0.1:1${raw}`).host !== '127.0.0.1:1') {
    return `"${raw}" would change the host probed; ${fix}`;
  }
  return undefined;
}

function requestHeaders(given: Record<string, string>): Record<string, string> {
  const names = new Set(Object.keys(given).map((name) => name.toLowerCase()));
  return {
    ...(names.has('user-agent') ? {} : { 'user-agent': 'switchyard-health-check' }),
    ...(names.has('accept') ? {} : { accept: '*/*' }),
    ...given,
  };
}

function withoutOriginHeaders(headers: Record<string, string>): Record<string, string> {
  // Host names the origin it was written for; a redirect elsewhere must name its own.
  return Object.fromEntries(
    Object.entries(headers).filter(([name]) => !isCredentialHeader(name) && name.toLowerCase() !== 'host'),
  );
}

function formatRange(range: StatusRange): string {
  return range.min === range.max ? String(range.min) : `${range.min}-${range.max}`;
}

/** The start of what the server said, to show next to a bad status. */
function firstLine(body: string): string {
  const line = body.trim().split('\n', 1)[0]?.trim() ?? '';
  return line.length > 80 ? `${line.slice(0, 79)}…` : line;
}
