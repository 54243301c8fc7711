/**
 * A local stand-in for the GitHub REST API. Every request it receives is checked against GitHub's
 * own OpenAPI description (@octokit/openapi): the route must exist, and the path parameters, query
 * and JSON body must match the operation's schemas, with the headers GitHub expects. Anything
 * wrong becomes a human-readable entry in `violations` and is answered the way GitHub would
 * (404, 401, 422…). Its own answers are checked against the response schemas too.
 *
 * The behaviour behind the routes is the `routes` table below: one entry per operationId.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createRequire } from 'node:module';
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import ajvFormats from 'ajv-formats';
import type { Octokit } from '../../actions/core/src/github/client.js';

type Repos = Octokit['rest']['repos'];
export type Deployment = Awaited<ReturnType<Repos['getDeployment']>>['data'];
export type DeploymentStatus = Awaited<ReturnType<Repos['getDeploymentStatus']>>['data'];
type SimpleUser = NonNullable<Deployment['creator']>;
type Actions = Octokit['rest']['actions'];
export type ActionsCache = Awaited<
  ReturnType<Actions['getActionsCacheList']>
>['data']['actions_caches'][number];
export type Artifact = Awaited<ReturnType<Actions['getArtifact']>>['data'];
type Pulls = Octokit['rest']['pulls'];
type Issues = Octokit['rest']['issues'];
export type FullRepository = Awaited<ReturnType<Repos['get']>>['data'];
export type PullRequest = Awaited<ReturnType<Pulls['get']>>['data'];
/** What "list pull requests" answers per pull request: the full object without the costly fields. */
export type PullRequestSimple = Awaited<ReturnType<Pulls['list']>>['data'][number];
export type Label = Awaited<ReturnType<Issues['addLabels']>>['data'][number];
export type IssueComment = Awaited<ReturnType<Issues['createComment']>>['data'];

/** An Actions cache entry of a repository ("owner/name"), put there by the cache service's fake. */
export interface StoredCache {
  repository: string;
  entry: ActionsCache;
}

/** A workflow artifact of a repository ("owner/name"), put there by the artifact service's fake. */
export interface StoredArtifact {
  repository: string;
  artifact: Artifact;
  /** The signed URL of its zip, where "download an artifact" redirects. */
  archiveUrl: string;
}

/** The API versions the fake accepts in X-GitHub-Api-Version (GitHub answers 400 to others). */
const API_VERSIONS = ['2022-11-28'];
const DOCS = 'https://docs.github.com/rest';

// ---------------------------------------------------------------------------------------------
// The OpenAPI description

interface Reference {
  $ref: string;
}
interface Parameter {
  name: string;
  in: 'path' | 'query' | 'header' | 'cookie';
  required?: boolean;
  schema?: Schema;
}
type Schema = Record<string, unknown>;
interface MediaType {
  schema?: Schema;
}
interface RequestBody {
  required?: boolean;
  content: Record<string, MediaType>;
}
interface Response {
  content?: Record<string, MediaType>;
}
interface OperationObject {
  operationId: string;
  parameters?: (Parameter | Reference)[];
  requestBody?: RequestBody | Reference;
  responses: Record<string, Response | Reference>;
}
interface OpenApi {
  paths: Record<string, Record<string, OperationObject | (Parameter | Reference)[]>>;
}

const METHODS = ['get', 'put', 'post', 'delete', 'patch', 'head', 'options'];
/** Ajv's key for the whole description; schemas are compiled as `$ref`s into it. */
const SPEC_ID = 'github';

const pointerPart = (part: string) => part.replaceAll('~', '~0').replaceAll('/', '~1');

interface ParameterCheck {
  name: string;
  in: Parameter['in'];
  required: boolean;
  /** The JSON pointer of its schema in the description. */
  schemaPointer: string;
  schema: Schema;
}

/** One operation of the description, its validators compiled on first use. */
export interface Operation {
  operationId: string;
  method: string;
  /** The path template, e.g. "/repos/{owner}/{repo}/deployments". */
  template: string;
  readonly pointer: string;
  readonly definition: OperationObject;
  compiled?: CompiledOperation;
}

interface CompiledOperation {
  parameters: ParameterCheck[];
  pathParams: ValidateFunction;
  query: ValidateFunction;
  body?: { required: boolean; contentTypes: string[]; validate?: ValidateFunction; fields?: Set<string> };
  responses: Map<string, ValidateFunction | null>;
}

interface PathTemplate {
  template: string;
  regex: RegExp;
  names: string[];
  /** Literal characters: a more literal template wins ("/git/refs" over "/git/{x}"). */
  weight: number;
  operations: Map<string, Operation>;
}

/** GitHub's formats that ajv-formats does not know: numbers, and free-form or "owner/name" text. */
const NUMBER_FORMATS: Record<string, (value: number) => boolean> = {
  int32: (value) => Number.isInteger(value) && Math.abs(value) <= 2 ** 31,
  int64: (value) => Number.isInteger(value),
  double: () => true,
  timestamp: () => true,
};
const STRING_FORMATS: Record<string, (value: string) => boolean> = {
  binary: () => true,
  'repo.nwo': (value) => /^[^/]+\/[^/]+$/.test(value),
};

export class OpenApiDescription {
  private readonly ajv: Ajv;
  private readonly templates: PathTemplate[] = [];
  readonly byOperationId = new Map<string, Operation>();

