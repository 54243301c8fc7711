import path from 'node:path';
import { InputError } from '../../errors.js';
import { redactUrl } from '../../mask.js';
import { FileStateStore } from './file.js';
import { RedisStateStore } from './redis.js';
import type { StateStore } from './state.js';

export { DEFAULT_KEY_PREFIX } from './redis.js';

/**
 * The store named by the `state` input:
 *
 * - `file:PATH` — a JSON file (relative to `cwd`), with `PATH.lock` and `PATH.mutex` beside it.
 * - `redis://[user:password@]host:port[/db][/prefix]`, or `rediss://` for TLS — keys
 *   `<prefix>:state`, `<prefix>:lock` and `<prefix>:lock:holder`; the prefix may also be given as
 *   `?prefix=` (or `?key=`) and defaults to `switchyard:default`. Nothing connects until first use.
 */
export function openStateStore(spec: string, options: { cwd?: string } = {}): StateStore {
  const text = spec.trim();
  if (text.startsWith('file:')) {
    const file = text.slice('file:'.length);
    if (file === '') throw new InputError('state', 'file: needs a path, e.g. file:.switchyard/state.json');
    return new FileStateStore(path.resolve(options.cwd ?? process.cwd(), file));
  }
  if (/^rediss?:\/\//i.test(text)) {
    let url: URL;
    try {
      url = new URL(text);
    } catch {
      throw new InputError('state', `${redactUrl(text)} is not a valid URL; expected redis://host:port/db`);
    }
    return new RedisStateStore(url);
  }
  throw new InputError('state', `expected file:PATH or redis://host:port/db; got "${redactUrl(text)}"`);
}
