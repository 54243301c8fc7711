import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import {
  cancellationOnSignals,
  defineAction,
  runAction,
  type ActionDeps,
} from '../../actions/core/src/action.js';
import { UserError } from '../../actions/core/src/errors.js';
import { oneOf, text } from '../../actions/core/src/inputs.js';
import { memoryIO } from '../../actions/core/src/io.js';
import { renderInputs, renderOutputs } from '../../scripts/action-yml.js';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'switchyard-run-action-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface Result {
  ok: boolean;
  version: string;
  reason?: string;
}

const inputs = {
  mode: oneOf(['pass', 'fail', 'throw', 'bug', 'wait'] as const, 'What the engine does.', {
    default: 'pass',
  }),
  version: text('A version.', { default: 'v1' }),
};

/** An action whose engine does what `mode` says; `started` resolves once it runs. */
function fakeAction(onStart: (deps: ActionDeps) => void = () => {}) {
  return defineAction({
    name: 'health-check',
    inputs,
    engine: async (values, deps): Promise<Result> => {
      onStart(deps);
      if (values.mode === 'throw')
        throw new UserError('Input "version": v0 is gone', 'Invalid input: version');
      if (values.mode === 'bug') throw new TypeError('cannot read properties of undefined');
      if (values.mode === 'wait' && !deps.signal.aborted) {
        await new Promise((resolve) => deps.signal.addEventListener('abort', resolve, { once: true }));
      }
      return values.mode === 'fail'
        ? { ok: false, version: values.version, reason: 'green failed its checks' }
        : { ok: true, version: values.version };
    },
    outputs: {
      ok: { description: 'true or false.', value: (result) => String(result.ok) },
      version: { description: 'The version.', value: (result) => result.version },
      reason: {
        description: 'Why it failed.',
        value: (result) => result.reason ?? '',
        whenFailed: (errors) => errors.join('\n'),
      },
    },
    report: { description: 'The report.', body: ({ reason, ...rest }) => ({ ...rest, why: reason }) },
    summary: (result) => `## fake: ${result.ok ? 'ok' : 'failed'} ${result.version}\n`,
    failure: (result) =>
      result.ok ? undefined : { message: `Failed: ${result.reason}`, title: 'fake failed' },
  });
}

async function runFake(given: Record<string, string>, onStart?: (deps: ActionDeps) => void) {
  const { io, recorded } = memoryIO({ inputs: given, env: { RUNNER_TEMP: dir } });
  const outcome = await runAction(fakeAction(onStart), io);
  const report = recorded.outputs.report
    ? JSON.parse(readFileSync(recorded.outputs.report, 'utf8'))
    : undefined;
  return { recorded, outcome, report };
}

