// npm run demo [-- --router haproxy]: the whole story on loopback. Real nginx (or HAProxy) in
// front of a blue v1 and a green sample service, steady user traffic from a separate process,
// and the bundled actions run exactly as GitHub's runner runs them:
//   1. health-check through the router;
//   2. release v2: stage on green, promote 10 → 25 → 50 → 75 → 100;
//   3. release v3: stage on blue (now idle), promote — blue starts failing 20% of requests at the
//      25% step, and switchyard puts green back at 100% on its own;
//   4. migrations on a real PostgreSQL (scripts/demo/migrations.ts): backup, an expand migration
//      rehearsed clean, a rename rehearsed and failing on the old app's query, the expand run, and
//      a failing batch restored (--no-migrations leaves this out).
// It ends with a plain-text summary and a self-contained HTML report, and stops all it started.
// npm run demo -- --workflow tells it through .github/workflows/blue-green.yml instead
// (scripts/demo/workflow.ts).
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { parseDuration } from '../../actions/core/src/inputs.js';
import { startLoad, type LoadReport } from '../load.js';
import { annotations, runLikeTheRunner, type RunnerResult } from '../run-action.js';
import { stopAllServers } from '../servers/index.js';
import { setFailRate, startBlueGreen } from './blue-green.js';
import { renderHtmlReport, type ReportSeries } from './html-report.js';
import { migrationChapter } from './migrations.js';

const { values } = parseArgs({
  options: {
    router: { type: 'string', default: 'nginx' },
    'step-duration': { type: 'string', default: '2s' },
    workflow: { type: 'boolean', default: false },
    'no-migrations': { type: 'boolean', default: false },
  },
});
if (values.workflow) {
  // --workflow: the same story told by .github/workflows/blue-green.yml itself, rehearsed job by
  // job (scripts/demo/workflow.ts reads the other flags too); nothing below runs.
  await import('./workflow.js');
  process.exit();
}
if (values.router !== 'nginx' && values.router !== 'haproxy') {
  console.error(`--router must be nginx or haproxy, not "${values.router}"`);
  process.exit(2);
}
const router = values.router;
const stepDuration = values['step-duration'] ?? '2s';

const bold = (text: string) => (process.stdout.isTTY ? `\x1b[1m${text}\x1b[0m` : text);
const dim = (text: string) => (process.stdout.isTTY ? `\x1b[2m${text}\x1b[0m` : text);
const say = (text: string) => console.log(`\n${bold(text)}`);

const scratch = mkdtempSync(join(tmpdir(), 'switchyard-demo-'));
const runs: RunnerResult[] = [];
let failures = 0;

