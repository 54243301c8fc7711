import { describe, expect, it } from '@jest/globals';
import { readActionInputs } from '../../actions/core/src/action-inputs.js';
import { deploy, deployForAction } from '../../actions/core/src/deploy/engine.js';
import { deployInputs } from '../../actions/core/src/deploy/inputs.js';
import type { DeployState } from '../../actions/core/src/deploy/state/state.js';
import { memoryIO } from '../../actions/core/src/io.js';
import type { ProbeResult } from '../../actions/core/src/probes/probe.js';
import { systemRunner } from '../../actions/core/src/process.js';
import { FakeClock } from '../support/fake-clock.js';
import { MemoryStore, RecordingRouter } from '../support/fake-deploy.js';
import { scriptedProbe } from '../support/scripted-probe.js';

type Script = Array<Pick<ProbeResult, 'ok'> & { latencyMs?: number }>;

const STAGED: DeployState = {
  revision: 3,
  active: 'blue',
  weights: { blue: 100, green: 0 },
  releases: {
    blue: { version: 'v1', stagedAt: '2026-11-01T00:00:00Z', liveAt: '2026-11-01T00:10:00Z' },
    green: { version: 'v2', stagedAt: '2026-11-02T00:00:00Z' },
  },
  history: [],
};

interface Drive {
  store?: MemoryStore;
  router?: RecordingRouter;
  scripts?: Record<string, Script>;
  signal?: AbortSignal;
  /** Called before every probe attempt (to break something mid-promotion). */
  onProbe?: () => void;
  /** Answers every probe instead of the scripts. */
  answer?: () => { ok: boolean };
}

/** One deploy command over scripted probes on a fake clock, with a recording router and state in memory. */
async function drive(raw: Record<string, string>, options: Drive = {}) {
  const { io, recorded } = memoryIO({ inputs: { blue: '127.0.0.1:8001', green: '127.0.0.1:8002', ...raw } });
  const inputs = readActionInputs(io, 'deploy', deployInputs);
  const clock = new FakeClock();
  const router = options.router ?? new RecordingRouter();
  const store = options.store ?? new MemoryStore(structuredClone(STAGED));
  const result = await deploy(inputs, {
    io,
    clock,
    runner: systemRunner,
    router,
    store,
    signal: options.signal,
    createProbe: (url) => {
      const probe = scriptedProbe(url.href, clock, options.scripts?.[url.port] ?? [{ ok: true }]);
      const check = probe.check.bind(probe);
      probe.check = async () => {
        options.onProbe?.();
        const scripted = await check();
        if (!options.answer) return scripted;
        const { ok } = options.answer();
        return { ...scripted, ok, detail: ok ? 'HTTP 200' : 'HTTP 500' };
      };
      return probe;
    },
  });
  return { result, router, store, log: recorded.log, clock };
}

function run(raw: Record<string, string>, options: Omit<Drive, 'store'> & { state?: DeployState } = {}) {
  return drive(raw, { ...options, store: new MemoryStore(structuredClone(options.state ?? STAGED)) });
}

