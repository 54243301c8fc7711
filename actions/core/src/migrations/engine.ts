import type { ActionDeps } from '../action.js';
import type { ValidateMigrationInputs } from './inputs.js';
import { LintRun, type LintResult } from './lint.js';
import { rehearseMigrations, type RehearseResult } from './rehearse/rehearse.js';
import { runMigrations, type RunResult } from './run/run.js';
import { checkParity, type ParityResult } from './parity.js';
import { compareSnapshots, takeSnapshot, type CompareResult, type SnapshotResult } from './snapshot/run.js';

export type ValidateMigrationResult =
  LintResult | RunResult | RehearseResult | SnapshotResult | CompareResult | ParityResult;

/** validate-migration: one engine per command. */
export function validateMigration(
  inputs: ValidateMigrationInputs,
  deps: ActionDeps,
): Promise<ValidateMigrationResult> {
  switch (inputs.command) {
    case 'lint':
      return new LintRun(inputs, deps).execute();
    case 'run':
      return runMigrations(inputs, deps);
    case 'rehearse':
      return rehearseMigrations(inputs, deps);
    case 'snapshot':
      return takeSnapshot(inputs, deps);
    case 'compare':
      return compareSnapshots(inputs, deps);
    case 'parity':
      return checkParity(inputs, deps);
  }
}
