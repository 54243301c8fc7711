import { execFile, spawn } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { chown, rm } from 'node:fs/promises';
import path from 'node:path';
import { findProgram, requireProgram } from './install.js';
import { HOST, freePort, launch, makeServerDir, withFreshPortOnClash, type RunningServer } from './launch.js';

export interface PostgresOptions {
  /** Password of the role `switchyard` (default 'switchyard-pw'), checked on every TCP login. */
  password?: string;
  /** Name of the database owned by `switchyard` (default 'switchyard'). */
  database?: string;
  /** `switchyard` may create databases (rehearse's scratch copies, tests' fresh databases). */
  createDb?: boolean;
  /** More server settings, e.g. { shared_preload_libraries: 'pg_stat_statements' }. */
  settings?: Record<string, string>;
  /** Extensions created in the database by the superuser (e.g. pg_stat_statements, which only it may create). */
  extensions?: string[];
  /** A password for the superuser `postgres` over TCP; then `superuserUrl` is set. */
  superuserPassword?: string;
}

export type RunningPostgres = RunningServer & {
  url: string;
  /** The superuser's URL, when a superuserPassword was given. */
  superuserUrl?: string;
  database: string;
  user: string;
  password: string;
};

const USER = 'switchyard';

export function startPostgres(opts: PostgresOptions = {}): Promise<RunningPostgres> {
  return withFreshPortOnClash(() => startPostgresOnce(opts));
}

