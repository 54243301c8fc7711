import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, readdir, rm, stat, writeFile, chmod } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { UserError } from '../../actions/core/src/errors.js';
import type { CommandResult, ProcessRunner } from '../../actions/core/src/process.js';
import { createRouter } from '../../actions/core/src/routers/index.js';
import {
  NginxRouter,
  parseUpstreamWeights,
  renderUpstream,
  serverWeights,
  showsNewWeights,
  type NginxWorker,
} from '../../actions/core/src/routers/nginx.js';
import type { RouterOptions } from '../../actions/core/src/routers/router.js';
import { FakeClock } from '../support/fake-clock.js';

const servers = { blue: ['127.0.0.1:8081'], green: ['127.0.0.1:8082'] };

describe('renderUpstream', () => {
  it('writes the weights as nginx weights, with the percentages in a header line', () => {
    expect(renderUpstream('switchyard', servers, { blue: 90, green: 10 })).toBe(
      `# Written by switchyard, which rewrites this file whole on every traffic change: edits here are lost.
# switchyard-weights: {"blue":90,"green":10}
upstream switchyard {
    server 127.0.0.1:8081 weight=9;  # blue
    server 127.0.0.1:8082 weight=1;  # green
}
`,
    );
  });

  it('marks every server of a colour at 0 as down, so it gets no traffic at all', () => {
    const text = renderUpstream(
      'app',
      { blue: ['10.0.0.1:80', '10.0.0.2:80'], green: ['10.0.1.1:80'] },
      { blue: 0, green: 100 },
    );
    expect(text).toContain(`upstream app {
    server 10.0.0.1:80 down;  # blue: no traffic
    server 10.0.0.2:80 down;  # blue: no traffic
    server 10.0.1.1:80 weight=1;  # green
}`);
    expect(renderUpstream('app', servers, { blue: 100, green: 0 })).toContain(
      'server 127.0.0.1:8081 weight=1;  # blue\n    server 127.0.0.1:8082 down;  # green: no traffic',
    );
  });

  it('splits a colour over its servers so the colour totals keep the ratio', () => {
    // 2 blue servers, 3 green ones, 40/60: each blue 40×3 = 120, each green 60×2 = 120: 1 and 1, totals 2:3.
    expect(serverWeights({ blue: 40, green: 60 }, 2, 3)).toEqual({ blue: 1, green: 1 });
    expect(serverWeights({ blue: 75, green: 25 }, 1, 2)).toEqual({ blue: 6, green: 1 });
    const weights = serverWeights({ blue: 10, green: 90 }, 3, 1);
    const totals = { blue: 3 * (weights.blue as number), green: 1 * (weights.green as number) };
    expect(totals.green / (totals.blue + totals.green)).toBeCloseTo(0.9);
  });

  it('is read back as the weights it was written for', () => {
    const text = renderUpstream('switchyard', servers, { blue: 25, green: 75 });
    expect(parseUpstreamWeights(text, '/etc/nginx/up.conf')).toEqual({ blue: 25, green: 75 });
    expect(parseUpstreamWeights('', '/etc/nginx/up.conf')).toBeUndefined();
  });

  it('refuses a file switchyard did not write, and one whose weights line was edited', () => {
    expect(() =>
      parseUpstreamWeights('upstream app { server 10.0.0.1:80; }\n', '/etc/nginx/conf.d/app.conf'),
    ).toThrow(
      new UserError(
        '/etc/nginx/conf.d/app.conf was not written by switchyard (it has no "# switchyard-weights:" line). ' +
          'switchyard rewrites nginx-upstream-file whole, so it must be a file of its own: point ' +
          'nginx-upstream-file at a new file (for example /etc/nginx/conf.d/switchyard-upstream.conf) and ' +
          'include that in your nginx configuration instead of your own upstream block.',
      ),
    );
    expect(() => parseUpstreamWeights('# switchyard-weights: {"blue":90,"green":20}\n', '/x.conf')).toThrow(
      /does not hold the weights as \{"blue":N,"green":M\} adding up to 100/,
    );
  });
});

