#!/usr/bin/env node
// A stand-in for k6 in rehearsals (k6 cannot be installed here). It does not run the k6 script:
// for `k6 run [--summary-export FILE] [-e KEY=VALUE]… [--vus N] [--duration D] script.js` it sends
// real GET requests to the servers in SWITCHYARD_SERVERS (host:port, comma-separated; from -e or
// the environment) for about a second, and writes FILE in k6's --summary-export format, so what
// reads k6's output reads what k6 would have written. The thresholds come from a JSON comment at
// the top of the script, since the script's JavaScript is not run:
//   // k6-stand-in: {"thresholds": {"http_req_failed": ["rate<0.01"]}, "path": "/", "duration": "1s"}
// and default to k6's usual `http_req_failed: rate<0.01`. Exit codes are k6's: 99 when a threshold
// failed, 104 for a threshold k6 would refuse, 255 for a command line k6 would refuse.
import { readFileSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { performance } from 'node:perf_hooks';

function fail(code, message) {
  console.error(`ERRO[0000] ${message}`);
  process.exit(code);
}

const args = process.argv.slice(2);
if (args[0] !== 'run') fail(255, `k6 stand-in: only "k6 run" is rehearsed, not "k6 ${args.join(' ')}"`);
const vars = {};
let summaryExport;
let vus = 2;
let durationArg;
let script;
for (let i = 1; i < args.length; i++) {
  const arg = args[i];
  const [flag, inline] =
    arg.startsWith('--') && arg.includes('=')
      ? [arg.slice(0, arg.indexOf('=')), arg.slice(arg.indexOf('=') + 1)]
      : [arg, undefined];
  const value = () => inline ?? args[++i];
  if (flag === '--summary-export') summaryExport = value();
  else if (flag === '-e' || flag === '--env') {
    const pair = value() ?? '';
    vars[pair.slice(0, pair.indexOf('='))] = pair.slice(pair.indexOf('=') + 1);
  } else if (flag === '-u' || flag === '--vus') vus = Number(value());
  else if (flag === '-d' || flag === '--duration') durationArg = value();
  else if (flag === '-q' || flag === '--quiet' || flag === '--no-color') continue;
  else if (flag.startsWith('-')) fail(255, `unknown flag: ${flag}`);
  else if (script === undefined) script = arg;
  else fail(255, `accepts 1 arg(s), received ${args.length - i + 1}`);
}
if (!script) fail(255, 'accepts 1 arg(s), received 0');

let header = {};
try {
  const text = readFileSync(script, 'utf8');
  const match = /^\s*\/\/\s*k6-stand-in:\s*(\{.*\})\s*$/m.exec(text.split('\n').slice(0, 20).join('\n'));
  if (match) header = JSON.parse(match[1]);
} catch (error) {
  fail(255, `The moduleSpecifier "${script}" couldn't be found on local disk: ${error.message}`);
}

const env = { ...process.env, ...vars };
const servers = (env.SWITCHYARD_SERVERS ?? '')
  .split(',')
  .map((s) => s.trim())
  .filter(Boolean);
if (servers.length === 0)
  fail(107, 'k6 stand-in: SWITCHYARD_SERVERS (host:port, comma-separated) names no server to test');
const path = header.path ?? '/';
const durationMs = parseDuration(durationArg ?? header.duration ?? '1s');
const thresholds = header.thresholds ?? { http_req_failed: ['rate<0.01'] };

function parseDuration(text) {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m)$/.exec(String(text));
  if (!match) fail(255, `invalid duration "${text}"`);
  return Number(match[1]) * { ms: 1, s: 1000, m: 60_000 }[match[2]];
}

