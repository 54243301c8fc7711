import { describe, expect, it } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const actions = readdirSync('actions').filter((name) => existsSync(join('actions', name, 'action.yml')));

describe('committed bundles', () => {
  it('every action has one', () => {
    const missing = actions.filter((action) => !existsSync(join('actions', action, 'dist', 'index.js')));
    expect(missing).toEqual([]);
  });

  it('each actions/<name>/dist matches a fresh `npm run bundle`', () => {
    const out = mkdtempSync(join(tmpdir(), 'switchyard-dist-'));
    try {
      execFileSync(process.execPath, ['scripts/bundle.js', '--out-root', out], { stdio: 'pipe' });
      const stale: string[] = [];
      for (const action of actions) {
        const fresh = readdirSync(join(out, action)).sort();
        const committed = existsSync(join('actions', action, 'dist'))
          ? readdirSync(join('actions', action, 'dist')).sort()
          : [];
        if (fresh.join() !== committed.join())
          stale.push(
            `actions/${action}/dist has ${committed.join(', ')}; a fresh bundle has ${fresh.join(', ')}`,
          );
        for (const file of fresh.filter((f) => committed.includes(f))) {
          const same = readFileSync(join(out, action, file)).equals(
            readFileSync(join('actions', action, 'dist', file)),
          );
          if (!same) stale.push(`actions/${action}/dist/${file}`);
        }
      }
      // Listing the stale files beats printing megabytes of diff; the fix is `npm run bundle`.
      expect(stale).toEqual([]);
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  }, 180_000);
});
