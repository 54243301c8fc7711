import { describe, expect, it } from '@jest/globals';
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { COMMON_INPUTS } from '../../actions/core/src/action-inputs.js';
import { backupInputs } from '../../actions/core/src/backup/inputs.js';
import { healthCheckInputs } from '../../actions/core/src/health-check/inputs.js';

describe('reusable workflows', () => {
  it('health-check.yml passes only inputs the action has, and declares each one it passes', () => {
    const workflow = parse(readFileSync('.github/workflows/health-check.yml', 'utf8'));
    const step = workflow.jobs.check.steps.find((s: { id?: string }) => s.id === 'health');
    const known = [...Object.keys(healthCheckInputs), ...Object.keys(COMMON_INPUTS)];
    for (const name of Object.keys(step.with)) {
      expect(known).toContain(name);
      expect(Object.keys(workflow.on.workflow_call.inputs)).toContain(name);
    }
    // Defaults offered to callers must be the action's own, or the two would drift.
    for (const [name, input] of Object.entries(
      workflow.on.workflow_call.inputs as Record<string, { default?: string }>,
    )) {
      const def = (healthCheckInputs as Record<string, { default?: string }>)[name];
      if (def?.default !== undefined && input.default !== undefined) expect(input.default).toBe(def.default);
    }
  });

  it('backup.yml passes only inputs the backup action has, each from a declared input or secret', () => {
    const workflow = parse(readFileSync('.github/workflows/backup.yml', 'utf8'));
    const step = workflow.jobs.backup.steps.find((s: { id?: string }) => s.id === 'backup');
    const known = [...Object.keys(backupInputs), ...Object.keys(COMMON_INPUTS)];
    const call = workflow.on.workflow_call;
    for (const [name, value] of Object.entries(step.with as Record<string, string>)) {
      expect(known).toContain(name);
      const from = /\$\{\{ (inputs|secrets)\.([\w-]+) \}\}/.exec(value);
      if (from?.[1] === 'inputs') expect(Object.keys(call.inputs)).toContain(from[2]);
      if (from?.[1] === 'secrets') expect(Object.keys(call.secrets)).toContain(from[2]);
    }
    for (const [name, input] of Object.entries(call.inputs as Record<string, { default?: string }>)) {
      const def = (backupInputs as Record<string, { default?: string }>)[name];
      if (def?.default !== undefined && input.default) expect(input.default).toBe(def.default);
    }
  });
});