describe('showsNewWeights', () => {
  const counts = (green: number, blue: number) => ({
    samples: green + blue,
    green,
    blue,
    unnamed: 0,
    errors: {},
  });
  it('wants exactly nothing of a colour at 0 and all of one at 100', () => {
    expect(showsNewWeights(counts(0, 40), { blue: 100, green: 0 }, { blue: 0, green: 100 })).toBe(true);
    expect(showsNewWeights(counts(1, 39), { blue: 100, green: 0 }, { blue: 0, green: 100 })).toBe(false);
    expect(showsNewWeights(counts(40, 0), { blue: 0, green: 100 }, { blue: 25, green: 75 })).toBe(true);
    expect(showsNewWeights(counts(39, 1), { blue: 0, green: 100 }, { blue: 25, green: 75 })).toBe(false);
  });

  it('does not take a small step for done while the old share still answers', () => {
    // 0 → 10: no green yet is within any tolerance of 10, but it is the old configuration answering.
    expect(showsNewWeights(counts(0, 40), { blue: 90, green: 10 }, { blue: 100, green: 0 })).toBe(false);
    expect(showsNewWeights(counts(4, 36), { blue: 90, green: 10 }, { blue: 100, green: 0 })).toBe(true);
    expect(showsNewWeights(counts(10, 30), { blue: 50, green: 50 }, { blue: 75, green: 25 })).toBe(false);
    expect(showsNewWeights(counts(19, 21), { blue: 50, green: 50 }, { blue: 75, green: 25 })).toBe(true);
    expect(showsNewWeights(counts(4, 36), { blue: 90, green: 10 }, undefined)).toBe(true);
  });
});

/** A runner that answers each command from a script and notes what the upstream file held then. */
class ScriptedRunner implements ProcessRunner {
  readonly calls: { argv: string[]; file: string | undefined }[] = [];
  constructor(
    private readonly file: string,
    private readonly answers: Partial<CommandResult>[] = [],
  ) {}
  async run(argv: readonly string[]): Promise<CommandResult> {
    const file = existsSync(this.file) ? await readFile(this.file, 'utf8') : undefined;
    this.calls.push({ argv: [...argv], file });
    return { exitCode: 0, stdout: '', stderr: '', timedOut: false, ...this.answers.shift() };
  }
}

