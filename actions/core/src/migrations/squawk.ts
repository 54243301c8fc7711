import { outcomeOf, outputTail, type ProcessRunner } from '../process.js';
import { UserError } from '../errors.js';
import type { Violation } from './lint.js';

/** One of squawk's findings, as our violation (severity decided by the caller). */
export type SquawkFinding = Omit<Violation, 'severity' | 'source'>;

interface SquawkJson {
  file: string;
  line: number;
  column: number;
  line_end: number;
  column_end: number;
  level: string;
  message: string;
  help: string | null;
  rule_name: string;
}

export interface SquawkRun {
  version?: string;
  findings: SquawkFinding[];
  /** Why squawk could not run (not installed), when it could not. */
  missing?: string;
}

/**
 * squawk on the same files, through its JSON reporter. squawk counts lines and columns from 0;
 * ours, like GitHub's, from 1. Its exit code is 1 whenever it found something: the JSON decides.
 */
export async function runSquawk(
  files: readonly string[],
  options: {
    cwd: string;
    runner: ProcessRunner;
    pgVersion: number;
    assumeInTransaction: boolean;
    env: Readonly<Record<string, string | undefined>>;
  },
): Promise<SquawkRun> {
  const { runner, cwd } = options;
  const env = { ...options.env };
  const version = await runner.run(['squawk', '--version'], { cwd, env, timeoutMs: 30_000 });
  if (version.exitCode !== 0)
    return { findings: [], missing: 'squawk is not on PATH (npm install -g squawk-cli)' };
  const installed = version.stdout.trim().replace(/^squawk\s*/, '');
  if (files.length === 0) return { version: installed, findings: [] };
  const argv = [
    'squawk',
    '--reporter',
    'json',
    `--pg-version=${options.pgVersion}.0`,
    ...(options.assumeInTransaction ? ['--assume-in-transaction'] : []),
    '--',
    ...files,
  ];
  const result = await runner.run(argv, { cwd, env, timeoutMs: 5 * 60_000 });
  // 0: nothing found; 1: findings. Anything else is squawk failing, whatever stdout says.
  if (result.exitCode !== 0 && result.exitCode !== 1) {
    throw new UserError(`squawk ${outcomeOf(result)}:\n${outputTail(result, 8)}`, 'squawk failed');
  }
  let parsed: SquawkJson[];
  try {
    parsed = JSON.parse(result.stdout || '[]') as SquawkJson[];
  } catch {
    throw new UserError(
      `squawk did not answer in JSON (exit ${result.exitCode}):\n${outputTail(result, 8)}`,
      'squawk failed',
    );
  }
  return {
    version: installed,
    findings: parsed.map((each) => ({
      file: each.file,
      line: each.line + 1,
      column: each.column + 1,
      endLine: each.line_end + 1,
      endColumn: Math.max(1, each.column_end),
      rule: each.rule_name,
      message: each.message,
      fix: each.help ?? `see https://squawkhq.com/docs/${each.rule_name}`,
    })),
  };
}