  private constructor(private readonly spec: OpenApi) {
    this.ajv = new Ajv({ strict: false, allErrors: true, validateSchema: false, verbose: true });
    ajvFormats.default(this.ajv);
    for (const [name, validate] of Object.entries(NUMBER_FORMATS))
      this.ajv.addFormat(name, { type: 'number', validate });
    for (const [name, validate] of Object.entries(STRING_FORMATS))
      this.ajv.addFormat(name, { type: 'string', validate });
    this.ajv.addSchema(spec as unknown as Schema, SPEC_ID);
    for (const [template, item] of Object.entries(spec.paths)) {
      const names: string[] = [];
      const source = template
        .split(/(\{[^}]+\})/)
        .map((part) => {
          const name = /^\{([^}]+)\}$/.exec(part)?.[1];
          if (name === undefined) return part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
          names.push(name);
          return '([^/]+)';
        })
        .join('');
      const operations = new Map<string, Operation>();
      for (const method of METHODS) {
        const definition = item[method] as OperationObject | undefined;
        if (!definition) continue;
        const operation: Operation = {
          operationId: definition.operationId,
          method: method.toUpperCase(),
          template,
          pointer: `#/paths/${pointerPart(template)}/${method}`,
          definition,
        };
        operations.set(operation.method, operation);
        this.byOperationId.set(operation.operationId, operation);
      }
      this.templates.push({
        template,
        regex: new RegExp(`^${source}$`),
        names,
        weight: template.replace(/\{[^}]+\}/g, '').length,
        operations,
      });
    }
    this.templates.sort((a, b) => b.weight - a.weight);
  }

  /** Loaded once per test file (jest gives each its own module registry). */
  static load(): Promise<OpenApiDescription> {
    loading ??= (async () => {
      const file = createRequire(import.meta.url).resolve('@octokit/openapi/generated/api.github.com.json');
      const started = performance.now();
      const spec = JSON.parse(await readFile(file, 'utf8')) as OpenApi;
      allowNullWithoutType(spec);
      const description = new OpenApiDescription(spec);
      description.loadMs = performance.now() - started;
      return description;
    })();
    return loading;
  }

  /** How long reading and indexing the description took, for the curious. */
  loadMs = 0;

  /** The operation for a request path (as sent, still percent-encoded), or what was wrong. */
  match(
    method: string,
    path: string,
  ): { operation: Operation; params: Record<string, string> } | { error: string } {
    let methods: string[] | undefined;
    for (const template of this.templates) {
      const found = template.regex.exec(path);
      if (!found) continue;
      const operation = template.operations.get(method);
      if (!operation) {
        methods ??= [...template.operations.keys()];
        continue;
      }
      const params: Record<string, string> = {};
      template.names.forEach((name, i) => (params[name] = decodeURIComponent(found[i + 1] ?? '')));
      return { operation, params };
    }
    return {
      error: methods
        ? `GitHub has no ${method} operation on this path (it has ${methods.join(', ')})`
        : 'no such path in GitHub\u2019s REST API',
    };
  }

  private resolve<T extends object>(node: T | Reference, pointer: string): { value: T; pointer: string } {
    let current: unknown = node;
    let at = pointer;
    while (typeof current === 'object' && current !== null && '$ref' in current) {
      at = (current as Reference).$ref;
      current = at
        .slice(2)
        .split('/')
        .map((part) => part.replaceAll('~1', '/').replaceAll('~0', '~'))
        .reduce<unknown>((into, part) => (into as Record<string, unknown>)[part], this.spec);
    }
    return { value: current as T, pointer: at };
  }

  private schemaRef(pointer: string): Schema {
    return { $ref: `${SPEC_ID}${pointer}` };
  }

  compile(operation: Operation): CompiledOperation {
    if (operation.compiled) return operation.compiled;
    const { definition, pointer } = operation;
    const pathItemPointer = pointer.slice(0, pointer.lastIndexOf('/'));
    // Parameters may sit on the path item, shared by its operations.
    const shared = (this.spec.paths[operation.template]?.parameters ?? []) as (Parameter | Reference)[];
    const parameters = new Map<string, ParameterCheck>();
    const collect = (list: (Parameter | Reference)[], listPointer: string) =>
      list.forEach((entry, i) => {
        const { value, pointer: at } = this.resolve<Parameter>(entry, `${listPointer}/${i}`);
        const schema = this.resolve<Schema>(value.schema ?? {}, `${at}/schema`);
        parameters.set(`${value.in}:${value.name}`, {
          name: value.name,
          in: value.in,
          required: value.required === true,
          schemaPointer: schema.pointer,
          schema: schema.value,
        });
      });
    collect(shared, `${pathItemPointer}/parameters`);
    collect(definition.parameters ?? [], `${pointer}/parameters`);
    const list = [...parameters.values()];
    const objectOf = (where: Parameter['in']) => {
      const chosen = list.filter((each) => each.in === where);
      return this.ajv.compile({
        type: 'object',
        properties: Object.fromEntries(chosen.map((each) => [each.name, this.schemaRef(each.schemaPointer)])),
        required: chosen.filter((each) => each.required).map((each) => each.name),
      });
    };

    let body: CompiledOperation['body'];
    if (definition.requestBody) {
      const { value, pointer: at } = this.resolve<RequestBody>(
        definition.requestBody,
        `${pointer}/requestBody`,
      );
      const contentTypes = Object.keys(value.content);
      const json = value.content['application/json'];
      let fields: Set<string> | undefined;
      let validate: ValidateFunction | undefined;
      if (json?.schema) {
        const schemaPointer = `${at}/content/application~1json/schema`;
        const schema = this.resolve<Schema>(json.schema, schemaPointer);
        validate = this.ajv.compile(this.schemaRef(schema.pointer));
        // The spec rarely closes its objects, but GitHub ignores a field it does not know: a
        // misspelt field would pass silently. Flag fields the operation does not declare.
        if (
          schema.value.type === 'object' &&
          schema.value.properties &&
          schema.value.additionalProperties === undefined
        ) {
          fields = new Set(Object.keys(schema.value.properties as object));
        }
      }
      body = { required: value.required === true, contentTypes, validate, fields };
    }
    operation.compiled = {
      parameters: list,
      pathParams: objectOf('path'),
      query: objectOf('query'),
      body,
      responses: new Map(),
    };
    return operation.compiled;
  }

  /** The validator of a documented answer's JSON, or null when the status is not documented. */
  responseValidator(operation: Operation, status: number): ValidateFunction | null {
    const compiled = this.compile(operation);
    const key = String(status);
    if (!compiled.responses.has(key)) {
      const declared = operation.definition.responses[key];
      let validate: ValidateFunction | null = null;
      if (declared) {
        const { value, pointer } = this.resolve<Response>(declared, `${operation.pointer}/responses/${key}`);
        if (value.content?.['application/json']?.schema) {
          validate = this.ajv.compile(this.schemaRef(`${pointer}/content/application~1json/schema`));
        }
      }
      compiled.responses.set(key, validate);
    }
    return compiled.responses.get(key) ?? null;
  }
}

let loading: Promise<OpenApiDescription> | undefined;

/**
 * OpenAPI 3.0 lets `nullable: true` stand without a `type` (e.g. beside `allOf`); ajv refuses to
 * compile that, so such schemas become "anyOf: [the schema, null]" once, at load.
 */
function allowNullWithoutType(node: unknown): void {
  if (Array.isArray(node)) {
    for (const each of node) allowNullWithoutType(each);
    return;
  }
  if (typeof node !== 'object' || node === null) return;
  const record = node as Record<string, unknown>;
  for (const value of Object.values(record)) allowNullWithoutType(value);
  if (record.nullable === true && !('type' in record)) {
    const { nullable: _, ...rest } = record;
    for (const key of Object.keys(record)) delete record[key];
    record.anyOf = [rest, { type: 'null' }];
  }
}

/** "body/state must be equal to one of the allowed values (error, failure, …)" */
function describeErrors(where: string, errors: ErrorObject[] | null | undefined): string[] {
  return (errors ?? []).map((error) => {
    const at = `${where}${error.instancePath}`;
    const params = error.params as Record<string, unknown>;
    let detail = error.message ?? error.keyword;
    if (error.keyword === 'enum') detail += ` (${(params.allowedValues as unknown[]).join(', ')})`;
    if (error.keyword === 'required') detail = `needs "${String(params.missingProperty)}"`;
    if (error.keyword === 'additionalProperties') detail += ` "${String(params.additionalProperty)}"`;
    const found = error.keyword === 'required' ? '' : `, found ${JSON.stringify(error.data)?.slice(0, 80)}`;
    return `${at} ${detail}${found}`;
  });
}

/** Path and query values arrive as text; the schemas say what they should be. */
function coerce(schema: Schema, values: string[]): unknown {
  const type = schema.type;
  const one = values[values.length - 1] ?? '';
  if (type === 'array') {
    const items = (schema.items as Schema | undefined) ?? {};
    return values.flatMap((value) => value.split(',')).map((value) => coerce(items, [value]));
  }
  if (type === 'integer' && /^-?\d+$/.test(one)) return Number(one);
  if (type === 'number' && one.trim() !== '' && !Number.isNaN(Number(one))) return Number(one);
  if (type === 'boolean' && (one === 'true' || one === 'false')) return one === 'true';
  return one;
}

