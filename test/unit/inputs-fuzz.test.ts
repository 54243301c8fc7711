// Property-based: every input of every action, fed random and adversarial values (and hostile
// switchyard.yml files), ends as exit 0 or 1 — never "Unexpected error", never a stack trace, never a
// printed credential — and every error names an input or the config file. bench/fuzz.ts runs more.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { FUZZED_ACTIONS, fuzzCase, fuzzScratch, runCases, type FuzzCase } from '../support/input-fuzz.js';

const CASES = 2_000;
// Fixed, so a failure here is the same failure on every machine; bench/fuzz.ts draws new seeds.
const SEED = 20_260_801;

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(fuzzScratch(), 'switchyard-fuzz-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe.each(FUZZED_ACTIONS)('%s inputs', (action) => {
  it(`hold up under ${CASES} random and adversarial cases`, async () => {
    const cases = fc.sample(fuzzCase(action), { numRuns: CASES, seed: SEED });
    const failures: { fuzz: FuzzCase; problems: string[] }[] = [];
    let ran = 0;
    await runCases(action, cases, join(dir, action), (fuzz, problems) => {
      ran++;
      if (problems.length > 0) failures.push({ fuzz, problems });
    });
    expect(ran).toBe(CASES);
    // The first few, whole: enough to reproduce one with runCase.
    expect(failures.slice(0, 3)).toEqual([]);
  });
});
