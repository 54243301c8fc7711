import { backupInputs } from './backup/inputs.js';
import { deployInputs } from './deploy/inputs.js';
import { healthCheckInputs } from './health-check/inputs.js';
import type { InputTable } from './inputs.js';
import { validateMigrationInputs } from './migrations/inputs.js';

/** Every action's inputs, by action name: the sections of switchyard.yml and its JSON Schema. */
export const ACTION_INPUTS = {
  'health-check': healthCheckInputs,
  deploy: deployInputs,
  backup: backupInputs,
  'validate-migration': validateMigrationInputs,
} satisfies Record<string, InputTable>;

export type ActionName = keyof typeof ACTION_INPUTS;
