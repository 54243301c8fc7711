import path from 'node:path';
import { InputError } from '../errors.js';
import type { StoreSpec } from './inputs.js';
import { parseSourceSpec } from './inputs.js';
import type { BackupSource, OpenOptions, SourceSpec } from './source.js';
import { sourceKindNamed, type SourceName } from './sources/index.js';
import type { BackupStore } from './store.js';
import { createLocalStore } from './stores/local.js';

export interface OpenContext extends OpenOptions {
  /** For the GitHub-hosted stores. */
  token?: string;
  retentionDays?: number;
  log: (line: string) => void;
}

/** The source a `sources` line names. */
export function openSource(spec: SourceSpec, context: OpenContext): BackupSource {
  return sourceKindNamed(spec.kind).open(spec, context);
}

/**
 * The source of what a part would be restored over: `target` when given (a URL of the part's
 * kind, or what the kind itself takes, such as a directory for file parts), else where the part
 * came from.
 */
export function openTarget(kind: SourceName, target: string, context: OpenContext): BackupSource {
  const own = sourceKindNamed(kind);
  if (own.openTarget) return own.openTarget(target, context);
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