describe('runAction: one driver for every action', () => {
  it('a success: every output, the report and the summary; exit 0, no error', async () => {
    const { recorded, outcome, report } = await runFake({ version: 'v2' });
    expect(recorded.outputs).toEqual({ ok: 'true', version: 'v2', reason: '', report: expect.any(String) });
    expect(report).toMatchObject({ action: 'health-check', ok: true, version: 'v2' });
    expect(recorded.summary).toBe('## fake: ok v2\n');
    expect(recorded.exitCode).toBe(0);
    expect(recorded.errors).toEqual([]);
    expect(outcome).toEqual({ result: { ok: true, version: 'v2' }, errors: [], exitCode: 0 });
  });

  it('a failed result still writes every output, the report and the summary, then one ::error:: and exit 1', async () => {
    const { recorded, report } = await runFake({ mode: 'fail' });
    expect(recorded.outputs).toMatchObject({ ok: 'false', version: 'v1', reason: 'green failed its checks' });
    expect(report).toMatchObject({ ok: false, why: 'green failed its checks' });
    expect(recorded.summary).toContain('failed');
    expect(recorded.errors).toEqual([
      { message: 'Failed: green failed its checks', where: { title: 'fake failed' } },
    ]);
    expect(recorded.exitCode).toBe(1);
  });

  it('bad input: one ::error:: naming it, exit 1, a report and summary of the errors, the engine never runs', async () => {
    let ran = false;
    const { recorded, report } = await runFake({ mode: 'sometimes' }, () => (ran = true));
    expect(ran).toBe(false);
    expect(recorded.errors).toHaveLength(1);
    expect(recorded.errors[0]?.message).toMatch(/^Input "mode": .*pass, fail/);
    expect(recorded.exitCode).toBe(1);
    // Without a result every output is still set, so `if: failure()` steps read defined values:
    // the error where the output says how (reason), empty otherwise.
    expect(recorded.outputs).toMatchObject({ ok: '', version: '', reason: recorded.errors[0]?.message });
    expect(Object.keys(recorded.outputs)).toEqual(['ok', 'version', 'reason', 'report']);
    expect(report.errors).toEqual([recorded.errors[0]?.message]);
    expect(recorded.summary).toContain(recorded.errors[0]?.message);
  });

  it('a UserError thrown by the engine is reported as it is; a bug as "Unexpected error" without a stack', async () => {
    const thrown = await runFake({ mode: 'throw' });
    expect(thrown.recorded.errors.map((e) => e.message)).toEqual(['Input "version": v0 is gone']);
    expect(thrown.recorded.exitCode).toBe(1);
    expect(thrown.report.errors).toEqual(['Input "version": v0 is gone']);

    const bug = await runFake({ mode: 'bug' });
    expect(bug.recorded.errors).toHaveLength(1);
    expect(bug.recorded.errors[0]?.message).toContain(
      'Unexpected error: cannot read properties of undefined',
    );
    expect(bug.recorded.log.join('\n')).not.toMatch(/^\s+at /m);
    expect(bug.recorded.exitCode).toBe(1);
  });

  it('a failed result may carry its error: a UserError prints as thrown (file and line kept), a bug as unexpected', async () => {
    const kept = (error: Error) =>
      defineAction({ ...fakeAction(), failure: (result) => (result.ok ? error : undefined) });
    const { io, recorded } = memoryIO({ env: { RUNNER_TEMP: dir } });
    await runAction(
      kept(new UserError('lost the deploy lock to run 7', 'deploy promote failed', 'state.json', 2)),
      io,
    );
    expect(recorded.errors).toEqual([
      {
        message: 'lost the deploy lock to run 7',
        where: { title: 'deploy promote failed', file: 'state.json', line: 2 },
      },
    ]);
    expect(recorded.outputs.ok).toBe('true');
    expect(recorded.exitCode).toBe(1);

    const second = memoryIO({ env: { RUNNER_TEMP: dir } });
    await runAction(kept(new RangeError('weights out of range')), second.io);
    expect(second.recorded.errors[0]?.message).toMatch(/^Unexpected error: weights out of range/);
    expect(second.recorded.exitCode).toBe(1);
  });

  it('passes the world in: the environment input, cwd, clock and runner', async () => {
    let deps: ActionDeps | undefined;
    await runFake({ environment: 'production' }, (given) => (deps = given));
    expect(deps?.environment).toBe('production');
    expect(deps?.cwd).toBe(process.cwd());
    expect(typeof deps?.clock.now()).toBe('number');
    expect(deps?.signal.aborted).toBe(false);
  });

  it('SIGTERM aborts the signal; a run cancelled before it finished never reads as a success', async () => {
    const before = process.listenerCount('SIGTERM');
    const { recorded } = await runFake({ mode: 'wait' }, (deps) => {
      expect(process.listenerCount('SIGTERM')).toBe(before + 1);
      // The listener is what the runner's SIGTERM reaches; no default exit while it is there.
      process.emit('SIGTERM', 'SIGTERM');
      expect(deps.signal.aborted).toBe(true);
    });
    expect(recorded.outputs.ok).toBe('true');
    expect(recorded.errors.map((e) => e.message)).toEqual(['health-check: cancelled by SIGTERM']);
    expect(recorded.exitCode).toBe(1);
    expect(process.listenerCount('SIGTERM')).toBe(before);
  });

  it('an outputs table may not declare `report`: the driver writes it', () => {
    const definition = fakeAction();
    expect(() =>
      defineAction({ ...definition, outputs: { report: { description: 'x', value: () => '' } } }),
    ).toThrow('"report" is written by runAction');
  });

  it('cancellationOnSignals stops listening when disposed', () => {
    const before = process.listenerCount('SIGINT');
    const cancellation = cancellationOnSignals();
    process.emit('SIGINT', 'SIGINT');
    expect(cancellation.signal.aborted).toBe(true);
    expect((cancellation.signal.reason as Error).message).toBe('cancelled by SIGINT');
    cancellation.dispose();
    expect(process.listenerCount('SIGINT')).toBe(before);
  });
});

describe('each action.yml is generated from its main.ts table (run `npm run schema`)', () => {
  it.each(['health-check', 'deploy', 'backup'] as const)('%s: inputs and outputs', (action) => {
    const actionYml = parse(readFileSync(`actions/${action}/action.yml`, 'utf8'));
    expect(actionYml.inputs).toEqual(parse(renderInputs(action)).inputs);
    expect(actionYml.outputs).toEqual(parse(renderOutputs(action)).outputs);
    expect(Object.keys(actionYml.outputs).at(-1)).toBe('report');
  });
});
