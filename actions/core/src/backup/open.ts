import path from 'node:path';
import { InputError } from '../errors.js';
import type { ProcessRunner } from '../process.js';
import type { SourceSpec, StoreSpec } from './inputs.js';
import { parseSourceSpec } from './inputs.js';
import type { BackupSource } from './source.js';
import { createFileSource } from './sources/file.js';
import { createPostgresSource } from './sources/postgres.js';
import { createRedisSource } from './sources/redis.js';
import type { BackupStore } from './store.js';
import { createLocalStore } from './stores/local.js';

export interface OpenContext {
  cwd: string;
  env: Record<string, string | undefined>;
  runner: ProcessRunner;
  /** For the GitHub-hosted stores. */
  token?: string;
  retentionDays?: number;
  log: (line: string) => void;
}

/** The source a `sources` line names. */
export function openSource(spec: SourceSpec, context: OpenContext): BackupSource {
  switch (spec.kind) {
    case 'postgres':
      return createPostgresSource(spec.url, { runner: context.runner, env: context.env });
    case 'redis':
      return createRedisSource(spec.url);
    case 'file':
      return createFileSource(spec.path, { cwd: context.cwd });
  }
}

/**
 * The source of what a part would be restored over: `target` when given (a URL of the part's
 * kind, or a directory holding file parts), else where the part came from.
 */
export function openTarget(kind: BackupSource['kind'], target: string, context: OpenContext): BackupSource {
  if (kind === 'file') {
    if (/^[a-z][a-z0-9+.-]*:\/\//i.test(target))
      throw new InputError('target', `file parts restore into a directory, not ${JSON.stringify(target)}`);
    // The target directory itself, so the safety backup's names match the restored part's.
    return createFileSource('.', { cwd: path.resolve(context.cwd, target) });
  }
  const spec = parseSourceSpec(target);
  if (typeof spec === 'string') throw new InputError('target', spec);
  if (spec.kind !== kind)
    throw new InputError(
      'target',
      `a ${kind} part cannot be restored into a ${spec.kind} URL; give a ${kind}:// URL`,
    );
  return openSource(spec, context);
}

export async function openStore(spec: StoreSpec, context: OpenContext): Promise<BackupStore> {
  switch (spec.kind) {
    case 'local':
      return createLocalStore(spec.dir, { cwd: context.cwd });
    case 'actions-cache': {
      const { createActionsCacheStore } = await import('./stores/actions-cache.js');
      return createActionsCacheStore(storeOptions(context));
    }
    case 'artifact': {
      const { createArtifactStore } = await import('./stores/artifact.js');
      return createArtifactStore({ ...storeOptions(context), retentionDays: context.retentionDays });
    }
  }
}

function storeOptions(context: OpenContext) {
  return {
    token: context.token,
    env: context.env,
    tempDir: context.env.RUNNER_TEMP || path.join(context.cwd, '.switchyard', 'tmp'),
    log: context.log,
  };
}