// ---------------------------------------------------------------------------------------------
// The fake's state and behaviour

export interface GitHubState {
  /** The account every token acts as. */
  user: SimpleUser;
  /** Branch and tag names (e.g. "main", "v1.2.0") to commits; any 40-hex ref is a commit too. */
  refs: Map<string, string>;
  /** Oldest first. */
  deployments: Deployment[];
  /** By deployment id, oldest first. */
  deploymentStatuses: Map<number, DeploymentStatus[]>;
  /** Actions cache entries, oldest first (test/support/actions-services.ts stores them). */
  caches: StoredCache[];
  /** Workflow artifacts, oldest first (test/support/actions-services.ts stores them). */
  artifacts: StoredArtifact[];
  /**
   * Pull requests of every repository, oldest first, as "get a pull request" answers them; the
   * repository is the one of `base.repo`. Their numbers are per repository, from 1, and are
   * their issue numbers too (the fake has no plain issues).
   */
  pulls: PullRequest[];
  /** Comments on pull requests (issue comments), oldest first; `issue_url` says whose. */
  comments: IssueComment[];
  /** The labels of every repository; `url` says whose. "Add labels" creates those it lacks. */
  labels: Label[];
  /** What "get a repository" answers as `default_branch`, for every repository. */
  defaultBranch: string;
  nextId: number;
}

/** A request that passed the checks, as a route sees it. */
export interface Call {
  operation: Operation;
  /** Path parameters, typed per the description (deployment_id is a number). */
  params: Record<string, unknown>;
  query: Record<string, unknown>;
  body: Record<string, unknown>;
  /** The fake's URL, for the `url` fields of answers. */
  apiUrl: string;
  state: GitHubState;
  /** The bare git repository standing in for the repository's remote, when the test gave one. */
  origin?: string;
}

export interface Reply {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
}

export type Route = (call: Call) => Reply;

const error = (status: number, message: string, extra: Record<string, unknown> = {}): Reply => ({
  status,
  body: { message, documentation_url: DOCS, status: String(status), ...extra },
});

function user(apiUrl: string): SimpleUser {
  const login = 'github-actions[bot]';
  const api = `${apiUrl}/users/${encodeURIComponent(login)}`;
  return {
    login,
    id: 41898282,
    node_id: 'MDM6Qm90NDE4OTgyODI=',
    avatar_url: 'https://avatars.githubusercontent.com/in/15368?v=4',
    gravatar_id: '',
    url: api,
    html_url: 'https://github.com/apps/github-actions',
    followers_url: `${api}/followers`,
    following_url: `${api}/following{/other_user}`,
    gists_url: `${api}/gists{/gist_id}`,
    starred_url: `${api}/starred{/owner}{/repo}`,
    subscriptions_url: `${api}/subscriptions`,
    organizations_url: `${api}/orgs`,
    repos_url: `${api}/repos`,
    events_url: `${api}/events{/privacy}`,
    received_events_url: `${api}/received_events`,
    type: 'Bot',
    site_admin: false,
  };
}

const nodeId = (kind: string, id: number) => Buffer.from(`0:${kind}${id}`).toString('base64');
const now = () => new Date().toISOString().replace(/\.\d+Z$/, 'Z');

function findDeployment(call: Call): Deployment | undefined {
  const repositoryUrl = `${call.apiUrl}/repos/${call.params.owner}/${call.params.repo}`;
  return call.state.deployments.find(
    (each) => each.id === call.params.deployment_id && each.repository_url === repositoryUrl,
  );
}

const repositoryOf = (call: Call) => `${String(call.params.owner)}/${String(call.params.repo)}`;

/** GitHub reports an artifact past its expiry as expired. */
const withExpiry = (artifact: Artifact): Artifact => ({
  ...artifact,
  expired:
    artifact.expired || (artifact.expires_at !== null && Date.parse(artifact.expires_at) <= Date.now()),
});

function page<T>(call: Call, items: T[]): Reply {
  const perPage = Math.min(Number(call.query.per_page ?? 30), 100);
  const number = Number(call.query.page ?? 1);
  const slice = items.slice((number - 1) * perPage, number * perPage);
  const last = Math.max(1, Math.ceil(items.length / perPage));
  const headers: Record<string, string> = {};
  if (number < last) {
    const path = call.operation.template.replace(/\{([^}]+)\}/g, (_, name: string) =>
      encodeURIComponent(String(call.params[name])),
    );
    const link = (n: number) => {
      const target = new URL(path, call.apiUrl);
      for (const [key, value] of Object.entries(call.query)) target.searchParams.set(key, String(value));
      target.searchParams.set('page', String(n));
      return target.toString();
    };
    headers.link = `<${link(number + 1)}>; rel="next", <${link(last)}>; rel="last"`;
  }
  return { status: 200, body: slice, headers };
}

// Repositories and pull requests, for the rollback pull request.

const GITHUB_WEB = 'https://github.com';
/** A stable number from text: the same repository or owner has the same id in every answer. */
const idOf = (text: string) => createHash('sha1').update(text).digest().readUInt32BE(0) >>> 1;

/**
 * A repository's owner. The fake cannot tell a user from an organization; workflows that deploy
 * mostly run in an organization's repositories.
 */
function owner(apiUrl: string, login: string): SimpleUser {
  const api = `${apiUrl}/users/${encodeURIComponent(login)}`;
  const id = idOf(`owner:${login}`);
  return {
    login,
    id,
    node_id: nodeId('Organization', id),
    avatar_url: `https://avatars.githubusercontent.com/u/${id}?v=4`,
    gravatar_id: '',
    url: api,
    html_url: `${GITHUB_WEB}/${login}`,
    followers_url: `${api}/followers`,
    following_url: `${api}/following{/other_user}`,
    gists_url: `${api}/gists{/gist_id}`,
    starred_url: `${api}/starred{/owner}{/repo}`,
    subscriptions_url: `${api}/subscriptions`,
    organizations_url: `${api}/orgs`,
    repos_url: `${api}/repos`,
    events_url: `${api}/events{/privacy}`,
    received_events_url: `${api}/received_events`,
    type: 'Organization',
    site_admin: false,
  };
}

const repositoryUrlOf = (call: Call) => `${call.apiUrl}/repos/${repositoryOf(call)}`;

/**
 * "Get a repository" for any owner/name: every repository exists in the fake. It is both a
 * full-repository and the "repository" a pull request's head and base carry (which also require
 * the deprecated `has_downloads`), so one builder serves both.
 */
