import { describe, expect, it } from '@jest/globals';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { loadConfigSection } from '../../actions/core/src/config.js';
import { COMMON_INPUTS } from '../../actions/core/src/action-inputs.js';
import { backupInputs } from '../../actions/core/src/backup/inputs.js';
import { healthCheckInputs } from '../../actions/core/src/health-check/inputs.js';

import {
  RULES,
  actionlint,
  exampleConfigPaths,
  needsOf,
  readWorkflow,
  simulateRun,
  workflowFromText,
  workflowParserErrors,
  workflowPaths,
  type JobOutcome,
  type RuleName,
  type Workflow,
} from '../support/workflow-files.js';
describe('reusable workflows', () => {
  it('health-check.yml passes only inputs the action has, and declares each one it passes', () => {
    const workflow = parse(readFileSync('.github/workflows/health-check.yml', 'utf8'));
    const step = workflow.jobs.check.steps.find((s: { id?: string }) => s.id === 'health');
    const known = [...Object.keys(healthCheckInputs), ...Object.keys(COMMON_INPUTS)];
    for (const name of Object.keys(step.with)) {
      expect(known).toContain(name);
      expect(Object.keys(workflow.on.workflow_call.inputs)).toContain(name);
    }
    // Defaults offered to callers must be the action's own, or the two would drift.
    for (const [name, input] of Object.entries(
      workflow.on.workflow_call.inputs as Record<string, { default?: string }>,
    )) {
      const def = (healthCheckInputs as Record<string, { default?: string }>)[name];
      if (def?.default !== undefined && input.default !== undefined) expect(input.default).toBe(def.default);
    }
  });

  it('backup.yml passes only inputs the backup action has, each from a declared input or secret', () => {
    const workflow = parse(readFileSync('.github/workflows/backup.yml', 'utf8'));
    const step = workflow.jobs.backup.steps.find((s: { id?: string }) => s.id === 'backup');
    const known = [...Object.keys(backupInputs), ...Object.keys(COMMON_INPUTS)];
    const call = workflow.on.workflow_call;
    for (const [name, value] of Object.entries(step.with as Record<string, string>)) {
      expect(known).toContain(name);
      const from = /\$\{\{ (inputs|secrets)\.([\w-]+) \}\}/.exec(value);
      if (from?.[1] === 'inputs') expect(Object.keys(call.inputs)).toContain(from[2]);
      if (from?.[1] === 'secrets') expect(Object.keys(call.secrets)).toContain(from[2]);
    }
    for (const [name, input] of Object.entries(call.inputs as Record<string, { default?: string }>)) {
      const def = (backupInputs as Record<string, { default?: string }>)[name];
      if (def?.default !== undefined && input.default) expect(input.default).toBe(def.default);
    }
  });
});

const BLUE_GREEN = '.github/workflows/blue-green.yml';
const ROLLBACK = '.github/workflows/rollback.yml';

describe('every workflow, checked by actionlint and by GitHub’s own parser', () => {
  it('finds the workflows: ours and the examples', () => {
    expect(workflowPaths()).toEqual(
      expect.arrayContaining([
        BLUE_GREEN,
        ROLLBACK,
        'examples/push-to-main.yml',
        'examples/dispatch.yml',
        'examples/pipeline.yml',
        'examples/haproxy.yml',
      ]),
    );
  });

  it.each(workflowPaths())('%s passes actionlint with no error', async (path) => {
    expect(await actionlint(path, readFileSync(path, 'utf8'))).toEqual([]);
  });

  it.each(workflowPaths())('%s parses and converts with @actions/workflow-parser, no error', async (path) => {
    expect(await workflowParserErrors(path, readFileSync(path, 'utf8'))).toEqual([]);
  });

  // Both tools answering [] would also be what a loader that silently checks nothing returns.
  it('actionlint reports what is wrong in a broken workflow', async () => {
    const broken = [
      'on: push',
      'jobs:',
      '  a:',
      '    runs-on: ubuntu-latest',
      '    needs: nowhere',
      '    steps:',
      '      - run: echo "${{ inputs.nope }}"',
    ].join('\n');
    const messages = (await actionlint('broken.yml', broken)).map((problem) => problem.message);
    expect(messages).toEqual(
      expect.arrayContaining([
        expect.stringContaining('"nowhere" which does not exist'),
        expect.stringContaining('property "nope" is not defined'),
      ]),
    );
  });

  it('@actions/workflow-parser reports what is wrong in a broken workflow', async () => {
    const broken = ['on: push', 'jobs:', '  a:', '    runs-on: ubuntu-latest', '    stepz: []'].join('\n');
    expect(await workflowParserErrors('broken.yml', broken)).toEqual([
      expect.stringContaining("Unexpected value 'stepz'"),
    ]);
  });
});

describe('our rules, on every workflow', () => {
  const cases = (Object.keys(RULES) as RuleName[]).flatMap((rule) =>
    workflowPaths().map((path) => ({ rule, path })),
  );
  for (const { rule, path } of cases) {
    it(`${rule}: ${path}`, () => {
      expect(RULES[rule](readWorkflow(path))).toEqual([]);
    });
  }
});

/** A small workflow from lines, for the rules' own tests. */
const workflow = (...lines: string[]): Workflow => workflowFromText('test.yml', lines.join('\n'));

const DEPLOY = 'switchyard-actions/switchyard/actions/deploy@v0';
const CHECKOUT_SHA = 'actions/checkout@3d3c42e5aac5ba805825da76410c181273ba90b1';

