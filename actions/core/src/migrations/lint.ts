import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { ActionDeps } from '../action.js';
import { InputError, UserError } from '../errors.js';
import { neutralise } from '../io.js';
import { count } from '../summary.js';
import { statementContexts } from './context.js';
import { findMigrations, migrationOrder, readBaseline, unreadable, type Baseline } from './files.js';
import { ruleIdProblem, type RuleSetting, type ValidateMigrationInputs } from './inputs.js';
import { parseMigration, type Position, type Statement } from './parser.js';
import { isExpand, phaseOf } from './phases.js';
import { FILE_RULES, RULE_IDS, RULES, type FileRuleId } from './rules/index.js';
import type { Finding, Rule, Severity } from './rules/rule.js';
import { writeSarif } from './sarif.js';
import { runSquawk } from './squawk.js';
import { readComments, suppressedBy, type FileComments } from './suppressions.js';

export type Phase = 'expand' | 'contract' | 'none';

/** One problem, where it is, and what to do instead: the `violations` output is a list of these. */
export interface Violation {
  file: string;
  line: number;
  column: number;
  endLine: number;
  endColumn: number;
  rule: string;
  severity: Severity;
  message: string;
  fix: string;
  /** The statement's first line, for the summary. */
  statement?: string;
  /** squawk found it (squawk: true), not switchyard. */
  source: 'switchyard' | 'squawk';
}

/** What was checked in one file. */
export interface FileReport {
  file: string;
  phase: Phase;
  statements: number;
  /** Breaking statements a contract-phase file makes: allowed there, listed so they are seen. */
  contract: { line: number; rules: string[]; statement: string }[];
  /** Findings ignore comments silenced, with the comments' reasons. */
  suppressed: { rule: string; line: number; reason?: string }[];
}

export interface LintResult {
  command: 'lint';
  valid: boolean;
  phase: Phase;
  violations: Violation[];
  files: FileReport[];
  /** Files left out: down migrations, or unchanged since the baseline. */
  skipped: { file: string; why: string }[];
  baseline?: { ref: string; commit: string };
  pgVersion: number;
  /** Path of the SARIF 2.1.0 file for GitHub code scanning. */
  sarif: string;
  squawk?: { version?: string; findings: number; merged: number; missing?: string };
}

const firstLine = (text: string) => (text.split('\n', 1)[0] ?? '').trim();

/**
 * validate-migration lint: every selected file through PostgreSQL's parser and the rules, with
 * the ignore comments, the phases and the file order applied. One place builds the result, so the
 * outputs, summary, report and SARIF are written on every path.
 */
export class LintRun {
  private readonly violations: Violation[] = [];
  private readonly files: FileReport[] = [];
  private readonly skipped: LintResult['skipped'] = [];
  private readonly settings: Map<string, RuleSetting>;
  /** Each parsed file's ignore comments, to report the unused ones once every finding is in. */
  private readonly comments = new Map<string, FileComments>();

  constructor(
    private readonly inputs: ValidateMigrationInputs,
    private readonly deps: Pick<ActionDeps, 'io' | 'runner' | 'cwd'>,
  ) {
    this.settings = new Map(inputs.rules ?? []);
    for (const { id } of inputs.ignore ?? []) {
      const problem = ruleIdProblem(id);
      if (problem) throw new InputError('ignore', problem);
      this.settings.set(id, 'off');
    }
  }

  async execute(): Promise<LintResult> {
    const { inputs, deps } = this;
    const { io, cwd } = deps;
    const found = await findMigrations(
      inputs.migrations.map((each) => each.pattern),
      cwd,
    );
    for (const file of found.down)
      this.skipped.push({ file, why: 'a down migration (never run by a deploy)' });
    const baseline = inputs.baseline
      ? await readBaseline(inputs.baseline, cwd, deps.runner, io.env)
      : undefined;
    const selected = baseline ? found.files.filter((file) => baseline.changed.has(file)) : found.files;
    if (baseline) {
      for (const file of found.files)
        if (!baseline.changed.has(file)) this.skipped.push({ file, why: `unchanged since ${baseline.ref}` });
      io.info(
        `baseline ${baseline.ref} (${baseline.commit.slice(0, 7)}): ${count(selected.length, 'migration file')} added or changed since, of ${found.files.length}`,
      );
    }
    for (const file of selected) await this.lintFile(file);
    if (baseline) this.checkOrder(selected, found.files, baseline);
    this.reportIgnores();
    const squawk = inputs.squawk ? await this.mergeSquawk(selected) : undefined;
    return this.result(baseline, squawk);
  }

