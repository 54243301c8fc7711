// npm run demo -- --workflow [--step-duration 1s]: the story told by the workflow itself. A
// rehearsal of .github/workflows/blue-green.yml on loopback (scripts/workflow/): real nginx in
// front of blue and green sample services, a real git origin, a local GitHub API checked against
// GitHub's OpenAPI description, and each job of the workflow run as a runner would run it:
//   1. a good commit on main: blue-green.yml stages it on green, load-tests it, promotes it;
//   2. a bad commit on top: staged on blue, it starts failing requests at the 25% step; promote
//      puts green back and opens the rollback pull request, whose branch reverts the bad commit.
// It ends with the pull request's title and URL, and the reverted tree next to the good one.
import { parseArgs } from 'node:util';
import { annotations } from '../run-action.js';
import type { RehearsalResult } from '../workflow/runner.js';
import { git, startBlueGreenRehearsal, type Release } from '../workflow/rehearse-blue-green.js';

const { values } = parseArgs({
  options: {
    workflow: { type: 'boolean', default: true },
    router: { type: 'string', default: 'nginx' },
    'step-duration': { type: 'string', default: '1s' },
  },
});
if (values.router !== 'nginx') {
  console.error(`--workflow rehearses with nginx only, not --router ${values.router}`);
  process.exit(2);
}

const bold = (text: string) => (process.stdout.isTTY ? `\x1b[1m${text}\x1b[0m` : text);
const dim = (text: string) => (process.stdout.isTTY ? `\x1b[2m${text}\x1b[0m` : text);
const say = (text: string) => console.log(`\n${bold(text)}`);
const short = (sha: string) => sha.slice(0, 7);

function jobTable(result: RehearsalResult): void {
  for (const id of result.order) {
    const job = result.jobs[id];
    if (!job) continue;
    const environment = job.environment ? ` (environment ${job.environment})` : '';
    console.log(`  ${job.result.padEnd(8)} ${id}${environment}`);
  }
}

say('Starting blue v1 and green behind nginx, a git origin and a local GitHub API…');
const rehearsal = await startBlueGreenRehearsal({
  stepDuration: values['step-duration'],
  onLine: (line, job) => console.log(dim(`  ${job ? `${job} │` : '│'} ${line}`)),
});
let failures = 0;
try {
  console.log(
    `nginx ${rehearsal.setup.url} · blue ${rehearsal.setup.blue.url} · green ${rehearsal.setup.green.url}`,
  );
  console.log(`origin ${rehearsal.origin} · GitHub API ${rehearsal.api.url}`);

  say('1. A good commit on main: blue-green.yml ships it');
  const good: Release = await rehearsal.release('v2', 'checkout: one-page checkout', {
    'app/VERSION': 'v2\n',
    'app/checkout.txt': 'one page\n',
  });
  jobTable(good.result);
  const afterGood = await rehearsal.servedBy(20);
  console.log(`  nginx now: ${JSON.stringify(afterGood)} of 20 requests`);
  if (good.result.conclusion !== 'success' || afterGood.green !== 20) failures++;

  say('2. A bad commit on top: it breaks once it has 25% of the traffic');
  const bad: Release = await rehearsal.release(
    'v3',
    'pricing: new rounding',
    { 'app/VERSION': 'v3\n', 'app/pricing.txt': 'round up\n' },
    { breakAt: 25 },
  );
  jobTable(bad.result);
  const afterBad = await rehearsal.servedBy(20);
  console.log(`  nginx now: ${JSON.stringify(afterBad)} of 20 requests`);
  if (bad.result.outputs['rolled-back'] !== 'true' || afterBad.green !== 20) failures++;

  say('Summary');
  console.log(
    `  good ${short(good.sha)} (v2): ${good.result.conclusion}; active ${good.result.outputs.active}`,
  );
  console.log(
    `  bad  ${short(bad.sha)} (v3): rolled back: ${bad.result.outputs['rolled-back']}; ` +
      `active ${bad.result.outputs.active}; ${bad.result.jobs.promote?.outputs.verdict ?? '?'} verdict`,
  );
  for (const error of annotations((bad.result.jobs.promote?.log ?? []).join('\n')))
    console.log(`    ${error}`);
  const pull = rehearsal.pulls()[0];
  if (!pull) {
    failures++;
    console.log('  no rollback pull request was opened; see the promote job above');
  } else {
    console.log(`  rollback pull request #${pull.number}: ${pull.title}`);
    console.log(
      `    ${pull.html_url} (opened on the local GitHub API) · ${pull.head.ref} → ${pull.base.ref}`,
    );
    const branchTree = git(rehearsal.origin, 'rev-parse', `refs/heads/${pull.head.ref}^{tree}`);
    const goodTree = git(rehearsal.origin, 'rev-parse', `${good.sha}^{tree}`);
    console.log(`\n  git ls-tree -r ${pull.head.ref}:`);
    for (const line of git(rehearsal.origin, 'ls-tree', '-r', `refs/heads/${pull.head.ref}`).split('\n'))
      console.log(`    ${line}`);
    console.log(`  git ls-tree -r ${short(good.sha)} (the good commit):`);
    for (const line of git(rehearsal.origin, 'ls-tree', '-r', good.sha).split('\n'))
      console.log(`    ${line}`);
    const same = branchTree === goodTree;
    console.log(
      `  trees: ${short(branchTree)} vs ${short(goodTree)} — ${same ? 'the same: the bad commit is undone' : 'DIFFERENT'}`,
    );
    if (!same) failures++;
  }
  if (rehearsal.api.violations.length > 0) {
    failures++;
    console.log('\n  requests the GitHub API would have refused:');
    for (const violation of rehearsal.api.violations) console.log(`    ${violation}`);
  }
  if (failures > 0) console.log(bold(`\n  ${failures} part(s) did not go as expected; see the log above.`));
  process.exitCode = failures > 0 ? 1 : 0;
} catch (error) {
  // A workflow the rehearsal cannot run (or a broken YAML file) is told plainly, without a stack.
  console.error(bold(`\n  The rehearsal stopped: ${(error as Error).message}`));
  process.exitCode = 1;
} finally {
  await rehearsal.stop();
}