function repository(call: Call): FullRepository & PullRequest['head']['repo'] {
  const login = String(call.params.owner);
  const name = String(call.params.repo);
  const fullName = `${login}/${name}`;
  const api = repositoryUrlOf(call);
  const html = `${GITHUB_WEB}/${fullName}`;
  const id = idOf(`repository:${fullName}`);
  const openIssues = pullsOf(call).filter((each) => each.state === 'open').length;
  return {
    id,
    node_id: nodeId('Repository', id),
    name,
    full_name: fullName,
    owner: owner(call.apiUrl, login),
    private: false,
    visibility: 'public',
    html_url: html,
    description: null,
    fork: false,
    url: api,
    archive_url: `${api}/{archive_format}{/ref}`,
    assignees_url: `${api}/assignees{/user}`,
    blobs_url: `${api}/git/blobs{/sha}`,
    branches_url: `${api}/branches{/branch}`,
    collaborators_url: `${api}/collaborators{/collaborator}`,
    comments_url: `${api}/comments{/number}`,
    commits_url: `${api}/commits{/sha}`,
    compare_url: `${api}/compare/{base}...{head}`,
    contents_url: `${api}/contents/{+path}`,
    contributors_url: `${api}/contributors`,
    deployments_url: `${api}/deployments`,
    downloads_url: `${api}/downloads`,
    events_url: `${api}/events`,
    forks_url: `${api}/forks`,
    git_commits_url: `${api}/git/commits{/sha}`,
    git_refs_url: `${api}/git/refs{/sha}`,
    git_tags_url: `${api}/git/tags{/sha}`,
    git_url: `git://github.com/${fullName}.git`,
    issue_comment_url: `${api}/issues/comments{/number}`,
    issue_events_url: `${api}/issues/events{/number}`,
    issues_url: `${api}/issues{/number}`,
    keys_url: `${api}/keys{/key_id}`,
    labels_url: `${api}/labels{/name}`,
    languages_url: `${api}/languages`,
    merges_url: `${api}/merges`,
    milestones_url: `${api}/milestones{/number}`,
    notifications_url: `${api}/notifications{?since,all,participating}`,
    pulls_url: `${api}/pulls{/number}`,
    releases_url: `${api}/releases{/id}`,
    ssh_url: `git@github.com:${fullName}.git`,
    stargazers_url: `${api}/stargazers`,
    statuses_url: `${api}/statuses/{sha}`,
    subscribers_url: `${api}/subscribers`,
    subscription_url: `${api}/subscription`,
    tags_url: `${api}/tags`,
    teams_url: `${api}/teams`,
    trees_url: `${api}/git/trees{/sha}`,
    clone_url: `${html}.git`,
    mirror_url: null,
    hooks_url: `${api}/hooks`,
    svn_url: html,
    homepage: null,
    language: null,
    forks_count: 0,
    forks: 0,
    stargazers_count: 0,
    watchers_count: 0,
    watchers: 0,
    size: 0,
    default_branch: call.state.defaultBranch,
    // GitHub counts open pull requests among open issues.
    open_issues_count: openIssues,
    open_issues: openIssues,
    is_template: false,
    topics: [],
    has_issues: true,
    has_projects: true,
    has_wiki: true,
    has_pages: false,
    has_downloads: true,
    has_discussions: false,
    archived: false,
    disabled: false,
    pushed_at: now(),
    created_at: '2020-01-01T00:00:00Z',
    updated_at: now(),
    allow_rebase_merge: true,
    allow_squash_merge: true,
    allow_merge_commit: true,
    allow_auto_merge: false,
    delete_branch_on_merge: false,
    allow_forking: true,
    web_commit_signoff_required: false,
    network_count: 0,
    subscribers_count: 0,
    license: null,
  };
}

/**
 * Git on the origin (a bare repository), run synchronously because routes answer synchronously;
 * a test's repository is small. Exit 1 is git's "no" (no such ref, not an ancestor); any other
 * failure, such as an origin that is not a repository, throws, so the fake reports a crash
 * instead of answering a 422 nobody could explain.
 */
function git(origin: string, args: string[]): string | undefined {
  try {
    return execFileSync('git', ['--git-dir', origin, ...args], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
    }).trim();
  } catch (caught) {
    if ((caught as { status?: unknown }).status === 1) return undefined;
    throw caught;
  }
}

/**
 * The commit a branch points at, or undefined when the repository has no such branch. With an
 * origin that is the origin's word; without one, branches are not checked: `state.refs` names
 * the commit when it has the branch, and any other branch gets a made-up one of its own.
 */
function branchSha(call: Call, branch: string): string | undefined {
  if (call.origin) return git(call.origin, ['rev-parse', '--verify', '--quiet', `refs/heads/${branch}`]);
  return call.state.refs.get(branch) ?? createHash('sha1').update(branch).digest('hex');
}

const isAncestor = (origin: string, ancestor: string, of: string) =>
  git(origin, ['merge-base', '--is-ancestor', ancestor, of]) !== undefined;

/** Whether head has no commits beyond base, the case GitHub refuses to open a pull request for. */
function nothingToPull(call: Call, headSha: string, baseSha: string): boolean {
  if (headSha === baseSha) return true;
  return call.origin !== undefined && isAncestor(call.origin, headSha, baseSha);
}

type Changes = Pick<PullRequest, 'commits' | 'additions' | 'deletions' | 'changed_files'>;

/** What GitHub counts: commits on head not on base, and the diff from their merge base. */
function changes(call: Call, headSha: string, baseSha: string): Changes {
  if (!call.origin)
    return { commits: headSha === baseSha ? 0 : 1, additions: 0, deletions: 0, changed_files: 0 };
  const commits = Number(git(call.origin, ['rev-list', '--count', `${baseSha}..${headSha}`]) ?? 0);
  const files = (git(call.origin, ['diff', '--numstat', `${baseSha}...${headSha}`]) ?? '')
    .split('\n')
    .filter(Boolean)
    .map((line) => line.split('\t'));
  // Binary files count as changed, with "-" for their lines.
  const sum = (column: 0 | 1) => files.reduce((total, each) => total + (Number(each[column]) || 0), 0);
  return { commits, additions: sum(0), deletions: sum(1), changed_files: files.length };
}

/** The pull requests of the call's repository, oldest first. */
const pullsOf = (call: Call) =>
  call.state.pulls.filter((each) => each.base.repo.full_name === repositoryOf(call));

/**
 * GitHub's 422 for a pull request, e.g. `{ field: 'head', code: 'invalid' }` or
 * `{ code: 'custom', message: 'No commits between main and main' }`.
 */
const invalidPull = (...errors: Record<string, string>[]) =>
  error(422, 'Validation Failed', { errors: errors.map((each) => ({ resource: 'PullRequest', ...each })) });

/** The open pull request from the same head into the same base, which GitHub allows only one of. */
const openTwin = (call: Call, headLabel: string, baseRef: string, except?: number) =>
  pullsOf(call).find(
    (each) =>
      each.state === 'open' &&
      each.number !== except &&
      each.head.label === headLabel &&
      each.base.ref === baseRef,
  );

const alreadyExists = (headLabel: string) =>
  invalidPull({ code: 'custom', message: `A pull request already exists for ${headLabel}.` });

/** A pull request tracks its head branch while open: a push, even a force-push, shows at the next read. */
function withHead(call: Call, pull: PullRequest, sha: string): void {
  if (pull.head.sha === sha) return;
  pull.head.sha = sha;
  pull.statuses_url = `${repositoryUrlOf(call)}/statuses/${sha}`;
  pull._links.statuses.href = pull.statuses_url;
  Object.assign(pull, changes(call, sha, pull.base.sha));
  pull.updated_at = now();
}

/**
 * Reads an open pull request's head branch again, as GitHub's answers do: a new head commit
 * shows, and a deleted head branch closes the pull request (GitHub closes it on the push that
 * deletes the branch). A closed pull request keeps the head it had when it closed.
 */
function refresh(call: Call, pull: PullRequest): PullRequest {
  if (pull.state !== 'open') return pull;
  const sha = call.origin ? branchSha(call, pull.head.ref) : call.state.refs.get(pull.head.ref);
  if (sha) {
    withHead(call, pull, sha);
  } else if (call.origin) {
    pull.state = 'closed';
    pull.closed_at = pull.updated_at = now();
  }
  return pull;
}

