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
  it('promotes v2 with no failed request, rolls v3 back on its own, and writes the HTML report', async () => {
    const { exitCode, output } = await runDemo(['--step-duration', '1s']);
    expect(output).toMatch(
      /release v2 \(green\): 5 steps of 1s, promoted in [\d.]+ s; \d+ user requests during stage \+ promote, 0 failed/,
    );
    expect(output).toMatch(
      /release v3 \(blue\): {2}broke at 25%, rolled back in [\d.]+ s; reason: .*exceeds max-error-rate/,
    );
    expect(output).toMatch(/active now: green, weights \{"blue":0,"green":100\}/);
    const html = /HTML report: (.*\.html)/.exec(output)?.[1];
    expect(html && existsSync(html)).toBe(true);
    const page = readFileSync(html as string, 'utf8');
    expect(page).toContain('<svg');
    expect(page).not.toMatch(/<script|https?:\/\/(?!127\.0\.0\.1)/);
    rmSync(html as string);
    expect(exitCode).toBe(0);
  }, 90_000);
});
