import { describe, expect, it } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const actions = readdirSync('actions').filter((name) => existsSync(join('actions', name, 'action.yml')));

describe('committed bundles', () => {
  it.each(actions)(
    'actions/%s/dist matches a fresh `npm run bundle`',
    (action) => {
      const out = mkdtempSync(join(tmpdir(), `switchyard-dist-${action}-`));
      try {
        execFileSync(
          join('node_modules', '.bin', 'ncc'),
          [
            'build',
            join('actions', action, 'src', 'index.ts'),
            '-o',
            out,
            '--license',
            'licenses.txt',
            '--quiet',
          ],
          { stdio: 'pipe' },
        );
        for (const file of readdirSync(out)) {
          const committed = join('actions', action, 'dist', file);
          expect(existsSync(committed) ? 'present' : `${committed} is missing: run npm run bundle`).toBe(
            'present',
          );
          const fresh = readFileSync(join(out, file), 'utf8');
          // toBe on megabytes prints megabytes; compare, then say what to do.
          expect(
            readFileSync(committed, 'utf8') === fresh
              ? 'current'
              : `${committed} is stale: run npm run bundle`,
          ).toBe('current');
        }
      } finally {
        rmSync(out, { recursive: true, force: true });
      }
    },
    120_000,
  );
});