describe('promote', () => {
  it('steps through every weight and makes green active', async () => {
    const { result, router, store } = await run({
      command: 'promote',
      'step-duration': '10s',
      interval: '1s',
    });
    expect(result.succeeded).toBe(true);
    expect(router.applied.map((w) => w.green)).toEqual([10, 25, 50, 75, 100]);
    expect(store.state.active).toBe('green');
    expect(store.state.promotion).toBeUndefined();
    expect(store.state.history.map((h) => h.verdict)).toEqual(['started', 'succeeded']);
    expect(result.previous).toBe('blue');
  });

  it('rolls back at once on a breach, naming the limit, and never reaches the next step', async () => {
    // Green (port 8002) answers well for 12 probes (10% step and part of 25%), then fails.
    const green: Script = [...Array.from({ length: 12 }, () => ({ ok: true })), { ok: false }];
    const { result, router, store, clock } = await run(
      { command: 'promote', 'step-duration': '10s', interval: '1s', 'failure-limit': '3' },
      { scripts: { '8002': green } },
    );
    expect(result.succeeded).toBe(false);
    expect(result.rolledBack).toBe(true);
    expect(result.reason).toMatch(/127\.0\.0\.1:8002\/: 3 consecutive failures \(failure-limit 3\) at 25%/);
    expect(router.applied.map((w) => w.green)).toEqual([10, 25, 0]);
    expect(store.state.active).toBe('blue');
    expect(store.state.weights).toEqual({ blue: 100, green: 0 });
    expect(store.state.history.at(-1)).toMatchObject({ verdict: 'rolled-back' });
    // Detected on the 3rd failure of the 25% step, well before its 10 s window ended.
    expect(clock.now()).toBeLessThan(10_000 + 6_000);
  });

  it('restarts an unfinished promotion after restoring the old colour', async () => {
    const interrupted: DeployState = {
      ...STAGED,
      weights: { blue: 75, green: 25 },
      promotion: {
        id: '1',
        from: 'blue',
        to: 'green',
        version: 'v2',
        startedAt: '2026-11-02T00:00:00Z',
        step: 1,
        steps: [10, 25, 50, 75, 100],
        owner: 'run 1 (killed)',
      },
    };
    const { result, router, log } = await run(
      { command: 'promote', 'step-duration': '2s', interval: '1s', 'min-samples': '2' },
      { state: interrupted },
    );
    expect(result.succeeded).toBe(true);
    expect(router.applied.map((w) => w.green)).toEqual([0, 10, 25, 50, 75, 100]);
    expect(log.some((l) => l.includes('found an unfinished promotion of green'))).toBe(true);
  });

  it('refuses to promote a colour with nothing staged', async () => {
    const bare: DeployState = { ...STAGED, releases: { blue: STAGED.releases.blue } };
    await expect(run({ command: 'promote' }, { state: bare })).rejects.toThrow('green has nothing staged');
  });

  it('puts the old colour back when cancelled', async () => {
    const controller = new AbortController();
    controller.abort();
    const { result, router } = await run(
      { command: 'promote', 'step-duration': '10s', interval: '1s' },
      { signal: controller.signal },
    );
    // Cancelled before the first step: traffic never moved, so nothing is put back.
    expect(result.rolledBack).toBe(false);
    expect(result.succeeded).toBe(false);
    expect(result.reason).toContain('cancelled');
    expect(router.applied).toEqual([]);
  });

  it('puts the old colour back when cancelled mid-step, and never says the step held', async () => {
    const controller = new AbortController();
    let probes = 0;
    const { result, router, store, log } = await run(
      { command: 'promote', 'step-duration': '10s', interval: '1s' },
      {
        signal: controller.signal,
        onProbe: () => {
          if (++probes === 4) controller.abort();
        },
      },
    );
    expect(result.rolledBack).toBe(true);
    expect(result.verdict).toBe('inconclusive');
    expect(router.applied).toEqual([
      { blue: 90, green: 10 },
      { blue: 100, green: 0 },
    ]);
    expect(store.state.active).toBe('blue');
    expect(store.state.promotion).toBeUndefined();
    expect(log.some((line) => line.includes('✓'))).toBe(false);
  });
});

describe('rollback, shift, stage', () => {
  it('rollback after a promotion returns to the previous colour and records the actor', async () => {
    const promoted: DeployState = { ...STAGED, active: 'green', weights: { blue: 0, green: 100 } };
    const { result, store } = await run(
      { command: 'rollback', reason: 'checkout errors' },
      { state: promoted },
    );
    expect(result.active).toBe('blue');
    expect(store.state.weights).toEqual({ blue: 100, green: 0 });
    expect(store.state.history.at(-1)).toMatchObject({ command: 'rollback', reason: 'checkout errors' });
  });

  it('rollback after a partial shift restores the active colour', async () => {
    const shifted: DeployState = { ...STAGED, weights: { blue: 70, green: 30 } };
    const { result } = await run({ command: 'rollback' }, { state: shifted });
    expect(result.active).toBe('blue');
    expect(result.weights).toEqual({ blue: 100, green: 0 });
  });

  it('shift gives the idle colour the weight', async () => {
    const { router, store } = await run({ command: 'shift', weight: '30' });
    expect(router.applied).toEqual([{ blue: 70, green: 30 }]);
    expect(store.state.weights).toEqual({ blue: 70, green: 30 });
  });

  it('stage refuses while the idle colour has traffic', async () => {
    const shifted: DeployState = { ...STAGED, weights: { blue: 70, green: 30 } };
    await expect(run({ command: 'stage', version: 'v3' }, { state: shifted })).rejects.toThrow(
      'green still serves 30% of traffic',
    );
  });

  it('stage runs the stage command for the idle colour, waits for health and records the version', async () => {
    const { store, log } = await run(
      {
        command: 'stage',
        version: 'v3',
        'stage-command': 'sh -c "echo staging $SWITCHYARD_VERSION on $SWITCHYARD_COLOR"',
      },
      { scripts: { '8002': [{ ok: false }, { ok: false }, { ok: true }] } },
    );
    expect(log).toContain('  staging v3 on green');
    expect(store.state.releases.green?.version).toBe('v3');
  });
});

describe('bad input changes nothing', () => {
  it.each([
    [{ command: 'shift', weight: '150' }, 'weight', 'must be 0 to 100'],
    [{ command: 'promote', steps: '10,50,25,100' }, 'steps', 'steps must increase: 50 is followed by 25'],
    [{ command: 'promote', steps: '10,50' }, 'steps', 'the last step must be 100'],
    [{ command: 'promote', router: 'traefik' }, 'router', 'expected one of: nginx, haproxy, command'],
    [{ command: 'promote', blue: 'localhost' }, 'blue', 'is not host:port'],
  ])('%j ⇒ an error naming %s', async (bad, input, message) => {
    const { io } = memoryIO({ inputs: bad });
    expect(() => readActionInputs(io, 'deploy', deployInputs)).toThrow(`Input "${input}"`);
    expect(() => readActionInputs(io, 'deploy', deployInputs)).toThrow(message);
  });
});

