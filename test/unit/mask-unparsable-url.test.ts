// A password holding an unencoded '@', '/', '?' or '#' makes a URL that does not parse, or parses
// with the wrong user info (WHATWG ends the authority at the first '/', '?' or '#'): the whole of
// it is still registered as a secret and blanked, never only the part before the first '@'.
import { describe, expect, it } from '@jest/globals';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runAction } from '../../actions/core/src/action.js';
import { readActionInputs } from '../../actions/core/src/action-inputs.js';
import { memoryIO } from '../../actions/core/src/io.js';
import { validateMigrationInputs } from '../../actions/core/src/migrations/inputs.js';
import { redactText, redactUrl, Secrets, secretsInUrl } from '../../actions/core/src/mask.js';
import { validateMigrationAction } from '../../actions/validate-migration/src/main.js';

const REPRO = 'postgres://switchyard:p@ss:w/rd%40#x@127.0.0.1:5432/secrets';
const PIECES = ['p@ss', 'ss:w/rd', 'w/rd', 'rd%40', 'rd@#x', '%40#x', '%2540#x'];

describe('the review repro: database-url with a password holding @ / # and %40', () => {
  it('registers the whole password, encoded and decoded, before any message', () => {
    const told: string[] = [];
    const { io, recorded } = memoryIO({ inputs: { command: 'run', 'database-url': REPRO } });
    const secrets = io.secrets;
    const add = secrets.add.bind(secrets);
    secrets.add = (value) => {
      if (value) told.push(value);
      add(value);
    };
    readActionInputs(io, 'validate-migration', validateMigrationInputs);
    expect(told).toEqual(expect.arrayContaining(['p@ss:w/rd%40#x', 'p@ss:w/rd@#x']));
    io.info(`got ${REPRO} and p@ss:w/rd@#x`);
    const said = recorded.log.join('\n');
    for (const piece of PIECES) expect(said).not.toContain(piece);
  });

  it('the whole action (command: run) prints no piece of it in the log, the errors, the summary or the outputs', async () => {
    const workspace = mkdtempSync(join(tmpdir(), 'switchyard-mask-url-'));
    try {
      mkdirSync(join(workspace, 'migrations'));
      writeFileSync(join(workspace, 'migrations', 'V1__add.sql'), 'ALTER TABLE t ADD COLUMN c int;\n');
      const { io, recorded } = memoryIO({
        inputs: { command: 'run', 'database-url': REPRO, migrations: 'migrations/*.sql' },
        env: {},
      });
      await runAction(validateMigrationAction, io, { cwd: workspace });
      expect(recorded.exitCode).toBe(1);
      const texts = [
        ...recorded.log,
        recorded.summary,
        ...recorded.errors.map((each) => each.message),
        ...Object.values(recorded.outputs),
      ];
      expect(recorded.errors.map((each) => each.message).join('\n')).toContain(
        'Input "database-url": "postgres://switchyard:***@127.0.0.1:5432/secrets" is not a URL',
      );
      for (const text of texts) for (const piece of PIECES) expect(text).not.toContain(piece);
    } finally {
      rmSync(workspace, { recursive: true, force: true });
    }
  });

  it('the runner is told the password (::add-mask::), so it hides what children print too', () => {
    const told: string[] = [];
    const secrets = new Secrets((value) => told.push(value));
    secrets.addFromUrl(REPRO);
    expect(told).toEqual(expect.arrayContaining(['p@ss:w/rd%40#x', 'p@ss:w/rd@#x']));
  });
});

