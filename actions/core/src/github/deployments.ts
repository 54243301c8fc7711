import { SWITCHYARD_VERSION } from '../report.js';
import {
  explainGitHubFailure,
  serverUrl,
  GitHubError,
  type GitHubCall,
  type Octokit,
  type Repository,
} from './client.js';

type Env = Readonly<Record<string, string | undefined>>;

/** How a recorded deployment ended. */
export type DeploymentOutcome = 'success' | 'failure' | 'error' | 'inactive';

/** GitHub cuts deployment status descriptions at 140 characters. */
const MAX_STATUS_DESCRIPTION = 140;

/** How many earlier deployments of the environment `markPreviousInactive` looks at. */
const PREVIOUS_DEPLOYMENTS_CHECKED = 30;

const PERMISSION = 'deployments: write';

/** The page of this workflow run, for "View logs" on the deployment; undefined outside Actions. */
export function runLogUrl(env: Env): string | undefined {
  const { GITHUB_REPOSITORY: repository, GITHUB_RUN_ID: runId } = env;
  if (!repository || !runId) return undefined;
  // The form GitHub's own API gives as a run's html_url; the "/attempts/N" page is not documented.
  return `${serverUrl(env)}/${repository}/actions/runs/${runId}`;
}

function shortDescription(text: string): string {
  const oneLine = text.replace(/\s+/g, ' ').trim();
  return oneLine.length <= MAX_STATUS_DESCRIPTION
    ? oneLine
    : `${oneLine.slice(0, MAX_STATUS_DESCRIPTION - 1)}…`;
}

export interface DeploymentOptions extends Repository {
  octokit: Octokit;
  /** What is deployed: a commit SHA records exactly what went out (a branch or tag also works). */
  ref: string;
  /** The GitHub environment, e.g. "production". */
  environment: string;
  description: string;
  /** Where the deploy's output is; usually `runLogUrl(env)`. */
  logUrl?: string;
  /** Where users reach the environment; GitHub shows it as "View deployment". */
  environmentUrl?: string;
  /** Extra facts kept with the deployment (version, colour…). */
  payload?: Record<string, unknown>;
  /** Whether end users use this environment; GitHub's default: true only for "production". */
  productionEnvironment?: boolean;
  log?: (message: string) => void;
}

/**
 * A GitHub deployment for one deploy: created `in_progress` when the deploy starts, then
 * finished as success, failure, error or inactive. Every failure is a GitHubError, so the
 * deploy can warn and carry on: the record is not worth failing a release over.
 */
export class DeploymentRecorder {
  private constructor(
    private readonly options: DeploymentOptions,
    /** GitHub's id of the deployment. */
    readonly id: number,
    /** Its API URL. */
    readonly url: string,
  ) {}

  /** A deployment an earlier run opened (its id kept in the deploy state), to record how it ended. */
  static existing(options: DeploymentOptions, id: number): DeploymentRecorder {
    return new DeploymentRecorder(options, id, `repos/${options.owner}/${options.repo}/deployments/${id}`);
  }

  static async start(options: DeploymentOptions): Promise<DeploymentRecorder> {
    const { octokit, owner, repo, environment } = options;
    const call = (action: string, hints?: GitHubCall['hints']): GitHubCall => ({
      action,
      permission: PERMISSION,
      repository: { owner, repo },
      hints,
    });
    const creating = call(`create a deployment of ${options.ref} to environment "${environment}"`, {
      422: `Check that ${options.ref} exists in ${owner}/${repo} (was it pushed?).`,
    });
    let created;
    try {
      created = await octokit.rest.repos.createDeployment({
        owner,
        repo,
        ref: options.ref,
        task: 'deploy',
        environment,
        description: options.description,
        // switchyard decides when to deploy: GitHub must neither merge the default branch into
        // the ref nor hold the deployment back until other commit statuses pass.
        auto_merge: false,
        required_contexts: [],
        payload: { ...options.payload, switchyard: SWITCHYARD_VERSION },
        // Blue and green live on: the environment outlasts any one deployment.
        transient_environment: false,
        ...(options.productionEnvironment === undefined
          ? {}
          : { production_environment: options.productionEnvironment }),
      });
    } catch (error) {
      throw explainGitHubFailure(error, creating);
    }
    // 202 is GitHub's answer when it merged instead of deploying: impossible with auto_merge off.
    if (!('id' in created.data)) {
      throw new GitHubError(
        `GitHub did not create a deployment of ${options.ref} in ${owner}/${repo}: ${created.data.message ?? `status ${created.status}`}.`,
        created.status,
      );
    }
    const recorder = new DeploymentRecorder(options, created.data.id, created.data.url);
    options.log?.(`GitHub deployment ${recorder.id} created for environment "${environment}".`);
    await recorder.setStatus(
      'in_progress',
      options.description,
      `mark deployment ${recorder.id} in progress`,
    );
    return recorder;
  }