describe('each rule catches what it is for', () => {
  it('action-inputs: an input the action does not have, a required one missing', () => {
    const typo = workflow(
      'jobs:',
      '  a:',
      '    steps:',
      `      - uses: ${DEPLOY}`,
      '        with: { comand: stage, environment: production }',
    );
    expect(RULES['action-inputs'](typo)).toEqual(['a: deploy has no input "comand"']);
    const fixed = workflow(
      'jobs:',
      '  a:',
      '    steps:',
      `      - uses: ${DEPLOY}`,
      '        with: { command: stage }',
    );
    expect(RULES['action-inputs'](fixed)).toEqual([]);
    // Our actions declare no required input (defaults live in the input tables), so a made-up
    // action.yml proves the other half.
    const strict = () => ({ inputs: { command: { required: true } }, outputs: [] });
    const bare = workflow('jobs:', '  a:', '    steps:', `      - uses: ${DEPLOY}`);
    expect(RULES['action-inputs'](bare, strict)).toEqual(['a: deploy requires "command"']);
    const unknown = workflow(
      'jobs:',
      '  a:',
      '    steps:',
      '      - uses: switchyard-actions/switchyard/actions/nope@v0',
    );
    expect(RULES['action-inputs'](unknown)).toEqual([
      'a: switchyard-actions/switchyard/actions/nope@v0 names no action in actions/',
    ]);
  });

  it('workflow-calls: an input or secret the called workflow does not declare, a required input missing', () => {
    const call = (...rest: string[]) =>
      workflow(
        'jobs:',
        '  deploy:',
        '    uses: switchyard-actions/switchyard/.github/workflows/blue-green.yml@v0',
        ...rest,
      );
    expect(RULES['workflow-calls'](call('    with: { enviroment: production }'))).toEqual([
      'deploy: no input "enviroment"',
      'deploy: input "environment" is required',
    ]);
    expect(
      RULES['workflow-calls'](call('    with: { environment: production }', '    secrets: { pr-token: x }')),
    ).toEqual(['deploy: no secret "pr-token"']);
    expect(
      RULES['workflow-calls'](call('    with: { environment: production }', '    secrets: { pr_token: x }')),
    ).toEqual([]);
    expect(
      RULES['workflow-calls'](call('    with: { environment: production }', '    secrets: inherit')),
    ).toEqual([]);
  });

  it('needs-outputs: an output the job does not declare, a job not in needs, a workflow output of nothing', () => {
    const wrong = workflow(
      'on:',
      '  workflow_call:',
      '    outputs:',
      '      x: { value: "${{ jobs.a.outputs.y }}" }',
      'jobs:',
      '  a:',
      '    outputs: { x: "${{ steps.s.outputs.x }}" }',
      '  b:',
      '    needs: a',
      '    if: needs.a.outputs.nope == 1',
      '  c:',
      '    if: needs.a.result == "success"',
    );
    expect(RULES['needs-outputs'](wrong)).toEqual([
      'b: needs.a.outputs.nope, but a has no output "nope"',
      'c: needs.a, but a is not in its needs',
      'output x: jobs.a.outputs.y does not exist',
    ]);
    const right = workflow(
      'jobs:',
      '  a:',
      '    outputs: { x: "${{ steps.s.outputs.x }}" }',
      '  b:',
      '    needs: [a]',
      '    if: needs.a.outputs.x == 1 && needs.a.result == "success"',
    );
    expect(RULES['needs-outputs'](right)).toEqual([]);
  });

  it('step-outputs: an output our action does not have, a step that is not there', () => {
    const wrong = workflow(
      'jobs:',
      '  a:',
      '    outputs:',
      '      x: "${{ steps.d.outputs.idle-server }}"',
      '      y: "${{ steps.gone.outputs.active }}"',
      '    steps:',
      `      - { id: d, uses: ${DEPLOY} }`,
    );
    expect(RULES['step-outputs'](wrong)).toEqual([
      'a: steps.d.outputs.idle-server, but deploy has no output "idle-server"',
      'a: steps.gone.outputs.active, but the job has no step "gone"',
    ]);
    const right = workflow(
      'jobs:',
      '  a:',
      '    outputs: { x: "${{ steps.d.outputs.idle-servers }}" }',
      '    steps:',
      `      - { id: d, uses: ${DEPLOY} }`,
    );
    expect(RULES['step-outputs'](right)).toEqual([]);
  });

  it('pinned: a tag, a short sha, a sha without its version', () => {
    const steps = (...uses: string[]) =>
      workflow('jobs:', '  a:', '    steps:', ...uses.map((u) => `      - uses: ${u}`));
    expect(RULES.pinned(steps('actions/checkout@v4', 'actions/checkout@3d3c42e', CHECKOUT_SHA))).toEqual([
      'actions/checkout@v4: not pinned by a full commit sha',
      'actions/checkout@3d3c42e: not pinned by a full commit sha',
      `${CHECKOUT_SHA}: no "# vX.Y.Z" comment saying which release the sha is`,
    ]);
    expect(RULES.pinned(steps(`${CHECKOUT_SHA} # v7.0.1`, DEPLOY, './local-action'))).toEqual([]);
    const caller = workflow('jobs:', '  a:', '    uses: someone/workflows/.github/workflows/x.yml@main');
    expect(RULES.pinned(caller)).toEqual([
      'someone/workflows/.github/workflows/x.yml@main: not pinned by a full commit sha',
    ]);
  });

  it('run-injection: inputs, secrets and event data expanded inside run:', () => {
    const wrong = workflow(
      'jobs:',
      '  a:',
      '    steps:',
      '      - run: k6 run "${{ inputs.load-test }}"',
      '      - id: t',
      '        run: |',
      '          echo "${{ github.event.head_commit.message }}"',
      '          curl -H "token: ${{ secrets.TOKEN }}" x',
    );
    expect(RULES['run-injection'](wrong)).toEqual([
      'a: step 1 expands ${{ inputs.load-test }} inside run:',
      'a: step t expands ${{ github.event.head_commit.message }} inside run:',
      'a: step t expands ${{ secrets.TOKEN }} inside run:',
    ]);
    const right = workflow(
      'jobs:',
      '  a:',
      '    steps:',
      '      - run: k6 run "$LOAD_TEST"',
      '        env: { LOAD_TEST: "${{ inputs.load-test }}" }',
    );
    expect(RULES['run-injection'](right)).toEqual([]);
  });

  it('environment: a job that changes traffic or restores data without one', () => {
    const job = (command: string, action = 'deploy', environment = '') =>
      workflow(
        'jobs:',
        '  a:',
        ...(environment ? [`    environment: ${environment}`] : []),
        '    steps:',
        `      - uses: switchyard-actions/switchyard/actions/${action}@v0`,
        `        with: { command: ${command} }`,
      );
    expect(RULES.environment(job('promote'))).toEqual(['a: touches production without an environment:']);
    expect(RULES.environment(job('restore', 'backup'))).toEqual([
      'a: touches production without an environment:',
    ]);
    expect(RULES.environment(job('"${{ inputs.command }}"'))).toEqual([
      'a: touches production without an environment:',
    ]);
    expect(RULES.environment(job('promote', 'deploy', '"${{ inputs.environment }}"'))).toEqual([]);
    expect(RULES.environment(job('plan'))).toEqual([]);
    expect(RULES.environment(job('list', 'backup'))).toEqual([]);
  });

  it('permissions: a job without its own', () => {
    const jobs = workflow(
      'permissions: {}',
      'jobs:',
      '  a:',
      '    permissions: { contents: read }',
      '  b: {}',
    );
    expect(RULES.permissions(jobs)).toEqual(['b: no permissions:']);
  });

  it('concurrency: none per environment, one that cancels a run under way, a caller taking our group', () => {
    const deploying = (...concurrency: string[]) =>
      workflow(
        ...concurrency,
        'jobs:',
        '  a:',
        '    steps:',
        `      - uses: ${DEPLOY}`,
        '        with: { command: promote }',
      );
    expect(RULES.concurrency(deploying())).toEqual([
      'no workflow concurrency group per environment (inputs.environment)',
    ]);
    expect(RULES.concurrency(deploying('concurrency: deploys'))).toEqual([
      'no workflow concurrency group per environment (inputs.environment)',
      'concurrency must say cancel-in-progress: false',
    ]);
    expect(
      RULES.concurrency(
        deploying(
          'concurrency:',
          '  group: "switchyard-${{ inputs.environment }}"',
          '  cancel-in-progress: true',
        ),
      ),
    ).toEqual(['concurrency must say cancel-in-progress: false']);
    expect(
      RULES.concurrency(
        deploying(
          'concurrency:',
          '  group: "switchyard-${{ inputs.environment }}"',
          '  cancel-in-progress: false',
        ),
      ),
    ).toEqual([]);
    const caller = workflow(
      'concurrency: switchyard-production',
      'jobs:',
      '  a:',
      '    uses: switchyard-actions/switchyard/.github/workflows/blue-green.yml@v0',
    );
    expect(RULES.concurrency(caller)).toEqual([
      "caller takes the called workflow's group switchyard-production",
    ]);
  });
});

