import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface RunnerResult {
  exitCode: number;
  stdout: string;
  stderr: string;
  outputs: Record<string, string>;
  summary: string;
  /** What the step registered with `::add-mask::` (the runner takes these lines out of the log). */
  masks: string[];
  /** The JSON report's text, read before the runner's temp dir is removed. */
  report?: string;
}

/** Reads a GITHUB_OUTPUT file: `name<<DELIMITER`, the value, then the delimiter on its own line. */
export function parseOutputFile(text: string): Record<string, string> {
  const outputs: Record<string, string> = {};
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const heredoc = /^([^<=]+)<<(.+)$/.exec(lines[i] as string);
    if (heredoc) {
      const value: string[] = [];
      while (++i < lines.length && lines[i] !== heredoc[2]) value.push(lines[i] as string);
      outputs[heredoc[1] as string] = value.join('\n');
    } else if (lines[i]?.includes('=')) {
      const [name, ...rest] = (lines[i] as string).split('=');
      outputs[name as string] = rest.join('=');
    }
  }
  return outputs;
}

/**
 * Runs `actions/<action>/dist/index.js` the way the GitHub runner does: each input as an
 * INPUT_<NAME> variable (upper-cased, spaces as underscores, dashes kept), GITHUB_OUTPUT and
 * GITHUB_STEP_SUMMARY files, RUNNER_TEMP, and nothing else from this process's environment
 * but PATH.
 */
export async function runLikeTheRunner(
  action: string,
  inputs: Record<string, string>,
  env: Record<string, string> = {},
  options: {
    echo?: boolean;
    /** Called with each complete stdout line as it arrives. */
    onLine?: (line: string) => void;
    /** Called with the child process once spawned (to signal it, say). */
    onSpawn?: (child: ChildProcess) => void;
    cwd?: string;
    /** The action's dist/ directory, when not this checkout's actions/<action>/dist (a copy elsewhere). */
    dist?: string;
  } = {},
): Promise<RunnerResult> {
  const dir = mkdtempSync(join(tmpdir(), `switchyard-e2e-${action}-`));
  const outputFile = join(dir, 'output');
  const summaryFile = join(dir, 'summary');
  writeFileSync(outputFile, '');
  writeFileSync(summaryFile, '');
  const childEnv: Record<string, string> = {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    GITHUB_ACTIONS: 'true',
    GITHUB_OUTPUT: outputFile,
    GITHUB_STEP_SUMMARY: summaryFile,
    RUNNER_TEMP: dir,
    ...env,
  };
  for (const [name, value] of Object.entries(inputs))
    childEnv[`INPUT_${name.replace(/ /g, '_').toUpperCase()}`] = value;
  try {
    const dist = options.dist ?? join(process.cwd(), 'actions', action, 'dist');
    const child = spawn(process.execPath, [join(dist, 'index.js')], {
      env: childEnv,
      cwd: options.cwd,
    });
    options.onSpawn?.(child);
    let partial = '';
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => {
      stdout += chunk;
      if (options.echo) process.stdout.write(chunk);
      if (!options.onLine) return;
      const lines = (partial + chunk).split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines) options.onLine(line);
    });
    child.stderr.on('data', (chunk) => {
      stderr += chunk;
      if (options.echo) process.stderr.write(chunk);
    });
    const exitCode = await new Promise<number>((resolve) => child.on('close', (code) => resolve(code ?? -1)));
    const outputs = parseOutputFile(readFileSync(outputFile, 'utf8'));
    const lines = stdout.split('\n');
    const masks = lines
      .filter((line) => line.startsWith('::add-mask::'))
      .map((line) => unescapeCommandData(line.slice('::add-mask::'.length)));
    return {
      exitCode,
      masks,
      stdout: lines.filter((line) => !line.startsWith('::add-mask::')).join('\n'),
      stderr,
      outputs,
      summary: readFileSync(summaryFile, 'utf8'),
      report: outputs.report ? readFileSync(outputs.report, 'utf8') : undefined,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * The messages of the `::error …::` (or warning/notice) commands in a step's stdout, unescaped as
 * the runner does (`%25` → `%`, `%0A` → newline).
 */
export function annotations(stdout: string, kind: 'error' | 'warning' | 'notice' = 'error'): string[] {
  return stdout
    .split('\n')
    .filter((line) => line.startsWith(`::${kind}`))
    .map((line) => unescapeCommandData(line.slice(line.indexOf('::', 2) + 2)));
}

/** Each `::error file=…,line=…::message` as the runner reads it: its properties (file, line, col, title…) and message. */
export function workflowCommands(
  stdout: string,
  kind: 'error' | 'warning',
): (Record<string, string> & { message: string })[] {
  return stdout
    .split('\n')
    .filter((line) => line.startsWith(`::${kind} `) || line.startsWith(`::${kind}::`))
    .map((line) => {
      const end = line.indexOf('::', 2);
      const properties: Record<string, string> = {};
      for (const pair of line.slice(`::${kind}`.length, end).trim().split(',').filter(Boolean)) {
        const [key = '', value = ''] = pair.split('=');
        properties[key] = unescapeCommandData(value.replaceAll('%2C', ',').replaceAll('%3A', ':'));
      }
      return { ...properties, message: unescapeCommandData(line.slice(end + 2)) };
    });
}

/** A workflow command's data as the runner reads it back. */
function unescapeCommandData(data: string): string {
  return data.replaceAll('%0D', '\r').replaceAll('%0A', '\n').replaceAll('%25', '%');
}
