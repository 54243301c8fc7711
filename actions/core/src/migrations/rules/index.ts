import { breakingRules } from './breaking.js';
import { lockRules } from './locks.js';
import type { Rule, Severity } from './rule.js';
import { transactionRules } from './transactions.js';

/** The checks the lint engine runs on each statement, by category. */
export const RULES: readonly Rule[] = [...breakingRules, ...lockRules, ...transactionRules];

/**
 * Findings the engine makes about the files themselves, not one statement: they can be set in
 * switchyard.yml and ignored like any rule.
 */
export const FILE_RULES = {
  'syntax-error': {
    severity: 'error',
    summary: 'PostgreSQL cannot parse the file: nothing in it can be checked, and it would fail to run.',
  },
  'migration-order': {
    severity: 'error',
    summary:
      'A new migration file sorts before one that was already there: tools that run files in order may skip it, or run it out of order.',
  },
  'mixed-phases': {
    severity: 'error',
    summary:
      'A contract-phase file (-- switchyard: contract) also expands the schema: expand and contract belong to different deploys.',
  },
  'unused-ignore': { severity: 'warning', summary: 'A switchyard-ignore comment that suppresses nothing.' },
  'ignore-without-reason': {
    severity: 'error',
    summary: 'A switchyard-ignore comment without ": <reason>" suppresses nothing.',
  },
} as const satisfies Record<string, { severity: Severity; summary: string }>;

export type FileRuleId = keyof typeof FILE_RULES;

/** Every rule id a user may name in switchyard.yml, `ignore` or a suppression comment. */
export const RULE_IDS: readonly string[] = [...RULES.map((rule) => rule.id), ...Object.keys(FILE_RULES)];