  private setting(rule: string, fallback: Severity): Severity | 'off' {
    return this.settings.get(rule) ?? fallback;
  }

  private async lintFile(file: string): Promise<void> {
    const { io } = this.deps;
    let bytes: Buffer;
    try {
      bytes = await readFile(path.join(this.deps.cwd, file));
    } catch (error) {
      throw unreadable(file, error);
    }
    const report: FileReport = { file, phase: 'none', statements: 0, contract: [], suppressed: [] };
    this.files.push(report);
    const decoded = decodeUtf8(bytes);
    if (typeof decoded !== 'string') {
      this.fileFinding(
        file,
        'syntax-error',
        { start: decoded.at, end: decoded.at },
        {
          message: `${file} is not UTF-8 (byte 0x${decoded.byte.toString(16)} at line ${decoded.at.line}): PostgreSQL, with a UTF8 client encoding, refuses it, and nothing in it was checked.`,
          fix: 'save the file as UTF-8 (e.g. iconv -f latin1 -t utf-8)',
        },
      );
      return;
    }
    // A byte-order mark is no SQL: Flyway strips it, and so does the lint.
    const text = decoded.replace(/^\uFEFF/, '');
    const parsed = await parseMigration(text);
    report.statements = parsed.statements.length;
    if (parsed.syntaxError) {
      const at = parsed.syntaxError.at;
      this.fileFinding(
        file,
        'syntax-error',
        { start: at, end: at },
        {
          message: `PostgreSQL cannot parse this: ${parsed.syntaxError.message}. Nothing in ${file} was checked, and it would fail to run.`,
          fix: 'correct the SQL (run it against a scratch database to see the same error); psql meta-commands (\\c, \\set) and COPY data are not SQL a migration tool runs',
        },
      );
      return;
    }
    const comments = readComments(text, parsed.statements);
    this.comments.set(file, comments);
    const contexts = statementContexts(parsed.statements, {
      file,
      pgVersion: this.inputs['pg-version'],
      assumeInTransaction: this.inputs['assume-in-transaction'],
    });
    for (const statement of parsed.statements) {
      const context = contexts[statement.index]!;
      const breaking: string[] = [];
      for (const rule of RULES) {
        const setting = this.setting(rule.id, rule.severity);
        if (setting === 'off') continue;
        for (const finding of rule.check(statement, context)) {
          if (rule.breaking && comments.contract) {
            breaking.push(rule.id);
            continue;
          }
          this.statementFinding(file, comments, report, statement, rule, setting, finding);
        }
      }
      if (breaking.length > 0) {
        report.contract.push({
          line: statement.start.line,
          rules: [...new Set(breaking)],
          statement: firstLine(statement.text),
        });
      }
      // Also a statement that drops and adds at once: the adding half belongs to another deploy.
      if (comments.contract && isExpand(statement)) {
        this.fileFinding(
          file,
          'mixed-phases',
          statement,
          {
            message: `${file} is a contract-phase migration, but this statement expands the schema: expand and contract belong to different deploys (the contract runs once no old code is left, and is never rolled back across).`,
            fix: 'move what it adds to an expand migration of an earlier deploy, or drop the "-- switchyard: contract" marker if nothing here breaks the old code',
          },
          statement,
          comments,
        );
      }
    }
    report.phase = phaseOf(parsed.statements, comments.contract);
    if (comments.contract)
      io.info(`${file}: contract phase (${count(report.contract.length, 'breaking statement')})`);
  }