describe('redactUrl and redactText blank the whole password', () => {
  const cases: [string, string][] = [
    [REPRO, 'postgres://switchyard:***@127.0.0.1:5432/secrets'],
    ['postgres://app:p@ss@db:5432/shop', 'postgres://app:***@db:5432/shop'],
    ['postgres://app:a@b@c@db/shop', 'postgres://app:***@db/shop'],
    ['postgres://app:pa/ss@db:5432/shop', 'postgres://app:***@db:5432/shop'],
    ['postgres://app:pa#ss@db:5432/shop', 'postgres://app:***@db:5432/shop'],
    ['postgres://app:pa?ss@db:5432/shop', 'postgres://app:***@db:5432/shop'],
    ['postgres://app:pa%40ss/x@db/shop', 'postgres://app:***@db/shop'],
    ['redis://:s3/cr#t@127.0.0.1:6379/0', 'redis://:***@127.0.0.1:6379/0'],
    // Parses, with password "p", host "ss" and a path: the password is "p@ss/w".
    ['postgres://app:p@ss/w@db/shop', 'postgres://app:***@db/shop'],
    ['postgres://app:p?x@y#z@db/shop', 'postgres://app:***@db/shop'],
    // Parses, but as host "app", port 5432 and a path: the password is "5432/x@y".
    ['https://app:5432/x@y@host/', 'https://app:***@host/'],
  ];
  it.each(cases)('redactText(%s)', (raw, shown) => {
    expect(redactText(raw)).toBe(shown);
    expect(redactText(`could not connect to "${raw}": refused`)).toBe(
      `could not connect to "${shown}": refused`,
    );
  });
  it.each(cases)('redactUrl(%s)', (raw, shown) => {
    expect(redactUrl(raw)).toBe(shown);
  });

  it('secretsInUrl finds the whole password, as written and decoded', () => {
    expect(secretsInUrl(REPRO)).toEqual(expect.arrayContaining(['p@ss:w/rd%40#x', 'p@ss:w/rd@#x']));
    expect(secretsInUrl('postgres://app:pa/ss@db:5432/shop')).toContain('pa/ss');
    expect(secretsInUrl('postgres://app:pa?ss@db:5432/shop')).toContain('pa?ss');
    expect(secretsInUrl('postgres://app:pa#ss@db:5432/shop')).toContain('pa#ss');
    expect(secretsInUrl('https://app:5432/x@host/')).toContain('5432/x');
    expect(secretsInUrl('postgres://app:p@ss/w@db/shop')).toContain('p@ss/w');
    // A token: the URL does not parse (a '%' in the host), so what precedes the last '@' is user info.
    expect(secretsInUrl('https://to%zzk/en@@host/')).toContain('to%zzk/en@');
    expect(secretsInUrl('https://tok@en@host/')).toContain('tok@en');
  });

  it('several URLs on one line are each redacted on their own', () => {
    expect(redactText('postgres://a:p/w@h1/x,postgres://b:q#w@h2/y')).toBe(
      'postgres://a:***@h1/x,postgres://b:***@h2/y',
    );
    expect(redactText('https://h/?next=https://u:p/w@h2/')).toBe('https://h/?next=https://u:***@h2/');
  });
});

describe('what is not a password stays readable and is not registered', () => {
  it('a path holding @ (npm scopes, git refs, handles) is not user info', () => {
    for (const url of [
      'https://registry.npmjs.org/@scope/pkg',
      'https://github.com/org/repo@v1',
      'https://mastodon.social/@someone',
      'http://localhost:8080/',
    ]) {
      expect(redactText(url)).toBe(url);
      expect(redactUrl(url)).toBe(url);
      expect(secretsInUrl(url)).toEqual([]);
    }
  });

  it('short or empty passwords are not registered (they would mask every line)', () => {
    const told: string[] = [];
    const secrets = new Secrets((value) => told.push(value));
    secrets.addFromUrl('postgres://app:a/@db/x');
    secrets.addFromUrl('postgres://app:/@db/x');
    // host:port then a path starting with '@' (a registry's scoped package): no password.
    secrets.addFromUrl('http://localhost:4873/@scope/pkg');
    expect(told).toEqual([]);
    expect(redactText('postgres://app:a/@db/x')).toBe('postgres://app:***@db/x');
  });
});