/** The pull request (or, the same number, issue) of the call's path, read again from the origin. */
function findPull(call: Call, number: unknown): PullRequest | undefined {
  const pull = pullsOf(call).find((each) => each.number === number);
  return pull && refresh(call, pull);
}

/** The fields "list pull requests" leaves out: GitHub computes them for a single pull request only. */
const NOT_LISTED = [
  'merged',
  'mergeable',
  'rebaseable',
  'mergeable_state',
  'merged_by',
  'comments',
  'review_comments',
  'maintainer_can_modify',
  'commits',
  'additions',
  'deletions',
  'changed_files',
] as const;

function simple(pull: PullRequest): PullRequestSimple {
  const listed: Record<string, unknown> = { ...pull };
  for (const field of NOT_LISTED) delete listed[field];
  // The listing's schema has a label's description as a string, where the full pull request
  // (and the label itself) allow null: a label made without one is listed with ''.
  listed.labels = pull.labels.map((label) => ({ ...label, description: label.description ?? '' }));
  return listed as unknown as PullRequestSimple;
}

/** "owner:branch" as GitHub takes `head`; a bare branch name means the repository's owner. */
function parseHead(call: Call, head: string): { owner: string; ref: string } {
  const colon = head.indexOf(':');
  return colon < 0
    ? { owner: String(call.params.owner), ref: head }
    : { owner: head.slice(0, colon), ref: head.slice(colon + 1) };
}

/** One side of a pull request, as its `head` and `base` describe a branch of the repository. */
function side(call: Call, ref: string, sha: string): PullRequest['head'] {
  const repo = repository(call);
  return { label: `${repo.owner.login}:${ref}`, ref, sha, repo, user: repo.owner };
}

/**
 * What the fake does, per operationId. Adding behaviour (git refs, say) is adding an entry; a
 * route the description has but this table lacks is answered 501 and reported as a violation, so
 * a test never passes against a route nobody implemented.
 */