type Inputs = Record<string, unknown>;

/** The inputs a run gets: the workflow's defaults, then these. */
function inputsOf(wf: Workflow, given: Inputs = {}): Inputs {
  const declared = wf.doc.on?.workflow_call?.inputs ?? {};
  return {
    ...Object.fromEntries(Object.entries(declared).map(([name, input]) => [name, input.default ?? ''])),
    environment: 'production',
    ...given,
  };
}

const ran = (run: ReturnType<typeof simulateRun>) =>
  Object.entries(run.jobs)
    .filter(([, job]) => job.result !== 'skipped')
    .map(([name]) => name);

describe('blue-green.yml', () => {
  const wf = readWorkflow(BLUE_GREEN);
  const { jobs } = wf.doc;
  const call = wf.doc.on?.workflow_call;
  const dispatch = wf.doc.on?.workflow_dispatch;

  it('takes the same inputs called and as a button, with the defaults issue 9 names', () => {
    const shape = (inputs: Record<string, { required?: boolean; default?: unknown; type?: string }> = {}) =>
      Object.fromEntries(
        Object.entries(inputs).map(([name, { required, default: value, type }]) => [
          name,
          // The button offers the repository's environments to pick from; a caller types one.
          { required: required ?? false, default: value, type: type === 'environment' ? 'string' : type },
        ]),
      );
    expect(shape(dispatch?.inputs)).toEqual(shape(call?.inputs));
    expect(shape(call?.inputs)).toEqual({
      environment: { required: true, default: undefined, type: 'string' },
      version: { required: false, default: '', type: 'string' },
      config: { required: false, default: 'switchyard.yml', type: 'string' },
      'runs-on': { required: false, default: 'self-hosted', type: 'string' },
      backup: { required: false, default: false, type: 'boolean' },
      'load-test': { required: false, default: '', type: 'string' },
      migrations: { required: false, default: '', type: 'string' },
      'rollback-pr': { required: false, default: true, type: 'boolean' },
      restore: { required: false, default: false, type: 'boolean' },
    });
    expect(Object.keys(call?.secrets ?? {})).toEqual([
      'state',
      'backup_sources',
      'pr_token',
      'database_url',
      'scratch_url',
    ]);
    expect(Object.values(call?.secrets ?? {}).every((secret) => !secret.required)).toBe(true);
    expect(Object.keys(call?.outputs ?? {})).toEqual([
      'active',
      'rolled-back',
      'pull-request-url',
      'frozen',
      'backup-id',
    ]);
  });

  it('runs its jobs in order: preflight → backup → migrate → stage → load-test → promote → rollback → restore', () => {
    expect(Object.fromEntries(Object.entries(jobs).map(([name, job]) => [name, needsOf(job)]))).toEqual({
      preflight: [],
      backup: ['preflight'],
      migrate: ['preflight', 'backup'],
      stage: ['preflight', 'backup', 'migrate'],
      'load-test': ['stage'],
      // preflight and migrate: the migrations' phase reaches promote and rollback.
      promote: ['preflight', 'migrate', 'stage', 'load-test'],
      rollback: ['preflight', 'migrate', 'stage', 'load-test', 'promote'],
      restore: ['backup', 'stage', 'load-test', 'promote', 'rollback'],
    });
    expect(Object.keys(jobs)).toEqual([
      'preflight',
      'backup',
      'migrate',
      'stage',
      'load-test',
      'promote',
      'rollback',
      'restore',
    ]);
  });

  it('runs every job on the runner label given, and names the environment on each that touches production', () => {
    for (const job of Object.values(jobs))
      expect((job as { 'runs-on'?: string })['runs-on']).toBe('${{ inputs.runs-on }}');
    const withEnvironment = Object.entries(jobs)
      .filter(([, job]) => job.environment !== undefined)
      .map(([name, job]) => [name, job.environment]);
    expect(withEnvironment).toEqual(
      ['backup', 'migrate', 'stage', 'promote', 'rollback', 'restore'].map((name) => [
        name,
        '${{ inputs.environment }}',
      ]),
    );
    expect(wf.doc.concurrency).toEqual({
      group: 'switchyard-${{ inputs.environment }}',
      'cancel-in-progress': false,
    });
  });

  it('grants each job only the token permissions it uses', () => {
    expect(wf.doc.permissions).toEqual({});
    expect(Object.fromEntries(Object.entries(jobs).map(([name, job]) => [name, job.permissions]))).toEqual(
      BLUE_GREEN_PERMISSIONS,
    );
  });

  it('gives every deploy step the config, the environment and the state; the version where it is staged or shipped', () => {
    for (const [name, job] of Object.entries(jobs))
      for (const step of job.steps ?? []) {
        if (!step.uses?.startsWith('switchyard-actions/switchyard/actions/deploy@')) continue;
        expect({ name, ...step.with }).toMatchObject({
          name,
          config: '${{ inputs.config }}',
          environment: '${{ inputs.environment }}',
          state: '${{ secrets.state }}',
        });
        if (['plan', 'stage', 'promote'].includes(String(step.with?.command)))
          expect(step.with?.version).toBe('${{ inputs.version || github.sha }}');
      }
  });

  it('checks out with the history, pushing as pr_token, where the rollback pull request may be opened', () => {
    for (const name of ['promote', 'rollback']) {
      const checkout = jobs[name]?.steps?.find((step) => step.uses?.startsWith('actions/checkout@'));
      expect(checkout?.with).toEqual({ 'fetch-depth': 0, token: '${{ secrets.pr_token || github.token }}' });
    }
  });

  it('gates the load test on its summary alone, and keeps the summary whatever happened', () => {
    const steps = jobs['load-test']?.steps ?? [];
    expect(steps.find((step) => step.id === 'gate')?.with).toEqual({
      'k6-summary': '${{ runner.temp }}/k6-summary.json',
    });
    const k6 = steps.find((step) => step.run?.includes('k6 run'));
    expect(k6?.run).toContain('--summary-export "$RUNNER_TEMP/k6-summary.json"');
    expect(k6?.run).toContain(
      '-e SWITCHYARD_COLOR="$SWITCHYARD_COLOR" -e SWITCHYARD_SERVERS="$SWITCHYARD_SERVERS"',
    );
    expect(k6?.env).toEqual({
      LOAD_TEST: '${{ inputs.load-test }}',
      SWITCHYARD_COLOR: '${{ needs.stage.outputs.idle }}',
      SWITCHYARD_SERVERS: '${{ needs.stage.outputs.idle-servers }}',
    });
    expect(steps.find((step) => step.uses?.startsWith('actions/upload-artifact@'))?.if).toBe('always()');
  });
});

