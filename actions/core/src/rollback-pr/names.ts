/**
 * The names a rollback pull request is built from: branch names, commit ids and labels. Each is
 * checked before it reaches `git` or GitHub, so a typo is one clear error instead of a git usage
 * message, and no value can be read by git as an option.
 */

/** A full or abbreviated commit id: SHA-1 (40 hex) or SHA-256 (64 hex) repositories, at least 7 digits. */
const SHA = /^[0-9a-f]{7,64}$/i;

/** What is wrong with a commit id, if anything. */
export function shaProblem(value: string): string | undefined {
  return SHA.test(value) ? undefined : `"${value}" is not a commit id (7 to 64 hex digits, e.g. 1a2b3c4)`;
}

/**
 * What is wrong with a branch name, if anything: git's own rules (git check-ref-format --branch),
 * and no leading `-`, so it can never be taken for an option.
 */
export function branchProblem(name: string): string | undefined {
  const why = (reason: string) => `"${name}" is not a valid branch name: ${reason}`;
  if (name.length === 0) return why('it is empty');
  if (name.length > 200) return why('it is longer than 200 characters');
  if (name.startsWith('-')) return why('it starts with "-"');
  if (name === 'HEAD') return why('HEAD names the current commit, not a branch');
  if (name.startsWith('refs/')) return why('give the branch name without "refs/heads/", e.g. main');
  // Control characters, space and the characters git reserves for revision syntax.
  // eslint-disable-next-line no-control-regex -- git itself refuses control characters in ref names
  if (/[\x00-\x20\x7f~^:?*[\\]/.test(name))
    return why('it holds a space, a control character or one of ~ ^ : ? * [ \\');
  if (name.includes('..')) return why('it holds ".."');
  if (name.includes('@{') || name === '@') return why('it holds "@{" or is "@"');
  if (name.includes('//') || name.startsWith('/') || name.endsWith('/'))
    return why('it has an empty path part');
  if (name.endsWith('.')) return why('it ends with "."');
  for (const part of name.split('/')) {
    if (part.startsWith('.')) return why(`its part "${part}" starts with "."`);
    if (part.endsWith('.lock')) return why(`its part "${part}" ends with ".lock"`);
  }
  return undefined;
}

/** GitHub refuses label names longer than this. */
const MAX_LABEL = 50;

/** A label for the list input: the name, or what is wrong with it. */
export function labelItem(entry: string): string | { name: string } {
  if (entry.length > MAX_LABEL) return `label "${entry}" is longer than GitHub's ${MAX_LABEL} characters`;
  return { name: entry };
}

/**
 * `switchyard/rollback-<environment>-<short bad sha>`. One branch per environment and bad commit:
 * a second rollback of the same commit finds the same branch, and so the same pull request.
 */
export function rollbackBranchName(environment: string, badSha: string): string {
  // An environment name may hold what a branch may not ("prod east", "a..b"): kept readable.
  const part =
    environment
      .toLowerCase()
      .replace(/[^a-z0-9._-]+/g, '-')
      .replace(/\.{2,}/g, '.')
      .replace(/^[-.]+|[-.]+$/g, '')
      .replace(/\.lock$/, '-lock') || 'environment';
  return `switchyard/rollback-${part}-${badSha.slice(0, 7)}`;
}
