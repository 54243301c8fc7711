// Bundles every action (actions/<name>/src/index.ts) into actions/<name>/dist with ncc.
// The bundles are committed: the runner executes dist/index.js without installing anything.
//   node scripts/bundle.js [--out-root DIR] [action …]
// --out-root writes DIR/<action>/ instead (the test that dist/ is current uses it). Each bundle is
// built into a fresh directory and only then swapped in, so a failed build never leaves an action
// without its dist/. ncc type-checks the whole project (tsconfig.json): a type error anywhere
// fails the bundle. (--transpile-only would not: it compiles each file alone, loses the
// package's ESM type and emits CommonJS, which the ESM-only toolkit refuses.)
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';

const args = process.argv.slice(2);
const rootFlag = args.indexOf('--out-root');
const outRoot = rootFlag >= 0 ? resolve(args[rootFlag + 1]) : undefined;
const only = args.filter((_, i) => rootFlag < 0 || (i !== rootFlag && i !== rootFlag + 1));
const ncc = join('node_modules', '.bin', 'ncc');

/**
 * Files a bundle loads at run time that ncc cannot see: libpg-query's WebAssembly is found by its
 * Emscripten loader through a computed path, so it is copied next to dist/index.js, where
 * actions/core/src/migrations/parser.ts looks first.
 */
const ASSETS = {
  'validate-migration': ['node_modules/libpg-query/wasm/libpg-query.wasm'],
};

for (const name of readdirSync('actions')) {
  if (!existsSync(join('actions', name, 'action.yml')) || (only.length > 0 && !only.includes(name))) continue;
  const out = outRoot ? join(outRoot, name) : join('actions', name, 'dist');
  const fresh = mkdtempSync(join(outRoot ?? join('actions', name), '.bundle-'));
  console.log(`bundling ${name}`);
  try {
    execFileSync(
      ncc,
      [
        'build',
        join('actions', name, 'src', 'index.ts'),
        '-o',
        fresh,
        '--license',
        'licenses.txt',

        '--quiet',
      ],
      { stdio: 'inherit' },
    );
    for (const asset of ASSETS[name] ?? []) copyFileSync(asset, join(fresh, asset.split('/').pop()));
  } catch {
    rmSync(fresh, { recursive: true, force: true });
    console.error(`bundling ${name} failed (see above); ${out} is unchanged`);
    process.exit(1);
  }
  rmSync(out, { recursive: true, force: true });
  renameSync(fresh, out);
}