  private statementFinding(
    file: string,
    comments: FileComments,
    report: FileReport,
    statement: Statement,
    rule: Rule,
    severity: Severity,
    finding: Finding,
  ): void {
    const silenced = suppressedBy(comments, rule.id, statement.index);
    if (silenced) {
      report.suppressed.push({ rule: rule.id, line: statement.start.line, reason: silenced.reason });
      return;
    }
    const at = finding.at ?? { start: statement.start, end: statement.end };
    this.violations.push({
      file,
      ...span(at.start, at.end),
      rule: rule.id,
      severity,
      message: finding.message,
      fix: finding.fix,
      statement: firstLine(statement.text),
      source: 'switchyard',
    });
  }

  /**
   * A finding of the engine's own (syntax, order, phases, ignore comments), configurable like a
   * rule and silenced like one: by a comment before its statement, or a file-wide one.
   */
  private fileFinding(
    file: string,
    rule: FileRuleId,
    at: { start: Position; end: Position },
    finding: Finding,
    statement?: Statement,
    comments?: FileComments,
  ): void {
    const severity = this.setting(rule, FILE_RULES[rule].severity);
    if (severity === 'off') return;
    if (comments && suppressedBy(comments, rule, statement?.index)) return;
    this.violations.push({
      file,
      ...span(at.start, at.end),
      rule,
      severity,
      ...finding,
      statement: statement === undefined ? undefined : firstLine(statement.text),
      source: 'switchyard',
    });
  }

  /** Ignore comments that silence nothing, or cannot: reported once every finding is in. */
  private reportIgnores(): void {
    for (const [file, comments] of this.comments) {
      for (const each of comments.suppressions) {
        if (each.squawk) continue;
        const at = { start: { line: each.line, column: 1 }, end: { line: each.line, column: 1 } };
        const unknown = each.rules.filter((rule) => !RULE_IDS.includes(rule));
        const idle = each.rules.filter((rule) => !unknown.includes(rule) && !each.used.has(rule));
        if (!each.file && each.reason === undefined) {
          this.fileFinding(file, 'ignore-without-reason', at, {
            message: `this switchyard-ignore of ${each.rules.join(', ')} gives no reason, so it silences nothing: say why the statement is safe.`,
            fix: `-- switchyard-ignore ${each.rules.join(', ')}: <why it is safe here>`,
          });
          continue;
        }
        if (unknown.length > 0) {
          this.fileFinding(file, 'unused-ignore', at, {
            message: `switchyard-ignore names ${unknown.join(', ')}, which ${unknown.length === 1 ? 'is not a rule' : 'are not rules'}: it silences nothing.`,
            fix: 'use a rule id from docs/validate-migration.md',
          });
        }
        if (idle.length > 0) {
          this.fileFinding(file, 'unused-ignore', at, {
            message: `this switchyard-ignore of ${idle.join(', ')} silences nothing${each.file ? ' in the file' : ' on the statement after it'}: ${idle.length === 1 ? 'the rule does' : 'those rules do'} not fire there (any more).`,
            fix:
              idle.length === each.rules.length
                ? 'remove the comment, so it cannot hide a future problem'
                : `remove ${idle.join(', ')} from it`,
          });
        }
      }
    }
  }

  /**
   * New files must run after every file that was already there in their folder: tools that run
   * in order may skip one that sorts earlier. Flyway's repeatable migrations (R__) have no order.
   */
  private checkOrder(selected: string[], all: string[], baseline: Baseline): void {
    const ordered = (file: string) => !/^R__/.test(path.posix.basename(file));
    for (const file of selected) {
      if (baseline.present.has(file) || !ordered(file)) continue;
      const folder = path.posix.dirname(file);
      const newest = all
        .filter(
          (other) => baseline.present.has(other) && ordered(other) && path.posix.dirname(other) === folder,
        )
        .sort(migrationOrder)
        .at(-1);
      if (!newest || migrationOrder(file, newest) > 0) continue;
      const start = { line: 1, column: 1 };
      this.fileFinding(
        file,
        'migration-order',
        { start, end: start },
        {
          message: `${file} is new since ${baseline.ref} but sorts before ${newest}, which was already there: a tool that runs files in order may never run it (or run it after the ones it sorts before, where it was not tested).`,
          fix: `rename it to sort after ${path.posix.basename(newest)} (e.g. the next number or a current timestamp)`,
        },
        undefined,
        this.comments.get(file),
      );
    }
  }

