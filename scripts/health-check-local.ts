// The quick start: real nginx in front of a small sample service on loopback, and the bundled
// health-check action run exactly as the GitHub runner runs it — first a watch window through
// nginx, then a target that fails. Everything started here is stopped at the end.
import { startNginx, startSampleService, stopAllServers } from './servers/index.js';
import { runLikeTheRunner } from './run-action.js';

const say = (text: string) => console.log(`\n\x1b[1m${text}\x1b[0m`);

try {
  say('Starting a sample service and nginx in front of it…');
  const service = await startSampleService({ color: 'blue', version: 'v1' });
  const nginx = await startNginx({
    http: ({ port }) => `
      server {
        listen 127.0.0.1:${port};
        location / { proxy_pass ${service.url}; }
        location = /broken { return 503 "maintenance\\n"; }
      }`,
  });
  console.log(`sample service ${service.url}, nginx ${nginx.url}`);

  say('1. watch mode: probe through nginx every 250ms for 5s (fails on the first breach)');
  const watch = await runLikeTheRunner(
    'health-check',
    {
      targets: `${nginx.url}/\ntcp://127.0.0.1:${service.port}`,
      'expect-body': 'blue',
      mode: 'watch',
      interval: '250ms',
      duration: '5s',
      'max-p95': '200ms',
    },
    {},
    { echo: true },
  );
  console.log(`exit ${watch.exitCode}; outputs: ${JSON.stringify(watch.outputs)}`);
  console.log('\njob summary (markdown):\n' + watch.summary);

  say('2. once mode against an endpoint answering 503 (expected to fail, with one retry)');
  const broken = await runLikeTheRunner(
    'health-check',
    { targets: `${nginx.url}/broken`, retries: '1', 'retry-delay': '200ms' },
    {},
    { echo: true },
  );
  console.log(`exit ${broken.exitCode}; healthy=${broken.outputs.healthy}`);

  const ok = watch.exitCode === 0 && broken.exitCode === 1;
  say(
    ok
      ? 'Done: the healthy service passed and the broken endpoint failed, as expected.'
      : 'Unexpected result.',
  );
  process.exitCode = ok ? 0 : 1;
} finally {
  await stopAllServers();
}
