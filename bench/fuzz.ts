// npx tsx bench/fuzz.ts [cases-per-action] [seed]: the input fuzzer of test/unit/inputs-fuzz.test.ts,
// longer and deeper (backup sources are opened too). Prints cases/sec per action and each kind of
// failure once, with how often it happened and the first case that showed it; exits 1 on any.
import fc from 'fast-check';
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { FUZZED_ACTIONS, fuzzCase, fuzzScratch, runCases } from '../test/support/input-fuzz.js';
import { printTable } from './table.js';

const CASES = Number(process.argv[2] ?? process.env.FUZZ_CASES ?? 20_000);
const SEED = Number(process.argv[3] ?? process.env.FUZZ_SEED ?? Date.now() % 2 ** 31);

/** A failure's kind: its text without the values that differ from case to case. */
const kindOf = (problem: string) =>
  problem
    .split(/[\n:]/, 3)
    .slice(0, 2)
    .join(':')
    .replace(/"[^"]*"/g, '"…"')
    .slice(0, 100);

const dir = mkdtempSync(join(fuzzScratch(), 'switchyard-fuzz-'));
const failures = new Map<string, { count: number; problem: string; example: string }>();
const rows: string[][] = [];
try {
  for (const action of FUZZED_ACTIONS) {
    const started = performance.now();
    let failed = 0;
    const cases = fc.sample(fuzzCase(action), { numRuns: CASES, seed: SEED });
    await runCases(
      action,
      cases,
      dir,
      (fuzz, problems) => {
        if (problems.length > 0) failed++;
        for (const problem of problems) {
          const key = `${action}: ${kindOf(problem)}`;
          const known = failures.get(key) ?? { count: 0, problem, example: JSON.stringify(fuzz) };
          known.count++;
          failures.set(key, known);
        }
      },
      { deep: true },
    );
    const seconds = (performance.now() - started) / 1000;
    rows.push([action, String(CASES), String(Math.round(CASES / seconds)), String(failed)]);
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}

console.log(`seed ${SEED}\n`);
printTable('Input fuzzing', ['action', 'cases', 'cases/s', 'failed'], rows);
for (const [key, { count, problem, example }] of failures) {
  console.log(`\n${count}× ${key}\n  ${problem.slice(0, 500)}\n  case: ${example.slice(0, 1000)}`);
}
process.exitCode = failures.size > 0 ? 1 : 0;