const BLUE_GREEN_PERMISSIONS = {
  preflight: { contents: 'read' },
  backup: { contents: 'read', actions: 'write' },
  migrate: { contents: 'read', actions: 'write' },
  stage: { contents: 'read' },
  'load-test': { contents: 'read' },
  promote: { contents: 'write', 'pull-requests': 'write', issues: 'write', deployments: 'write' },
  rollback: { contents: 'write', 'pull-requests': 'write', issues: 'write', deployments: 'write' },
  restore: { contents: 'read', actions: 'read' },
};

describe('blue-green.yml, run after run: which jobs GitHub starts, as its conditions say', () => {
  const wf = readWorkflow(BLUE_GREEN);
  const run = (
    given: Inputs,
    outcomes: Record<string, JobOutcome> = {},
    cancelled: { cancelledAt?: string; cancelledAfter?: string } = {},
  ) => simulateRun(wf, { inputs: inputsOf(wf, given), outcomes: { ...STAGED, ...outcomes }, ...cancelled });
  const STAGED: Record<string, JobOutcome> = {
    backup: { steps: { backup: { 'backup-id': '20260101-0000-abc1234' } } },
    stage: {
      steps: { stage: { active: 'blue', idle: 'green', 'idle-servers': 'green-1:8080,green-2:8080' } },
    },
    promote: { steps: { promote: { active: 'green', 'rolled-back': 'false', verdict: 'passed' } } },
  };
  const status = (weights: object, active = 'blue') => ({
    steps: { status: { active, weights: JSON.stringify(weights) } },
  });

  it('ships: plan, stage, promote; nothing to roll back or restore', () => {
    const shipped = run({});
    expect(ran(shipped)).toEqual(['preflight', 'stage', 'promote']);
    expect(shipped.outputs).toEqual({
      active: 'green',
      'rolled-back': 'false',
      'pull-request-url': '',
      frozen: 'false',
      'backup-id': '',
    });
    expect(shipped.jobs.promote?.with.promote).toMatchObject({
      command: 'promote',
      version: '0123456789abcdef0123456789abcdef01234567',
      'k6-summary': '',
      'rollback-pr': 'true',
    });
  });

  it('with a backup and a load test: the summary goes to promote, which gates on it at every step', () => {
    const shipped = run({ backup: true, 'load-test': 'load/smoke.js', version: '1.4.2' });
    expect(ran(shipped)).toEqual(['preflight', 'backup', 'stage', 'load-test', 'promote']);
    expect(shipped.jobs.promote?.steps).toEqual(['#1', '#2', 'promote']);
    expect(shipped.jobs.promote?.with.promote).toMatchObject({
      version: '1.4.2',
      'k6-summary': '/tmp/runner/k6/k6-summary.json',
    });
    expect(shipped.jobs.backup?.with.backup).toMatchObject({ command: 'backup' });
    expect(shipped.outputs['backup-id']).toBe('20260101-0000-abc1234');
  });

  it('a failed load test: no promotion; traffic never moved, so the rollback job only opens the pull request', () => {
    const failed = run(
      { 'load-test': 'load/smoke.js' },
      { 'load-test': { result: 'failure' }, rollback: status({ blue: 100, green: 0 }) },
    );
    expect(ran(failed)).toEqual(['preflight', 'stage', 'load-test', 'rollback']);
    expect(failed.jobs.rollback?.steps).toEqual(['#1', 'status', 'revert']);
    expect(failed.jobs.rollback?.with.revert).toMatchObject({
      command: 'revert',
      reason: 'the load test failed (run 42)',
    });
    const quiet = run(
      { 'load-test': 'load/smoke.js', 'rollback-pr': false },
      { 'load-test': { result: 'failure' }, rollback: status({ blue: 100, green: 0 }) },
    );
    expect(quiet.jobs.rollback?.steps).toEqual(['#1', 'status']);
  });

  it('a breached promotion rolled itself back and opened the pull request: the rollback job stays out', () => {
    const breached = run(
      {},
      {
        promote: {
          result: 'failure',
          steps: { promote: { active: 'blue', 'rolled-back': 'true', 'pull-request-url': 'https://pr/7' } },
        },
      },
    );
    expect(ran(breached)).toEqual(['preflight', 'stage', 'promote']);
    expect(breached.outputs).toMatchObject({
      active: 'blue',
      'rolled-back': 'true',
      'pull-request-url': 'https://pr/7',
    });
  });

  it('a promotion that failed with traffic split: the rollback job puts the old colour back, and opens no pull request (the failure says nothing about the commit)', () => {
    const split = run(
      {},
      {
        promote: { result: 'failure', steps: { promote: { active: 'blue', 'rolled-back': 'false' } } },
        rollback: {
          steps: {
            ...status({ blue: 75, green: 25 }).steps,
            rollback: { active: 'blue', 'rolled-back': 'true' },
          },
        },
      },
    );
    expect(split.jobs.rollback?.steps).toEqual(['#1', 'status', 'rollback']);
    expect(split.jobs.rollback?.with.rollback).toMatchObject({
      command: 'rollback',
      'rollback-pr': 'false',
      reason: 'the promotion failed (run 42)',
    });
    expect(split.outputs).toMatchObject({ active: 'blue', 'rolled-back': 'true', 'pull-request-url': '' });
  });

  it('a promotion that failed before any traffic moved: nothing is rolled back (that would move users off a good build)', () => {
    const early = run(
      {},
      {
        promote: { result: 'failure', steps: { promote: { active: 'blue' } } },
        rollback: status({ blue: 100, green: 0 }),
      },
    );
    expect(early.jobs.rollback?.steps).toEqual(['#1', 'status']);
    expect(early.outputs).toMatchObject({ active: 'blue', 'rolled-back': 'false' });
  });

  it('a cancelled promotion: the rollback job still runs and reads the state', () => {
    const cancelled = run(
      { backup: true, restore: true },
      { rollback: status({ blue: 50, green: 50 }) },
      { cancelledAt: 'promote' },
    );
    expect(ran(cancelled)).toEqual(['preflight', 'backup', 'stage', 'promote', 'rollback']);
    expect(cancelled.jobs.rollback?.with.rollback?.reason).toBe('the promotion was cancelled (run 42)');
    // A person cancelled: the data stays as it is.
    expect(cancelled.jobs.restore?.result).toBe('skipped');
  });

  it('restores the backup on a failed deploy when asked to, after traffic is safe, never on a failed rollback', () => {
    const asked = { backup: true, restore: true };
    const stageFailed = run(asked, { stage: { result: 'failure' } });
    expect(ran(stageFailed)).toEqual(['preflight', 'backup', 'stage', 'restore']);
    expect(stageFailed.jobs.restore?.with['#2']).toMatchObject({
      command: 'restore',
      id: '20260101-0000-abc1234',
      mode: 'replace',
    });
    const breached = run(asked, {
      promote: { result: 'failure', steps: { promote: { 'rolled-back': 'true' } } },
    });
    expect(ran(breached)).toEqual(['preflight', 'backup', 'stage', 'promote', 'restore']);
    const rollbackFailed = run(asked, {
      promote: { result: 'failure' },
      rollback: { result: 'failure', ...status({ blue: 50, green: 50 }) },
    });
    expect(rollbackFailed.jobs.restore?.result).toBe('skipped');
    // The rollback job failed only on its pull request, with traffic back on one colour.
    const prFailed = run(asked, {
      promote: { result: 'failure' },
      rollback: {
        result: 'failure',
        steps: { ...status({ blue: 50, green: 50 }).steps, rollback: { 'rolled-back': 'true' } },
      },
    });
    expect(prFailed.jobs.restore?.result).toBe('success');
    expect(run({ backup: true }, { stage: { result: 'failure' } }).jobs.restore?.result).toBe('skipped');
    expect(run({ restore: true }, { stage: { result: 'failure' } }).jobs.restore?.result).toBe('skipped');
    expect(run(asked).jobs.restore?.result).toBe('skipped');
  });

  it('runs the load test without a backup (a skipped job upstream skips the implicit success() after it)', () => {
    expect(ran(run({ 'load-test': 'load/smoke.js' }))).toEqual([
      'preflight',
      'stage',
      'load-test',
      'promote',
    ]);
  });

  it('a run cancelled between jobs starts nothing new, and has nothing to roll back', () => {
    expect(ran(run({ 'load-test': 'load/smoke.js' }, {}, { cancelledAfter: 'stage' }))).toEqual([
      'preflight',
      'stage',
    ]);
    expect(ran(run({ backup: true }, {}, { cancelledAfter: 'backup' }))).toEqual(['preflight', 'backup']);
    expect(ran(run({}, {}, { cancelledAfter: 'stage' }))).toEqual(['preflight', 'stage']);
  });

  it('a failed backup or preflight stops everything before production changes', () => {
    expect(ran(run({ backup: true, restore: true }, { backup: { result: 'failure' } }))).toEqual([
      'preflight',
      'backup',
    ]);
    expect(ran(run({ 'load-test': 'x.js' }, { preflight: { result: 'failure' } }))).toEqual(['preflight']);
  });
});

