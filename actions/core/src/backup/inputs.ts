import { alternatives } from '../errors.js';
import { boolean, integer, list, oneOf, parsedBy, text, type InputDef } from '../inputs.js';
import { redactText } from '../mask.js';
import type { SourceSpec } from './source.js';
import { SOURCE_KINDS } from './sources/index.js';

export type { SourceSpec } from './source.js';

/** A `sources` line, read by the kind its scheme names; a string says what is wrong. */
export function parseSourceSpec(entry: string): SourceSpec | string {
  const scheme = /^([a-z][a-z0-9+.-]*:)/i.exec(entry)?.[1]?.toLowerCase();
  const kind = SOURCE_KINDS.find((each) => each.schemes.includes(scheme ?? ''));
  if (kind) return kind.parse(entry);
  // As written (redactUrl would normalise it), with any password masked.
  const shown = redactText(entry);
  const help = `use ${alternatives(SOURCE_KINDS.map((each) => each.written))}`;
  return scheme
    ? `"${shown}" has an unsupported scheme "${scheme}"; ${help}`
    : `"${shown}" is neither a URL nor a file: entry; ${help}`;
}

/** Where backups are kept. */
export type StoreSpec = { kind: 'local'; dir: string } | { kind: 'actions-cache' } | { kind: 'artifact' };

export function parseStoreSpec(raw: string): StoreSpec | string {
  if (raw === 'actions-cache' || raw === 'artifact') return { kind: raw };
  if (raw.startsWith('local:')) {
    const dir = raw.slice('local:'.length);
    return dir.trim() === ''
      ? 'local: needs a directory, e.g. local:.switchyard/backups'
      : { kind: 'local', dir };
  }
  return `"${raw}" is not a store: use local:DIR, actions-cache or artifact`;
}

export const BACKUP_COMMANDS = ['backup', 'restore', 'verify', 'list', 'prune'] as const;
export type BackupCommand = (typeof BACKUP_COMMANDS)[number];

export const backupInputs = {
  command: oneOf(BACKUP_COMMANDS, 'What to do.', { default: 'backup' }),
  sources: list(
    'What to back up, one per line: postgres://…, redis://… (any database index) or file:PATH-OR-GLOB. For restore and verify with a target: which parts to restore, with the credentials the manifest leaves out (default: every part, at the address it was taken from).',
    parseSourceSpec,
    { example: 'postgres://app@db:5432/shop', urls: true },
  ),
  store: parsedBy('Where backups are kept: local:DIR, actions-cache or artifact.', parseStoreSpec, {
    default: 'local:.switchyard/backups',
    example: 'local:/var/backups/switchyard',
  }),
  id: text(
    'The backup to restore, verify (or name, for backup: default a timestamp and the commit). `latest` is the newest in the store.',
    { example: 'latest' },
  ),
  include: list(
    'Only these tables (postgres), key patterns (redis) or globs (file); default everything. Each entry goes to the sources it fits (a `:` is a key pattern, a `/` a glob, `schema.table` a table); prefix postgres:, redis: or file: to say which.',
    undefined,
    {
      commas: true,
      example: 'public.orders, session:*',
    },
  ),
  exclude: list('Leave these tables, key patterns or globs out (read as include reads them).', undefined, {
    commas: true,
    example: 'public.audit_log, cache:*',
  }),
  retention: integer(
    'How many backups to keep: prune keeps the newest this many (and always the newest verified one); after a backup, the older ones are pruned the same way.',
    { min: 1 },
  ),
  'retention-days': integer(
    'store: artifact — days GitHub keeps the artifact (1–90; default the repository setting).',
    {
      min: 1,
      max: 90,
    },
  ),
  compression: oneOf(['gzip', 'zstd', 'none'], 'How parts are compressed, as they stream.', {
    default: 'gzip',
  }),
  target: text(
    'restore and verify: restore into this instead of the source — a URL of the same kind, or a directory for file parts.',
    { example: 'postgres://app@db-scratch:5432/shop' },
  ),
  mode: oneOf(
    ['fail-if-exists', 'replace', 'merge'],
    'restore: fail-if-exists refuses when anything restored would overwrite data; replace overwrites it; merge keeps what exists and adds the rest.',
    { default: 'fail-if-exists' },
  ),
  'safety-backup': boolean(
    'restore: first back up what the restore could overwrite (in replace and merge modes), into the same store.',
    { default: 'true' },
  ),
  'github-token': text('stores actions-cache and artifact: lists, finds and deletes backups of other runs.', {
    secret: true,
    example: '${{ github.token }}',
  }),
} satisfies Record<string, InputDef>;