  /**
   * Records the outcome. On success, earlier deployments to the environment that were still
   * marked successful become inactive: it is the one serving now.
   */
  async finish(outcome: DeploymentOutcome, description: string): Promise<void> {
    await this.setStatus(outcome, description, `mark deployment ${this.id} as ${outcome}`);
    if (outcome === 'success') await this.markPreviousInactive();
  }

  /**
   * GitHub's `auto_inactive` only retires earlier deployments of non-production environments,
   * so for production (the usual case here) earlier successful deployments stay "active" unless
   * we retire them. Idempotent: only deployments whose latest status is success are touched.
   */
  async markPreviousInactive(): Promise<number[]> {
    const { octokit, owner, repo, environment } = this.options;
    const repository = { owner, repo };
    let earlier;
    try {
      ({ data: earlier } = await octokit.rest.repos.listDeployments({
        owner,
        repo,
        environment,
        per_page: PREVIOUS_DEPLOYMENTS_CHECKED,
      }));
    } catch (error) {
      throw explainGitHubFailure(error, {
        action: `list the deployments of environment "${environment}"`,
        permission: PERMISSION,
        repository,
      });
    }
    const retired: number[] = [];
    // Newest first; ids grow, so a larger id is a deploy that started after this one.
    for (const deployment of earlier.filter((each) => each.id < this.id)) {
      let latest;
      try {
        ({
          data: [latest],
        } = await octokit.rest.repos.listDeploymentStatuses({
          owner,
          repo,
          deployment_id: deployment.id,
          per_page: 1,
        }));
      } catch (error) {
        throw explainGitHubFailure(error, {
          action: `read the status of deployment ${deployment.id}`,
          permission: PERMISSION,
          repository,
        });
      }
      // Not stopping at the first inactive one: after a rollback, the deployment rolled back is
      // inactive while the one before it is still the live success.
      if (latest?.state !== 'success') continue;
      await this.setStatusOf(
        deployment.id,
        'inactive',
        `Replaced by deployment ${this.id}`,
        `mark the earlier deployment ${deployment.id} inactive`,
      );
      retired.push(deployment.id);
    }
    if (retired.length > 0) this.options.log?.(`Earlier deployments now inactive: ${retired.join(', ')}.`);
    return retired;
  }

  private setStatus(state: DeploymentOutcome | 'in_progress', description: string, action: string) {
    return this.setStatusOf(this.id, state, description, action);
  }

  private async setStatusOf(
    deploymentId: number,
    state: DeploymentOutcome | 'in_progress',
    description: string,
    action: string,
  ): Promise<void> {
    const { octokit, owner, repo, logUrl, environmentUrl } = this.options;
    const own = deploymentId === this.id;
    try {
      await octokit.rest.repos.createDeploymentStatus({
        owner,
        repo,
        deployment_id: deploymentId,
        state,
        description: shortDescription(description),
        ...(own && logUrl ? { log_url: logUrl } : {}),
        // "View deployment" belongs to a deployment that is (or is becoming) what users get.
        ...(own && environmentUrl && (state === 'in_progress' || state === 'success')
          ? { environment_url: environmentUrl }
          : {}),
        // Only a success may retire earlier deployments: while in progress, or after a failure
        // (traffic went back to the previous colour), the previous deployment is still the live one.
        auto_inactive: state === 'success',
      });
    } catch (error) {
      throw explainGitHubFailure(error, { action, permission: PERMISSION, repository: { owner, repo } });
    }
    if (own) this.options.log?.(`GitHub deployment ${deploymentId}: ${state}.`);
  }
}