describe('trustworthy gates (issue 8)', () => {
  it('refuses a promotion whose steps cannot gather min-samples, before recording or moving anything', async () => {
    const green: Script = [{ ok: false }];
    const outcome = run(
      { command: 'promote', steps: '50,100', 'step-duration': '10s' },
      { scripts: { '8002': green } },
    );
    await expect(outcome).rejects.toThrow(
      /^Input "step-duration": 10s with interval 5s cannot gather min-samples \(10\) probes per target.*step-duration at least 50s/,
    );
  });

  it('leaves the router and the history untouched when promote refuses its inputs', async () => {
    const { io } = memoryIO({
      inputs: { command: 'promote', 'step-duration': '0s', green: '127.0.0.1:8002' },
    });
    const inputs = readActionInputs(io, 'deploy', deployInputs);
    const router = new RecordingRouter();
    const store = new MemoryStore(structuredClone(STAGED));
    await expect(
      deploy(inputs, { io, clock: new FakeClock(), runner: systemRunner, router, store }),
    ).rejects.toThrow(/Input "step-duration": is 0ms/);
    expect(router.applied).toEqual([]);
    expect(store.state.history).toEqual([]);
    expect(store.state.promotion).toBeUndefined();
  });

  it('rolls back a step whose target never answered, even with failure-limit off and a lax error rate', async () => {
    const { result, router, store } = await run(
      {
        command: 'promote',
        steps: '50,100',
        'step-duration': '10s',
        interval: '1s',
        'failure-limit': '0',
        'max-error-rate': '100%',
      },
      { scripts: { '8002': [{ ok: false }] } },
    );
    expect(result.succeeded).toBe(false);
    expect(result.verdict).toBe('failed');
    expect(result.reason).toMatch(/127\.0\.0\.1:8002\/: no successful probe in 11 probes .* at 50%/);
    expect(router.applied.map((w) => w.green)).toEqual([50, 0]);
    expect(store.state.active).toBe('blue');
  });

  it('plan refuses the same settings promote would', async () => {
    await expect(run({ command: 'plan', 'step-duration': '2s', interval: '500ms' })).rejects.toThrow(
      /Input "step-duration": 2s with interval 500ms cannot gather min-samples \(10\).*step-duration at least 5s/,
    );
  });

  it('rollback refuses a colour whose build never served traffic, and keeps traffic where it is', async () => {
    // green v8 is live; blue got v9 staged, then the promotion failed before any traffic moved.
    const state: DeployState = {
      revision: 9,
      active: 'green',
      weights: { blue: 0, green: 100 },
      releases: {
        green: { version: 'v8', stagedAt: '2026-11-20T00:00:00Z', liveAt: '2026-11-20T00:05:00Z' },
        blue: { version: 'v9', stagedAt: '2026-11-30T00:00:00Z' },
      },
      history: [
        {
          at: '2026-11-30T00:00:00Z',
          command: 'stage',
          actor: 'octocat',
          version: 'v9',
          weights: { blue: 0, green: 100 },
          verdict: 'succeeded',
        },
      ],
    };
    const attempt = run({ command: 'rollback', reason: 'promote failed' }, { state });
    await expect(attempt).rejects.toThrow(
      /not rolling back to blue: it runs v9, staged 2026-11-30T00:00:00Z and never live since \(it has not had all the traffic\), so it is an untested or failed build\. Traffic stays on green/,
    );
  });

  it('rollback still goes back to a colour whose build served before (old states without liveAt)', async () => {
    const state: DeployState = {
      revision: 9,
      active: 'green',
      weights: { blue: 0, green: 100 },
      releases: {
        green: { version: 'v8', stagedAt: '2026-11-20T00:00:00Z' },
        blue: { version: 'v7', stagedAt: '2026-11-10T00:00:00Z' },
      },
      history: [
        {
          at: '2026-11-10T01:00:00Z',
          command: 'promote',
          actor: 'octocat',
          version: 'v7',
          weights: { blue: 100, green: 0 },
          verdict: 'succeeded',
        },
      ],
    };
    const { result, router } = await run({ command: 'rollback' }, { state });
    expect(result.active).toBe('blue');
    expect(router.applied).toEqual([{ blue: 100, green: 0 }]);
  });

  it('stops when the lock is taken by another run mid-promotion, touching nothing after', async () => {
    let probes = 0;
    const store = new MemoryStore(structuredClone(STAGED));
    const { result, router } = await runWith(
      store,
      { command: 'promote', 'step-duration': '10s', interval: '1s' },
      () => {
        if (++probes === 5) store.lostTo = 'run 77/1 by mallory';
      },
    );
    expect(result.succeeded).toBe(false);
    expect(result.error?.message).toMatch(/lost the deploy lock to run 77\/1 by mallory/);
    // The 25% step was never applied, and the router was not put back: it is the other run's now.
    expect(router.applied.map((w) => w.green)).toEqual([10]);
  });

  it('restores the old colour when the lock vanished (the store lost it) mid-promotion', async () => {
    let probes = 0;
    const store = new MemoryStore(structuredClone(STAGED));
    const { result, router } = await runWith(
      store,
      { command: 'promote', 'step-duration': '10s', interval: '1s' },
      () => {
        if (++probes === 5) store.lostTo = '';
      },
    );
    expect(result.succeeded).toBe(false);
    expect(result.rolledBack).toBe(true);
    expect(result.error?.message).toMatch(/lost the deploy lock: it is gone .*; blue was restored to 100%/);
    expect(router.applied.map((w) => w.green)).toEqual([10, 0]);
  });

  it('returns a result (for outputs, summary and report) when the router fails mid-promotion', async () => {
    let probes = 0;
    const store = new MemoryStore(structuredClone(STAGED));
    const router = new RecordingRouter();
    const { result } = await runWith(
      store,
      { command: 'promote', 'step-duration': '10s', interval: '1s' },
      () => {
        if (++probes === 15) router.failVerify = 'verify-url saw no colour in 40 samples';
      },
      router,
    );
    expect(result.succeeded).toBe(false);
    expect(result.rolledBack).toBe(true);
    expect(result.reason).toMatch(/verify-url saw no colour in 40 samples; blue was restored to 100%/);
    expect(result.reason).not.toMatch(/Run the rollback command/i);
    expect(result.error).toBeDefined();
    expect(router.applied.at(-1)).toEqual({ blue: 100, green: 0 });
    expect(store.state.active).toBe('blue');
  });
});

