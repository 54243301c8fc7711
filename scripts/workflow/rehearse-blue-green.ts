/**
 * The rehearsal of .github/workflows/blue-green.yml on this machine, for the e2e test and
 * `npm run demo -- --workflow`: real nginx in front of blue and green sample services
 * (scripts/demo/blue-green.ts), a local GitHub API checked against GitHub's OpenAPI description
 * (test/support/github-api.ts) with a real bare git origin behind it, and the workflow run by
 * the rehearsal runner — so its jobs, `if:`s, outputs and the actions' bundles are what is tried.
 *
 * The repository's switchyard.yml (committed to the origin, as a team would) points the deploy
 * action at this machine's servers, with short steps so a release takes seconds, and a `file:`
 * state in a directory all jobs share (one machine plays the self-hosted runner of every job).
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { stringify } from 'yaml';
import { startGitHubApi, type GitHubApi, type PullRequest } from '../../test/support/github-api.js';
import { setFailRate, startBlueGreen, type BlueGreen } from '../demo/blue-green.js';
import { stopAllServers } from '../servers/index.js';
import { rehearse, type RehearsalResult } from './runner.js';

export const ENVIRONMENT = 'production';
export const REPOSITORY = 'octo-org/shop';
const IDENTITY = {
  GIT_AUTHOR_NAME: 'Shop Developer',
  GIT_AUTHOR_EMAIL: 'dev@shop.example',
  GIT_COMMITTER_NAME: 'Shop Developer',
  GIT_COMMITTER_EMAIL: 'dev@shop.example',
};

export function git(cwd: string, ...args: string[]): string {
  return execFileSync('git', args, {
    cwd,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...IDENTITY, LC_ALL: 'C' },
  }).trim();
}

/** What the load test (load/smoke.js) checks; the k6 stand-in reads the header comment. */
const SMOKE_TEST = `// k6-stand-in: {"thresholds": {"http_req_failed": ["rate<0.01"], "http_req_duration": ["p(95)<500"]}, "duration": "1s"}
// The smoke test blue-green.yml runs against the idle colour, before any user reaches it.
import http from 'k6/http';
import { check } from 'k6';

export const options = {
  vus: 2,
  duration: '1s',
  thresholds: { http_req_failed: ['rate<0.01'], http_req_duration: ['p(95)<500'] },
};
const servers = (__ENV.SWITCHYARD_SERVERS || '').split(',');

export default function () {
  for (const server of servers) check(http.get(\`http://\${server}/\`), { 'status is 200': (r) => r.status === 200 });
}
`;

export interface Release {
  sha: string;
  version: string;
  result: RehearsalResult;
}

export interface BlueGreenRehearsal {
  setup: BlueGreen;
  api: GitHubApi;
  /** The bare repository: GitHub's copy of the repository, where the rollback branch is pushed. */
  origin: string;
  /** A developer's clone, for making history. */
  work: string;
  /**
   * Commits `files` on main, pushes it, and runs blue-green.yml for it. With `breakAt`, the colour
   * being promoted starts failing `failRate` of its requests once promote reaches that weight.
   * `inputs` replace or add to the workflow's inputs; `secrets` are the caller's (database_url…).
   */
  release(
    version: string,
    message: string,
    files: Record<string, string>,
    options?: {
      breakAt?: number;
      failRate?: number;
      inputs?: Record<string, string | boolean>;
      secrets?: Record<string, string>;
    },
  ): Promise<Release>;
  /** Which colour answers each of `count` requests through nginx. */
  servedBy(count: number): Promise<Record<string, number>>;
  /** The rollback pull requests opened on the GitHub fake. */
  pulls(): PullRequest[];
  stop(): Promise<void>;
}

export interface RehearsalSetupOptions {
  /** The workflow to rehearse: .github/workflows/blue-green.yml by default. */
  workflow?: string;
  /** How long each promotion step holds (1s by default: a release takes seconds). */
  stepDuration?: string;
  onLine?: (line: string, job: string) => void;
}

