import { join } from 'node:path';
import type { BlueGreen } from '../../scripts/demo/blue-green.js';
import { runLikeTheRunner } from '../../scripts/run-action.js';

/**
 * Runs the bundled deploy action against a blue-green setup exactly as the runner does, with the
 * defaults the end-to-end tests share: the demo's stage command, /health for staging, fast probes.
 */
export function runDeploy(
  setup: BlueGreen,
  command: string,
  inputs: Record<string, string>,
  env: Record<string, string> = { GITHUB_ACTOR: 'octocat' },
  options: Parameters<typeof runLikeTheRunner>[3] = {},
) {
  return runLikeTheRunner(
    'deploy',
    {
      ...setup.inputs,
      'health-path': '/health',
      command,
      'stage-command': `node ${join(process.cwd(), 'scripts/demo/stage.js')}`,
      interval: '100ms',
      // Short steps for speed: 5 probes per target need 500 ms (interval × min-samples).
      'min-samples': '5',
      ...inputs,
    },
    env,
    options,
  );
}
