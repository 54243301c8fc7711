// router: command runs the user's executable as argv with the weights in its environment, and its exit
// code decides.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { existsSync } from 'node:fs';
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { systemClock } from '../../actions/core/src/clock.js';
import { InputError, UserError } from '../../actions/core/src/errors.js';
import { groupMembers, systemRunner } from '../../actions/core/src/process.js';
import { createRouter } from '../../actions/core/src/routers/index.js';
import type { RouterOptions } from '../../actions/core/src/routers/router.js';
import { startSampleService, type RunningServer } from '../../scripts/servers/index.js';

const TRAP_TERM = fileURLToPath(new URL('../fixtures/process/trap-term.sh', import.meta.url));
let dir: string;
let script: string;
let record: string;
let blue: RunningServer & { url: string };
const logged: string[] = [];

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'switchyard-router-command-'));
  script = path.join(dir, 'set-weights.sh');
  record = path.join(dir, 'calls.log');
  // Records what it was given; fails like a load balancer API would when told to.
  await writeFile(
    script,
    `#!/bin/sh
record=$1
shift
{
  echo "call: $*"
  env | grep '^SWITCHYARD_' | sort
} >> "$record"
if [ "$1" = "--fail" ]; then
  echo "updating target group weights..." >&2
  echo "lb-api: 403 Forbidden: token lacks elasticloadbalancing:ModifyListener" >&2
  exit 3
fi
echo "weights set"
`,
  );
  await chmod(script, 0o755);
  blue = await startSampleService({ color: 'blue' });
});

