// Bundles every action (actions/<name>/src/index.ts) into actions/<name>/dist with ncc.
// The bundles are committed: the runner executes dist/index.js without installing anything.
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';

const ncc = join('node_modules', '.bin', 'ncc');
const only = process.argv.slice(2);
for (const name of readdirSync('actions')) {
  const entry = join('actions', name, 'src', 'index.ts');
  const isAction = existsSync(join('actions', name, 'action.yml'));
  if (!isAction || (only.length > 0 && !only.includes(name))) continue;
  const out = join('actions', name, 'dist');
  rmSync(out, { recursive: true, force: true });
  console.log(`bundling ${name}`);
  execFileSync(ncc, ['build', entry, '-o', out, '--license', 'licenses.txt', '--quiet'], {
    stdio: 'inherit',
  });
}
