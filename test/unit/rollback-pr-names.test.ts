import { describe, expect, it } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import {
  branchProblem,
  labelItem,
  rollbackBranchName,
  shaProblem,
} from '../../actions/core/src/rollback-pr/names.js';

/** git's own verdict on a branch name. */
function gitAccepts(name: string): boolean {
  try {
    execFileSync('git', ['check-ref-format', '--branch', name], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

describe('names of the rollback pull request', () => {
  it.each(['main', 'release/2026-12', 'feature/a.b', 'v1.2.3', 'team_x/prod-east'])(
    'accepts the branch %s, as git does',
    (name) => {
      expect(branchProblem(name)).toBeUndefined();
      expect(gitAccepts(name)).toBe(true);
    },
  );

  it.each([
    ['-main', 'starts with "-"'],
    ['refs/heads/main', 'without "refs/heads/"'],
    ['a..b', '".."'],
    ['has space', 'a space'],
    ['tab\there', 'a control character'],
    ['x~1', 'one of ~'],
    ['x^', 'one of ~'],
    ['a:b', 'one of ~'],
    ['glob*', 'one of ~'],
    ['main@{1}', '"@{"'],
    ['a//b', 'empty path part'],
    ['trailing/', 'empty path part'],
    ['dot.', 'ends with "."'],
    ['a/.hidden', 'starts with "."'],
    ['x.lock', 'ends with ".lock"'],
    ['', 'empty'],
    ['HEAD', 'not a branch'],
  ])('refuses the branch %j (%s), as git does or because git would read it as an option', (name, reason) => {
    expect(branchProblem(name)).toContain(reason);
    if (!name.startsWith('-') && !name.startsWith('refs/')) expect(gitAccepts(name)).toBe(false);
  });

  it('takes abbreviated and full commit ids, and nothing else', () => {
    expect(shaProblem('1a2b3c4')).toBeUndefined();
    expect(shaProblem('a'.repeat(40))).toBeUndefined();
    expect(shaProblem('a'.repeat(64))).toBeUndefined();
    expect(shaProblem('1a2b3c')).toContain('is not a commit id');
    expect(shaProblem('main')).toContain('is not a commit id');
    expect(shaProblem('--output=x')).toContain('is not a commit id');
  });

  it('names the branch by environment and short bad commit, always a valid branch', () => {
    expect(rollbackBranchName('production', 'abcdef1234567890')).toBe(
      'switchyard/rollback-production-abcdef1',
    );
    for (const environment of ['Prod East', 'a..b', '.hidden', 'x.lock', '***', 'ünïcode']) {
      const name = rollbackBranchName(environment, 'abcdef1234');
      expect(branchProblem(name)).toBeUndefined();
      expect(gitAccepts(name)).toBe(true);
    }
  });

  it('refuses a label longer than GitHub allows', () => {
    expect(labelItem('rollback')).toEqual({ name: 'rollback' });
    expect(labelItem('x'.repeat(51))).toContain("longer than GitHub's 50 characters");
  });
});
