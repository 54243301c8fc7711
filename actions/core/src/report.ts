import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeDirectory, writeFileAtomic } from './atomic-write.js';
import type { ActionIO } from './io.js';

export const SWITCHYARD_VERSION = '0.1.0';

/**
 * Writes an action's JSON report under RUNNER_TEMP (or the system temp dir) and returns its path,
 * which the action sets as its `report` output. Secrets are redacted like every other output.
 */
export async function writeReport(io: ActionIO, action: string, report: object): Promise<string> {
  const dir = join(io.env.RUNNER_TEMP || tmpdir(), 'switchyard');
  await makeDirectory(dir);
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  const path = join(dir, `${action}-${stamp}-${process.pid}.json`);
  const body = { action, switchyard: SWITCHYARD_VERSION, run: runContext(io.env), ...report };
  // Redacted value by value, not as text: masking inside serialised JSON could break its syntax.
  await writeFileAtomic(path, JSON.stringify(io.secrets.redactDeep(body), null, 2) + '\n');
  return path;
}

/** Where the report comes from, when run by GitHub Actions. */
function runContext(env: Readonly<Record<string, string | undefined>>) {
  if (!env.GITHUB_RUN_ID) return undefined;
  return {
    repository: env.GITHUB_REPOSITORY,
    sha: env.GITHUB_SHA,
    ref: env.GITHUB_REF,
    workflow: env.GITHUB_WORKFLOW,
    runId: env.GITHUB_RUN_ID,
    actor: env.GITHUB_ACTOR,
  };
}
