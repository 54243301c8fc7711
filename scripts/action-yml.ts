// Writes the `inputs:` and `outputs:` of each actions/<name>/action.yml from the action's table (its
// main.ts: the input table in the core, the outputs it sets), so the names, descriptions and
// defaults users read in the marketplace are the ones the code parses and writes.
// Defaults are written into the description, not as `default:` — a runner-supplied default would
// be indistinguishable from a typed value and would always override switchyard.yml.
import { backupAction } from '../actions/backup/src/main.js';
import { COMMON_INPUTS } from '../actions/core/src/action-inputs.js';
import { ACTION_INPUTS, type ActionName } from '../actions/core/src/registry.js';
import { deployAction } from '../actions/deploy/src/main.js';
import { healthCheckAction } from '../actions/health-check/src/main.js';
import { validateMigrationAction } from '../actions/validate-migration/src/main.js';
import { stringify } from 'yaml';
import { FILE_RULES, RULES } from '../actions/core/src/migrations/rules/index.js';

/** What action.yml shows of an action's table. */
interface OutputsTable {
  outputs: Record<string, { description: string }>;
  report: { description: string };
}

/** Every action's table; typed by name, so an action added to the registry must be added here. */
export const ACTIONS: Record<ActionName, OutputsTable> = {
  'health-check': healthCheckAction,
  deploy: deployAction,
  backup: backupAction,
  'validate-migration': validateMigrationAction,
};

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

/** The `outputs:` of action.yml: the action's outputs table, then the `report` every action sets. */
export function renderOutputs(action: ActionName): string {
  const definition = ACTIONS[action];
  const outputs: Record<string, { description: string }> = {};
  for (const [name, output] of Object.entries(definition.outputs))
    outputs[name] = { description: output.description };
  outputs.report = { description: definition.report.description };
  return stringify({ outputs }, { lineWidth: 0 });
}

const BEGIN = '# BEGIN generated inputs and outputs (npm run schema)\n';
const END = '# END generated inputs and outputs\n';

export function withGeneratedInputs(actionYml: string, action: ActionName): string {
  const start = actionYml.indexOf(BEGIN);
  const end = actionYml.indexOf(END);
  if (start < 0 || end < 0) throw new Error(`action.yml of ${action} lacks the generated markers`);
  return (
    actionYml.slice(0, start + BEGIN.length) +
    renderInputs(action) +
    renderOutputs(action) +
    actionYml.slice(end)
  );
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

const RULES_BEGIN = '<!-- BEGIN rules index -->';
const RULES_END = '<!-- END rules index -->';

const CATEGORY: Record<string, string> = {
  'breaks-old-code': 'breaks the old code',
  locks: 'locks live traffic',
  transactions: 'transactions',
};

/** docs/validate-migration.md's index of rules, from the rules themselves. */
export function withRulesIndex(doc: string): string {
  const start = doc.indexOf(RULES_BEGIN);
  const end = doc.indexOf(RULES_END);
  if (start < 0 || end < 0) throw new Error('docs/validate-migration.md lacks the rules-index markers');
  const cell = (text: string) => text.replaceAll('|', '\\|').replace(/\s+/g, ' ');
  const rows = [
    ...RULES.map(
      (rule) =>
        `| [\`${rule.id}\`](rules/${rule.id}.md) | ${CATEGORY[rule.category] ?? rule.category} | ${rule.severity}${rule.breaking ? ' (allowed in a contract phase)' : ''} | ${cell(rule.summary)} |`,
    ),
    ...Object.entries(FILE_RULES).map(
      ([id, rule]) => `| [\`${id}\`](rules/${id}.md) | files | ${rule.severity} | ${cell(rule.summary)} |`,
    ),
  ];
  const table = ['', '| Rule | What | Severity | Summary |', '| --- | --- | --- | --- |', ...rows, ''].join(
    '\n',
  );
  return doc.slice(0, start + RULES_BEGIN.length) + table + doc.slice(end);
}
