import { defineAction, githubIO, runAction, UserError, type ActionIO } from '../../core/src/index.js';
import { deployForAction, hasBeenLive } from '../../core/src/deploy/engine.js';
import { deployInputs } from '../../core/src/deploy/inputs.js';
import { renderDeploySummary } from '../../core/src/deploy/summary.js';

export const deployAction = defineAction({
  name: 'deploy',
  inputs: deployInputs,
  engine: deployForAction,
  outputs: {
    active: {
      description: 'The colour serving traffic after the command (blue or green).',
      value: (result) => result.active,
    },
    previous: {
      description: 'The other colour, when it has run a release.',
      value: (result) => result.previous ?? '',
    },
    idle: {
      description:
        'The colour without traffic after the command (stage: the one just staged, where a load test goes).',
      value: (result) => result.idle.color,
    },
    'idle-servers': {
      description:
        "The idle colour's servers, host:port, comma-separated (for a load test against it directly).",
      value: (result) => result.idle.servers.join(','),
    },
    'live-sha': {
      description:
        'The commit the active colour serves, as it was staged (empty when unknown): the last good commit, e.g. the baseline of a migration lint.',
      value: (result) =>
        hasBeenLive(result.state, result.active) ? (result.state.releases[result.active]?.sha ?? '') : '',
    },
    weights: {
      description: 'The weights after the command, as JSON: {"blue":0,"green":100}.',
      value: (result) => JSON.stringify(result.weights),
    },
    'rolled-back': {
      description:
        'true when the command put the previous colour back (a breached promotion, a cancellation, a rollback).',
      value: (result) => String(result.rolledBack),
      whenFailed: () => 'false',
    },
    frozen: {
      description:
        'true when traffic is frozen mid-promotion: a promotion failed after a contract-phase migration (migration-phase: contract) and held its split instead of rolling back. Stays true, for every command, until a promotion reaches 100% or a rollback is forced (force-rollback).',
      value: (result) => String(result.state.frozen !== undefined),
      whenFailed: () => 'false',
    },
    reason: {
      description: 'Why it rolled back, froze or failed (which threshold, which value, or the error).',
      value: (result) => result.reason ?? result.pullRequestError?.message ?? '',
      whenFailed: (errors) => errors.join('\n'),
    },
    verdict: {
      description:
        "promote: the analysis' last verdict — passed, failed or inconclusive (not enough evidence, or cancelled); empty for other commands.",
      value: (result) => result.verdict ?? '',
    },
    'pull-request-url': {
      description: 'The rollback pull request, when one was opened or updated (rollback-pr: true).',
      value: (result) => result.pullRequest?.url ?? result.pullRequestError?.pullRequest?.url ?? '',
    },
    'pull-request-number': {
      description: 'Its number.',
      value: (result) =>
        String(result.pullRequest?.number ?? result.pullRequestError?.pullRequest?.number ?? ''),
    },
    'rollback-branch': {
      description: 'The branch holding the reverts: switchyard/rollback-<environment>-<short bad sha>.',
      value: (result) => result.pullRequest?.branch ?? result.pullRequestError?.branch ?? '',
    },
  },
  report: { description: 'Path of the JSON report (the plan, the timeline, the state and history).' },
  summary: renderDeploySummary,
  failure: (result) => [
    // revert's only work is the pull request: its failure is the one to report.
    result.succeeded || (result.command === 'revert' && result.pullRequestError)
      ? undefined
      : {
          message:
            result.error?.message ?? `${result.rolledBack ? 'Rolled back' : 'Failed'}: ${result.reason}`,
          title: result.error instanceof UserError ? result.error.title : `deploy ${result.command} failed`,
        },
    // Reported after traffic: the pull request failing never undoes the rollback.
    result.pullRequestError,
  ],
});

export const run = (io: ActionIO = githubIO()) => runAction(deployAction, io);
