/**
 * A rehearsal of a GitHub Actions workflow on this machine: its jobs in `needs` order, each in a
 * fresh workspace, deciding `if:` as GitHub does, running `run:` steps with bash and this
 * repository's own actions from their committed dist/ exactly as the runner would
 * (runLikeTheRunner), and third-party actions through named local stand-ins (stand-ins.ts).
 *
 * It is meant to be honest rather than complete: what it does not rehearse (matrices, services,
 * containers, job-level continue-on-error, hashFiles…) is refused loudly, never skipped quietly.
 * Jobs run one at a time, in dependency order (GitHub would run independent ones side by side).
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { parse } from 'yaml';
import { parseOutputFile, runLikeTheRunner } from '../run-action.js';
import {
  ExpressionFailure,
  asJson,
  condition,
  evaluateValue,
  interpolate,
  isTruthy,
  scopeFor,
  type ContextName,
  type Status,
} from './expressions.js';
import { STAND_INS, actionName, type StandIn } from './stand-ins.js';

export type JobResultKind = 'success' | 'failure' | 'skipped' | 'cancelled';
export type StepOutcome = 'success' | 'failure' | 'skipped';

export interface StepResult {
  id?: string;
  name: string;
  outcome: StepOutcome;
  conclusion: StepOutcome;
  outputs: Record<string, string>;
  /** An action step's `with:` as evaluated, secrets masked (as the runner's log shows them). */
  inputs?: Record<string, string>;
}

export interface JobResult {
  id: string;
  name: string;
  result: JobResultKind;
  outputs: Record<string, string>;
  steps: StepResult[];
  /** This job's log: the runner's lines and every step's output (`::error::` lines as written). */
  log: string[];
  /** The job summary (every step's GITHUB_STEP_SUMMARY, in order). */
  summary: string;
  /** Recorded, not enforced: no reviewers, no wait timer, no queueing. */
  environment?: string;
  concurrency?: string;
  workspace?: string;
}

export interface RehearsalResult {
  conclusion: 'success' | 'failure';
  jobs: Record<string, JobResult>;
  /** Job ids in the order they were decided. */
  order: string[];
  /** on.workflow_call.outputs, evaluated after the jobs. */
  outputs: Record<string, string>;
  /** All the jobs' logs, in order. */
  log: string[];
}

export interface RehearsalOptions {
  /** The workflow file. */
  workflow: string;
  /** Which trigger's inputs apply; workflow_dispatch when the workflow has it, else workflow_call. */
  trigger?: 'workflow_dispatch' | 'workflow_call';
  /** github.event_name: for workflow_call the caller's event (push by default), else workflow_dispatch. */
  eventName?: string;
  inputs?: Record<string, string | number | boolean>;
  secrets?: Record<string, string>;
  /** A caller's `secrets: inherit`: every secret is passed, declared or not. */
  secretsInherited?: boolean;
  vars?: Record<string, string>;
  /** owner/name. */
  repository?: string;
  /** The bare git repository standing in for the GitHub repository (what actions/checkout clones). */
  origin?: string;
  /** github.sha: the origin's commit at `ref` by default. */
  sha?: string;
  /** github.ref, refs/heads/main by default. */
  ref?: string;
  /** github.token (and secrets.GITHUB_TOKEN). */
  token?: string;
  /** GITHUB_API_URL (a local fake of the API, say). */
  apiUrl?: string;
  serverUrl?: string;
  actor?: string;
  runId?: string;
  /** The runner machine's own environment, inherited by every step (PATH and HOME are added). */
  env?: Record<string, string>;
  /** Where the jobs' directories and the artifacts go; a temporary directory, removed after, when omitted. */
  dir?: string;
  /** Extra or replacement stand-ins, by `owner/name`. */
  standIns?: Record<string, StandIn>;
  /** Each log line as it happens. */
  onLine?: (line: string, job: string) => void;
}

/** A workflow the rehearsal cannot run as written (an unknown action, an unsupported key…). */
export class RehearsalError extends Error {}

type Yaml = Record<string, unknown>;
type Step = Yaml & { id?: string; name?: string; uses?: string; run?: string; with?: Yaml; env?: Yaml };
type Job = Yaml & { needs?: string | string[]; steps?: Step[]; outputs?: Yaml; env?: Yaml; uses?: string };