describe('blue-green.yml, the migrate job and the contract-phase freeze (issue 11)', () => {
  const wf = readWorkflow(BLUE_GREEN);
  const DATABASE = { database_url: 'postgres://app:pw@db.internal:5432/shop' };
  const STAGED: Record<string, JobOutcome> = {
    backup: { steps: { backup: { 'backup-id': '20260101-0000-abc1234' } } },
    migrate: { steps: { run: { phase: 'expand', applied: '[{"file":"db/002.sql"}]' } } },
    stage: { steps: { stage: { active: 'blue', idle: 'green', 'idle-servers': 'green-1:8080' } } },
    promote: { steps: { promote: { active: 'green', 'rolled-back': 'false', verdict: 'passed' } } },
  };
  const run = (
    given: Inputs,
    outcomes: Record<string, JobOutcome> = {},
    secrets: Record<string, string> = {},
  ) => simulateRun(wf, { inputs: inputsOf(wf, given), outcomes: { ...STAGED, ...outcomes }, secrets });
  const migrations = { migrations: 'db/migrations/*.sql' };
  /** promote froze at 25% after a contract-phase migration. */
  const frozeAt25 = (pullRequestUrl = 'https://pr/9'): Record<string, JobOutcome> => ({
    migrate: { steps: { run: { phase: 'contract', applied: '[{"file":"db/003_drop.sql"}]' } } },
    promote: {
      result: 'failure',
      steps: {
        promote: {
          active: 'blue',
          'rolled-back': 'false',
          frozen: 'true',
          verdict: 'failed',
          'pull-request-url': pullRequestUrl,
        },
      },
    },
    rollback: {
      steps: { status: { active: 'blue', weights: '{"blue":75,"green":25}', frozen: 'true' } },
    },
  });

  it('is skipped, and stage still runs, without migrations or without database_url', () => {
    expect(ran(run({}, {}, DATABASE))).toEqual(['preflight', 'stage', 'promote']);
    const lintOnly = run(migrations);
    expect(ran(lintOnly)).toEqual(['preflight', 'stage', 'promote']);
    expect(lintOnly.jobs.preflight?.outputs).toMatchObject({ migrate: 'false' });
    expect(ran(run({ ...migrations, backup: true }))).toEqual(['preflight', 'backup', 'stage', 'promote']);
  });

  it('runs after the backup and before stage with migrations and database_url: run alone, or rehearse first with scratch_url', () => {
    const shipped = run({ ...migrations, backup: true }, {}, DATABASE);
    expect(ran(shipped)).toEqual(['preflight', 'backup', 'migrate', 'stage', 'promote']);
    expect(shipped.jobs.migrate?.steps).toEqual(['#1', 'run']);
    expect(shipped.jobs.migrate?.with.run).toMatchObject({
      command: 'run',
      migrations: 'db/migrations/*.sql',
      config: 'switchyard.yml',
      environment: 'production',
    });
    expect(shipped.jobs.migrate?.outputs).toEqual({
      phase: 'expand',
      applied: '[{"file":"db/002.sql"}]',
      'backup-id': '',
    });
    const rehearsed = run(
      migrations,
      {},
      { ...DATABASE, scratch_url: 'postgres://scratch.internal/postgres' },
    );
    expect(rehearsed.jobs.migrate?.steps).toEqual(['#1', 'rehearse', 'run']);
    expect(rehearsed.jobs.migrate?.with.rehearse).toMatchObject({ command: 'rehearse' });
    // Secrets reach the action through with:, never a run: script.
    const step = wf.doc.jobs.migrate?.steps?.find((each) => each.id === 'rehearse');
    expect(step?.with).toMatchObject({
      'database-url': '${{ secrets.database_url }}',
      'scratch-url': '${{ secrets.scratch_url }}',
    });
    // A failed backup: no migration runs on a database that has no backup.
    expect(ran(run({ ...migrations, backup: true }, { backup: { result: 'failure' } }, DATABASE))).toEqual([
      'preflight',
      'backup',
    ]);
  });

  it('a failed migrate stops the release: nothing is staged, promoted, rolled back or restored', () => {
    const failed = run(
      { ...migrations, backup: true, restore: true },
      { migrate: { result: 'failure' } },
      DATABASE,
    );
    expect(ran(failed)).toEqual(['preflight', 'backup', 'migrate']);
    expect(failed.outputs).toMatchObject({ 'rolled-back': 'false', frozen: 'false' });
    // A cancelled migrate starts nothing either.
    expect(ran(run(migrations, { migrate: { result: 'cancelled' } }, DATABASE))).toEqual([
      'preflight',
      'migrate',
    ]);
  });

  it('promote gets the phase migrate applied, or, without a migrate job, the phase the lint found', () => {
    const applied = run(migrations, frozeAt25(), DATABASE);
    expect(applied.jobs.promote?.with.promote).toMatchObject({ 'migration-phase': 'contract' });
    const linted = run(migrations, {
      preflight: { steps: { lint: { phase: 'contract' } } },
      promote: STAGED.promote as JobOutcome,
    });
    expect(linted.jobs.migrate?.result).toBe('skipped');
    expect(linted.jobs.promote?.with.promote).toMatchObject({ 'migration-phase': 'contract' });
    expect(run({}).jobs.promote?.with.promote).toMatchObject({ 'migration-phase': '' });
  });

  it('after promote froze: the rollback job holds the split, opens the pull request only if promote could not, and nothing is restored', () => {
    const frozen = run({ ...migrations, backup: true, restore: true }, frozeAt25(), DATABASE);
    expect(ran(frozen)).toEqual(['preflight', 'backup', 'migrate', 'stage', 'promote', 'rollback']);
    expect(frozen.jobs.rollback?.steps).toEqual(['#1', 'status', 'frozen']);
    expect(frozen.jobs.restore?.result).toBe('skipped');
    expect(frozen.outputs).toMatchObject({
      frozen: 'true',
      'rolled-back': 'false',
      'pull-request-url': 'https://pr/9',
    });
    // promote could not open the pull request: the rollback job does, with the freeze in its body.
    const noPull = run(migrations, frozeAt25(''), DATABASE);
    expect(noPull.jobs.rollback?.steps).toEqual(['#1', 'status', 'frozen', 'revert']);
    expect(noPull.jobs.rollback?.with.revert).toMatchObject({
      command: 'revert',
      reason: 'the promotion failed, traffic frozen (run 42)',
    });
    expect(noPull.jobs.rollback?.steps).not.toContain('rollback');
  });

  it('a promotion that died after a contract-phase migration without freezing: rollback is asked, and deploy refuses it', () => {
    const died = run(
      migrations,
      {
        migrate: { steps: { run: { phase: 'contract' } } },
        promote: { result: 'failure', steps: { promote: { active: 'blue', 'rolled-back': 'false' } } },
        rollback: {
          steps: { status: { active: 'blue', weights: '{"blue":75,"green":25}', frozen: 'false' } },
        },
      },
      DATABASE,
    );
    expect(died.jobs.rollback?.steps).toEqual(['#1', 'status', 'rollback']);
    expect(died.jobs.rollback?.with.rollback).toMatchObject({ 'migration-phase': 'contract' });
  });

  it('the state says frozen though promote said nothing (its outputs lost): the rollback job still holds', () => {
    const lost = run(migrations, {
      ...frozeAt25(),
      promote: { result: 'failure', steps: { promote: {} } },
    });
    expect(lost.jobs.rollback?.steps).toEqual(['#1', 'status', 'frozen']);
  });
});

