// Regenerates what derives from the input tables: the JSON Schema of switchyard.yml and the
// inputs of every action.yml. A unit test fails when either is stale.
import { readFileSync, writeFileSync } from 'node:fs';
import { configJsonSchema } from '../actions/core/src/config.js';
import { ACTION_INPUTS } from '../actions/core/src/registry.js';
import { actionYmlPath, withGeneratedInputs, withGeneratedTable } from './action-yml.js';

export const SCHEMA_PATH = 'schema/switchyard.schema.json';

export function renderSchema(): string {
  return JSON.stringify(configJsonSchema(), null, 2) + '\n';
}

writeFileSync(SCHEMA_PATH, renderSchema());
console.log(`wrote ${SCHEMA_PATH}`);
for (const action of Object.keys(ACTION_INPUTS) as (keyof typeof ACTION_INPUTS)[]) {
  const path = actionYmlPath(action);
  writeFileSync(path, withGeneratedInputs(readFileSync(path, 'utf8'), action));
  console.log(`wrote ${path}`);
  const doc = `docs/${action}.md`;
  writeFileSync(doc, withGeneratedTable(readFileSync(doc, 'utf8'), action));
  console.log(`wrote ${doc}`);
}
