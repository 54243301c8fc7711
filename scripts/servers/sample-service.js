// The sample service switchyard deploys in tests and the demo: a backend that says which colour and
// version answered, and that can be told to fail or be slow. Plain JavaScript so it runs without a build:
//   node scripts/servers/sample-service.js --port 8080 --color blue --version v1
import http from 'node:http';
import { setTimeout } from 'node:timers';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    port: { type: 'string', default: process.env.PORT ?? '8080' },
    host: { type: 'string', default: '127.0.0.1' },
    color: { type: 'string', default: process.env.SWITCHYARD_COLOR ?? 'blue' },
    version: { type: 'string', default: process.env.SWITCHYARD_VERSION ?? 'v1' },
  },
});
const { color } = values;
// A release replaces the version in place: the demo's stage command "deploys" by telling the service.
let { version } = values;

// Failures are spread evenly rather than drawn at random, so a rate of 0.2 fails exactly every 5th
// request and tests that count errors are exact.
let failRate = 0;
let failDebt = 0;

function answer(res, status, body) {
  res.writeHead(status, {
    'content-type': 'text/plain; charset=utf-8',
    'x-switchyard-color': color,
    'x-switchyard-version': version,
  });
  res.end(body);
}

function later(ms, fn) {
  if (ms > 0) setTimeout(fn, ms);
  else fn();
}

const server = http.createServer((req, res) => {
  const url = new URL(req.url ?? '/', 'http://sample-service');
  const parts = url.pathname.split('/').filter(Boolean);

  if (req.method === 'GET' && url.pathname === '/') {
    failDebt += failRate;
    if (failDebt >= 1 - 1e-9) {
      failDebt -= 1;
      return answer(res, 500, `${color} ${version} failing on purpose\n`);
    }
    return answer(res, 200, `${color} ${version}\n`);
  }
  if (req.method === 'GET' && url.pathname === '/health') {
    return failRate >= 1 ? answer(res, 503, 'unhealthy\n') : answer(res, 200, 'healthy\n');
  }
  if (req.method === 'GET' && parts[0] === 'status' && parts.length === 2) {
    const status = Number(parts[1]);
    if (!Number.isInteger(status) || status < 100 || status > 599) return answer(res, 400, 'bad status\n');
    const body = url.searchParams.get('body') ?? '';
    return later(Number(url.searchParams.get('delay') ?? 0), () => answer(res, status, body));
  }
  if (req.method === 'GET' && parts[0] === 'delay' && parts.length === 2) {
    const ms = Number(parts[1]);
    if (!Number.isFinite(ms) || ms < 0) return answer(res, 400, 'bad delay\n');
    return later(ms, () => answer(res, 200, `${color} ${version} after ${ms} ms\n`));
  }
  if (req.method === 'POST' && url.pathname === '/fail-rate') {
    const rate = Number(url.searchParams.get('rate'));
    if (!(rate >= 0 && rate <= 1)) return answer(res, 400, 'rate must be between 0 and 1\n');
    failRate = rate;
    failDebt = 0;
    console.log(`fail-rate is now ${rate}`);
    return answer(res, 200, `fail-rate ${rate}\n`);
  }
  if (req.method === 'POST' && url.pathname === '/release') {
    const next = url.searchParams.get('version');
    if (!next) return answer(res, 400, 'version is required\n');
    version = next;
    failRate = 0;
    failDebt = 0;
    console.log(`now running ${version}`);
    return answer(res, 200, `${color} ${version}\n`);
  }
  return answer(res, 404, 'not found\n');
});

server.listen(Number(values.port), values.host, () => {
  console.log(`sample-service ${color} ${version} listening on http://${values.host}:${values.port}`);
});

for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => process.exit(0));
}