/** This repository's actions, as a workflow names them; they run from actions/<x>/dist. */
const OWN_ACTION = /^switchyard-actions\/switchyard\/actions\/([\w-]+)@.+$/i;
/** This repository's reusable workflows, called by name or by a ./ path from the repository root. */
const OWN_WORKFLOW = /^switchyard-actions\/switchyard\/(\.github\/workflows\/[\w.-]+\.ya?ml)@.+$/i;

/** The file a job's `uses:` calls, when it is one of this repository's workflows. */
function calledWorkflow(uses: string): string | undefined {
  const path = uses.startsWith('./') ? uses : OWN_WORKFLOW.exec(uses)?.[1];
  return path === undefined ? undefined : resolve(path);
}
const UNSUPPORTED_JOB_KEYS = ['strategy', 'services', 'container', 'continue-on-error'];
const SHELLS: Record<string, string> = {
  // GitHub's own table: an unspecified shell is `bash -e`, a named `bash` adds pipefail.
  '': 'bash -e {0}',
  bash: 'bash --noprofile --norc -eo pipefail {0}',
  sh: 'sh -e {0}',
};

const asList = (value: unknown): string[] =>
  value === undefined ? [] : Array.isArray(value) ? value.map(String) : [String(value)];
const asRecord = (value: unknown): Yaml => (value && typeof value === 'object' ? (value as Yaml) : {});

