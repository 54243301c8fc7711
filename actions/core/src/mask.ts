/**
 * Credentials never reach a log line, the job summary, an output or a report. Every piece of
 * text the actions emit goes through `Secrets.redact`, which knows the secrets found in the
 * inputs and also blanks any `scheme://user:password@` it meets in free text (error messages
 * from drivers sometimes echo the URL they were given).
 */
export const REDACTED = '***';

const SECRET_QUERY_PARAM = /pass|token|secret|key|auth|signature/i;
const URL_PASSWORD_IN_TEXT = /([a-z][a-z0-9+.-]*:\/\/[^\s:/@]*):([^\s@/]+)@/gi;

/** The URL with its password (and secret-looking query values) replaced by `***`. */
export function redactUrl(url: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return url.replace(URL_PASSWORD_IN_TEXT, `$1:${REDACTED}@`);
  }
  if (parsed.password) parsed.password = REDACTED;
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
    return [...url.matchAll(URL_PASSWORD_IN_TEXT)].map((m) => m[2] ?? '').filter(Boolean);
  }
  const found: string[] = [];
  if (parsed.password) found.push(parsed.password, decodeURIComponent(parsed.password));
  for (const [name, value] of parsed.searchParams) {
    if (SECRET_QUERY_PARAM.test(name) && value) found.push(value);
  }
  return found;
}

export class Secrets {
  private readonly values = new Set<string>();

  /** Registers a secret; very short values are ignored (masking "a" would mangle every line). */
  add(value: string | undefined): void {
    if (value && value.length >= 3) this.values.add(value);
  }

  /** Registers every secret inside a URL (password, token-like query values). */
  addFromUrl(url: string): void {
    for (const value of secretsInUrl(url)) this.add(value);
  }

  redact(text: string): string {
    let out = text.replace(URL_PASSWORD_IN_TEXT, `$1:${REDACTED}@`);
    // Longest first, so a secret containing another is blanked whole.
    for (const value of [...this.values].sort((a, b) => b.length - a.length)) {
      out = out.replaceAll(value, REDACTED);
    }
    return out;
  }
}
