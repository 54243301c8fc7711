import { createHash } from 'node:crypto';
import { z } from 'zod';
import { UserError } from '../errors.js';
import { SOURCE_NAMES } from './sources/index.js';

export const MANIFEST_FORMAT = 'switchyard-backup/1';
/** The manifest's file name in a backup's folder. */
export const MANIFEST_FILE = 'manifest.json';

const partSchema = z.object({
  /** The file in the store, e.g. "redis-127.0.0.1-6379-0.redis.gz". */
  name: z.string(),
  kind: z.enum(SOURCE_NAMES),
  /** The source with credentials redacted. */
  source: z.string(),
  include: z.array(z.string()),
  exclude: z.array(z.string()),
  /** Stored (compressed) bytes and their sha256. */
  bytes: z.number().int().nonnegative(),
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  /** Bytes before compression. */
  rawBytes: z.number().int().nonnegative(),
  records: z.record(z.string(), z.number()),
  facts: z.record(z.string(), z.union([z.string(), z.number()])),
  seconds: z.number().nonnegative(),
});

const manifestSchema = z.object({
  format: z.literal(MANIFEST_FORMAT),
  id: z.string(),
  createdAt: z.string(),
  finishedAt: z.string(),
  switchyard: z.string(),
  environment: z.string().optional(),
  git: z.object({ sha: z.string().optional(), ref: z.string().optional() }),
  /** The run that took it, when GitHub Actions did. */
  run: z.object({ repository: z.string().optional(), runId: z.string().optional() }).optional(),
  /** Taken by a restore, of what it was about to overwrite. */
  safetyFor: z.string().optional(),
  compression: z.enum(['gzip', 'zstd', 'none']),
  sizeBytes: z.number().int().nonnegative(),
  parts: z.array(partSchema),
});

export type Manifest = z.infer<typeof manifestSchema>;
export type ManifestPart = z.infer<typeof partSchema>;

export function serializeManifest(manifest: Manifest): string {
  return JSON.stringify(manifest, null, 2) + '\n';
}

/** The manifest's own sha256: it pins every part's checksum, so it names the backup's content. */
export function manifestSha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

/** Reads a stored manifest; one that is not ours or is damaged is a clear error, not a crash. */
export function parseManifest(text: string, id: string, location: string): Manifest {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw damaged(id, location, `it is not JSON (${(error as Error).message})`);
  }
  const result = manifestSchema.safeParse(json);
  if (!result.success) {
    const issue = result.error.issues[0];
    throw damaged(id, location, `${issue?.path.join('.') || 'its root'}: ${issue?.message}`);
  }
  if (result.data.id !== id) throw damaged(id, location, `it names backup ${result.data.id}`);
  // A restore of one part must not go ahead on a manifest that lies about another: every name is
  // checked here, whichever parts a command then reads.
  const seen = new Set<string>();
  for (const part of result.data.parts) {
    const problem = partNameProblem(part.name);
    if (problem) throw damaged(id, location, `part ${JSON.stringify(part.name)} ${problem}`);
    if (seen.has(part.name)) throw damaged(id, location, `it lists part ${part.name} twice`);
    seen.add(part.name);
  }
  const total = result.data.parts.reduce((sum, part) => sum + part.bytes, 0);
  if (total !== result.data.sizeBytes)
    throw damaged(
      id,
      location,
      `its parts add up to ${total} bytes, not the ${result.data.sizeBytes} it says`,
    );
  return result.data;
}

/**
 * Why `name` cannot name a part, or undefined: a part is one plain file beside the manifest and
 * the marks in every store, so nothing that could leave the backup's folder or hit those files.
 */
export function partNameProblem(name: string): string | undefined {
  if (
    !/^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$/.test(name) ||
    name.includes('..') ||
    name.startsWith(MANIFEST_FILE) ||
    name.endsWith('.mark.json')
  )
    return `is not a part name: use letters, digits, ".", "_" and "-" (no path separators, no "..", not ${MANIFEST_FILE})`;
  return undefined;
}

function damaged(id: string, location: string, why: string): UserError {
  return new UserError(
    `The manifest of backup ${id} in ${location} cannot be used: ${why}. Restore another backup (command: list shows them).`,
    'Backup manifest damaged',
  );
}