afterAll(async () => {
  await blue?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

function options(command: string[], overrides: Partial<RouterOptions> = {}): RouterOptions {
  return {
    blue: ['10.0.0.1:8080', '10.0.0.2:8080'],
    green: ['10.0.1.1:8080'],
    nginx: {
      upstreamName: 'switchyard',
      testCommand: ['nginx', '-t'],
      reloadCommand: ['nginx', '-s', 'reload'],
    },
    haproxy: {},
    command,
    runner: systemRunner,
    clock: systemClock,
    log: (line) => logged.push(line),
    ...overrides,
  };
}

/** The SWITCHYARD_* variables of each call, and its argv. */
async function calls(): Promise<string[][]> {
  const text = existsSync(record) ? await readFile(record, 'utf8') : '';
  return text
    .split(/^(?=call: )/m)
    .filter(Boolean)
    .map((call) => call.trim().split('\n'));
}

describe('router: command', () => {
  it('runs the command as argv with the weights, the active colour and the servers in its environment', async () => {
    await rm(record, { force: true });
    const injection = `a b; $(touch ${dir}/pwned)`;
    const router = createRouter('command', options([script, record, '--note', injection]));
    await router.apply({ blue: 90, green: 10 });
    await router.apply({ blue: 50, green: 50 });
    await router.apply({ blue: 0, green: 100 });
    // Back through 50/50 on a rollback: blue is the colour gaining traffic.
    await router.apply({ blue: 50, green: 50 });

    const expected = (blueWeight: number, active: string) => [
      `call: --note ${injection}`,
      `SWITCHYARD_ACTIVE=${active}`,
      `SWITCHYARD_BLUE_SERVERS=10.0.0.1:8080,10.0.0.2:8080`,
      `SWITCHYARD_BLUE_WEIGHT=${blueWeight}`,
      `SWITCHYARD_GREEN_SERVERS=10.0.1.1:8080`,
      `SWITCHYARD_GREEN_WEIGHT=${100 - blueWeight}`,
    ];
    expect(await calls()).toEqual([
      expected(90, 'blue'),
      expected(50, 'green'),
      expected(0, 'green'),
      expected(50, 'blue'),
    ]);
    expect(existsSync(path.join(dir, 'pwned'))).toBe(false);
    expect(logged).toContain('  weights set');

    expect(await router.verify({ blue: 50, green: 50 })).toMatchObject({ ok: true });
    expect(await router.verify({ blue: 0, green: 100 })).toMatchObject({ ok: false });
  });

  it('fails with the exit code and the end of stderr when the command exits non-zero', async () => {
    const router = createRouter('command', options([script, record, '--fail']));
    const error = (await router.apply({ blue: 75, green: 25 }).catch((e: unknown) => e)) as UserError;
    expect(error).toBeInstanceOf(UserError);
    expect(error.message).toBe(
      `router-command \`${script} ${record} --fail\` exited with code 3 setting blue 75 / green 25:\n` +
        '  updating target group weights...\n' +
        '  lb-api: 403 Forbidden: token lacks elasticloadbalancing:ModifyListener\n' +
        'switchyard counts the weights as not set; anything the command changed before it failed is for the command to undo.',
    );
    expect((await router.verify({ blue: 75, green: 25 })).ok).toBe(false);

    const missing = createRouter('command', options([path.join(dir, 'no-such-script')]));
    await expect(missing.apply({ blue: 100, green: 0 })).rejects.toThrow(
      /could not start \(command not found: [^]*no-such-script\)/,
    );
  });

  it("logs the command's lines while it runs", async () => {
    const go = path.join(dir, 'go');
    await rm(go, { force: true });
    const seen: string[] = [];
    // It finishes only once the test, reading the log, has seen its first line.
    const router = createRouter(
      'command',
      options(
        [
          'sh',
          '-c',
          `echo "calling the LB API"; while [ ! -e "$1" ]; do sleep 0.01; done; echo done >&2`,
          'sh',
          go,
        ],
        {
          commandTimeoutMs: 10_000,
          log: (line) => {
            seen.push(line);
            if (line === '  calling the LB API') void writeFile(go, '');
          },
        },
      ),
    );
    await router.apply({ blue: 60, green: 40 });
    expect(seen.slice(1)).toEqual(['  calling the LB API', '  done']);
  });

  it('stops the command after router-command-timeout, and everything it started', async () => {
    const work = await mkdtemp(path.join(dir, 'timeout-'));
    const router = createRouter('command', options([TRAP_TERM, work], { commandTimeoutMs: 300 }));
    const error = (await router.apply({ blue: 20, green: 80 }).catch((e: unknown) => e)) as UserError;
    expect(error).toBeInstanceOf(UserError);
    expect(error.message).toMatch(
      /^router-command `\S+ \S+` timed out after 300 ms setting blue 20 \/ green 80:/,
    );
    expect(await readFile(path.join(work, 'marker'), 'utf8')).toBe('got SIGTERM with weights 20/80\n');
    expect(groupMembers(Number(await readFile(path.join(work, 'pgid'), 'utf8')))).toEqual([]);
    expect((await router.verify({ blue: 20, green: 80 })).ok).toBe(false);
  });

  it("passes a cancellation on to the running command's whole process group", async () => {
    const work = await mkdtemp(path.join(dir, 'cancel-'));
    const controller = new AbortController();
    const router = createRouter(
      'command',
      options([TRAP_TERM, work], {
        log: (line) => {
          if (line === '  ready') controller.abort();
        },
      }),
    );
    const error = (await router
      .apply({ blue: 10, green: 90 }, { signal: controller.signal })
      .catch((e: unknown) => e)) as UserError;
    expect(error).toBeInstanceOf(UserError);
    expect(error.message).toMatch(/^router-command `\S+ \S+` cancelled setting blue 10 \/ green 90:/);
    expect(await readFile(path.join(work, 'marker'), 'utf8')).toBe('got SIGTERM with weights 10/90\n');
    const pgid = Number(await readFile(path.join(work, 'pgid'), 'utf8'));
    const child = Number(await readFile(path.join(work, 'child'), 'utf8'));
    expect(groupMembers(pgid)).toEqual([]);
    expect(groupMembers(pgid)).not.toContain(child);
    // Putting traffic back after a cancellation runs without the signal, to its end.
    await createRouter('command', options([script, record])).apply({ blue: 100, green: 0 });
  });

  it('reads nothing back: the command is only ever asked to set weights', async () => {
    await rm(record, { force: true });
    expect(await createRouter('command', options([script, record])).read()).toBeUndefined();
    expect(await calls()).toEqual([]);
  });

  it('verifies through verify-url when there is one', async () => {
    const router = createRouter('command', options([script, record], { verifyUrl: blue.url }));
    await router.apply({ blue: 100, green: 0 });
    expect(await router.verify({ blue: 100, green: 0 })).toEqual({
      ok: true,
      detail: `100 samples through ${blue.url}/: 0 green (0%), 100 blue (expected green exactly 0%)`,
      measuredGreen: 0,
    });
    const wrong = await router.verify({ blue: 50, green: 50 });
    expect(wrong).toMatchObject({ ok: false, measuredGreen: 0 });
  });

  it('requires router-command', () => {
    expect(() => createRouter('command', options([]))).toThrow(
      new InputError('router-command', 'is required with router: command'),
    );
  });
});
