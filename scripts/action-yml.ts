// Writes the `inputs:` of each actions/<name>/action.yml from the input tables in the core, so the
// names, descriptions and defaults users read in the marketplace are the ones the code parses.
// Defaults are written into the description, not as `default:` — a runner-supplied default would
// be indistinguishable from a typed value and would always override switchyard.yml.
import { COMMON_INPUTS } from '../actions/core/src/action-inputs.js';
import { ACTION_INPUTS } from '../actions/core/src/registry.js';
import { stringify } from 'yaml';

export function renderInputs(action: keyof typeof ACTION_INPUTS): string {
  const inputs: Record<string, { description: string; required: boolean }> = {};
  for (const [name, def] of Object.entries(ACTION_INPUTS[action])) {
    const suffix = def.default ? ` Default: ${def.default}` : '';
    inputs[name] = { description: `${def.description}${suffix}`, required: Boolean(def.required) };
  }
  for (const [name, description] of Object.entries(COMMON_INPUTS))
    inputs[name] = { description, required: false };
  return stringify({ inputs }, { lineWidth: 0 });
}

const BEGIN = '# BEGIN generated inputs (npm run schema)\n';
const END = '# END generated inputs\n';

export function withGeneratedInputs(actionYml: string, action: keyof typeof ACTION_INPUTS): string {
  const start = actionYml.indexOf(BEGIN);
  const end = actionYml.indexOf(END);
  if (start < 0 || end < 0) throw new Error(`action.yml of ${action} lacks the generated-inputs markers`);
  return actionYml.slice(0, start + BEGIN.length) + renderInputs(action) + actionYml.slice(end);
}

export function actionYmlPath(action: string): string {
  return `actions/${action}/action.yml`;
}

const DOC_BEGIN = '<!-- BEGIN generated inputs (npm run schema) -->\n';
const DOC_END = '<!-- END generated inputs -->\n';

/** The inputs table of docs/<action>.md, from the same table as action.yml. */
export function renderInputsTable(action: keyof typeof ACTION_INPUTS): string {
  const rows = Object.entries(ACTION_INPUTS[action]).map(([name, def]) => {
    const fallback = def.required ? 'required' : def.default ? `\`${def.default}\`` : '–';
    return `| \`${name}\` | ${fallback} | ${def.description.replaceAll('|', '\\|')} |`;
  });
  for (const [name, description] of Object.entries(COMMON_INPUTS))
    rows.push(`| \`${name}\` | – | ${description} |`);
  return ['| Input | Default | Meaning |', '| --- | --- | --- |', ...rows].join('\n') + '\n';
}

export function withGeneratedTable(doc: string, action: keyof typeof ACTION_INPUTS): string {
  const start = doc.indexOf(DOC_BEGIN);
  const end = doc.indexOf(DOC_END);
  if (start < 0 || end < 0) throw new Error(`docs/${action}.md lacks the generated-inputs markers`);
  return doc.slice(0, start + DOC_BEGIN.length) + renderInputsTable(action) + doc.slice(end);
}