describe('found by the outside review (issue 8)', () => {
  const quick = {
    command: 'promote',
    steps: '10,100',
    'step-duration': '5s',
    interval: '1s',
    'min-samples': '5',
  };

  it('rollback after a promotion that failed at 10% refuses the failed build, keeping blue', async () => {
    const store = new MemoryStore(structuredClone(STAGED));
    let probes = 0;
    const first = await runWith(store, quick, () => undefined);
    expect(first.result.succeeded).toBe(true);
    // Back to v1 on blue through a rollback, then a failing v3 on green.
    await runWith(store, { command: 'rollback' }, () => undefined);
    store.state.releases.green = { version: 'v3', stagedAt: new Date().toISOString() };
    const failing = await runWithScript(store, quick, () => ({ ok: ++probes % 2 === 0 }));
    expect(failing.result.rolledBack).toBe(true);
    const router = new RecordingRouter();
    await expect(runWith(store, { command: 'rollback' }, () => undefined, router)).rejects.toThrow(
      /not rolling back to green: it runs v3, .* untested or failed build\. Traffic stays on blue/,
    );
    expect(router.applied).toEqual([]);
  });

  it('a stage that fails is recorded, so rollback will not ship what it left on the colour', async () => {
    const live: DeployState = {
      ...STAGED,
      active: 'green',
      weights: { blue: 0, green: 100 },
      releases: {
        blue: { version: 'v1', stagedAt: '2026-11-01T00:00:00Z', liveAt: '2026-11-01T00:10:00Z' },
        green: { version: 'v2', stagedAt: '2026-11-02T00:00:00Z', liveAt: '2026-11-02T00:10:00Z' },
      },
    };
    const store = new MemoryStore(structuredClone(live));
    await expect(
      runWithScript(
        store,
        { command: 'stage', version: 'v9-broken', 'stage-timeout': '3s', interval: '1s' },
        () => ({ ok: false }),
      ),
    ).rejects.toThrow(/blue did not become healthy/);
    expect(store.state.releases.blue?.version).toBe('v9-broken');
    expect(store.state.history.map((h) => h.verdict)).toEqual(['started', 'failed']);
    await expect(runWith(store, { command: 'rollback' }, () => undefined)).rejects.toThrow(
      /not rolling back to blue: it runs v9-broken/,
    );
  });

  it('a new state takes the router’s word when one colour has everything', async () => {
    const router = new RecordingRouter();
    router.applied.push({ blue: 0, green: 100 });
    const store = new MemoryStore();
    const { result, log } = await runWith(store, { command: 'shift', weight: '10' }, () => undefined, router);
    expect(
      log.some((l) => l.includes('is new, and the router serves blue 0% / green 100%: taking green')),
    ).toBe(true);
    // The idle colour is blue, not the green that serves everyone.
    expect(router.applied.at(-1)).toEqual({ blue: 10, green: 90 });
    expect(result.active).toBe('green');
  });

  it('refuses to stage or shift when the router and a used state disagree, changing nothing', async () => {
    const router = new RecordingRouter();
    router.applied.push({ blue: 0, green: 100 });
    const store = new MemoryStore(
      structuredClone({ ...STAGED, history: [] as DeployState['history'], revision: 5 }),
    );
    await expect(runWith(store, { command: 'shift', weight: '10' }, () => undefined, router)).rejects.toThrow(
      /the router serves blue 0% \/ green 100%, but the deploy state at memory says blue 100% \/ green 0%/,
    );
    await expect(
      runWith(store, { command: 'stage', version: 'v3' }, () => undefined, router),
    ).rejects.toThrow(/Nothing was changed/);
    expect(router.applied).toEqual([{ blue: 0, green: 100 }]);
  });

  it('puts blue back when the state store dies mid-promotion, and the result says where traffic is', async () => {
    const store = new MemoryStore(structuredClone(STAGED));
    let probes = 0;
    const { result, router } = await runWith(store, quick, () => {
      if (++probes === 3) store.down = 'the deploy state at redis://…: EVAL failed: connect ECONNREFUSED';
    });
    expect(result.succeeded).toBe(false);
    expect(router.applied.at(-1)).toEqual({ blue: 100, green: 0 });
    expect(result.active).toBe('blue');
    expect(result.weights).toEqual({ blue: 100, green: 0 });
    expect(result.rolledBack).toBe(true);
    expect(result.reason).toMatch(/ECONNREFUSED; blue was restored to 100%/);
  });

  it('reports the weights it restored after losing the lock', async () => {
    const store = new MemoryStore(structuredClone(STAGED));
    let probes = 0;
    const { result } = await runWith(store, quick, () => {
      if (++probes === 3) store.lostTo = '';
    });
    expect(result.weights).toEqual({ blue: 100, green: 0 });
    expect(result.active).toBe('blue');
  });

  it('a first change the router refuses leaves no unfinished promotion and says nothing moved', async () => {
    const store = new MemoryStore(structuredClone(STAGED));
    const router = new RecordingRouter();
    router.failNextApply = 'nginx -t failed: config broken';
    const { result } = await runWith(store, quick, () => undefined, router);
    expect(result.succeeded).toBe(false);
    expect(result.rolledBack).toBe(false);
    expect(result.reason).toMatch(/config broken; no traffic was moved/);
    expect(result.reason).not.toMatch(/rollback command/);
    expect(store.state.promotion).toBeUndefined();
    expect(router.applied).toEqual([]);
  });

  it('a successful rollback reports rolled-back', async () => {
    const promoted: DeployState = { ...STAGED, active: 'green', weights: { blue: 0, green: 100 } };
    const { result } = await run({ command: 'rollback' }, { state: promoted });
    expect(result.rolledBack).toBe(true);
  });
});