describe('rollback.yml', () => {
  const wf = readWorkflow(ROLLBACK);
  const run = (given: Inputs, outcomes: Record<string, JobOutcome> = {}) =>
    simulateRun(wf, { inputs: inputsOf(wf, given), outcomes });

  it('takes the same inputs as a button and called, and the same secrets as blue-green.yml', () => {
    const names = (inputs: object = {}) => Object.keys(inputs);
    expect(names(wf.doc.on?.workflow_dispatch?.inputs)).toEqual([
      'environment',
      'reason',
      'restore-backup',
      'rollback-pr',
      'force-rollback',
      'config',
      'runs-on',
    ]);
    expect(names(wf.doc.on?.workflow_call?.inputs)).toEqual(names(wf.doc.on?.workflow_dispatch?.inputs));
    // All but the migrate job's: a rollback applies no migration.
    expect(names(wf.doc.on?.workflow_call?.secrets)).toEqual(
      names(readWorkflow(BLUE_GREEN).doc.on?.workflow_call?.secrets).filter(
        (name) => !['database_url', 'scratch_url'].includes(name),
      ),
    );
  });

  it('rolls back, then restores only when a backup is named, and only once traffic moved back', () => {
    const plain = run({ reason: 'errors after 1.4.2' });
    expect(ran(plain)).toEqual(['rollback']);
    expect(plain.jobs.rollback?.with.rollback).toMatchObject({
      command: 'rollback',
      reason: 'errors after 1.4.2',
      'rollback-pr': 'true',
      'force-rollback': 'false',
    });
    expect(run({ reason: 'db restored', 'force-rollback': true }).jobs.rollback?.with.rollback).toMatchObject(
      {
        'force-rollback': 'true',
      },
    );
    const movedBack = { rollback: { steps: { rollback: { 'rolled-back': 'true' } } } };
    const restored = run({ reason: 'bad data', 'restore-backup': 'latest' }, movedBack);
    expect(ran(restored)).toEqual(['rollback', 'restore']);
    expect(restored.jobs.restore?.with.restore).toMatchObject({
      command: 'restore',
      id: 'latest',
      mode: 'replace',
    });
    expect(
      ran(run({ reason: 'x', 'restore-backup': 'latest' }, { rollback: { result: 'failure' } })),
    ).toEqual(['rollback']);
    // Traffic moved; only the pull request failed: the restore goes ahead.
    const prFailed = run(
      { reason: 'x', 'restore-backup': 'latest' },
      { rollback: { result: 'failure', steps: { rollback: { 'rolled-back': 'true' } } } },
    );
    expect(ran(prFailed)).toEqual(['rollback', 'restore']);
  });
});

