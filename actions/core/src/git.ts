import { UserError } from './errors.js';
import {
  formatCommand,
  outcomeOf,
  outputTail,
  succeeded,
  type CommandResult,
  type ProcessRunner,
} from './process.js';

type Env = Readonly<Record<string, string | undefined>>;

/** A fetch or push of a big repository can take a while; a hung remote must not hold a rollback forever. */
const GIT_TIMEOUT_MS = 5 * 60_000;

/** Who signs the reverts when the checkout has no identity of its own (the Actions bot's public one). */
const BOT = {
  name: 'github-actions[bot]',
  email: '41898282+github-actions[bot]@users.noreply.github.com',
};

/**
 * `git` in one repository, through the process runner: argv only, never a shell. Every call
 * runs with prompts off (a push without credentials fails instead of waiting for a password that
 * never comes) and in the C locale (messages we read are git's English ones).
 */
export class Git {
  private readonly env: Record<string, string | undefined>;

  constructor(
    private readonly runner: ProcessRunner,
    readonly cwd: string,
    env: Env,
    private readonly options: {
      log?: (line: string) => void;
      signal?: AbortSignal;
      /** The title of the errors git's failures become (what the user was doing). */
      title?: string;
    } = {},
  ) {
    this.env = { ...env, GIT_TERMINAL_PROMPT: '0', LC_ALL: 'C', GIT_EDITOR: 'true' };
  }

  private get title(): string {
    return this.options.title ?? 'git failed';
  }

  /** The same repository seen from another directory (a worktree of it). */
  at(cwd: string): Git {
    return new Git(this.runner, cwd, this.env, this.options);
  }

  /** Runs git; the result as it is, for callers that read a failure. */
  async attempt(args: readonly string[]): Promise<CommandResult> {
    return this.runner.run(['git', ...args], {
      cwd: this.cwd,
      env: this.env,
      timeoutMs: GIT_TIMEOUT_MS,
      signal: this.options.signal,
    });
  }

  /** Runs git and returns its stdout, trimmed; a failure is a UserError saying what git said. */
  async run(args: readonly string[], doing?: string): Promise<string> {
    this.options.log?.(`  ${formatCommand(['git', ...args])}`);
    const result = await this.attempt(args);
    if (!succeeded(result)) {
      throw new UserError(
        `git ${args[0]} ${outcomeOf(result)}${doing ? ` while trying to ${doing}` : ''}:\n${outputTail(result, 8)}`,
        this.title,
      );
    }
    return result.stdout.trim();
  }

  /** Whether a git command that answers yes/no by its exit code said yes. */
  async holds(args: readonly string[]): Promise<boolean> {
    const result = await this.attempt(args);
    if (result.exitCode === 0) return true;
    if (result.exitCode === 1 && !result.timedOut && !result.cancelled) return false;
    throw new UserError(`git ${args[0]} ${outcomeOf(result)}:\n${outputTail(result, 8)}`, this.title);
  }

  /** The full id of a commit, or undefined when this repository does not have it. */
  async commit(rev: string): Promise<string | undefined> {
    const result = await this.attempt([
      'rev-parse',
      '--verify',
      '--quiet',
      '--end-of-options',
      `${rev}^{commit}`,
    ]);
    return succeeded(result) ? result.stdout.trim() : undefined;
  }

  /**
   * The author and committer of new commits: the checkout's configured identity, else the Actions
   * bot's — a fresh runner has none, and `git revert` refuses to commit without one.
   */
  async ensureIdentity(): Promise<void> {
    const email = await this.attempt(['config', 'user.email']);
    if (succeeded(email) && email.stdout.trim()) return;
    Object.assign(this.env, {
      GIT_AUTHOR_NAME: this.env.GIT_AUTHOR_NAME ?? BOT.name,
      GIT_AUTHOR_EMAIL: this.env.GIT_AUTHOR_EMAIL ?? BOT.email,
      GIT_COMMITTER_NAME: this.env.GIT_COMMITTER_NAME ?? BOT.name,
      GIT_COMMITTER_EMAIL: this.env.GIT_COMMITTER_EMAIL ?? BOT.email,
    });
  }
}