export async function rehearse(options: RehearsalOptions): Promise<RehearsalResult> {
  const workflowFile = resolve(options.workflow);
  const workflow = parse(readFileSync(workflowFile, 'utf8')) as Yaml;
  const jobs = asRecord(workflow.jobs) as Record<string, Job>;
  const standIns = { ...STAND_INS, ...options.standIns };
  const order = validate(jobs, standIns);

  const dir = options.dir ?? mkdtempSync(join(tmpdir(), 'switchyard-rehearsal-'));
  const artifacts = join(dir, 'artifacts');
  mkdirSync(artifacts, { recursive: true });
  try {
    return await new Rehearsal(options, workflowFile, workflow, jobs, standIns, dir, artifacts).run(order);
  } finally {
    if (!options.dir) rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * Refuses, before anything runs, what cannot be rehearsed honestly; returns the jobs in an
 * order where each comes after its needs (YAML order among the ready ones).
 */
function validate(jobs: Record<string, Job>, standIns: Record<string, StandIn>): string[] {
  const problems: string[] = [];
  for (const [id, job] of Object.entries(jobs)) {
    for (const need of asList(job.needs))
      if (!jobs[need]) problems.push(`job ${id} needs "${need}", which is not a job of this workflow`);
    for (const key of UNSUPPORTED_JOB_KEYS)
      if (job[key] !== undefined) problems.push(`job ${id}: "${key}" is not rehearsed here`);
    if (job.uses !== undefined) {
      const file = calledWorkflow(String(job.uses));
      if (!file)
        problems.push(`job ${id} calls ${job.uses}: only this repository's reusable workflows are rehearsed`);
      else if (!existsSync(file)) problems.push(`job ${id} calls ${job.uses}, but ${file} does not exist`);
    }
    for (const step of job.steps ?? []) {
      if (typeof step.uses !== 'string') continue;
      if (OWN_ACTION.test(step.uses)) {
        const action = OWN_ACTION.exec(step.uses)?.[1] as string;
        if (!existsSync(join('actions', action, 'dist', 'index.js')))
          problems.push(`job ${id} uses ${step.uses}, but actions/${action}/dist/index.js does not exist`);
      } else if (!standIns[actionName(step.uses)]) {
        problems.push(
          `job ${id} uses ${step.uses}, which has no local stand-in (add one to STAND_INS in scripts/workflow/stand-ins.ts)`,
        );
      }
    }
  }
  const order: string[] = [];
  const pending = Object.keys(jobs);
  while (problems.length === 0 && pending.length > 0) {
    const ready = pending.find((id) => asList(jobs[id]?.needs).every((need) => order.includes(need)));
    if (!ready) {
      problems.push(`the needs of ${pending.join(', ')} form a cycle`);
      break;
    }
    order.push(ready);
    pending.splice(pending.indexOf(ready), 1);
  }
  if (problems.length > 0)
    throw new RehearsalError(`cannot rehearse this workflow:\n  ${problems.join('\n  ')}`);
  return order;
}

class Rehearsal {
  private readonly results: Record<string, JobResult> = {};
  private readonly log: string[] = [];
  private readonly masks = new Set<string>();
  private readonly github: Record<string, unknown>;
  private readonly inputs: Record<string, unknown>;
  private readonly secrets: Record<string, string>;
  private readonly vars: Record<string, string>;
  private readonly workflowEnv: Record<string, string>;

  constructor(
    private readonly options: RehearsalOptions,
    private readonly workflowFile: string,
    private readonly workflow: Yaml,
    private readonly jobs: Record<string, Job>,
    private readonly standIns: Record<string, StandIn>,
    private readonly dir: string,
    private readonly artifacts: string,
  ) {
    const on = asRecord(typeof workflow.on === 'string' ? { [workflow.on]: {} } : workflow.on);
    const trigger =
      options.trigger ?? (on.workflow_dispatch !== undefined ? 'workflow_dispatch' : 'workflow_call');
    if (on[trigger] === undefined) throw new RehearsalError(`the workflow has no ${trigger} trigger`);
    const declared = asRecord(asRecord(on[trigger]).inputs);
    const repository = options.repository ?? 'octo-org/shop';
    const ref = options.ref ?? 'refs/heads/main';
    const sha =
      options.sha ??
      (options.origin
        ? gitOut(options.origin, 'rev-parse', ref)
        : '0000000000000000000000000000000000000000');
    const token = options.token ?? 'ghs_rehearsalToken0000000000000000000000';
    const serverUrl = options.serverUrl ?? 'https://github.com';
    const vars = options.vars ?? {};
    this.vars = vars;
    const eventFile = join(this.dir, 'event.json');
    this.github = {
      action: '',
      actor: options.actor ?? 'octocat',
      api_url: options.apiUrl ?? 'https://api.github.com',
      base_ref: '',
      event_name: options.eventName ?? (trigger === 'workflow_call' ? 'push' : trigger),
      event_path: eventFile,
      graphql_url: `${options.apiUrl ?? 'https://api.github.com'}/graphql`,
      head_ref: '',
      job: '',
      ref,
      ref_name: ref.replace(/^refs\/(heads|tags)\//, ''),
      ref_protected: false,
      ref_type: ref.startsWith('refs/tags/') ? 'tag' : 'branch',
      repository,
      repository_owner: repository.split('/')[0],
      retention_days: '90',
      run_attempt: '1',
      run_id: options.runId ?? String(Date.now()),
      run_number: '1',
      server_url: serverUrl,
      sha,
      token,
      triggering_actor: options.actor ?? 'octocat',
      workflow: String(workflow.name ?? workflowFile),
      workflow_ref: `${repository}/${relative(process.cwd(), workflowFile)}@${ref}`,
      workspace: '',
    };
    this.inputs = this.readInputs(trigger, declared);
    this.github.event =
      trigger === 'workflow_dispatch'
        ? { inputs: Object.fromEntries(Object.entries(this.inputs).map(([k, v]) => [k, String(v)])), ref }
        : {};
    writeFileSync(eventFile, JSON.stringify(this.github.event));
    this.secrets = this.readSecrets(trigger, asRecord(asRecord(on[trigger]).secrets), token);
    for (const value of Object.values(this.secrets)) if (value) this.masks.add(value);
    this.workflowEnv = this.evaluateEnv(workflow.env, 'workflow.env', this.contexts({}));
  }

  /** The inputs context: the given values, typed as declared, with the declared defaults. */
  private readInputs(trigger: string, declared: Yaml): Record<string, unknown> {
    const given = this.options.inputs ?? {};
    const inputs: Record<string, unknown> = {};
    for (const name of Object.keys(given))
      if (declared[name] === undefined)
        throw new RehearsalError(
          `Unexpected input "${name}": ${trigger} declares ${Object.keys(declared).join(', ')}`,
        );
    for (const [name, spec] of Object.entries(declared) as [string, Yaml][]) {
      const type = String(spec.type ?? 'string');
      let value: unknown = given[name];
      if (value === undefined && spec.default !== undefined) {
        value = evaluateValue(spec.default, {
          contexts: scopeFor('input.default', this.contexts({ inputs: {} })),
        });
        value = asJson(value as never);
      }
      if (value === undefined) {
        if (spec.required) throw new RehearsalError(`input "${name}" is required`);
        value = type === 'boolean' ? false : type === 'number' ? 0 : '';
      }
      if (type === 'boolean') {
        if (value !== true && value !== false && value !== 'true' && value !== 'false')
          throw new RehearsalError(`input "${name}" is a boolean, not "${value}"`);
        value = value === true || value === 'true';
      } else if (type === 'number') {
        if (Number.isNaN(Number(value)))
          throw new RehearsalError(`input "${name}" is a number, not "${value}"`);
        value = Number(value);
      } else {
        value = String(value);
        if (type === 'choice' && !asList(spec.options).includes(value as string))
          throw new RehearsalError(
            `input "${name}" must be one of ${asList(spec.options).join(', ')}, not "${value}"`,
          );
      }
      inputs[name] = value;
    }
    return inputs;
  }

  /** A called workflow sees only the secrets it declares; a dispatched one, all of them. */
  private readSecrets(trigger: string, declared: Yaml, token: string): Record<string, string> {
    const given = this.options.secrets ?? {};
    if (trigger === 'workflow_call') {
      if (!this.options.secretsInherited)
        for (const name of Object.keys(given))
          if (declared[name] === undefined)
            throw new RehearsalError(`Invalid secret, ${name} is not defined in the referenced workflow`);
      for (const [name, spec] of Object.entries(declared))
        if (asRecord(spec).required && !given[name]) throw new RehearsalError(`secret "${name}" is required`);
    }
    return { ...given, GITHUB_TOKEN: token };
  }

  private contexts(extra: Partial<Record<ContextName, unknown>>): Partial<Record<ContextName, unknown>> {
    return { github: this.github, inputs: this.inputs, vars: this.vars, secrets: this.secrets, ...extra };
  }

  private evaluateEnv(
    env: unknown,
    place: 'workflow.env' | 'job.env' | 'step',
    all: Partial<Record<ContextName, unknown>>,
  ): Record<string, string> {
    const scope = { contexts: scopeFor(place, all), hashFiles: place === 'step' };
    return Object.fromEntries(
      Object.entries(asRecord(env)).map(([name, value]) => [name, interpolate(value, scope, `env.${name}`)]),
    );
  }

  private mask(line: string): string {
    let masked = line;
    for (const secret of this.masks) masked = masked.split(secret).join('***');
    return masked;
  }

  /** A line about the whole workflow. */
  private note(line: string): void {
    this.log.push(line);
    this.options.onLine?.(line, '');
  }

  async run(order: string[]): Promise<RehearsalResult> {
    const concurrency = this.workflow.concurrency;
    if (concurrency !== undefined) {
      const group = interpolate(asRecord(concurrency).group ?? concurrency, {
        contexts: scopeFor('workflow.concurrency', this.contexts({})),
      });
      this.note(`workflow concurrency group "${group}" (recorded, not enforced)`);
    }
    if (this.workflow.permissions !== undefined)
      this.note(`workflow permissions: ${JSON.stringify(this.workflow.permissions)} (recorded)`);
    for (const id of order) {
      const result = await this.runJob(id, this.jobs[id] as Job);
      this.results[id] = result;
      this.log.push(...result.log);
    }
    const on = asRecord(this.workflow.on);
    const declaredOutputs = asRecord(asRecord(on.workflow_call).outputs);
    const jobsContext = Object.fromEntries(
      Object.entries(this.results).map(([id, job]) => [id, { result: job.result, outputs: job.outputs }]),
    );
    const outputs = Object.fromEntries(
      Object.entries(declaredOutputs).map(([name, spec]) => [
        name,
        interpolate(asRecord(spec).value, {
          contexts: scopeFor('workflow.outputs', this.contexts({ jobs: jobsContext })),
        }),
      ]),
    );
    const failed = Object.values(this.results).some((job) => job.result === 'failure');
    return { conclusion: failed ? 'failure' : 'success', jobs: this.results, order, outputs, log: this.log };
  }

  /** Every job `id` depends on, directly or not: GitHub's job-level status functions look at all of them. */
  private ancestors(id: string, seen = new Set<string>()): Set<string> {
    for (const need of asList(this.jobs[id]?.needs)) {
      if (seen.has(need)) continue;
      seen.add(need);
      this.ancestors(need, seen);
    }
    return seen;
  }

  private async runJob(id: string, job: Job): Promise<JobResult> {
    const name = String(job.name ?? id);
    const log: string[] = [];
    const emit = (line: string) => {
      const masked = this.mask(line);
      log.push(masked);
      this.options.onLine?.(masked, id);
    };
    const result: JobResult = { id, name, result: 'skipped', outputs: {}, steps: [], log, summary: '' };
    const needs = Object.fromEntries(
      asList(job.needs).map((need) => [
        need,
        { result: this.results[need]?.result, outputs: this.results[need]?.outputs ?? {} },
      ]),
    );
    const github = { ...this.github, job: id };
    const base = this.contexts({ github, needs });
    const ancestors = [...this.ancestors(id)].map((each) => this.results[each]?.result);
    const jobStatus: Status = {
      success: () => ancestors.every((each) => each === 'success'),
      failure: () => ancestors.some((each) => each === 'failure'),
      cancelled: () => false,
    };
    emit(`── job ${id}${name !== id ? ` (${name})` : ''}`);
    try {
      if (!condition(job.if, { contexts: scopeFor('job.if', base), status: jobStatus })) {
        emit(`   skipped (if: ${job.if ?? 'success()'})`);
        return result;
      }
      const runsOn = interpolate(job['runs-on'] ?? '', { contexts: scopeFor('job.runs-on', base) });
      emit(`   runs-on: ${runsOn || '(none)'} — run on this machine`);
      const environment = job.environment;
      if (environment !== undefined) {
        result.environment = interpolate(asRecord(environment).name ?? environment, {
          contexts: scopeFor('job.environment', base),
        });
        emit(
          `   environment: ${result.environment} (recorded, not enforced: no reviewers or wait timer here)`,
        );
      }
      if (job.concurrency !== undefined) {
        result.concurrency = interpolate(asRecord(job.concurrency).group ?? job.concurrency, {
          contexts: scopeFor('job.concurrency', base),
        });
        emit(`   concurrency: ${result.concurrency} (recorded, not enforced)`);
      }
      if (job.permissions !== undefined)
        emit(`   permissions: ${JSON.stringify(job.permissions)} (recorded)`);
      if (job.uses !== undefined) return await this.callWorkflow(id, job, base, result, emit);
      return await this.runSteps(id, job, base, result, emit);
    } catch (error) {
      if (!(error instanceof ExpressionFailure)) throw error;
      emit(`::error::${error.message}`);
      result.result = 'failure';
      return result;
    }
  }

  /**
   * A job that calls a reusable workflow: that workflow rehearsed with the job's `with:` and
   * `secrets:` (its own jobs in their own directories); its result and outputs are the job's.
   */
  private async callWorkflow(
    id: string,
    job: Job,
    base: Partial<Record<ContextName, unknown>>,
    result: JobResult,
    emit: (line: string) => void,
  ): Promise<JobResult> {
    const withScope = { contexts: scopeFor('job.with', base) };
    const secretsScope = { contexts: scopeFor('job.secrets', base) };
    // Inputs keep their types (a boolean stays a boolean); an empty value is an empty string.
    const inputs = Object.fromEntries(
      Object.entries(asRecord(job.with)).map(([k, v]) => [
        k,
        (asJson(evaluateValue(v, withScope)) ?? '') as string,
      ]),
    );
    const inherited = job.secrets === 'inherit';
    const secrets = inherited
      ? this.options.secrets
      : Object.fromEntries(
          Object.entries(asRecord(job.secrets)).map(([k, v]) => [k, interpolate(v, secretsScope)]),
        );
    const called = await rehearse({
      ...this.options,
      workflow: calledWorkflow(String(job.uses)) as string,
      trigger: 'workflow_call',
      eventName: String(this.github.event_name),
      inputs,
      secrets,
      secretsInherited: inherited,
      sha: String(this.github.sha),
      dir: join(this.dir, 'called', id),
      onLine: (line, calledJob) => this.options.onLine?.(line, `${id} / ${calledJob}`),
    });
    for (const line of called.log) emit(line);
    result.result = called.conclusion;
    result.outputs = called.outputs;
    return result;
  }

  private async runSteps(
    id: string,
    job: Job,
    base: Partial<Record<ContextName, unknown>>,
    result: JobResult,
    emit: (line: string) => void,
  ): Promise<JobResult> {
    // Each job starts from nothing, as on a fresh runner: its own workspace and temp directory.
    const jobDir = join(this.dir, 'jobs', id);
    rmSync(jobDir, { recursive: true, force: true });
    const workspace = join(jobDir, 'workspace');
    const temp = join(jobDir, 'temp');
    const files = join(jobDir, 'file-commands');
    for (const each of [workspace, temp, files, join(jobDir, 'tool-cache')])
      mkdirSync(each, { recursive: true });
    result.workspace = workspace;
    const github = { ...(base.github as Yaml), workspace };
    const runner = {
      os: 'Linux',
      arch: 'X64',
      name: 'switchyard-rehearsal',
      temp,
      tool_cache: join(jobDir, 'tool-cache'),
    };
    let status: 'success' | 'failure' = 'success';
    const jobContext = () => ({ status, container: {}, services: {} });
    const steps: Record<string, unknown> = {};
    const all = () => this.contexts({ ...base, github, runner, job: jobContext(), steps });
    const jobEnv = { ...this.workflowEnv, ...this.evaluateEnv(job.env, 'job.env', all()) };
    const exported: Record<string, string> = {};
    const pathPrefix: string[] = [];
    const defaults = {
      ...asRecord(asRecord(this.workflow.defaults).run),
      ...asRecord(asRecord(job.defaults).run),
    };
    const stepStatus: Status = {
      success: () => status === 'success',
      failure: () => status === 'failure',
      cancelled: () => false,
    };

    for (const [index, step] of (job.steps ?? []).entries()) {
      const label = String(
        step.name ?? (step.uses ? `Run ${step.uses}` : `Run ${String(step.run).split('\n')[0]}`),
      );
      const record: StepResult = {
        id: step.id,
        name: label,
        outcome: 'skipped',
        conclusion: 'skipped',
        outputs: {},
      };
      result.steps.push(record);
      const envContext = { ...jobEnv, ...exported };
      const stepIf = {
        contexts: scopeFor('step.if', { ...all(), env: envContext }),
        status: stepStatus,
        hashFiles: true,
      };
      let run: boolean;
      try {
        run = condition(step.if, stepIf);
      } catch (error) {
        if (!(error instanceof ExpressionFailure)) throw error;
        emit(`::error::${error.message}`);
        record.outcome = record.conclusion = 'failure';
        status = 'failure';
        continue;
      }
      if (!run) {
        emit(`○ ${label}: skipped (if: ${step.if ?? 'success()'})`);
        if (step.id) steps[step.id] = { outputs: {}, outcome: 'skipped', conclusion: 'skipped' };
        continue;
      }
      emit(`▶ ${label}`);
      let continueOnError = false;
      try {
        const stepEnv = {
          ...envContext,
          ...this.evaluateEnv(step.env, 'step', { ...all(), env: envContext }),
        };
        const scope = { contexts: scopeFor('step', { ...all(), env: stepEnv }), hashFiles: true };
        continueOnError = isTruthy(evaluateValue(step['continue-on-error'] ?? false, scope));
        const timeout = Number(asJson(evaluateValue(step['timeout-minutes'] ?? 360, scope))) * 60_000;
        const commandFiles = {
          GITHUB_OUTPUT: join(files, `output-${index}`),
          GITHUB_ENV: join(files, `env-${index}`),
          GITHUB_PATH: join(files, `path-${index}`),
          GITHUB_STEP_SUMMARY: join(files, `summary-${index}`),
          GITHUB_STATE: join(files, `state-${index}`),
        };
        for (const file of Object.values(commandFiles)) writeFileSync(file, '');
        const machine = this.options.env ?? {};
        const path = [
          ...pathPrefix,
          stepEnv.PATH ?? machine.PATH ?? process.env.PATH ?? '/usr/bin:/bin',
        ].join(':');
        const env: Record<string, string> = {
          HOME: process.env.HOME ?? '/root',
          ...machine,
          ...stepEnv,
          ...this.runnerVariables(github, runner, step.id ?? `__${index}`),
          ...commandFiles,
          PATH: path,
        };
        const { exitCode, outputs, summary } = step.uses
          ? await this.runAction(step, scope, env, workspace, temp, timeout, emit, record, (dir) =>
              pathPrefix.unshift(dir),
            )
          : await this.runScript(step, scope, defaults, env, workspace, temp, timeout, emit);
        record.outputs = { ...parseOutputFile(readFileSync(commandFiles.GITHUB_OUTPUT, 'utf8')), ...outputs };
        result.summary += summary + readFileSync(commandFiles.GITHUB_STEP_SUMMARY, 'utf8');
        Object.assign(exported, parseOutputFile(readFileSync(commandFiles.GITHUB_ENV, 'utf8')));
        for (const dir of readFileSync(commandFiles.GITHUB_PATH, 'utf8').split('\n').filter(Boolean))
          pathPrefix.unshift(dir);
        record.outcome = exitCode === 0 ? 'success' : 'failure';
      } catch (error) {
        if (!(error instanceof ExpressionFailure)) throw error;
        emit(`::error::${error.message}`);
        record.outcome = 'failure';
      }
      record.conclusion = record.outcome === 'failure' && continueOnError ? 'success' : record.outcome;
      if (record.conclusion === 'failure') status = 'failure';
      emit(
        `  └ ${record.outcome}${record.outcome !== record.conclusion ? ` (continue-on-error: ${record.conclusion})` : ''}`,
      );
      if (step.id)
        steps[step.id] = { outputs: record.outputs, outcome: record.outcome, conclusion: record.conclusion };
    }

    result.result = status;
    // Job outputs are evaluated even after a failure; GitHub drops one that holds a secret.
    const scope = { contexts: scopeFor('job.outputs', { ...all(), env: { ...jobEnv, ...exported } }) };
    for (const [name, value] of Object.entries(asRecord(job.outputs))) {
      let text: string;
      try {
        text = interpolate(value, scope, `outputs.${name}`);
      } catch (error) {
        if (!(error instanceof ExpressionFailure)) throw error;
        emit(`::error::${error.message}`);
        result.result = 'failure';
        continue;
      }
      if ([...this.masks].some((secret) => text.includes(secret)))
        emit(`::warning::Skip output '${name}' since it may contain secret.`);
      else result.outputs[name] = text;
    }
    emit(`   job ${id}: ${result.result}`);
    return result;
  }

  /** The variables the runner sets for every step. */
  private runnerVariables(
    github: Yaml,
    runner: Record<string, string>,
    action: string,
  ): Record<string, string> {
    return {
      CI: 'true',
      GITHUB_ACTIONS: 'true',
      GITHUB_ACTION: action,
      GITHUB_ACTOR: String(github.actor),
      GITHUB_API_URL: String(github.api_url),
      GITHUB_EVENT_NAME: String(github.event_name),
      GITHUB_EVENT_PATH: String(github.event_path),
      GITHUB_GRAPHQL_URL: String(github.graphql_url),
      GITHUB_JOB: String(github.job),
      GITHUB_REF: String(github.ref),
      GITHUB_REF_NAME: String(github.ref_name),
      GITHUB_REF_TYPE: String(github.ref_type),
      GITHUB_REPOSITORY: String(github.repository),
      GITHUB_REPOSITORY_OWNER: String(github.repository_owner),
      GITHUB_RUN_ATTEMPT: String(github.run_attempt),
      GITHUB_RUN_ID: String(github.run_id),
      GITHUB_RUN_NUMBER: String(github.run_number),
      GITHUB_SERVER_URL: String(github.server_url),
      GITHUB_SHA: String(github.sha),
      GITHUB_TRIGGERING_ACTOR: String(github.triggering_actor),
      GITHUB_WORKFLOW: String(github.workflow),
      GITHUB_WORKFLOW_REF: String(github.workflow_ref),
      GITHUB_WORKSPACE: String(github.workspace),
      RUNNER_ARCH: runner.arch as string,
      RUNNER_NAME: runner.name as string,
      RUNNER_OS: runner.os as string,
      RUNNER_TEMP: runner.temp as string,
      RUNNER_TOOL_CACHE: runner.tool_cache as string,
    };
  }

  /** A line a step printed: `::add-mask::` registers a secret (and is not shown), as the runner does. */
  private stepLine(line: string, emit: (line: string) => void): void {
    if (line.startsWith('::add-mask::')) {
      const value = line.slice('::add-mask::'.length).trim();
      if (value) this.masks.add(value);
      return;
    }
    emit(line);
  }

  private async runScript(
    step: Step,
    scope: { contexts: Record<string, unknown>; hashFiles: boolean },
    defaults: Yaml,
    env: Record<string, string>,
    workspace: string,
    temp: string,
    timeout: number,
    emit: (line: string) => void,
  ): Promise<{ exitCode: number; outputs: Record<string, string>; summary: string }> {
    const script = interpolate(step.run, scope, 'run');
    const shellName = interpolate(step.shell ?? defaults.shell ?? '', scope, 'shell');
    const template = SHELLS[shellName] ?? (shellName.includes('{0}') ? shellName : undefined);
    if (!template)
      throw new ExpressionFailure(`shell "${shellName}" is not rehearsed here (bash, sh or "cmd {0}")`);
    const file = join(temp, `${randomUUID()}.sh`);
    writeFileSync(file, script);
    const [command, ...args] = template.split(/\s+/).map((part) => part.replace('{0}', file)) as [
      string,
      ...string[],
    ];
    const cwd = resolve(
      workspace,
      interpolate(step['working-directory'] ?? defaults['working-directory'] ?? '.', scope),
    );
    const child = spawn(command, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    const exitCode = await this.watch(child, timeout, emit);
    if (exitCode !== 0) emit(`::error::Process completed with exit code ${exitCode}.`);
    return { exitCode, outputs: {}, summary: '' };
  }

  /** Streams a child's lines into the log and resolves with its exit code; kills it at the timeout. */
  private watch(child: ChildProcess, timeout: number, emit: (line: string) => void): Promise<number> {
    const split = (stream: NodeJS.ReadableStream | null) => {
      let partial = '';
      stream?.on('data', (chunk: Buffer) => {
        const lines = (partial + chunk.toString('utf8')).split('\n');
        partial = lines.pop() ?? '';
        for (const line of lines) this.stepLine(line, emit);
      });
      stream?.on('end', () => partial && this.stepLine(partial, emit));
    };
    split(child.stdout);
    split(child.stderr);
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGTERM');
    }, timeout);
    return new Promise((resolvePromise) =>
      child.on('close', (code) => {
        clearTimeout(timer);
        if (timedOut) emit(`::error::The action has timed out.`);
        resolvePromise(timedOut ? 1 : (code ?? 1));
      }),
    );
  }

  private async runAction(
    step: Step,
    scope: { contexts: Record<string, unknown>; hashFiles: boolean },
    env: Record<string, string>,
    workspace: string,
    temp: string,
    timeout: number,
    emit: (line: string) => void,
    record: StepResult,
    addPath: (dir: string) => void,
  ): Promise<{ exitCode: number; outputs: Record<string, string>; summary: string }> {
    const uses = String(step.uses);
    const inputs = Object.fromEntries(
      Object.entries(asRecord(step.with)).map(([name, value]) => [
        name,
        interpolate(value, scope, `with.${name}`),
      ]),
    );
    record.inputs = Object.fromEntries(
      Object.entries(inputs).map(([name, value]) => [name, this.mask(value)]),
    );
    const own = OWN_ACTION.exec(uses)?.[1];
    if (own) {
      const declared = asRecord(parse(readFileSync(join('actions', own, 'action.yml'), 'utf8')).inputs);
      const unexpected = Object.keys(inputs).filter((name) => declared[name] === undefined);
      // The runner's own warning, word for word: a misspelt input is otherwise silently ignored.
      if (unexpected.length > 0)
        emit(
          `::warning::Unexpected input(s) '${unexpected.join("', '")}', valid inputs are ['${Object.keys(declared).join("', '")}']`,
        );
      for (const [name, spec] of Object.entries(declared) as [string, Yaml][])
        if (inputs[name] === undefined && spec.default !== undefined)
          inputs[name] = interpolate(spec.default, scope);
      // runLikeTheRunner makes its own output and summary files; the job's RUNNER_TEMP is kept.
      const { GITHUB_OUTPUT: _output, GITHUB_STEP_SUMMARY: _summary, ...actionEnv } = env;
      let timer: NodeJS.Timeout | undefined;
      let timedOut = false;
      const run = await runLikeTheRunner(own, inputs, actionEnv, {
        cwd: workspace,
        onLine: (line) => this.stepLine(line, emit),
        onSpawn: (child) => {
          timer = setTimeout(() => {
            timedOut = true;
            child.kill('SIGTERM');
          }, timeout);
        },
      });
      clearTimeout(timer);
      for (const mask of run.masks) this.masks.add(mask);
      // onLine sees complete lines only; a last line without a newline comes from stdout.
      const tail = run.stdout.split('\n').pop();
      if (tail) this.stepLine(tail, emit);
      for (const line of run.stderr.split('\n').filter(Boolean)) this.stepLine(line, emit);
      if (timedOut) emit('::error::The action has timed out.');
      return { exitCode: timedOut ? 1 : run.exitCode, outputs: run.outputs, summary: run.summary };
    }
    const standIn = this.standIns[actionName(uses)] as StandIn;
    emit(`  (local stand-in for ${uses}: ${standIn.description})`);
    try {
      const outputs = await standIn.run({
        with: inputs,
        env,
        workspace,
        runnerTemp: temp,
        artifacts: this.artifacts,
        origin: this.options.origin,
        github: {
          sha: String(this.github.sha),
          ref: String(this.github.ref),
          repository: String(this.github.repository),
        },
        log: (line) => this.stepLine(line, emit),
        addPath,
      });
      return { exitCode: 0, outputs, summary: '' };
    } catch (error) {
      const message =
        error instanceof Error ? (error as { stderr?: string }).stderr || error.message : String(error);
      emit(`::error::${String(message).trim().replace(/\n/g, '%0A')}`);
      return { exitCode: 1, outputs: {}, summary: '' };
    }
  }
}

function gitOut(cwd: string, ...args: string[]): string {
  return execFileSync('git', args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();
}
