/**
 * Credentials never reach a log line, the job summary, an output or a report. Every piece of
 * text the actions emit goes through `Secrets.redact`, which knows the secrets found in the
 * inputs and also blanks any `scheme://user:password@` it meets in free text (error messages
 * from drivers sometimes echo the URL they were given).
 */
export const REDACTED = '***';

const SECRET_QUERY_PARAM = /pass|pwd|token|secret|key|auth|sig|credential|session|jwt/i;
// A password may hold an unencoded '/': only whitespace and '@' end it. Over-masking a path that
// happens to contain ':' and '@' is the price of never under-masking a password.
const URL_PASSWORD_IN_TEXT = /([a-z][a-z0-9+.-]*:\/\/[^\s:/@]*):([^\s@]+)@/gi;
// In an http(s) URL, userinfo without a password is usually a token (https://ghp_…@github.com);
// in postgres://app@db it is just the user.
const URL_USER_ONLY_IN_TEXT = /(https?:\/\/)([^\s:/@]+)@/gi;
const TOKEN_AS_USER = /^https?:$/;

function decode(text: string): string {
  try {
    return decodeURIComponent(text.replaceAll('+', ' '));
  } catch {
    return text;
  }
}

/** Where a URL starts in text: its scheme and `://`. */
const URL_START = /[a-z][a-z0-9+.-]*:\/\//gi;
// What WHATWG URL parsing ends an authority at ('\' too, in http(s) and the other special schemes).
const AUTHORITY_END = /[/?#\\]/;
// `host:port/` before an '@' (http://localhost:4873/@scope/pkg, https://host:443/@someone) reads as
// user "host" with password "4873/": masking that everywhere would blank every URL of the server.
const PORT_AND_SLASH = /^\d*[/?#\\]$/;
// Free text ends a URL at whitespace; quotes and angle brackets end it too when redacting, so one
// JSON line or markdown cell holding a URL and, further on, an unrelated '@' keeps its shape.
const TEXT_URL_END = /[\s"`<>]/;
const INPUT_URL_END = /\s/;

/**
 * The user info of a URL as written, up to the LAST '@' before the URL ends (`end`): a password
 * may hold an unencoded '@', '/', '?' or '#', which WHATWG parsing cuts at the first '/', '?' or
 * '#' (so the URL does not parse, or parses with part of the password as host, port or path).
 */
interface WrittenUserinfo {
  /** The URL as written, from its scheme to where it ends. */
  url: string;
  scheme: string;
  /** Offsets in the text: the user info starts after `://` and ends at the '@'. */
  start: number;
  at: number;
  user: string;
  /** After the first ':'; undefined when the user info has none. */
  password?: string;
}

function writtenUserinfos(text: string, end: RegExp): WrittenUserinfo[] {
  if (!text.includes('://')) return [];
  const starts = [...text.matchAll(URL_START)];
  const found: WrittenUserinfo[] = [];
  starts.forEach((match, i) => {
    const start = match.index + match[0].length;
    // A URL ends where the next one starts (postgres://a:b@h/x,postgres://c:d@h/y).
    const next = starts[i + 1]?.index ?? text.length;
    const rest = text.slice(start, next);
    const stop = rest.search(end);
    const written = stop >= 0 ? rest.slice(0, stop) : rest;
    const at = written.lastIndexOf('@');
    if (at < 0) return;
    const userinfo = written.slice(0, at);
    const colon = userinfo.indexOf(':');
    const user = colon >= 0 ? userinfo.slice(0, colon) : userinfo;
    // "https://host/a:b@c": what precedes the first ':' holds a path, so this is no user info.
    if (colon >= 0 && AUTHORITY_END.test(user)) return;
    found.push({
      url: match[0] + written,
      scheme: match[0].slice(0, -2).toLowerCase(),
      start,
      at: start + at,
      user,
      password: colon >= 0 ? userinfo.slice(colon + 1) : undefined,
    });
  });
  return found;
}

function parses(url: string): URL | undefined {
  try {
    return new URL(url);
  } catch {
    return undefined;
  }
}

/** The secrets in the user info of the URLs in text, as written (see `writtenUserinfos`). */
function writtenSecrets(text: string): string[] {
  const found: string[] = [];
  for (const info of writtenUserinfos(text, INPUT_URL_END)) {
    const parsed = parses(info.url);
    if (info.password !== undefined) {
      if (!info.password) continue;
      // Parsed as host:port and a path holding '@': a port and a slash are no password to mask.
      const asHost = parsed && !parsed.username && !parsed.password;
      if (asHost && PORT_AND_SLASH.test(info.password)) continue;
      found.push(info.password, decode(info.password));
    } else if (TOKEN_AS_USER.test(info.scheme) && info.user) {
      // https://TOKEN@host; but a path holding '@' (https://host/@scope/pkg, …/repo@v1) is no token.
      if (parsed && AUTHORITY_END.test(info.user)) continue;
      found.push(info.user, decode(info.user));
    }
  }
  return found;
}

/** Raw (still encoded) query values whose names look secret. */
function secretQueryValues(search: string): string[] {
  return search
    .replace(/^\?/, '')
    .split('&')
    .map((pair) => pair.split('='))
    .filter(([name, value]) => name && value && SECRET_QUERY_PARAM.test(decode(name)))
    .map(([, value]) => value as string);
}

/** The URL with its password (and secret-looking query values) replaced by `***`. */
export function redactUrl(url: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return redactText(url);
  }
  // A password holding '/', '?' or '#' parsed as host, port or path: blank it as written, then parse.
  const written = writtenUserinfos(url, TEXT_URL_END)[0];
  if (written?.password && url.trimStart().startsWith(written.url) && AUTHORITY_END.test(written.password)) {
    const blanked = parses(
      `${url.slice(0, written.at - written.password.length)}${REDACTED}${url.slice(written.at)}`,
    );
    if (!blanked) return redactText(url);
    parsed = blanked;
  }
  if (parsed.password) parsed.password = REDACTED;
  else if (parsed.username && TOKEN_AS_USER.test(parsed.protocol)) parsed.username = REDACTED;
  for (const name of [...parsed.searchParams.keys()]) {
    if (SECRET_QUERY_PARAM.test(name)) parsed.searchParams.set(name, REDACTED);
  }
  // URL encodes '*' in userinfo as-is but the query as %2A: keep the marker readable.
  return parsed.toString().replaceAll('%2A%2A%2A', REDACTED);
}

/** The secrets inside a URL: its password and secret-looking query values. */
export function secretsInUrl(url: string): string[] {
  // As written first: what parsing takes for user info may be only the start of the password.
  const found = writtenSecrets(url);
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    const inText = [...url.matchAll(URL_PASSWORD_IN_TEXT)].map((m) => m[2] ?? '');
    const query = url.indexOf('?');
    if (query >= 0) inText.push(...secretQueryValues(url.slice(query)));
    found.push(...inText.flatMap((value) => [value, decode(value)]));
    return [...new Set(found.filter(Boolean))];
  }
  if (parsed.password) found.push(parsed.password, decode(parsed.password));
  else if (parsed.username && TOKEN_AS_USER.test(parsed.protocol))
    found.push(parsed.username, decode(parsed.username));
  for (const value of secretQueryValues(parsed.search)) found.push(value, decode(value));
  return [...new Set(found)];
}

export class Secrets {
  private readonly values = new Set<string>();

  /**
   * @param onAdd told of each new value to mask, before `add` returns: the GitHub IO registers it
   *   with the runner (`::add-mask::`), so the runner's own masking covers what we print and
   *   what child processes print straight to the log.
   */
  constructor(private readonly onAdd?: (value: string) => void) {}

  /**
   * Registers a secret, with the forms it takes once escaped for JSON or a markdown table, and
   * each of its lines on its own (the runner masks line by line, so a multi-line secret is only
   * hidden if each line is registered); values shorter than 3 characters are ignored (masking
   * "a" would mangle every line).
   */
  add(value: string | undefined): void {
    if (!value || value.length < 3) return;
    const table = value.replaceAll('\\', '\\\\').replaceAll('|', '\\|');
    for (const form of [value, JSON.stringify(value).slice(1, -1), table]) {
      const lines = form.split(/\r\n|\r|\n/);
      this.remember(form, lines.length === 1);
      if (lines.length > 1) for (const line of lines) if (line.trim().length >= 3) this.remember(line, true);
    }
  }

  private remember(value: string, tellRunner: boolean): void {
    if (this.values.has(value)) return;
    this.values.add(value);
    // The runner refuses a blank mask with a warning, and masks within one line only.
    if (tellRunner && value.trim() !== '') this.onAdd?.(value);
  }

  /** Registers every secret inside a URL (password, token-like query values). */
  addFromUrl(url: string): void {
    for (const value of secretsInUrl(url)) this.add(value);
  }

  redact(text: string): string {
    // Known secrets first, longest first (a secret containing another is blanked whole); only then
    // the URL patterns, which would otherwise cut a password holding '@' and leave its tail.
    let out = text;
    for (const value of [...this.values].sort((a, b) => b.length - a.length)) {
      out = out.replaceAll(value, REDACTED);
    }
    return redactText(out);
  }

  /** A copy of a value with every string in it redacted: structure (numbers, booleans) untouched. */
  redactDeep<T>(value: T): T {
    if (typeof value === 'string') return this.redact(value) as T;
    if (Array.isArray(value)) return value.map((item) => this.redactDeep(item)) as T;
    if (value && typeof value === 'object' && !(value instanceof Date)) {
      return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, this.redactDeep(v)])) as T;
    }
    return value;
  }
}

/**
 * Free text with the passwords of the URLs in it (and password-less user info of http(s) URLs)
 * replaced by `***`, left as written otherwise. The user info runs to the last '@' of the URL, so
 * a password holding '@', '/', '?' or '#' is blanked whole.
 */
export function redactText(text: string): string {
  let out = '';
  let from = 0;
  for (const info of writtenUserinfos(text, TEXT_URL_END)) {
    const blankUser =
      info.password === undefined &&
      TOKEN_AS_USER.test(info.scheme) &&
      info.user &&
      !AUTHORITY_END.test(info.user);
    if (info.password === '' || (info.password === undefined && !blankUser)) continue;
    out += text.slice(from, info.start) + (blankUser ? REDACTED : `${info.user}:${REDACTED}`);
    from = info.at;
  }
  return (out + text.slice(from))
    .replace(URL_PASSWORD_IN_TEXT, `$1:${REDACTED}@`)
    .replace(URL_USER_ONLY_IN_TEXT, (whole, scheme: string, user: string) =>
      user === REDACTED ? whole : `${scheme}${REDACTED}@`,
    );
}
