import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

/** A PostgreSQL program (pgbench, psql) from Debian's packages, newest major version first. */
export function postgresProgram(name: string): string {
  const root = '/usr/lib/postgresql';
  const versions = existsSync(root)
    ? readdirSync(root).sort((a, b) => Number.parseFloat(b) - Number.parseFloat(a))
    : [];
  const found = ['/usr/bin', ...versions.map((v) => join(root, v, 'bin'))]
    .map((dir) => join(dir, name))
    .find((file) => existsSync(file));
  if (!found) throw new Error(`${name} is not installed: sudo apt-get install -y postgresql-contrib`);
  return found;
}
