import { afterEach, beforeEach, describe, expect, it, jest } from '@jest/globals';
import { githubIO, memoryIO, neutralise, neutraliseLines } from '../../actions/core/src/io.js';

/**
 * Would the GitHub runner act on this line of a step's output? What its ActionCommandManager
 * checks (actions/runner, ActionCommand.TryParseV2 / TryParse): after TrimStart the line starts
 * with `::`, or it holds the legacy `##[` anywhere; both found with culture-sensitive .NET string
 * search, which skips weightless characters (controls, zero-width and format characters).
 */
function runnerWouldAct(line: string): boolean {
  const weightless = line.replace(/[\p{Cc}\p{Cf}\p{Default_Ignorable_Code_Point}]/gu, '');
  return weightless.replace(/^\p{White_Space}*/u, '').startsWith('::') || weightless.includes('##[');
}

/** A step's stdout as the runner splits it: CR, LF and CRLF each end a line. */
const runnerLines = (stdout: string) => stdout.split(/\r\n|\r|\n/);

const INJECTIONS = [
  'v1\n::error::forged',
  'v1\n::add-mask::hide-everything',
  'v1\r::warning::after a lone CR',
  'v1\r\n::stop-commands::tok',
  'v1\n   \t::set-output name=x::indented',
  'v1\n\u00a0\u2003::error::unicode spaces',
  'v1\n\u200b::error::zero-width first',
  'v1\n\u0000::error::NUL first',
  'v1\n\ufeff::error::BOM first',
  'v1\n:\u200b:error::zero-width between',
  'v1 ##[error]legacy form mid-line',
  'v1 #\u200b#[error]legacy form, zero-width inside',
  '##[set-output name=x;]legacy at the start',
];

describe('neutraliseLines: nothing printed can start a workflow command', () => {
  it.each(INJECTIONS)('%j', (text) => {
    const out = neutraliseLines(text);
    for (const line of runnerLines(out)) expect(runnerWouldAct(line)).toBe(false);
    expect(out).not.toContain('\r');
  });

  it('keeps the lines of a message and what they say', () => {
    expect(neutraliseLines('first\n::error::second\nthird')).toBe('first\n\\::error::second\nthird');
    expect(neutraliseLines('  ::debug::x')).toBe('  \\::debug::x');
    expect(neutraliseLines('see ##[group]x')).toBe('see ##\\[group]x');
    expect(neutraliseLines('a\r\nb')).toBe('a\nb');
    expect(neutraliseLines('50%\r75%')).toBe('50%75%');
  });

  it('leaves ordinary text alone, emoji and colons included', () => {
    for (const text of [
      '✓ green 50% held 10.0 s',
      'time: 10:15:00',
      'a :: b',
      '👨‍👩‍👧 ✔️',
      'url http://h:80/x',
    ]) {
      expect(neutraliseLines(text)).toBe(text);
    }
  });
});

describe('neutralise: one line for texts built into one line', () => {
  it('shows line breaks as \\n and escapes a command start', () => {
    expect(neutralise('v2\n::error::x')).toBe('v2\\n::error::x');
    expect(neutralise('::error::x')).toBe('\\::error::x');
    expect(neutralise('a\r\nb\rc')).toBe('a\\nb\\rc');
    for (const text of INJECTIONS) {
      const out = neutralise(text);
      expect(out).not.toMatch(/[\r\n]/);
      expect(runnerWouldAct(out)).toBe(false);
    }
  });
});

describe('every text an ActionIO prints is neutralised', () => {
  it('memoryIO: info, warning, error and the echoed log', () => {
    const echoed: string[] = [];
    const { io, recorded } = memoryIO({ echo: (line) => echoed.push(line) });
    for (const text of INJECTIONS) {
      io.info(`version ${text}`);
      io.warning(`reason ${text}`);
      io.error(`reason ${text}`);
    }
    const lines = echoed.flatMap(runnerLines);
    // Only our own annotations start with `::`, one per call.
    expect(lines.filter(runnerWouldAct)).toHaveLength(INJECTIONS.length * 2);
    expect(lines.filter(runnerWouldAct).every((line) => /^::(warning|error)::reason /.test(line))).toBe(true);
    expect(recorded.log).toEqual(echoed);
  });

  describe('githubIO, as the runner reads its stdout', () => {
    let stdout: string;
    beforeEach(() => {
      stdout = '';
      jest.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
        stdout += String(chunk);
        return true;
      });
    });
    afterEach(() => {
      jest.restoreAllMocks();
    });

    it('info and debug lines cannot issue a command', () => {
      const io = githubIO({ RUNNER_DEBUG: '1' });
      for (const text of INJECTIONS) {
        io.info(`staged ${text}`);
        io.debug(`state ${text}`);
      }
      const acted = runnerLines(stdout).filter(runnerWouldAct);
      // Each debug call is one `::debug::` command, its data escaped by @actions/core.
      expect(acted).toHaveLength(INJECTIONS.length);
      expect(acted.every((line) => line.startsWith('::debug::state '))).toBe(true);
    });

    it("annotations: @actions/core escapes the message's CR/LF (and title, file), so each is one command", () => {
      const io = githubIO({});
      io.error('Rolled back: v9\n::add-mask::x\r::error::y', {
        title: 'deploy\n::error::t',
        file: 'a\r\n::warning::f.yml',
        line: 3,
      });
      io.warning('reason ##[error]z');
      const lines = runnerLines(stdout).filter((line) => line !== '');
      expect(lines).toHaveLength(2);
      expect(lines[0]).toBe(
        '::error title=deploy%0A%3A%3Aerror%3A%3At,file=a%0D%0A%3A%3Awarning%3A%3Af.yml,line=3::Rolled back: v9%0A\\::add-mask::x::error::y',
      );
      expect(lines[1]).toBe('::warning::reason ##\\[error]z');
    });
  });
});