export const routes: Record<string, Route> = {
  'repos/create-deployment': (call) => {
    const { state, params, body, apiUrl } = call;
    const ref = String(body.ref);
    const sha = /^[0-9a-f]{40}$/i.test(ref) ? ref.toLowerCase() : state.refs.get(ref);
    if (!sha) return error(422, `No ref found for: ${ref}`);
    const id = state.nextId++;
    const environment = typeof body.environment === 'string' ? body.environment : 'production';
    const repositoryUrl = `${apiUrl}/repos/${params.owner}/${params.repo}`;
    const deployment: Deployment = {
      url: `${repositoryUrl}/deployments/${id}`,
      id,
      node_id: nodeId('Deployment', id),
      sha,
      ref,
      task: typeof body.task === 'string' ? body.task : 'deploy',
      payload: (body.payload as Deployment['payload'] | undefined) ?? {},
      original_environment: environment,
      environment,
      description: typeof body.description === 'string' ? body.description : '',
      creator: state.user,
      created_at: now(),
      updated_at: now(),
      statuses_url: `${repositoryUrl}/deployments/${id}/statuses`,
      repository_url: repositoryUrl,
      transient_environment: body.transient_environment === true,
      production_environment:
        typeof body.production_environment === 'boolean'
          ? body.production_environment
          : environment === 'production',
      performed_via_github_app: null,
    };
    state.deployments.push(deployment);
    state.deploymentStatuses.set(id, []);
    return { status: 201, body: deployment, headers: { location: deployment.url } };
  },

  'repos/list-deployments': (call) => {
    const repositoryUrl = `${call.apiUrl}/repos/${call.params.owner}/${call.params.repo}`;
    const { sha, ref, task, environment } = call.query;
    const matching = call.state.deployments
      .filter(
        (each) =>
          each.repository_url === repositoryUrl &&
          (sha === undefined || each.sha === sha) &&
          (ref === undefined || each.ref === ref) &&
          (task === undefined || each.task === task) &&
          (environment === undefined || each.environment === environment),
      )
      .reverse();
    return page(call, matching);
  },

  'repos/get-deployment': (call) => {
    const deployment = findDeployment(call);
    return deployment ? { status: 200, body: deployment } : error(404, 'Not Found');
  },

  'repos/create-deployment-status': (call) => {
    const { state, body } = call;
    const deployment = findDeployment(call);
    if (!deployment) return error(404, 'Not Found');
    const statuses = state.deploymentStatuses.get(deployment.id) ?? [];
    const id = state.nextId++;
    const logUrl = typeof body.log_url === 'string' ? body.log_url : String(body.target_url ?? '');
    const status: DeploymentStatus = {
      url: `${deployment.url}/statuses/${id}`,
      id,
      node_id: nodeId('DeploymentStatus', id),
      state: body.state as DeploymentStatus['state'],
      creator: state.user,
      description: String(body.description ?? ''),
      environment: String(body.environment ?? statuses.at(-1)?.environment ?? deployment.environment),
      target_url: logUrl,
      log_url: logUrl,
      environment_url: String(body.environment_url ?? ''),
      created_at: now(),
      updated_at: now(),
      deployment_url: deployment.url,
      repository_url: deployment.repository_url,
      performed_via_github_app: null,
    };
    statuses.push(status);
    state.deploymentStatuses.set(deployment.id, statuses);
    // As documented for `auto_inactive` (default true): a success retires earlier successful
    // deployments of the same environment — only non-transient, non-production ones.
    if (status.state === 'success' && body.auto_inactive !== false) {
      for (const earlier of state.deployments) {
        const history = state.deploymentStatuses.get(earlier.id) ?? [];
        if (
          earlier.id < deployment.id &&
          earlier.repository_url === deployment.repository_url &&
          earlier.environment === deployment.environment &&
          !earlier.transient_environment &&
          !earlier.production_environment &&
          history.at(-1)?.state === 'success'
        ) {
          const inactiveId = state.nextId++;
          history.push({
            ...history.at(-1)!,
            id: inactiveId,
            url: `${earlier.url}/statuses/${inactiveId}`,
            node_id: nodeId('DeploymentStatus', inactiveId),
            state: 'inactive',
            created_at: now(),
            updated_at: now(),
          });
        }
      }
    }
    return { status: 201, body: status, headers: { location: status.url } };
  },

  'repos/list-deployment-statuses': (call) => {
    const deployment = findDeployment(call);
    if (!deployment) return error(404, 'Not Found');
    return page(call, [...(call.state.deploymentStatuses.get(deployment.id) ?? [])].reverse());
  },

  'repos/get-deployment-status': (call) => {
    const deployment = findDeployment(call);
    const status =
      deployment &&
      call.state.deploymentStatuses.get(deployment.id)?.find((each) => each.id === call.params.status_id);
    return status ? { status: 200, body: status } : error(404, 'Not Found');
  },

  // The Actions cache and artifacts: what the cache and artifact services (actions-services.ts)
  // stored, seen and deleted through the REST API.

  'actions/get-actions-cache-list': (call) => {
    const { key, ref } = call.query;
    const sort = String(call.query.sort ?? 'last_accessed_at') as
      'created_at' | 'last_accessed_at' | 'size_in_bytes';
    const sign = call.query.direction === 'asc' ? 1 : -1;
    const matching = call.state.caches
      .filter(
        (each) =>
          each.repository === repositoryOf(call) &&
          (key === undefined || each.entry.key?.startsWith(String(key))) &&
          (ref === undefined || each.entry.ref === ref),
      )
      .map((each) => each.entry)
      .sort(
        (a, b) => sign * (a[sort]! < b[sort]! ? -1 : a[sort]! > b[sort]! ? 1 : (a.id ?? 0) - (b.id ?? 0)),
      );
    const reply = page(call, matching);
    return { ...reply, body: { total_count: matching.length, actions_caches: reply.body } };
  },

  'actions/delete-actions-cache-by-id': (call) => {
    const at = call.state.caches.findIndex(
      (each) => each.repository === repositoryOf(call) && each.entry.id === call.params.cache_id,
    );
    if (at < 0) return error(404, 'Not Found');
    call.state.caches.splice(at, 1);
    return { status: 204 };
  },

  'actions/list-artifacts-for-repo': (call) => {
    const matching = call.state.artifacts
      .filter(
        (each) =>
          each.repository === repositoryOf(call) &&
          (call.query.name === undefined || each.artifact.name === call.query.name),
      )
      .map((each) => withExpiry(each.artifact))
      .reverse();
    const reply = page(call, matching);
    return { ...reply, body: { total_count: matching.length, artifacts: reply.body } };
  },

  'actions/delete-artifact': (call) => {
    const at = call.state.artifacts.findIndex(
      (each) => each.repository === repositoryOf(call) && each.artifact.id === call.params.artifact_id,
    );
    if (at < 0) return error(404, 'Not Found');
    call.state.artifacts.splice(at, 1);
    return { status: 204 };
  },

  'actions/download-artifact': (call) => {
    const found = call.state.artifacts.find(
      (each) => each.repository === repositoryOf(call) && each.artifact.id === call.params.artifact_id,
    );
    if (!found || call.params.archive_format !== 'zip') return error(404, 'Not Found');
    if (withExpiry(found.artifact).expired) return error(410, 'Artifact has expired');
    return { status: 302, headers: { location: found.archiveUrl } };
  },

  // Repositories and pull requests, what the rollback pull request needs. Branches are the
  // origin's when the test gave one (see `startGitHubApi`).

  'repos/get': (call) => ({ status: 200, body: repository(call) }),

  'pulls/list': (call) => {
    const { query } = call;
    const wanted = String(query.state ?? 'open');
    // GitHub filters by `head` only given as "owner:branch": a bare branch name is silently
    // ignored, so such a client gets every pull request (of `base`, when it gave one).
    const head =
      typeof query.head === 'string' && query.head.includes(':') ? parseHead(call, query.head) : undefined;
    const sort = String(query.sort ?? 'created');
    const sign = (query.direction ?? (sort === 'created' ? 'desc' : 'asc')) === 'asc' ? 1 : -1;
    const key = (pull: PullRequest) =>
      sort === 'popularity'
        ? pull.comments
        : Date.parse(sort === 'updated' ? pull.updated_at : pull.created_at);
    const month = 30 * 24 * 60 * 60 * 1000;
    const matching = pullsOf(call)
      .map((each) => refresh(call, each))
      .filter(
        (each) =>
          (wanted === 'all' || each.state === wanted) &&
          (!head ||
            (each.head.repo.owner.login.toLowerCase() === head.owner.toLowerCase() &&
              each.head.ref === head.ref)) &&
          (query.base === undefined || each.base.ref === query.base) &&
          // As documented: open for more than a month, with activity within the past month.
          (sort !== 'long-running' ||
            (Date.now() - Date.parse(each.created_at) > month &&
              Date.now() - Date.parse(each.updated_at) < month)),
      )
      .sort((a, b) => sign * (key(a) - key(b) || a.number - b.number));
    return page(call, matching.map(simple));
  },

  'pulls/get': (call) => {
    const pull = findPull(call, call.params.pull_number);
    return pull ? { status: 200, body: pull } : error(404, 'Not Found');
  },

  'pulls/create': (call) => {
    const { state, body } = call;
    if (body.issue !== undefined) {
      // Reported as a crash (a violation), not answered as if GitHub had refused.
      throw new Error('the fake does not turn issues into pull requests (body.issue)');
    }
    if (typeof body.title !== 'string') return invalidPull({ field: 'title', code: 'missing_field' });
    const head = parseHead(call, String(body.head));
    const baseRef = String(body.base);
    // A head in another owner's repository would be a fork's branch: the fake has no forks.
    const sameOwner = head.owner.toLowerCase() === String(call.params.owner).toLowerCase();
    const headSha = sameOwner ? branchSha(call, head.ref) : undefined;
    const baseSha = branchSha(call, baseRef);
    if (!headSha || !baseSha) {
      return invalidPull(
        ...(headSha ? [] : [{ field: 'head', code: 'invalid' }]),
        ...(baseSha ? [] : [{ field: 'base', code: 'invalid' }]),
      );
    }
    const headSide = side(call, head.ref, headSha);
    if (openTwin(call, headSide.label, baseRef)) return alreadyExists(headSide.label);
    if (nothingToPull(call, headSha, baseSha)) {
      return invalidPull({
        code: 'custom',
        message: `No commits between ${baseRef} and ${String(body.head)}`,
      });
    }
    const number = pullsOf(call).length + 1;
    const id = state.nextId++;
    const repositoryUrl = repositoryUrlOf(call);
    const url = `${repositoryUrl}/pulls/${number}`;
    const htmlUrl = `${GITHUB_WEB}/${repositoryOf(call)}/pull/${number}`;
    const issueUrl = `${repositoryUrl}/issues/${number}`;
    const statusesUrl = `${repositoryUrl}/statuses/${headSha}`;
    const reviewCommentUrl = `${repositoryUrl}/pulls/comments{/number}`;
    const link = (href: string) => ({ href });
    const created = now();
    const pull: PullRequest = {
      url,
      id,
      node_id: nodeId('PullRequest', id),
      html_url: htmlUrl,
      diff_url: `${htmlUrl}.diff`,
      patch_url: `${htmlUrl}.patch`,
      issue_url: issueUrl,
      commits_url: `${url}/commits`,
      review_comments_url: `${url}/comments`,
      review_comment_url: reviewCommentUrl,
      comments_url: `${issueUrl}/comments`,
      statuses_url: statusesUrl,
      number,
      state: 'open',
      locked: false,
      title: body.title,
      user: state.user,
      body: typeof body.body === 'string' ? body.body : null,
      labels: [],
      milestone: null,
      active_lock_reason: null,
      created_at: created,
      updated_at: created,
      closed_at: null,
      merged_at: null,
      merge_commit_sha: null,
      assignee: null,
      assignees: [],
      requested_reviewers: [],
      requested_teams: [],
      head: headSide,
      base: side(call, baseRef, baseSha),
      _links: {
        self: link(url),
        html: link(htmlUrl),
        issue: link(issueUrl),
        comments: link(`${issueUrl}/comments`),
        review_comments: link(`${url}/comments`),
        review_comment: link(reviewCommentUrl),
        commits: link(`${url}/commits`),
        statuses: link(statusesUrl),
      },
      author_association: 'NONE',
      auto_merge: null,
      draft: body.draft === true,
      merged: false,
      // GitHub works mergeability out in the background: null until it has, so a client must
      // not read null as "conflicts".
      mergeable: null,
      rebaseable: null,
      mergeable_state: 'unknown',
      merged_by: null,
      comments: 0,
      review_comments: 0,
      maintainer_can_modify: body.maintainer_can_modify === true,
      ...changes(call, headSha, baseSha),
    };
    state.pulls.push(pull);
    return { status: 201, body: pull, headers: { location: url } };
  },

  'pulls/update': (call) => {
    const { body } = call;
    const pull = findPull(call, call.params.pull_number);
    if (!pull) return error(404, 'Not Found');
    const baseRef = typeof body.base === 'string' ? body.base : pull.base.ref;
    let baseSha = pull.base.sha;
    if (baseRef !== pull.base.ref) {
      // Even when the same request reopens it.
      if (pull.state === 'closed') {
        return invalidPull({
          field: 'base',
          code: 'invalid',
          message: 'Cannot change the base branch of a closed pull request.',
        });
      }
      const sha = branchSha(call, baseRef);
      if (!sha) return invalidPull({ field: 'base', code: 'invalid' });
      if (openTwin(call, pull.head.label, baseRef, pull.number)) return alreadyExists(pull.head.label);
      baseSha = sha;
    }
    const reopening = body.state === 'open' && pull.state === 'closed';
    let headSha = pull.head.sha;
    if (reopening) {
      const stateCannotChange = (why: string) =>
        invalidPull({ field: 'state', code: 'custom', message: `state cannot be changed. ${why}` });
      if (call.origin) {
        const sha = branchSha(call, pull.head.ref);
        if (!sha) return stateCannotChange(`The ${pull.head.ref} branch has been deleted.`);
        // A closed pull request kept its head: only a branch that moved on from it can reopen.
        if (sha !== headSha && !isAncestor(call.origin, headSha, sha)) {
          return stateCannotChange(`The ${pull.head.ref} branch was force-pushed or recreated.`);
        }
        headSha = sha;
      }
      if (openTwin(call, pull.head.label, baseRef, pull.number)) return alreadyExists(pull.head.label);
    }
    if (typeof body.title === 'string') pull.title = body.title;
    if (typeof body.body === 'string') pull.body = body.body;
    if (typeof body.maintainer_can_modify === 'boolean')
      pull.maintainer_can_modify = body.maintainer_can_modify;
    if (baseRef !== pull.base.ref) {
      pull.base = side(call, baseRef, baseSha);
      Object.assign(pull, changes(call, pull.head.sha, baseSha));
    }
    if (body.state === 'closed' && pull.state === 'open') {
      pull.state = 'closed';
      pull.closed_at = now();
    }
    if (reopening) {
      pull.state = 'open';
      pull.closed_at = null;
      withHead(call, pull, headSha);
    }
    pull.updated_at = now();
    return { status: 200, body: pull };
  },

  // Issues: the fake's issues are its pull requests, as every pull request is an issue on GitHub.

  'issues/add-labels': (call) => {
    const pull = findPull(call, call.params.issue_number);
    if (!pull) return error(404, 'Not Found');
    // The description (as of this version) takes `{ labels }`, each a name or `{ name, … }`.
    const asked = (Array.isArray(call.body.labels) ? call.body.labels : []) as (
      string | { name: string; suggest?: boolean }
    )[];
    const labelsUrl = `${repositoryUrlOf(call)}/labels/`;
    for (const each of asked) {
      // A suggested label waits for a person to accept it: it is not on the issue yet.
      if (typeof each === 'object' && each.suggest === true) continue;
      const name = typeof each === 'string' ? each : each.name;
      // Label names are case-insensitive: "Rollback" is the repository's "rollback".
      const same = (label: { name: string }) => label.name.toLowerCase() === name.toLowerCase();
      let label = call.state.labels.find((known) => known.url.startsWith(labelsUrl) && same(known));
      if (!label) {
        // As GitHub does, a label the repository lacks is created, in its default grey.
        const id = call.state.nextId++;
        label = {
          id,
          node_id: nodeId('Label', id),
          url: `${labelsUrl}${encodeURIComponent(name)}`,
          name,
          description: null,
          color: 'ededed',
          default: false,
        };
        call.state.labels.push(label);
      }
      if (!pull.labels.some(same)) pull.labels.push({ ...label });
    }
    pull.updated_at = now();
    return { status: 200, body: pull.labels };
  },

  'issues/create-comment': (call) => {
    const { state, body } = call;
    const pull = findPull(call, call.params.issue_number);
    if (!pull) return error(404, 'Not Found');
    const id = state.nextId++;
    const comment: IssueComment = {
      id,
      node_id: nodeId('IssueComment', id),
      url: `${repositoryUrlOf(call)}/issues/comments/${id}`,
      // On a pull request, the comment's page is the pull request's.
      html_url: `${pull.html_url}#issuecomment-${id}`,
      body: String(body.body),
      user: state.user,
      created_at: now(),
      updated_at: now(),
      issue_url: pull.issue_url,
      author_association: 'NONE',
      performed_via_github_app: null,
    };
    state.comments.push(comment);
    pull.comments += 1;
    pull.updated_at = now();
    return { status: 201, body: comment, headers: { location: comment.url } };
  },
};

