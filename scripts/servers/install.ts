// Finds a server's program, installing its Debian package when it is missing and we may (root + apt-get).
import { execFile } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import path from 'node:path';

// A normal user's PATH often lacks the sbin directories where Debian puts nginx and haproxy.
const EXTRA_DIRS = ['/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin'];

const installs = new Map<string, Promise<void>>();

export function findProgram(program: string): string | undefined {
  const dirs = [...(process.env.PATH ?? '').split(path.delimiter).filter(Boolean), ...EXTRA_DIRS];
  for (const dir of dirs) {
    const candidate = path.join(dir, program);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

/**
 * Returns the path of `program`, installing Debian package `debianPackage` first when the program is
 * missing and this process runs as root with apt-get; otherwise throws an error saying what to install.
 */
export async function requireProgram(
  program: string,
  debianPackage: string,
  find: () => string | undefined = () => findProgram(program),
): Promise<string> {
  const found = find();
  if (found) return found;
  const advice = `${program} is not installed: run "sudo apt-get install -y ${debianPackage}"`;
  if (process.getuid?.() !== 0 || !findProgram('apt-get')) throw new Error(advice);

  let install = installs.get(debianPackage);
  if (!install) {
    install = installPackage(debianPackage);
    installs.set(debianPackage, install);
  }
  try {
    await install;
  } catch (error) {
    throw new Error(`${advice} (installing it automatically failed: ${(error as Error).message})`);
  }
  const installed = find();
  if (!installed)
    throw new Error(`${advice} (apt-get installed ${debianPackage} but ${program} is still missing)`);
  return installed;
}

async function installPackage(debianPackage: string): Promise<void> {
  process.stderr.write(`switchyard: installing the Debian package ${debianPackage} (apt-get install -y)…\n`);
  try {
    await aptGet(['install', '-y', '--no-install-recommends', debianPackage]);
  } catch {
    // A fresh machine has no package lists yet.
    process.stderr.write(`switchyard: apt-get update, then installing ${debianPackage} again…\n`);
    await aptGet(['update']);
    await aptGet(['install', '-y', '--no-install-recommends', debianPackage]);
  }
  process.stderr.write(`switchyard: installed ${debianPackage}\n`);
}

function aptGet(args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile(
      'apt-get',
      args,
      { env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' }, maxBuffer: 64 * 1024 * 1024 },
      (error, _stdout, stderr) => {
        if (error)
          reject(new Error(`apt-get ${args.join(' ')}: ${stderr.trim().split('\n').slice(-3).join(' ')}`));
        else resolve();
      },
    );
  });
}
