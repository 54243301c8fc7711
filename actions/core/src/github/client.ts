import { getOctokit } from '@actions/github';
import { UserError } from '../errors.js';
import { SWITCHYARD_VERSION } from '../report.js';

export type Octokit = ReturnType<typeof getOctokit>;
type Env = Readonly<Record<string, string | undefined>>;

/**
 * Pinned so a new default API version on GitHub's side cannot change what our calls mean. It is
 * the version GitHub's REST documentation shows in every example.
 */
export const GITHUB_API_VERSION = '2022-11-28';

/** A GitHub call that hangs must not hold up a deploy: the caller decides whether to go on. */
const REQUEST_TIMEOUT_MS = 30_000;

/** The GitHub web site's address (GITHUB_SERVER_URL on GitHub Enterprise Server), for links. */
export function serverUrl(env: Env): string {
  return (env.GITHUB_SERVER_URL || 'https://github.com').replace(/\/+$/, '');
}

export function apiUrl(env: Env): string {
  return (env.GITHUB_API_URL || 'https://api.github.com').replace(/\/+$/, '');
}

/**
 * An authenticated REST client for the API named by GITHUB_API_URL (GitHub Enterprise Server
 * sets it; tests point it at a local fake). The caller must have registered `token` as a secret
 * before anything is logged.
 */
export function githubClient(
  token: string,
  env: Env,
  options: { log?: (message: string) => void; timeoutMs?: number } = {},
): Octokit {
  if (!token)
    throw new UserError('github-token is empty: pass a token, e.g. `github-token: ${{ github.token }}`.');
  const debug = options.log ?? (() => {});
  // Octokit's own logger writes to the console, around our redaction: route it to the debug log.
  const log = { debug, info: debug, warn: debug, error: debug };
  const octokit = getOctokit(token, {
    baseUrl: apiUrl(env),
    userAgent: `switchyard/${SWITCHYARD_VERSION}`,
    log,
  });
  const timeoutMs = options.timeoutMs ?? REQUEST_TIMEOUT_MS;
  octokit.hook.before('request', (request) => {
    request.headers['x-github-api-version'] = GITHUB_API_VERSION;
    // @octokit/request warns about deprecated endpoints on `request.log`, the console by default.
    request.request = {
      ...request.request,
      log,
      signal: request.request?.signal ?? AbortSignal.timeout(timeoutMs),
    };
  });
  return octokit;
}

export interface Repository {
  owner: string;
  repo: string;
}

/** The repository the workflow runs in (GITHUB_REPOSITORY, "owner/name"). */
export function repoFromEnv(env: Env, purpose = 'record deployments in'): Repository {
  const value = env.GITHUB_REPOSITORY?.trim();
  if (!value) {
    throw new UserError(
      `GITHUB_REPOSITORY is not set, so switchyard does not know which repository to ${purpose}. ` +
        'GitHub Actions sets it; elsewhere, set GITHUB_REPOSITORY=owner/name.',
    );
  }
  const match = /^([^/\s]+)\/([^/\s]+)$/.exec(value);
  if (!match)
    throw new UserError(`GITHUB_REPOSITORY is "${value}"; expected "owner/name", e.g. "octo-org/shop".`);
  return { owner: match[1]!, repo: match[2]! };
}

/**
 * A GitHub API call failed. It is a UserError (the message says what to fix), and a distinct
 * type so a caller for whom the call is a side show (recording a deployment) can warn and go on.
 */
export class GitHubError extends UserError {
  constructor(
    message: string,
    /** The HTTP status; undefined when GitHub could not be reached. */
    readonly status?: number,
    /** GitHub's x-github-request-id, for a support ticket. */
    readonly requestId?: string,
  ) {
    super(message, 'GitHub API');
    this.name = 'GitHubError';
  }
}

/** What we were doing, in the words of the error message. */
export interface GitHubCall {
  /** e.g. "create a deployment for environment production" */
  action: string;
  /** The job permission this call needs, e.g. "deployments: write". */
  permission: string;
  repository: Repository;
  /** Extra advice for an answer with this status (e.g. 422: "is the sha pushed?"). */
  hints?: Partial<Record<number, string>>;
}