// ---------------------------------------------------------------------------------------------
// The server

export interface RecordedRequest {
  method: string;
  /** The path and query as sent. */
  url: string;
  /** The operation it matched, when it matched one. */
  operationId?: string;
  headers: Record<string, string | string[] | undefined>;
  /** The parsed JSON body, when there was one. */
  body?: unknown;
  /** What the fake answered. */
  status: number;
}

/** A canned answer for an operation, e.g. a 403 for a token without the permission. */
export interface SimulatedFailure {
  status: number;
  /** GitHub's message; defaults to what GitHub says for that status. */
  message?: string;
  headers?: Record<string, string>;
  /** How many calls get it; every call until `clear()` when omitted. */
  times?: number;
}

const GITHUB_MESSAGES: Record<number, string> = {
  401: 'Bad credentials',
  403: 'Resource not accessible by integration',
  404: 'Not Found',
  409: 'Conflict',
  422: 'Validation Failed',
  500: 'Server Error',
  502: 'Server Error',
  503: 'Service Unavailable',
};

export interface GitHubApi {
  /** Base URL to give Octokit (GITHUB_API_URL). */
  url: string;
  requests: RecordedRequest[];
  /** Every way a request broke GitHub's API description (or the fake's own answer did). */
  violations: string[];
  state: GitHubState;
  description: OpenApiDescription;
  /** Makes an operation (by operationId, e.g. "repos/create-deployment") answer with an error. */
  fail(operationId: string, failure: SimulatedFailure): void;
  /** Removes the simulated failures. */
  clear(): void;
  stop(): Promise<void>;
}

function readBody(request: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    request.on('error', reject);
  });
}

function header(request: IncomingMessage, name: string): string {
  const value = request.headers[name];
  return (Array.isArray(value) ? value.join(', ') : value) ?? '';
}

export interface GitHubApiOptions {
  /** Replaces or adds routes, by operationId. */
  routes?: Record<string, Route>;
  /**
   * A local bare git repository standing in for the repository's remote (every owner/name the
   * fake serves). Pull requests then need their head and base branches to exist in it, take
   * their commits from it, and follow pushes to it, as on GitHub. Without it, branches are
   * `state.refs` and are not checked.
   */
  origin?: string;
}

