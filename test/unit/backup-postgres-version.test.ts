// Which pg_dump the postgres source runs: it must be at least as new as the server, and when it is
// not, the error says which client to install.
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { UserError } from '../../actions/core/src/errors.js';
import type { ProcessRunner } from '../../actions/core/src/process.js';
import {
  findClients,
  parseClientVersion,
  requireDumpVersion,
  serverMajor,
  type PostgresClient,
} from '../../actions/core/src/backup/sources/postgres.js';

const server15 = { version: '15.4 (Debian 15.4-1)', versionNum: 150004 };
const display = 'postgres://app:***@db:5432/shop';

function client(
  version: string,
  file = `/usr/lib/postgresql/${version.split('.')[0]}/bin/pg_dump`,
): PostgresClient {
  const parsed = parseClientVersion(`pg_dump (PostgreSQL) ${version}`);
  if (!parsed) throw new Error(`bad version ${version}`);
  return { path: file, ...parsed };
}

function thrown(action: () => unknown): Error {
  try {
    action();
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected an error');
}

describe('client versions', () => {
  it('reads the version pg_dump and pg_restore print', () => {
    expect(parseClientVersion('pg_dump (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)\n')).toEqual({
      version: '15.18',
      major: 15,
    });
    expect(parseClientVersion('pg_restore (PostgreSQL) 17.2')).toEqual({ version: '17.2', major: 17 });
    expect(parseClientVersion('pg_dump (PostgreSQL) 16beta2')).toEqual({ version: '16', major: 16 });
    // Before 10, the major version had two parts.
    expect(parseClientVersion('pg_dump (PostgreSQL) 9.6.24')).toEqual({ version: '9.6.24', major: 9.6 });
    expect(parseClientVersion('pg_wrapper: no such cluster')).toBeUndefined();
  });

  it('reads the server major version from server_version_num', () => {
    expect(serverMajor(150004)).toBe(15);
    expect(serverMajor(170002)).toBe(17);
    expect(serverMajor(100023)).toBe(10);
    expect(serverMajor(90624)).toBe(9.6);
  });
});

describe('requireDumpVersion', () => {
  it('refuses a pg_dump older than the server, saying what to install', () => {
    const error = thrown(() => requireDumpVersion([client('14.9', '/usr/bin/pg_dump')], server15, display));
    expect(error).toBeInstanceOf(UserError);
    expect(error.message).toBe(
      'pg_dump 14.9 (/usr/bin/pg_dump) cannot dump the PostgreSQL 15 server at postgres://app:***@db:5432/shop ' +
        '(server version 15.4 (Debian 15.4-1)): pg_dump must be at least as new as the server. ' +
        'Install postgresql-client-15 ("sudo apt-get install -y postgresql-client-15", ' +
        'from apt.postgresql.org if your distribution lacks it).',
    );
  });

  it('takes the first pg_dump that is new enough, newer ones included', () => {
    const onPath = client('14.9', '/usr/bin/pg_dump');
    const sixteen = client('16.2');
    expect(requireDumpVersion([onPath, sixteen, client('15.1')], server15, display)).toBe(sixteen);
    expect(requireDumpVersion([client('15.1')], server15, display).version).toBe('15.1');
  });

  it('names the newest it found when none is new enough', () => {
    const error = thrown(() =>
      requireDumpVersion(
        [client('12.1'), client('13.7'), client('11.2')],
        { version: '16.1', versionNum: 160001 },
        display,
      ),
    );
    expect(error.message).toMatch(
      /^pg_dump 13\.7 \(\/usr\/lib\/postgresql\/13\/bin\/pg_dump\) cannot dump the PostgreSQL 16 server/,
    );
    expect(error.message).toContain('postgresql-client-16');
  });

  it('says how to install the client tools when there is no pg_dump at all', () => {
    const error = thrown(() => requireDumpVersion([], server15, display));
    expect(error).toBeInstanceOf(UserError);
    expect(error.message).toBe(
      'pg_dump is not installed (looked on the PATH and in /usr/lib/postgresql/*/bin): ' +
        'install the PostgreSQL client tools, e.g. "sudo apt-get install -y postgresql-client-15".',
    );
  });
});

describe('findClients', () => {
  let root: string;
  const versions: Record<string, string> = {};
  const runner: ProcessRunner = {
    async run(argv) {
      const version = versions[argv[0] ?? ''];
      expect(argv.slice(1)).toEqual(['--version']);
      return version === undefined
        ? { exitCode: 1, stdout: '', stderr: 'Error: no such cluster', timedOut: false }
        : { exitCode: 0, stdout: `pg_dump (PostgreSQL) ${version}\n`, stderr: '', timedOut: false };
    },
  };
  const program = (dir: string, version?: string): string => {
    mkdirSync(path.join(root, dir), { recursive: true });
    const file = path.join(root, dir, 'pg_dump');
    writeFileSync(file, '');
    chmodSync(file, 0o755);
    if (version) versions[file] = version;
    return file;
  };

  beforeAll(() => {
    root = mkdtempSync(path.join(tmpdir(), 'switchyard-pg-clients-'));
  });
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  it('lists every pg_dump in order with its version, skipping ones that do not answer', async () => {
    const onPath = program('bin', '14.9');
    const broken = program('broken');
    const sixteen = program('lib/16/bin', '16.2');
    const found = await findClients(
      'pg_dump',
      [
        path.join(root, 'bin'),
        path.join(root, 'missing'),
        path.dirname(broken),
        path.join(root, 'lib/16/bin'),
      ],
      runner,
    );
    expect(found).toEqual([
      { path: onPath, version: '14.9', major: 14 },
      { path: sixteen, version: '16.2', major: 16 },
    ]);
    // The PATH's pg_dump is too old for a 16 server; the versioned one is taken instead.
    expect(requireDumpVersion(found, { version: '16.1', versionNum: 160001 }, display).path).toBe(sixteen);
  });
});