describe('examples', () => {
  const schema = JSON.parse(readFileSync('schema/switchyard.schema.json', 'utf8')) as object;
  const validate = new Ajv2020({ allErrors: true, strict: false }).compile(schema);

  it.each(exampleConfigPaths())('%s is valid against schema/switchyard.schema.json', (path) => {
    validate(parse(readFileSync(path, 'utf8')));
    expect(validate.errors ?? []).toEqual([]);
  });

  it.each(exampleConfigPaths())('%s loads in the actions, for every environment it names', (path) => {
    const environments = Object.keys(
      (parse(readFileSync(path, 'utf8')) as { environments?: object }).environments ?? {},
    );
    for (const environment of [undefined, ...environments])
      for (const action of ['deploy', 'backup', 'health-check'] as const)
        expect(() => loadConfigSection(path, action, environment, {})).not.toThrow();
  });

  it('the schema check itself refuses a config with a typo', () => {
    validate({ deploy: { routr: 'nginx' } });
    expect(validate.errors?.[0]).toMatchObject({
      keyword: 'additionalProperties',
      params: { additionalProperty: 'routr' },
    });
  });

  it('each example names the pipeline it shows', () => {
    const calls = (path: string) =>
      Object.values(readWorkflow(path).doc.jobs).map((job) => [
        job.uses,
        (job.with as { environment?: string })?.environment,
      ]);
    const blueGreen = 'switchyard-actions/switchyard/.github/workflows/blue-green.yml@v0';
    expect(calls('examples/push-to-main.yml')).toEqual([[blueGreen, 'production']]);
    expect(calls('examples/dispatch.yml')).toEqual([[blueGreen, '${{ inputs.environment }}']]);
    expect(calls('examples/haproxy.yml')).toEqual([[blueGreen, 'production']]);
    expect(calls('examples/pipeline.yml')).toEqual([
      [blueGreen, 'dev'],
      [blueGreen, 'staging'],
      [blueGreen, 'production'],
    ]);
    const pipeline = readWorkflow('examples/pipeline.yml').doc.jobs;
    expect([
      needsOf(pipeline.dev as never),
      needsOf(pipeline.staging as never),
      needsOf(pipeline.production as never),
    ]).toEqual([[], ['dev'], ['staging']]);
    expect(readWorkflow('examples/haproxy.yml').doc.jobs.production?.with).toMatchObject({
      config: 'switchyard.haproxy.yml',
    });
  });

  it('each caller grants every permission the called jobs ask for (GitHub refuses the run otherwise)', () => {
    const granted = (permissions: unknown) => permissions as Record<string, string>;
    const rank = { none: 0, read: 1, write: 2 } as Record<string, number>;
    const asked: Record<string, string> = {};
    for (const permissions of Object.values(BLUE_GREEN_PERMISSIONS))
      for (const [scope, level] of Object.entries(permissions))
        if ((rank[level] ?? 0) > (rank[asked[scope] ?? 'none'] ?? 0)) asked[scope] = level;
    for (const path of workflowPaths().filter((each) => each.startsWith('examples/')))
      for (const [name, job] of Object.entries(readWorkflow(path).doc.jobs)) {
        const has = granted(job.permissions);
        for (const [scope, level] of Object.entries(asked))
          expect({
            path,
            name,
            scope,
            enough: (rank[has[scope] ?? 'none'] ?? 0) >= (rank[level] ?? 0),
          }).toEqual({
            path,
            name,
            scope,
            enough: true,
          });
      }
  });
});