interface HttpFailure {
  status: number;
  message: string;
  response?: { headers: Record<string, string | undefined>; data: unknown };
}

function isHttpFailure(error: unknown): error is HttpFailure {
  return error instanceof Error && typeof (error as Partial<HttpFailure>).status === 'number';
}

/** GitHub's own words: the `message` and the `errors` of its JSON answer, never the request. */
function gitHubSaid(data: unknown): string {
  if (typeof data !== 'object' || data === null) return '';
  const { message, errors } = data as { message?: unknown; errors?: unknown };
  const details = Array.isArray(errors)
    ? errors
        .map((each) =>
          typeof each === 'string' ? each : typeof each?.message === 'string' ? each.message : each?.code,
        )
        .filter((each): each is string => typeof each === 'string' && each.length > 0)
    : [];
  return [typeof message === 'string' ? message : '', ...details].filter(Boolean).join('; ');
}

/**
 * Turns a failed Octokit call into a GitHubError that says what to fix. Only GitHub's answer
 * and the call's description go into the message: never the request, whose headers hold the token.
 */
export function explainGitHubFailure(error: unknown, call: GitHubCall): GitHubError {
  if (error instanceof GitHubError) return error;
  const repo = `${call.repository.owner}/${call.repository.repo}`;
  if (!isHttpFailure(error)) {
    const reason = error instanceof Error ? error.message : String(error);
    return new GitHubError(`Could not ${call.action} in ${repo}: ${reason}.`);
  }
  const { status } = error;
  const headers = error.response?.headers ?? {};
  const requestId = headers['x-github-request-id'];
  const said = gitHubSaid(error.response?.data);
  const answer = `GitHub answered ${status}${said ? `: ${said}` : ''}`;
  const hint = call.hints?.[status];
  const withHint = (text: string) => (hint ? `${text} ${hint}` : text);
  const fail = (message: string) => new GitHubError(withHint(message), status, requestId);

  if (!error.response) {
    // @octokit/request reports a network failure or a timeout as a 500 without a response.
    return new GitHubError(
      `Could not reach the GitHub API to ${call.action} in ${repo}: ${error.message}. ` +
        'Check GITHUB_API_URL and the network (or https://www.githubstatus.com).',
    );
  }
  if (status === 401) {
    return fail(
      `github-token was rejected while trying to ${call.action} in ${repo} (${answer}): it is invalid or expired. ` +
        'Pass a valid token, e.g. `github-token: ${{ github.token }}`.',
    );
  }
  if (status === 403 || status === 429) {
    if (headers['x-ratelimit-remaining'] === '0' || /rate limit/i.test(said)) {
      const reset = Number(headers['x-ratelimit-reset']);
      const when =
        Number.isFinite(reset) && reset > 0 ? ` It resets at ${new Date(reset * 1000).toISOString()}.` : '';
      return fail(
        `GitHub API rate limit exceeded while trying to ${call.action} in ${repo} (${answer}).${when}`,
      );
    }
    return fail(
      `github-token lacks the \`${call.permission}\` permission needed to ${call.action} in ${repo} (${answer}). ` +
        `Add \`permissions: ${call.permission}\` to the job (keep \`contents: read\` if it checks out code); ` +
        'a personal access token needs the same repository permission.',
    );
  }
  if (status === 404) {
    return fail(
      `GitHub could not find what is needed to ${call.action} in ${repo} (${answer}): ` +
        'the repository does not exist, or github-token cannot see it (a token from another repository?).',
    );
  }
  if (status === 409 || status === 422) {
    return fail(`GitHub refused to ${call.action} in ${repo} (${answer}).`);
  }
  if (status >= 500) {
    return fail(
      `GitHub failed to ${call.action} in ${repo} (${answer}). ` +
        'This is on GitHub\u2019s side; see https://www.githubstatus.com and retry.',
    );
  }
  return fail(`Could not ${call.action} in ${repo} (${answer}).`);
}