  private async mergeSquawk(files: string[]): Promise<LintResult['squawk']> {
    const { io } = this.deps;
    let squawk;
    try {
      squawk = await runSquawk(files, {
        cwd: this.deps.cwd,
        runner: this.deps.runner,
        pgVersion: this.inputs['pg-version'],
        assumeInTransaction: this.inputs['assume-in-transaction'],
        env: io.env,
      });
    } catch (error) {
      // squawk is an extra: its failure costs its findings, not ours.
      if (!(error instanceof UserError)) throw error;
      squawk = { findings: [], missing: `it failed (${error.message})` };
    }
    if (squawk.missing) {
      io.warning(`squawk: true, but ${squawk.missing}; linting without it`);
      return { findings: 0, merged: 0, missing: squawk.missing };
    }
    let merged = 0;
    for (const finding of squawk.findings) {
      const setting = this.setting(finding.rule, 'warning');
      if (setting === 'off') continue;
      // A rule we have is ours to judge: where ours said nothing (a table created earlier in the
      // same file, say), squawk's verdict is the one we disagree with on purpose. squawk adds only
      // what we do not check.
      if (RULE_IDS.includes(finding.rule)) continue;
      merged++;
      this.violations.push({ ...finding, severity: setting, source: 'squawk' });
    }
    io.info(
      `squawk ${squawk.version ?? ''}: ${count(squawk.findings.length, 'finding')}, ${merged} from rules switchyard does not have`,
    );
    return { version: squawk.version, findings: squawk.findings.length, merged };
  }

  private async result(baseline: Baseline | undefined, squawk: LintResult['squawk']): Promise<LintResult> {
    const violations = this.violations.sort(
      (a, b) =>
        migrationOrder(a.file, b.file) ||
        a.line - b.line ||
        a.column - b.column ||
        a.rule.localeCompare(b.rule),
    );
    const phases = this.files.map((file) => file.phase);
    const phase: Phase = phases.includes('contract')
      ? 'contract'
      : phases.includes('expand')
        ? 'expand'
        : 'none';
    const sarif = await writeSarif(violations, this.deps.io.env);
    // Errors become annotations when the action fails; warnings are annotated here, at their place.
    for (const v of violations)
      if (v.severity === 'warning') {
        const { message, ...where } = annotationOf(v);
        this.deps.io.warning(message, where);
      }
    const errors = violations.filter((v) => v.severity === 'error').length;
    this.deps.io.info(
      `${count(this.files.length, 'file')} checked: ${count(errors, 'error')}, ${count(violations.length - errors, 'warning')}; phase ${phase}`,
    );
    return {
      command: 'lint',
      valid: errors === 0,
      phase,
      violations,
      files: this.files,
      skipped: this.skipped,
      baseline: baseline && { ref: baseline.ref, commit: baseline.commit },
      pgVersion: this.inputs['pg-version'],
      sarif,
      squawk,
    };
  }
}

/** A violation as an annotation at its statement: the rule as the title, the fix in the text. */
export function annotationOf(v: Violation) {
  return {
    message: `${v.message} Fix: ${v.fix}`,
    title: v.rule,
    file: v.file,
    line: v.line,
    column: v.column,
    endLine: v.endLine,
    endColumn: v.endColumn,
  };
}

function span(start: Position, end: Position) {
  return { line: start.line, column: start.column, endLine: end.line, endColumn: end.column };
}

/** Text from a migration file for the log: it may hold anything. */
export const printable = (text: string) => neutralise(text);

/** The text, or where it stops being UTF-8. */
export function decodeUtf8(bytes: Buffer): string | { byte: number; at: Position } {
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    // Where: the first byte the lenient decoder had to replace.
    const lenient = bytes.toString('utf8');
    const bad = lenient.indexOf('\uFFFD');
    const before = lenient.slice(0, Math.max(0, bad));
    const line = before.split('\n').length;
    const column = [...before.slice(before.lastIndexOf('\n') + 1)].length + 1;
    const offset = Buffer.byteLength(before, 'utf8');
    return { byte: bytes[offset] ?? 0, at: { line, column } };
  }
}
