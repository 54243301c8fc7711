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
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    const found = [...url.matchAll(URL_PASSWORD_IN_TEXT)].map((m) => m[2] ?? '');
    const query = url.indexOf('?');
    if (query >= 0) found.push(...secretQueryValues(url.slice(query)));
    return found.flatMap((value) => [value, decode(value)]).filter(Boolean);
  }
  const found: string[] = [];
  if (parsed.password) found.push(parsed.password, decode(parsed.password));
  else if (parsed.username && TOKEN_AS_USER.test(parsed.protocol))
    found.push(parsed.username, decode(parsed.username));
  for (const value of secretQueryValues(parsed.search)) found.push(value, decode(value));
  return found;
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

/** Blanks URL passwords (and password-less userinfo) in free text. */
/** Free text with the passwords of the URLs in it replaced by `***`, left as written otherwise. */
export function redactText(text: string): string {
  return text
    .replace(URL_PASSWORD_IN_TEXT, `$1:${REDACTED}@`)
    .replace(URL_USER_ONLY_IN_TEXT, (whole, scheme: string, user: string) =>
      user === REDACTED ? whole : `${scheme}${REDACTED}@`,
    );
}