describe('docs/workflows.md', () => {
  const docs = readFileSync('docs/workflows.md', 'utf8');

  it('lists each blue-green.yml job with exactly the permissions it has', () => {
    const lines = docs.split('\n');
    const header = lines.indexOf('| Job | Permissions | Why |');
    expect(header).toBeGreaterThan(0);
    const table = lines.slice(header + 2, lines.indexOf('', header));
    const documented = Object.fromEntries(
      table.map((row) => {
        const [, job, permissions] = row.split('|').map((cell) => cell.trim());
        const pairs = [...(permissions ?? '').matchAll(/`([\w-]+): (\w+)`/g)].map(([, scope, level]) => [
          scope,
          level,
        ]);
        return [job?.replace(/`/g, ''), Object.fromEntries(pairs)];
      }),
    );
    expect(documented).toEqual(BLUE_GREEN_PERMISSIONS);
  });

  it('describes every input, secret and output of both workflows', () => {
    for (const path of [BLUE_GREEN, ROLLBACK]) {
      const call = readWorkflow(path).doc.on?.workflow_call;
      for (const name of [
        ...Object.keys(call?.inputs ?? {}),
        ...Object.keys(call?.secrets ?? {}),
        ...Object.keys(call?.outputs ?? {}),
      ])
        expect({ path, name, documented: docs.includes(`| \`${name}\``) }).toEqual({
          path,
          name,
          documented: true,
        });
    }
  });
});
