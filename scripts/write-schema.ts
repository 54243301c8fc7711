// Regenerates what derives from the action tables: the JSON Schema of switchyard.yml, the inputs and
// outputs of every action.yml and the inputs table of every docs/<action>.md. A unit test fails when any is
// stale. The YAML goes through prettier, so `npm run lint` agrees with a fresh generation.
import { readFileSync, writeFileSync } from 'node:fs';
import { format, resolveConfig } from 'prettier';
import { configJsonSchema, inputNamesSource } from '../actions/core/src/config-schema.js';
import { ACTION_INPUTS } from '../actions/core/src/registry.js';
import { actionYmlPath, withGeneratedInputs, withGeneratedTable, withRulesIndex } from './action-yml.js';

async function write(path: string, text: string): Promise<void> {
  // Only the YAML is prettier's to check (.prettierignore leaves markdown and schema/ alone).
  const options = (await resolveConfig(path)) ?? {};
  writeFileSync(path, path.endsWith('.yml') ? await format(text, { ...options, filepath: path }) : text);
  console.log(`wrote ${path}`);
}

await write('schema/switchyard.schema.json', JSON.stringify(configJsonSchema(), null, 2) + '\n');
await write(
  'actions/core/src/input-names.ts',
  await format(inputNamesSource(), {
    ...((await resolveConfig('actions/core/src/input-names.ts')) ?? {}),
    parser: 'typescript',
  }),
);
for (const action of Object.keys(ACTION_INPUTS) as (keyof typeof ACTION_INPUTS)[]) {
  const path = actionYmlPath(action);
  await write(path, withGeneratedInputs(readFileSync(path, 'utf8'), action));
  const doc = `docs/${action}.md`;
  await write(doc, withGeneratedTable(readFileSync(doc, 'utf8'), action));
}
await write('docs/validate-migration.md', withRulesIndex(readFileSync('docs/validate-migration.md', 'utf8')));
