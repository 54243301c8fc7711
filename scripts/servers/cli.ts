// Starts real servers for the demo or a manual try, prints one JSON line each, stops them on Ctrl-C:
//   npx tsx scripts/servers/cli.ts start redis nginx sample-service:green:v2
import { startHaproxy, startNginx, startPostgres, startRedis, startSampleService } from './index.js';

const starters: Record<
  string,
  (args: string[]) => Promise<{ name: string; url: string; port: number; dir: string }>
> = {
  redis: () => startRedis(),
  postgres: () => startPostgres(),
  nginx: () => startNginx(),
  haproxy: () => startHaproxy(),
  'sample-service': ([color, version]) => startSampleService({ color, version }),
};

const [command, ...names] = process.argv.slice(2);
if (command !== 'start' || names.length === 0) {
  console.error('usage: cli.ts start redis|postgres|nginx|haproxy|sample-service[:color[:version]] …');
  process.exit(2);
}
for (const spec of names) {
  const [name = '', ...args] = spec.split(':');
  const start = starters[name];
  if (!start) {
    console.error(`unknown server "${name}": choose from ${Object.keys(starters).join(', ')}`);
    process.exit(2);
  }
  const server = await start(args);
  console.log(JSON.stringify({ name: server.name, url: server.url, port: server.port, dir: server.dir }));
}
// The servers are unref'd so tests never hang on them; here we stay up until a signal stops everything.
setInterval(() => {}, 1 << 30);