describe('found by the second outside review (issue 8)', () => {
  const quick = {
    command: 'promote',
    steps: '50,100',
    'step-duration': '5s',
    interval: '1s',
    'min-samples': '5',
  };

  it('a promotion that fails at its 100% step leaves that build refused by rollback', async () => {
    const store = new MemoryStore(structuredClone(STAGED));
    const router = new RecordingRouter();
    let probes = 0;
    // Clean through the 50% step (6 probes), failing from the 100% step on.
    const failed = await runWithScript(store, quick, () => ({ ok: ++probes <= 6 }), router);
    expect(failed.result.rolledBack).toBe(true);
    expect(router.applied.map((w) => w.green)).toEqual([50, 100, 0]);
    await expect(runWith(store, { command: 'rollback' }, () => undefined, router)).rejects.toThrow(
      /not rolling back to green: it runs v2/,
    );
    expect(router.applied.at(-1)).toEqual({ blue: 100, green: 0 });
  });

  it('promote refuses a colour whose stage failed', async () => {
    const store = new MemoryStore(structuredClone(STAGED));
    await expect(
      runWithScript(
        store,
        { command: 'stage', version: 'BROKEN', 'stage-timeout': '2s', interval: '1s' },
        () => ({
          ok: false,
        }),
      ),
    ).rejects.toThrow(/green did not become healthy/);
    await expect(runWith(store, quick, () => undefined)).rejects.toThrow(
      /green's stage of BROKEN failed, so green may not run it; run the stage command again/,
    );
  });

  it('rollback follows the router when it was switched outside switchyard', async () => {
    // green v2 is live; blue's stage of v3 failed; someone put the router back to blue by hand.
    const state: DeployState = {
      ...STAGED,
      active: 'green',
      weights: { blue: 0, green: 100 },
      releases: {
        green: { version: 'v2', stagedAt: '2026-11-02T00:00:00Z', liveAt: '2026-11-02T00:10:00Z' },
        blue: { version: 'v3', stagedAt: '2026-11-03T00:00:00Z', stage: 'failed' },
      },
    };
    const router = new RecordingRouter();
    router.applied.push({ blue: 100, green: 0 });
    const { result, log } = await runWith(
      new MemoryStore(structuredClone(state)),
      { command: 'rollback' },
      () => undefined,
      router,
    );
    expect(router.applied.at(-1)).toEqual({ blue: 0, green: 100 });
    expect(result.active).toBe('green');
    expect(
      log.some((l) =>
        l.includes('the router serves blue 100% / green 0% while the state says blue 0% / green 100%'),
      ),
    ).toBe(true);
  });

  it('rollback on a new state with the router split puts back the colour that served before switchyard', async () => {
    const router = new RecordingRouter();
    router.applied.push({ blue: 70, green: 30 });
    const { result } = await runWith(new MemoryStore(), { command: 'rollback' }, () => undefined, router);
    expect(result.active).toBe('blue');
    expect(router.applied.at(-1)).toEqual({ blue: 100, green: 0 });
  });

  it('promote refuses a k6 summary with nothing to judge before anything moves', async () => {
    const { mkdtempSync, writeFileSync, rmSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const dir = mkdtempSync(join(tmpdir(), 'switchyard-k6-'));
    try {
      const file = join(dir, 'summary.json');
      writeFileSync(
        file,
        JSON.stringify({
          metrics: { http_reqs: { type: 'counter', contains: 'default', values: { count: 10, rate: 1 } } },
        }),
      );
      const store = new MemoryStore(structuredClone(STAGED));
      const router = new RecordingRouter();
      await expect(runWith(store, { ...quick, 'k6-summary': file }, () => undefined, router)).rejects.toThrow(
        /^Input "k6-summary": .* holds no thresholds and k6-thresholds gives none/,
      );
      expect(router.applied).toEqual([]);
      expect(store.state.promotion).toBeUndefined();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

function runWith(
  store: MemoryStore,
  raw: Record<string, string>,
  onProbe: () => void,
  router?: RecordingRouter,
) {
  return drive(raw, { store, onProbe, router });
}

function runWithScript(
  store: MemoryStore,
  raw: Record<string, string>,
  answer: () => { ok: boolean },
  router?: RecordingRouter,
) {
  return drive(raw, { store, answer, router });
}

describe('promote with rollback-pr', () => {
  const token = { 'rollback-pr': 'true', 'github-token': 'ghs_unitT0ken' };

  it('puts traffic back first; a pull request that cannot be opened is kept in the result, not thrown', async () => {
    const { result, router, store } = await run(
      { command: 'promote', 'step-duration': '10s', interval: '1s', ...token },
      { answer: () => ({ ok: false }) },
    );
    expect(result.verdict).toBe('failed');
    expect(router.applied.at(-1)).toEqual({ blue: 100, green: 0 });
    expect(store.state.active).toBe('blue');
    expect(result.pullRequest).toBeUndefined();
    expect(result.pullRequestError?.message).toMatch(
      /^traffic is safe \(blue serves blue 100% \/ green 0%\), but the rollback pull request was not opened: /,
    );
  });

  it('opens none when the analysis was only inconclusive: missing evidence does not show the build is bad', async () => {
    // Every probe takes 3 s of a 1 s interval: a 10 s step can never hold min-samples probes.
    const slow = Array.from({ length: 200 }, () => ({ ok: true, latencyMs: 3000 }));
    const { result, log } = await run(
      { command: 'promote', 'step-duration': '10s', interval: '1s', 'min-samples': '10', ...token },
      { scripts: { '8002': slow } },
    );
    expect(result.verdict).toBe('inconclusive');
    expect(result.rolledBack).toBe(true);
    expect(result.pullRequestError).toBeUndefined();
    expect(log).toContain(
      'no rollback pull request: the analysis was inconclusive, which does not show the build is bad',
    );
  });

  it('is refused before anything moves without github-token', async () => {
    await expect(run({ command: 'promote', 'rollback-pr': 'true' })).rejects.toThrow(
      'is required to open the rollback pull request (rollback-pr: true)',
    );
  });
});

describe('a contract-phase migration: a failing promotion freezes instead of rolling back (issue 11)', () => {
  const contract = {
    command: 'promote',
    'step-duration': '10s',
    interval: '1s',
    'failure-limit': '3',
    'migration-phase': 'contract',
  };
  // Green answers well through the 10% step and part of 25%, then fails.
  const breaksAt25 = (): { ok: boolean } => ({ ok: ++breaksAt25.probes <= 12 });
  breaksAt25.probes = 0;

  async function frozenAt25(
    store = new MemoryStore(structuredClone(STAGED)),
    router = new RecordingRouter(),
  ) {
    breaksAt25.probes = 0;
    const outcome = await drive(contract, { store, router, answer: breaksAt25 });
    return { ...outcome, store, router };
  }

  it('holds the split of the failing step, records the freeze, and fails saying why and what to do', async () => {
    const { result, router, store } = await frozenAt25();
    // 10%, 25%, and nothing after: blue was not given its traffic back.
    expect(router.applied.map((w) => w.green)).toEqual([10, 25]);
    expect(result.succeeded).toBe(false);
    expect(result.rolledBack).toBe(false);
    expect(result.verdict).toBe('failed');
    expect(result.weights).toEqual({ blue: 75, green: 25 });
    expect(result.froze).toMatchObject({ from: 'blue', to: 'green', weights: { blue: 75, green: 25 } });
    expect(result.reason).toMatch(
      /^frozen at 25% green \(blue 75% \/ green 25%\) instead of rolled back \(a contract-phase migration was applied\): .*3 consecutive failures .* at 25%$/,
    );
    expect(result.error?.message).toMatch(
      /^traffic is frozen at 25% green \(blue 75% \/ green 25%\), not rolled back: .* at 25%\. A contract-phase migration was applied \(migration-phase: contract\): blue's code predates it and would break on the new schema/,
    );
    expect(result.error?.message).toMatch(
      /fix forward .* restore the database .* rollback with force-rollback: true/,
    );
    expect(store.state).toMatchObject({ active: 'blue', weights: { blue: 75, green: 25 } });
    expect(store.state.promotion).toBeUndefined();
    expect(store.state.frozen).toMatchObject({ from: 'blue', to: 'green', version: 'v2' });
    expect(store.state.history.map((h) => h.verdict)).toEqual(['started', 'frozen']);
    expect(result.timeline.map((p) => p.event).filter(Boolean)).toEqual(['start', '10%', '25%', 'frozen']);
  });

  it('without migration-phase (or with expand) the same breach rolls back as before', async () => {
    for (const phase of ['none', 'expand']) {
      breaksAt25.probes = 0;
      const { result, router } = await drive(
        { ...contract, 'migration-phase': phase },
        { store: new MemoryStore(structuredClone(STAGED)), answer: breaksAt25 },
      );
      expect(result.rolledBack).toBe(true);
      expect(result.froze).toBeUndefined();
      expect(router.applied.map((w) => w.green)).toEqual([10, 25, 0]);
    }
  });

  it('status says traffic is frozen; rollback and shift refuse, touching nothing, until forced', async () => {
    const { store, router } = await frozenAt25();
    const status = await drive({ command: 'status' }, { store, router });
    expect(status.log.join('\n')).toMatch(
      /::warning::traffic is frozen at 25% green \(blue 75% \/ green 25%\) since .*: the promotion of green \(v2\) failed/,
    );
    await expect(drive({ command: 'rollback' }, { store, router })).rejects.toThrow(
      /^not rolling back to blue: traffic is frozen at 25% green \(blue 75% \/ green 25%\) since .*Traffic stays as it is/,
    );
    await expect(drive({ command: 'shift', weight: '0' }, { store, router })).rejects.toThrow(
      /^not shifting traffic: it is frozen at 25% green/,
    );
    expect(router.applied.map((w) => w.green)).toEqual([10, 25]);
    expect(store.state.frozen).toBeDefined();

    const forced = await drive(
      { command: 'rollback', 'force-rollback': 'true', reason: 'database restored' },
      { store, router },
    );
    expect(forced.result.succeeded).toBe(true);
    expect(forced.log.join('\n')).toMatch(/::warning::force-rollback: putting blue back at 100%/);
    expect(router.applied.at(-1)).toEqual({ blue: 100, green: 0 });
    expect(store.state.frozen).toBeUndefined();
    expect(store.state.history.at(-1)).toMatchObject({
      command: 'rollback',
      reason: 'database restored (force-rollback: past a contract-phase migration)',
    });
  });

  it('the action engine reports a refused rollback as a failed result that says it is frozen', async () => {
    const { store, router } = await frozenAt25();
    const { io } = memoryIO({ inputs: { command: 'rollback' } });
    const inputs = readActionInputs(io, 'deploy', deployInputs);
    const result = await deployForAction(inputs, {
      io,
      clock: new FakeClock(),
      runner: systemRunner,
      router,
      store,
    });
    expect(result.succeeded).toBe(false);
    expect(result.state.frozen).toBeDefined();
    expect(result.weights).toEqual({ blue: 75, green: 25 });
    expect(result.error).toMatchObject({ title: 'Traffic frozen' });
  });

  it('fixing forward: stage goes over the frozen colour, and promote resumes from the held step, forward only', async () => {
    const { store, router } = await frozenAt25();
    const staged = await drive(
      { command: 'stage', version: 'v2.1', 'stage-timeout': '5s' },
      { store, router },
    );
    expect(staged.log.join('\n')).toMatch(
      /::warning::traffic is frozen at 25% green .*: staging v2\.1 over green/,
    );
    expect(store.state.releases.green?.version).toBe('v2.1');
    // No migration-phase this time: the freeze in the state is what keeps the old colour out.
    const resumed = await drive(
      { command: 'promote', 'step-duration': '10s', interval: '1s' },
      { store, router },
    );
    expect(resumed.result.succeeded).toBe(true);
    expect(resumed.log.join('\n')).toMatch(/resuming from 25% forward, without giving blue traffic back/);
    expect(router.applied.map((w) => w.green)).toEqual([10, 25, 25, 50, 75, 100]);
    expect(store.state).toMatchObject({ active: 'green', weights: { blue: 0, green: 100 } });
    expect(store.state.frozen).toBeUndefined();
  });

  it('a resumed promotion that fails again freezes again, never going below the held split', async () => {
    const { store, router } = await frozenAt25();
    const again = await drive(
      { command: 'promote', 'step-duration': '10s', interval: '1s', 'failure-limit': '3' },
      { store, router, answer: () => ({ ok: false }) },
    );
    expect(again.result.froze?.weights).toEqual({ blue: 75, green: 25 });
    expect(router.applied.map((w) => w.green)).toEqual([10, 25, 25]);
    expect(store.state.history.map((h) => h.verdict)).toEqual(['started', 'frozen', 'started', 'frozen']);
  });

  it('an inconclusive step, a cancellation and a router failure hold traffic too, and open no pull request', async () => {
    const slow = Array.from({ length: 200 }, () => ({ ok: true, latencyMs: 3000 }));
    const token = { 'rollback-pr': 'true', 'github-token': 'ghs_unitT0ken' };
    const inconclusive = await run(
      { ...contract, ...token, 'min-samples': '10' },
      { scripts: { '8002': slow } },
    );
    expect(inconclusive.result).toMatchObject({ verdict: 'inconclusive', rolledBack: false });
    expect(inconclusive.router.applied.map((w) => w.green)).toEqual([10]);
    expect(inconclusive.result.pullRequestError).toBeUndefined();

    const controller = new AbortController();
    let probes = 0;
    const cancelled = await run(contract, {
      signal: controller.signal,
      onProbe: () => {
        if (++probes === 4) controller.abort();
      },
    });
    expect(cancelled.router.applied).toEqual([{ blue: 90, green: 10 }]);
    expect(cancelled.result.froze?.reason).toBe('cancelled (SIGINT/SIGTERM)');

    const router = new RecordingRouter();
    probes = 0;
    const broken = await drive(contract, {
      store: new MemoryStore(structuredClone(STAGED)),
      router,
      onProbe: () => {
        if (++probes === 15) router.failVerify = 'verify-url saw no colour in 40 samples';
      },
    });
    expect(broken.result.froze).toBeDefined();
    expect(broken.result.rolledBack).toBe(false);
    // The 50% change was applied but not proven: what the router says it serves is what is held.
    expect(broken.result.error?.message).toMatch(
      /^traffic is frozen at 50% green \(blue 50% \/ green 50%\), not rolled back: the change to blue 50% \/ green 50% is not confirmed: verify-url saw no colour/,
    );
    expect(router.applied.at(-1)).toEqual({ blue: 50, green: 50 });
    expect(broken.store.state.frozen?.weights).toEqual({ blue: 50, green: 50 });
  });

  it('a breach with rollback-pr still opens the pull request, and its failure says traffic is frozen', async () => {
    breaksAt25.probes = 0;
    const { result } = await drive(
      { ...contract, 'rollback-pr': 'true', 'github-token': 'ghs_unitT0ken' },
      { store: new MemoryStore(structuredClone(STAGED)), answer: breaksAt25 },
    );
    expect(result.froze).toBeDefined();
    expect(result.pullRequestError?.message).toMatch(
      /^traffic is frozen at 25% green \(blue 75% \/ green 25%\), but the rollback pull request was not opened: /,
    );
  });

  it('rollback with migration-phase contract refuses to put the old build back unless forced', async () => {
    const promoted: DeployState = { ...STAGED, active: 'green', weights: { blue: 0, green: 100 } };
    const store = new MemoryStore(structuredClone(promoted));
    const router = new RecordingRouter();
    await expect(
      drive({ command: 'rollback', 'migration-phase': 'contract' }, { store, router }),
    ).rejects.toThrow(
      /^not rolling back to blue: migration-phase is contract\. Traffic stays as it is \(blue 0% \/ green 100%\)/,
    );
    expect(router.applied).toEqual([]);
    const forced = await drive(
      { command: 'rollback', 'migration-phase': 'contract', 'force-rollback': 'true' },
      { store, router },
    );
    expect(forced.result.active).toBe('blue');
    expect(router.applied).toEqual([{ blue: 100, green: 0 }]);
  });

  it('a promotion a killed run left after a contract-phase migration resumes instead of restoring the old colour', async () => {
    const interrupted: DeployState = {
      ...STAGED,
      weights: { blue: 75, green: 25 },
      promotion: {
        id: '1',
        from: 'blue',
        to: 'green',
        version: 'v2',
        startedAt: '2026-11-02T00:00:00Z',
        step: 1,
        steps: [10, 25, 50, 75, 100],
        owner: 'run 1 (killed)',
      },
    };
    const router = new RecordingRouter();
    router.applied.push({ blue: 75, green: 25 });
    const { result } = await drive(
      { command: 'promote', 'step-duration': '10s', interval: '1s', 'migration-phase': 'contract' },
      { store: new MemoryStore(structuredClone(interrupted)), router },
    );
    expect(result.succeeded).toBe(true);
    expect(router.applied.map((w) => w.green)).toEqual([25, 25, 50, 75, 100]);
  });

  it('plan says a breach freezes when migration-phase is contract', async () => {
    const { log } = await run({ command: 'plan', 'migration-phase': 'contract' });
    expect(log.join('\n')).toContain(
      "rollback: on the first breach, traffic freezes at the split it has and the promotion stops (exit 1): a contract-phase migration was applied, and blue's code would break on the new schema",
    );
  });

  it('a state with a freeze in it is read back by the stores’ own check', async () => {
    const { checkState } = await import('../../actions/core/src/deploy/state/state.js');
    const { store } = await frozenAt25();
    expect(checkState(store.state)).toBeUndefined();
    expect(checkState({ ...store.state, frozen: { ...store.state.frozen, to: 'blue' } })).toMatch(
      /freezes a colour over itself/,
    );
  });
});