async function startPostgresOnce(opts: PostgresOptions): Promise<RunningPostgres> {
  const password = opts.password ?? 'switchyard-pw';
  const database = opts.database ?? 'switchyard';
  const bin = await requireProgram('postgres', 'postgresql', postgresBinDir);
  const program = (name: string): string =>
    [path.join(bin, name), findProgram(name)].find((p) => p && existsSync(p)) ?? name;
  // PostgreSQL refuses to run as root; then everything of it runs as the `postgres` OS user.
  const runAs = process.getuid?.() === 0 ? await postgresUser() : undefined;

  const port = await freePort();
  const { dir, logFile } = await makeServerDir('postgres');
  const data = path.join(dir, 'data');
  try {
    if (runAs) await chown(dir, runAs.uid, runAs.gid);
    // The superuser `postgres` gets in without a password over our private socket only; TCP always checks.
    await runAsPostgres(
      [
        program('initdb'),
        '--pgdata',
        data,
        '--username',
        'postgres',
        '--auth-local',
        'trust',
        '--auth-host',
        'scram-sha-256',
        '--encoding',
        'UTF8',
        '--locale',
        'C',
        '--no-sync',
        '--no-instructions',
      ],
      { cwd: dir, runAs },
    );
  } catch (error) {
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
  const server = await launch({
    name: 'postgres',
    argv: [
      program('postgres'),
      '-D',
      data,
      '-c',
      `listen_addresses=${HOST}`,
      '-c',
      `port=${port}`,
      '-c',
      `unix_socket_directories=${dir}`,
      // Throwaway data: durability buys nothing here and costs seconds.
      '-c',
      'fsync=off',
      '-c',
      'synchronous_commit=off',
      '-c',
      'full_page_writes=off',
      '-c',
      'max_connections=50',
      ...Object.entries(opts.settings ?? {}).flatMap(([name, value]) => ['-c', `${name}=${value}`]),
    ],
    port,
    dir,
    logFile,
    runAs,
    // SIGINT is PostgreSQL's "fast" shutdown: it does not wait for clients a test forgot to close.
    stopSignal: 'SIGINT',
    ready: async () => {
      await runAsPostgres([program('pg_isready'), '-q', '-h', dir, '-p', String(port)], { cwd: dir, runAs });
      return true;
    },
  });

  try {
    // Values travel as psql variables (:'x' literal, :"x" identifier), so they need no quoting here.
    await runAsPostgres(
      [
        program('psql'),
        '-X',
        '-q',
        '-v',
        'ON_ERROR_STOP=1',
        '-v',
        `user=${USER}`,
        '-v',
        `password=${password}`,
        '-v',
        `database=${database}`,
        '-v',
        `superuser_password=${opts.superuserPassword ?? ''}`,
        '-h',
        dir,
        '-p',
        String(port),
        '-U',
        'postgres',
        '-d',
        'postgres',
      ],
      {
        cwd: dir,
        runAs,
        input: [
          `CREATE ROLE :"user" LOGIN ${opts.createDb ? 'CREATEDB ' : ''}PASSWORD :'password';`,
          'CREATE DATABASE :"database" OWNER :"user";',
          ...(opts.superuserPassword ? ["ALTER ROLE postgres PASSWORD :'superuser_password';"] : []),
          ...(opts.extensions?.length
            ? [
                '\\c :"database"',
                ...opts.extensions.map((name) => `CREATE EXTENSION IF NOT EXISTS "${name}";`),
              ]
            : []),
          '',
        ].join('\n'),
      },
    );
  } catch (error) {
    await server.stop();
    throw error;
  }

  const url = `postgres://${USER}:${encodeURIComponent(password)}@${HOST}:${port}/${encodeURIComponent(database)}`;
  const superuserUrl = opts.superuserPassword
    ? `postgres://postgres:${encodeURIComponent(opts.superuserPassword)}@${HOST}:${port}/postgres`
    : undefined;
  return { ...server, url, superuserUrl, database, user: USER, password };
}

/** The newest /usr/lib/postgresql/<version>/bin, else wherever `postgres` is on the PATH. */
function postgresBinDir(): string | undefined {
  const root = '/usr/lib/postgresql';
  const versions = existsSync(root)
    ? readdirSync(root)
        .filter((v) => existsSync(path.join(root, v, 'bin', 'postgres')))
        .sort((a, b) => Number.parseFloat(b) - Number.parseFloat(a))
    : [];
  if (versions[0] !== undefined) return path.join(root, versions[0], 'bin');
  const onPath = findProgram('postgres');
  return onPath ? path.dirname(onPath) : undefined;
}

async function postgresUser(): Promise<{ uid: number; gid: number }> {
  const id = async (flag: string): Promise<number> => {
    const out = await capture(['id', flag, 'postgres'], {});
    return Number.parseInt(out, 10);
  };
  try {
    return { uid: await id('-u'), gid: await id('-g') };
  } catch {
    throw new Error(
      'PostgreSQL does not run as root and there is no `postgres` user: run "sudo apt-get install -y postgresql"',
    );
  }
}

interface RunOptions {
  cwd: string;
  runAs: { uid: number; gid: number } | undefined;
  input?: string;
}

// Like `runuser -u postgres -- …`, without runuser's own signal handling in between.
function runAsPostgres(argv: string[], opts: RunOptions): Promise<string> {
  return capture(argv, {
    cwd: opts.cwd,
    input: opts.input,
    ...(opts.runAs ?? {}),
    // psql and initdb look in $HOME, which root's is closed to `postgres`.
    env: { ...process.env, HOME: opts.cwd, LC_ALL: 'C' },
  });
}

function capture(
  argv: string[],
  opts: { cwd?: string; input?: string; uid?: number; gid?: number; env?: NodeJS.ProcessEnv },
): Promise<string> {
  const [program, ...args] = argv as [string, ...string[]];
  return new Promise((resolve, reject) => {
    if (opts.input === undefined) {
      execFile(program, args, opts, (error, stdout, stderr) => {
        if (error)
          reject(
            new Error(`${path.basename(program)} failed: ${`${stderr}${stdout}`.trim() || error.message}`),
          );
        else resolve(stdout);
      });
      return;
    }
    const child = spawn(program, args, { ...opts, stdio: ['pipe', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.once('error', reject);
    child.once('close', (code) => {
      if (code === 0) resolve(output);
      else reject(new Error(`${path.basename(program)} failed (exit code ${code}): ${output.trim()}`));
    });
    child.stdin.end(opts.input);
  });
}