export async function startBlueGreenRehearsal(
  options: RehearsalSetupOptions = {},
): Promise<BlueGreenRehearsal> {
  const dir = mkdtempSync(join(tmpdir(), 'switchyard-workflow-rehearsal-'));
  const origin = join(dir, 'origin.git');
  const work = join(dir, 'work');
  const setup = await startBlueGreen('nginx');
  const api = await startGitHubApi({ origin });
  let runs = 0;
  try {
    git(dir, 'init', '-q', '--bare', '--initial-branch=main', origin);
    git(dir, 'clone', '-q', origin, work);
    git(work, 'checkout', '-q', '-b', 'main');
    commit(work, 'shop v1: what blue runs today', {
      'app/VERSION': 'v1\n',
      'switchyard.yml': switchyardYml(setup, join(dir, 'state', 'state.json'), options.stepDuration ?? '1s'),
      'load/smoke.js': SMOKE_TEST,
      // Linted by preflight before every deploy: what is added since the live build, once one is known.
      'db/migrations/001_orders.sql':
        'CREATE TABLE orders (id bigint PRIMARY KEY, total numeric NOT NULL);\n',
    });
    git(work, 'push', '-q', 'origin', 'main');
  } catch (error) {
    await stopAll(setup, api, dir);
    throw error;
  }

  return {
    setup,
    api,
    origin,
    work,
    async release(version, message, files, { breakAt, failRate = 0.3, inputs, secrets } = {}) {
      const sha = commit(work, message, files);
      git(work, 'push', '-q', 'origin', 'main');
      const broken = new Set<string>();
      const result = await rehearse({
        workflow: options.workflow ?? '.github/workflows/blue-green.yml',
        trigger: 'workflow_call',
        eventName: 'push',
        inputs: {
          environment: ENVIRONMENT,
          version,
          'load-test': 'load/smoke.js',
          migrations: 'db/migrations/*.sql',
          ...inputs,
        },
        secrets,
        repository: REPOSITORY,
        origin,
        sha,
        apiUrl: api.url,
        runId: String(9_000_000 + ++runs),
        dir: join(dir, 'runs', String(runs)),
        onLine: (line, job) => {
          options.onLine?.(line, job);
          // The bad build breaks under real traffic: once its colour holds `breakAt`% (the
          // router has moved and deploy says so), it starts failing requests.
          const step = /: (blue|green) at (\d+)%, holding/.exec(line);
          if (breakAt !== undefined && job === 'promote' && step && Number(step[2]) >= breakAt) {
            const colour = step[1] as 'blue' | 'green';
            if (!broken.has(colour)) {
              broken.add(colour);
              void setFailRate(setup[colour], failRate);
              options.onLine?.(`⚡ ${colour} ${version} now fails ${failRate * 100}% of its requests`, job);
            }
          }
        },
      });
      // The next release starts from healthy servers, whatever this one did to them.
      for (const colour of broken) await setFailRate(setup[colour as 'blue' | 'green'], 0);
      return { sha, version, result };
    },
    servedBy: (count) => servedBy(setup.url, count),
    pulls: () => api.state.pulls,
    stop: () => stopAll(setup, api, dir),
  };
}

async function stopAll(setup: BlueGreen, api: GitHubApi, dir: string): Promise<void> {
  await api.stop();
  await setup.stop();
  await stopAllServers();
  rmSync(dir, { recursive: true, force: true });
}

function commit(work: string, message: string, files: Record<string, string>): string {
  for (const [path, content] of Object.entries(files)) {
    mkdirSync(dirname(join(work, path)), { recursive: true });
    writeFileSync(join(work, path), content);
    git(work, 'add', '--', path);
  }
  git(work, 'commit', '-q', '-m', message);
  return git(work, 'rev-parse', 'HEAD');
}

/** The repository's switchyard.yml for this machine: the sample setup's router and servers. */
function switchyardYml(setup: BlueGreen, stateFile: string, stepDuration: string): string {
  mkdirSync(dirname(stateFile), { recursive: true });
  const { router, blue, green, ...routerInputs } = setup.inputs;
  const config = {
    deploy: {
      router,
      ...routerInputs,
      // scripts/demo/stage.js "installs" SWITCHYARD_VERSION on the idle colour's sample services.
      'stage-command': `${process.execPath} ${resolve('scripts/demo/stage.js')}`,
      'health-path': '/',
      targets: `${setup.url}/`,
      // One state for every job: on GitHub it would be redis:// that every runner reaches.
      state: `file:${stateFile}`,
      steps: [10, 25, 50, 100],
      'step-duration': stepDuration,
      interval: '100ms',
      'min-samples': 5,
      'max-error-rate': '5%',
      'failure-limit': 3,
    },
    environments: { [ENVIRONMENT]: { deploy: { blue, green } } },
  };
  return `# Written by the workflow rehearsal for the servers on this machine.\n${stringify(config)}`;
}

/** Asks nginx `count` times which colour answers (the sample services say so in a header). */
async function servedBy(url: string, count: number): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  for (let i = 0; i < count; i++) {
    const colour = await new Promise<string>((resolvePromise, reject) => {
      const req = request(`${url}/`, (res) => {
        res.resume();
        res.on('end', () =>
          resolvePromise(String(res.headers['x-switchyard-color'] ?? `HTTP ${res.statusCode}`)),
        );
      });
      req.on('error', reject);
      req.end();
    });
    counts[colour] = (counts[colour] ?? 0) + 1;
  }
  return counts;
}