try {
  say(`Starting blue v1 and green behind ${router}, and user traffic…`);
  const setup = await startBlueGreen(router);
  console.log(`${router} ${setup.url} · blue ${setup.blue.url} · green ${setup.green.url}`);
  // Steady traffic, not a flood: the demo should read like production on a quiet afternoon.
  const load = await startLoad({ url: `${setup.url}/`, concurrency: 4, rate: 400 });
  const common = {
    ...setup.inputs,
    state: `file:${join(scratch, 'state.json')}`,
    'stage-command': `node ${resolve('scripts/demo/stage.js')}`,
    'health-path': '/',
    targets: `${setup.url}/`,
    interval: '250ms',
    'step-duration': stepDuration,
    'failure-limit': '3',
    'max-error-rate': '5%',
    // Each step must hold min-samples probes per target (interval × min-samples ≤ step-duration):
    // up to 8, fewer when a short --step-duration is asked for.
    'min-samples': String(Math.max(1, Math.min(8, Math.floor((parseDuration(stepDuration) ?? 2000) / 250)))),
  };
  const step = async (
    name: string,
    action: string,
    inputs: Record<string, string>,
    onLine?: (line: string) => void,
  ) => {
    say(name);
    await load.mark(name);
    const started = Date.now();
    const run = await runLikeTheRunner(
      action,
      inputs,
      { GITHUB_ACTOR: process.env.USER ?? 'demo' },
      {
        onLine: (line) => {
          console.log(dim(`  │ ${line}`));
          onLine?.(line);
        },
      },
    );
    const seconds = (Date.now() - started) / 1000;
    runs.push(run);
    console.log(`  └ exit ${run.exitCode} after ${seconds.toFixed(1)} s`);
    return { run, seconds };
  };

  const health = await step('1. health-check through the router', 'health-check', {
    targets: `${setup.url}/`,
    'expect-body': 'blue',
  });
  if (health.run.exitCode !== 0) failures++;

  const stage2 = await step('2a. stage v2 on green', 'deploy', {
    ...common,
    command: 'stage',
    version: 'v2',
  });
  const promote2 = await step('2b. promote green v2: 10 → 25 → 50 → 75 → 100', 'deploy', {
    ...common,
    command: 'promote',
  });
  if (stage2.run.exitCode !== 0 || promote2.run.exitCode !== 0) failures++;
  const stage3 = await step('3a. stage v3 on blue (idle now)', 'deploy', {
    ...common,
    command: 'stage',
    version: 'v3',
  });
  let brokeAt = 0;
  const promote3 = await step(
    '3b. promote blue v3 — it starts failing 20% of requests at the 25% step',
    'deploy',
    { ...common, command: 'promote' },
    (line) => {
      if (!brokeAt && line.includes('blue at 25%, holding')) {
        brokeAt = Date.now();
        void setFailRate(setup.blue, 0.2);
        console.log(bold('  ⚡ blue v3 now answers 500 to every 5th request'));
      }
    },
  );
  const restoredAt = Date.now();
  await setFailRate(setup.blue, 0);
  if (
    stage3.run.exitCode !== 0 ||
    promote3.run.exitCode !== 1 ||
    promote3.run.outputs['rolled-back'] !== 'true'
  )
    failures++;

  const migrations = values['no-migrations']
    ? undefined
    : await migrationChapter({
        step,
        phase: async (name) => {
          say(name);
          await load.mark(name);
        },
        highlight: (line) => console.log(bold(`  ${line}`)),
        scratch,
      });
  failures += migrations?.failures ?? 0;

  const report: LoadReport = await load.stop();
  const during = (prefix: string) =>
    report.windows
      .filter((w) => w.label.startsWith(prefix))
      .reduce((sum, w) => ({ total: sum.total + w.total, failed: sum.failed + w.failed }), {
        total: 0,
        failed: 0,
      });
  const release2Load = during('2');
  if (release2Load.failed > 0) failures++;
  const rollbackReport = JSON.parse(promote3.run.report ?? '{}');
  const promoteReport = JSON.parse(promote2.run.report ?? '{}');

  const lines = [
    `switchyard demo through ${router}`,
    '',
    `release v2 (green): ${promoteReport.plan?.steps?.length ?? 0} steps of ${stepDuration}, promoted in ${promote2.seconds.toFixed(1)} s; ` +
      `${release2Load.total} user requests during stage + promote, ${release2Load.failed} failed`,
    `release v3 (blue):  broke at 25%, rolled back in ${promote3.seconds.toFixed(1)} s; reason: ${promote3.run.outputs.reason ?? '?'}`,
    `                    failure injected → green restored: ${brokeAt ? ((restoredAt - brokeAt) / 1000).toFixed(2) : '?'} s ` +
      `(decision → verified at 100%: ${Math.round(rollbackReport.restoreMs ?? 0)} ms); ` +
      `${during('3b').failed} of ${during('3b').total} user requests failed during that promotion`,
    `traffic: ${report.total} requests in ${(report.durationMs / 1000).toFixed(1)} s, ${report.failed} failed in all`,
    `active now: ${promote3.run.outputs.active}, weights ${promote3.run.outputs.weights}`,
    ...(migrations?.lines ?? []),
  ];
  const series: ReportSeries[] = [
    { title: 'Release v2 (green)', verdict: 'promoted', points: toPoints(promoteReport) },
    {
      title: 'Release v3 (blue)',
      verdict: `rolled back: ${promote3.run.outputs.reason}`,
      points: toPoints(rollbackReport),
    },
  ];
  const reportDir = resolve('reports');
  mkdirSync(reportDir, { recursive: true });
  const htmlPath = join(reportDir, `demo-${router}-${new Date().toISOString().replace(/[:.]/g, '-')}.html`);
  writeFileSync(
    htmlPath,
    renderHtmlReport({
      title: `switchyard demo (${router})`,
      lines,
      series,
      table: {
        headers: ['Phase', 'Seconds', 'User requests', 'Failed'],
        rows: report.windows
          .filter((w) => w.total > 0)
          .map((w) => [
            w.label,
            (((w.endMs ?? report.durationMs) - w.startMs) / 1000).toFixed(1),
            String(w.total),
            String(w.failed),
          ]),
      },
    }),
  );
  say('Summary');
  for (const line of lines.slice(2)) console.log(`  ${line}`);
  console.log(`\n  HTML report: ${htmlPath}`);
  if (failures > 0) {
    console.log(bold(`\n  ${failures} part(s) did not go as expected; see the log above.`));
    for (const run of runs) for (const error of annotations(run.stdout)) console.log(`  ${error}`);
  }
  process.exitCode = failures > 0 ? 1 : 0;
} finally {
  await stopAllServers();
  rmSync(scratch, { recursive: true, force: true });
}

function toPoints(report: {
  timeline?: { at: number; weights: { green: number; blue: number }; errorRate?: number; event?: string }[];
}) {
  return (report.timeline ?? []).map((p) => ({
    at: p.at,
    green: p.weights.green,
    errorRate: p.errorRate,
    event: p.event,
  }));
}