export async function startGitHubApi(options: GitHubApiOptions = {}): Promise<GitHubApi> {
  const description = await OpenApiDescription.load();
  const table = { ...routes, ...options.routes };
  const requests: RecordedRequest[] = [];
  const violations: string[] = [];
  const failures = new Map<string, SimulatedFailure>();
  let apiUrl = '';
  const state: GitHubState = {
    user: user('http://127.0.0.1'),
    refs: new Map([['main', createHash('sha1').update('main').digest('hex')]]),
    deployments: [],
    deploymentStatuses: new Map(),
    caches: [],
    artifacts: [],
    pulls: [],
    comments: [],
    labels: [],
    defaultBranch: 'main',
    nextId: 1,
  };

  const answer = (request: IncomingMessage, text: string, recorded: RecordedRequest): Reply => {
    const target = new URL(request.url ?? '/', apiUrl);
    const method = request.method ?? 'GET';
    const found = description.match(method, target.pathname);
    const label = `${method} ${target.pathname}`;
    if ('error' in found) {
      violations.push(`${label}: ${found.error}`);
      return error(404, 'Not Found');
    }
    const { operation } = found;
    recorded.operationId = operation.operationId;
    const name = `${method} ${operation.template} (${operation.operationId})`;
    const problems: string[] = [];
    const report = () => violations.push(...problems.map((problem) => `${name}: ${problem}`));

    // Headers: what GitHub requires of every client.
    const authorization = header(request, 'authorization');
    if (!/^(token|bearer) \S+$/i.test(authorization)) {
      problems.push('needs an Authorization header "token <token>" or "Bearer <token>"');
      report();
      return error(401, 'Requires authentication');
    }
    if (!header(request, 'user-agent')) {
      problems.push('has no User-Agent header (GitHub refuses such requests)');
      report();
      return error(
        403,
        'Request forbidden by administrative rules. Please make sure your request has a User-Agent header',
      );
    }
    const accept = header(request, 'accept');
    if (!/application\/(vnd\.github[\w.-]*(\+json)?|json)|\*\/\*/.test(accept)) {
      problems.push(`Accept is "${accept}"; GitHub's JSON is application/vnd.github+json`);
    }
    const version = header(request, 'x-github-api-version');
    if (version && !API_VERSIONS.includes(version)) {
      problems.push(`X-GitHub-Api-Version "${version}" is not one of ${API_VERSIONS.join(', ')}`);
      report();
      return error(400, `API version '${version}' is not supported.`);
    }

    const compiled = description.compile(operation);
    const params = Object.fromEntries(
      compiled.parameters
        .filter((each) => each.in === 'path')
        .map((each) => [each.name, coerce(each.schema, [found.params[each.name] ?? ''])]),
    );
    if (!compiled.pathParams(params))
      problems.push(...describeErrors('path parameter ', compiled.pathParams.errors));

    const declaredQuery = new Map(
      compiled.parameters.filter((each) => each.in === 'query').map((each) => [each.name, each]),
    );
    const query: Record<string, unknown> = {};
    for (const key of new Set(target.searchParams.keys())) {
      const declared = declaredQuery.get(key);
      if (!declared) {
        problems.push(`unknown query parameter "${key}" (GitHub ignores it)`);
        continue;
      }
      query[key] = coerce(declared.schema, target.searchParams.getAll(key));
    }
    if (!compiled.query(query)) problems.push(...describeErrors('query ', compiled.query.errors));

    let body: Record<string, unknown> = {};
    if (text.length > 0) {
      const contentType = header(request, 'content-type').split(';')[0]?.trim() ?? '';
      if (!compiled.body) {
        problems.push(`sends a body but the operation takes none: ${text.slice(0, 120)}`);
      } else if (!compiled.body.contentTypes.includes(contentType)) {
        problems.push(
          `Content-Type is "${contentType}"; the operation takes ${compiled.body.contentTypes.join(', ')}`,
        );
      } else if (contentType === 'application/json') {
        try {
          body = JSON.parse(text) as Record<string, unknown>;
        } catch {
          problems.push('body is not valid JSON');
          report();
          return error(400, 'Problems parsing JSON');
        }
        recorded.body = body;
        const { validate, fields } = compiled.body;
        if (validate && !validate(body)) problems.push(...describeErrors('body', validate.errors));
        if (fields && typeof body === 'object' && body !== null) {
          for (const key of Object.keys(body)) {
            if (!fields.has(key)) problems.push(`body has field "${key}", which the operation does not take`);
          }
        }
      }
    } else if (compiled.body?.required) {
      problems.push('needs a request body');
    }

    if (problems.length > 0) {
      report();
      return error(422, `Invalid request.\n\n${problems.join('\n')}`);
    }

    const failure = failures.get(operation.operationId);
    if (failure) {
      if (failure.times !== undefined && --failure.times <= 0) failures.delete(operation.operationId);
      const reply = error(failure.status, failure.message ?? GITHUB_MESSAGES[failure.status] ?? 'Error');
      return { ...reply, headers: failure.headers };
    }
    const route = table[operation.operationId];
    if (!route) {
      violations.push(`${name}: the fake does not implement this operation yet (add it to \`routes\`)`);
      return error(501, 'Not implemented by the fake GitHub API');
    }
    const reply = route({ operation, params, query, body, apiUrl, state, origin: options.origin });
    const validate = description.responseValidator(operation, reply.status);
    if (validate && !validate(reply.body)) {
      // GitHub answers "" for URLs never set (target_url, environment_url…) though the
      // description says `format: uri`; the fake does the same, so that is no violation.
      const real = (validate.errors ?? []).filter(
        (each) => !(each.keyword === 'format' && each.params.format === 'uri' && each.data === ''),
      );
      if (real.length > 0) {
        violations.push(
          ...describeErrors('', real).map((each) => `${name}: the fake's own answer: ${each.trim()}`),
        );
      }
    }
    return reply;
  };

  const server = createServer((request: IncomingMessage, response: ServerResponse) => {
    void (async () => {
      const text = await readBody(request);
      const recorded: RecordedRequest = {
        method: request.method ?? 'GET',
        url: request.url ?? '/',
        headers: request.headers,
        status: 0,
      };
      requests.push(recorded);
      let reply: Reply;
      try {
        reply = answer(request, text, recorded);
      } catch (caught) {
        violations.push(`${recorded.method} ${recorded.url}: the fake crashed: ${String(caught)}`);
        reply = error(500, 'Server Error');
      }
      recorded.status = reply.status;
      const payload = reply.body === undefined ? '' : JSON.stringify(reply.body);
      response.writeHead(reply.status, {
        ...(payload ? { 'content-type': 'application/json; charset=utf-8' } : {}),
        'x-github-request-id': `FAKE:${requests.length}`,
        'x-github-media-type': 'github.v3; format=json',
        ...reply.headers,
      });
      response.end(payload);
    })();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  apiUrl = `http://127.0.0.1:${port}`;
  state.user = user(apiUrl);

  return {
    url: apiUrl,
    requests,
    violations,
    state,
    description,
    fail(operationId, failure) {
      if (!description.byOperationId.has(operationId)) {
        throw new Error(`No operation "${operationId}" in GitHub's API description`);
      }
      failures.set(operationId, { ...failure });
    },
    clear: () => failures.clear(),
    stop: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((closed) => (closed ? reject(closed) : resolve()));
      }),
  };
}