describe('NginxRouter.apply', () => {
  let dir: string;
  let file: string;
  const logged: string[] = [];

  beforeEach(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'switchyard-nginx-unit-'));
    file = path.join(dir, 'switchyard-upstream.conf');
    logged.length = 0;
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  function router(runner: ProcessRunner, workers: () => Promise<NginxWorker[]> = async () => []) {
    const options: RouterOptions = {
      ...servers,
      nginx: {
        upstreamFile: file,
        upstreamName: 'switchyard',
        testCommand: ['sudo', 'nginx', '-t'],
        reloadCommand: ['sudo', 'systemctl', 'reload', 'nginx'],
      },
      haproxy: {},
      runner,
      clock: new FakeClock(),
      log: (line) => logged.push(line),
    };
    createRouter('nginx', options); // the inputs pass validation
    return new NginxRouter({ ...options, nginx: { ...options.nginx, upstreamFile: file } }, workers);
  }

  it('writes the file, tests it, then reloads, and leaves no temporary file behind', async () => {
    await writeFile(file, renderUpstream('switchyard', servers, { blue: 100, green: 0 }));
    await chmod(file, 0o640);
    const runner = new ScriptedRunner(file);
    await router(runner).apply({ blue: 75, green: 25 });

    const written = renderUpstream('switchyard', servers, { blue: 75, green: 25 });
    expect(runner.calls).toEqual([
      { argv: ['sudo', 'nginx', '-t'], file: written },
      { argv: ['sudo', 'systemctl', 'reload', 'nginx'], file: written },
    ]);
    expect(await readFile(file, 'utf8')).toBe(written);
    expect((await stat(file)).mode & 0o777).toBe(0o640);
    expect(await readdir(dir)).toEqual(['switchyard-upstream.conf']);
    expect(logged).toContain('$ sudo nginx -t');
    expect(logged).toContain('$ sudo systemctl reload nginx');
    expect(await router(runner).read()).toEqual({ blue: 75, green: 25 });
  });

  it('puts the previous file back and does not reload when the test fails', async () => {
    const previous = renderUpstream('switchyard', servers, { blue: 100, green: 0 });
    await writeFile(file, previous);
    const runner = new ScriptedRunner(file, [
      {
        exitCode: 1,
        stderr:
          'nginx: [emerg] host not found in upstream "app-green.internal:8080" in /etc/nginx/conf.d/switchyard-upstream.conf:5\n' +
          'nginx: configuration file /etc/nginx/nginx.conf test failed\n',
      },
    ]);
    const error = (await router(runner)
      .apply({ blue: 50, green: 50 })
      .catch((e: unknown) => e)) as UserError;
    expect(error).toBeInstanceOf(UserError);
    expect(error.message).toBe(
      `nginx-test-command \`sudo nginx -t\` rejected the new upstream file ${file} (exited with code 1):\n` +
        '  nginx: [emerg] host not found in upstream "app-green.internal:8080" in /etc/nginx/conf.d/switchyard-upstream.conf:5\n' +
        '  nginx: configuration file /etc/nginx/nginx.conf test failed\n' +
        'The previous upstream file was put back; nginx was not reloaded and keeps serving blue 100 / green 0.',
    );
    expect(error.file).toBe(file);
    expect(runner.calls.map((c) => c.argv[1])).toEqual(['nginx']);
    expect(await readFile(file, 'utf8')).toBe(previous);
  });

  it('removes the file again when there was none before and the test fails', async () => {
    const runner = new ScriptedRunner(file, [{ exitCode: 1, stderr: 'nginx: [emerg] unexpected "}"' }]);
    await expect(router(runner).apply({ blue: 100, green: 0 })).rejects.toThrow(
      `${file} was removed again (it did not exist before); nginx was not reloaded and keeps serving its previous configuration.`,
    );
    expect(existsSync(file)).toBe(false);
  });

  it('puts the previous file back and reloads again when the reload fails', async () => {
    const previous = renderUpstream('switchyard', servers, { blue: 90, green: 10 });
    await writeFile(file, previous);
    const runner = new ScriptedRunner(file, [
      {},
      {
        exitCode: 1,
        stderr: 'Job for nginx.service failed because the control process exited with error code.',
      },
      {},
    ]);
    const error = (await router(runner)
      .apply({ blue: 75, green: 25 })
      .catch((e: unknown) => e)) as UserError;
    expect(error.message).toBe(
      'nginx-reload-command `sudo systemctl reload nginx` failed (exited with code 1):\n' +
        '  Job for nginx.service failed because the control process exited with error code.\n' +
        'The previous upstream file was put back and nginx was reloaded with it, so it serves blue 90 / green 10 as before.',
    );
    expect(runner.calls.map((c) => [c.argv.at(-1), c.file === previous])).toEqual([
      ['-t', false],
      ['nginx', false],
      ['nginx', true],
    ]);
    expect(await readFile(file, 'utf8')).toBe(previous);
  });

  it('says so when reloading the restored file fails as well', async () => {
    await writeFile(file, renderUpstream('switchyard', servers, { blue: 90, green: 10 }));
    const runner = new ScriptedRunner(file, [
      {},
      { exitCode: 1, stderr: 'nginx: [error] invalid PID number "" in "/run/nginx.pid"' },
      { exitCode: 1, stderr: 'nginx: [error] invalid PID number "" in "/run/nginx.pid"' },
    ]);
    await expect(router(runner).apply({ blue: 75, green: 25 })).rejects.toThrow(
      /but reloading nginx with it failed as well \(exited with code 1\):\n {2}nginx: \[error\] invalid PID number[^]*Check that nginx is running/,
    );
  });

  it('refuses to take over an upstream file someone else wrote', async () => {
    await writeFile(file, 'upstream app {\n  server 10.0.0.1:80;\n}\n');
    const runner = new ScriptedRunner(file);
    await expect(router(runner).apply({ blue: 100, green: 0 })).rejects.toThrow(
      /was not written by switchyard/,
    );
    await expect(router(runner).read()).rejects.toThrow(/was not written by switchyard/);
    expect(runner.calls).toEqual([]);
    expect(await readFile(file, 'utf8')).toBe('upstream app {\n  server 10.0.0.1:80;\n}\n');
  });

  it('waits after the reload until the old workers of the reloaded nginx stop accepting', async () => {
    await writeFile(file, renderUpstream('switchyard', servers, { blue: 100, green: 0 }));
    const worker = (pid: number, master: number, shuttingDown = false): NginxWorker => ({
      pid,
      master,
      shuttingDown,
    });
    // Master 1 is reloaded; master 5 is another nginx on the host, which must not be waited for.
    const listings: NginxWorker[][] = [
      [worker(10, 1), worker(50, 5)], // before the reload
      [worker(10, 1), worker(50, 5)], // the master has not forked yet
      [worker(10, 1), worker(11, 1), worker(50, 5)], // both generations accept
      [worker(10, 1, true), worker(11, 1), worker(50, 5)], // the old one is shutting down
    ];
    let polls = 0;
    const workers = async () => listings[Math.min(polls++, listings.length - 1)] as NginxWorker[];
    await router(new ScriptedRunner(file), workers).apply({ blue: 90, green: 10 });
    expect(polls).toBe(4);
    expect(logged.at(-1)).toMatch(
      /^nginx: the workers of the previous configuration stopped accepting \d+ ms after the reload$/,
    );
  });

  it('trusts the reload command when no nginx on this host was reloaded and there is no verify-url', async () => {
    const workers = async () => [{ pid: 50, master: 5, shuttingDown: false }];
    await router(new ScriptedRunner(file), workers).apply({ blue: 90, green: 10 });
    expect(logged.at(-1)).toBe(
      'nginx: no nginx reloaded on this host and no verify-url: trusting the reload command',
    );
  });

  it('rejects weights that do not add up to 100 before touching anything', async () => {
    const runner = new ScriptedRunner(file);
    await expect(router(runner).apply({ blue: 60, green: 60 })).rejects.toThrow(
      'weights must be whole percentages adding up to 100; got blue 60, green 60',
    );
    expect(existsSync(file)).toBe(false);
  });
});
