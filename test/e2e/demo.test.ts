import { describe, expect, it } from '@jest/globals';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';

/** Runs `npm run demo`'s script as a user would, and returns its exit code and output. */
function runDemo(args: string[]): Promise<{ exitCode: number; output: string }> {
  // NODE_OPTIONS of the jest parent means nothing to the demo.
  const { NODE_OPTIONS: _ignored, ...env } = process.env;
  const child = spawn(join('node_modules', '.bin', 'tsx'), ['scripts/demo/demo.ts', ...args], { env });
  let output = '';
  child.stdout.on('data', (chunk) => (output += chunk));
  child.stderr.on('data', (chunk) => (output += chunk));
  return new Promise((resolve) => child.on('close', (code) => resolve({ exitCode: code ?? -1, output })));
}

describe('npm run demo', () => {
  it('promotes v2 with no failed request, rolls v3 back on its own, rehearses and runs migrations, and writes the HTML report', async () => {
    const { exitCode, output } = await runDemo(['--step-duration', '1s']);
    expect(output).toMatch(
      /release v2 \(green\): 5 steps of 1s, promoted in [\d.]+ s; \d+ user requests during stage \+ promote, 0 failed/,
    );
    expect(output).toMatch(
      /release v3 \(blue\): {2}broke at 25%, rolled back in [\d.]+ s; reason: .*exceeds max-error-rate/,
    );
    expect(output).toMatch(/active now: green, weights \{"blue":0,"green":100\}/);

    // The migration chapter: the expand migration rehearses clean, every statement of the old app
    // still preparing on the migrated copy…
    expect(output).toMatch(
      /rehearse expand: passed, ([1-9]\d*) statements of \1 still prepare after the migration/,
    );
    // …the rename fails its rehearsal, naming the old app's query and how often it ran…
    expect(output).toMatch(
      /::error title=rehearse::the old code's statement "SELECT id, email, name FROM users WHERE id = \$1" \(25 calls\) no longer prepares after the migration: column "email" does not exist/,
    );
    expect(output).toContain(
      'rehearse rename: blue would break — SELECT id, email, name FROM users WHERE id = $1 (25 calls): column "email" does not exist',
    );
    // …run applies the expand migration after a backup…
    expect(output).toMatch(
      /✓ applied: scripts\/demo\/migrations\/expand\/V1__user_phone\.sql \(expand, 2 statements/,
    );
    expect(output).toMatch(/backup-id: \d{8}-\d{6}-\w+/);
    expect(output).toMatch(
      /run expand: applied V1__user_phone\.sql in [\d.]+ s, after backup \d{8}-\d{6}-\w+/,
    );
    // …and a batch whose second file fails on the data is one error at its line, the database restored.
    expect(output).toContain(
      '::error title=migration failed,file=scripts/demo/migrations/batch-2/V4__postcode_integer.sql,line=2,col=1::',
    );
    expect(output).toMatch(
      /run batch 2: V4__postcode_integer\.sql:2 failed: .*invalid input syntax for type integer: "SW1A 1AA".*; restored: the schema and 3 tables' checksums equal those before the run, V3__order_status\.sql undone/,
    );
    expect(output).not.toContain('unexpected:');

    const html = /HTML report: (.*\.html)/.exec(output)?.[1];
    expect(html && existsSync(html)).toBe(true);
    const page = readFileSync(html as string, 'utf8');
    expect(page).toContain('<svg');
    expect(page).not.toMatch(/<script|https?:\/\/(?!127\.0\.0\.1)/);
    expect(page).toContain('rehearse rename: blue would break');
    expect(page).toContain('<td>4e. run batch 2');
    rmSync(html as string);
    expect(exitCode).toBe(0);
  }, 90_000);
});