function get(server) {
  const started = performance.now();
  return new Promise((resolve) => {
    const req = request(`http://${server}${path}`, { timeout: 5000 }, (res) => {
      res.resume();
      res.on('end', () => resolve({ ms: performance.now() - started, failed: res.statusCode >= 400 }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', () => resolve({ ms: performance.now() - started, failed: true }));
    req.end();
  });
}

// Each VU loops over the servers until the duration is up, as a k6 constant-VUs scenario would.
const samples = [];
const started = performance.now();
await Promise.all(
  Array.from({ length: vus }, async (_, vu) => {
    for (let n = vu; performance.now() - started < durationMs; n++)
      samples.push(await get(servers[n % servers.length]));
  }),
);
const seconds = (performance.now() - started) / 1000;

// k6's trend percentile: linear interpolation between the closest ranks.
const durations = samples.map((s) => s.ms).sort((a, b) => a - b);
function percentile(p) {
  if (durations.length === 0) return 0;
  const rank = (p / 100) * (durations.length - 1);
  const low = Math.floor(rank);
  return (
    durations[low] + (durations[Math.min(low + 1, durations.length - 1)] - durations[low]) * (rank - low)
  );
}
const failed = samples.filter((s) => s.failed).length;
const metrics = {
  http_reqs: { count: samples.length, rate: samples.length / seconds },
  iterations: { count: samples.length, rate: samples.length / seconds },
  // A rate metric: `passes` counts the samples that were true, here the FAILED requests.
  http_req_failed: {
    passes: failed,
    fails: samples.length - failed,
    value: samples.length ? failed / samples.length : 0,
  },
  http_req_duration: {
    avg: durations.reduce((a, b) => a + b, 0) / (durations.length || 1),
    min: durations[0] ?? 0,
    med: percentile(50),
    max: durations[durations.length - 1] ?? 0,
    'p(90)': percentile(90),
    'p(95)': percentile(95),
  },
  vus: { value: vus, min: vus, max: vus },
};

// Thresholds: "<aggregation> <op> <number>", judged as k6 does; true in the file means FAILED.
let anyFailed = false;
for (const [metric, list] of Object.entries(thresholds)) {
  const target = metrics[metric];
  if (!target) fail(104, `invalid threshold defined on ${metric}; reason: no metric name "${metric}" found`);
  for (const entry of list) {
    const expression = typeof entry === 'string' ? entry : entry.threshold;
    const match =
      /^\s*(avg|min|max|med|p\(\d+(?:\.\d+)?\)|rate|count|value)\s*(<=|>=|===|==|!=|<|>)\s*(-?\d+(?:\.\d+)?)\s*$/.exec(
        expression,
      );
    if (!match) fail(104, `invalid threshold "${expression}" on ${metric}`);
    const [, aggregation, op, limit] = match;
    const name = metric === 'http_req_failed' && aggregation === 'rate' ? 'value' : aggregation;
    let actual = target[name];
    if (actual === undefined && aggregation.startsWith('p('))
      actual = percentile(Number(aggregation.slice(2, -1)));
    if (actual === undefined) fail(104, `invalid threshold "${expression}": ${metric} has no ${aggregation}`);
    const ok = {
      '<': actual < +limit,
      '<=': actual <= +limit,
      '>': actual > +limit,
      '>=': actual >= +limit,
      '==': actual == +limit,
      '===': actual === +limit,
      '!=': actual != +limit,
    }[op];
    (target.thresholds ??= {})[expression] = !ok;
    if (!ok) anyFailed = true;
    console.log(`${ok ? '✓' : '✗'} ${metric}: ${expression} (${aggregation}=${Number(actual.toFixed(4))})`);
  }
}
console.log(
  `k6 stand-in: ${samples.length} requests to ${servers.join(', ')}${path} in ${seconds.toFixed(1)} s, ${failed} failed, ` +
    `p(95)=${percentile(95).toFixed(1)}ms`,
);
if (summaryExport) {
  const summary = {
    root_group: { name: '', path: '', id: 'd41d8cd98f00b204e9800998ecf8427e', groups: {}, checks: {} },
    options: {
      summaryTrendStats: ['avg', 'min', 'med', 'max', 'p(90)', 'p(95)'],
      summaryTimeUnit: '',
      noColor: false,
    },
    state: { isStdOutTTY: false, isStdErrTTY: false, testRunDurationMs: seconds * 1000 },
    metrics,
  };
  writeFileSync(summaryExport, JSON.stringify(summary, null, 4));
}
if (anyFailed) fail(99, 'thresholds on metrics have been crossed');
