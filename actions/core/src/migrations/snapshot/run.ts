import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { ActionDeps } from '../../action.js';
import { makeDirectory, writeFileAtomic } from '../../atomic-write.js';
import { InputError } from '../../errors.js';
import type { ValidateMigrationInputs } from '../inputs.js';
import { checkExpectations, differences, type CheckResult, type Difference } from './compare.js';
import { snapshotPostgres } from './postgres.js';
import { snapshotRedis } from './redis.js';
import { SNAPSHOT_FORMAT, type Snapshot } from './snapshot.js';

export interface SnapshotResult {
  command: 'snapshot';
  valid: true;
  /** Where the snapshot was written. */
  path: string;
  snapshot: Snapshot;
}

export interface CompareResult {
  command: 'compare';
  /** Every check passed (without `expect`: true, the differences are listed). */
  valid: boolean;
  checks: CheckResult[];
  differences: Difference[];
  before: string;
  after: string;
}

/** validate-migration snapshot: the database and the cache as they are now, written as JSON. */
export async function takeSnapshot(
  inputs: ValidateMigrationInputs,
  deps: Pick<ActionDeps, 'io' | 'cwd'>,
): Promise<SnapshotResult> {
  const { io, cwd } = deps;
  const databaseUrl = inputs['database-url'];
  const redisUrl = inputs['redis-url'];
  if (!databaseUrl && !redisUrl)
    throw new InputError('database-url', 'or redis-url is required to take a snapshot: name what to record');
  const takenAt = new Date().toISOString();
  const snapshot: Snapshot = { format: SNAPSHOT_FORMAT, takenAt };
  if (databaseUrl) {
    io.info('snapshot: PostgreSQL tables (exact row counts and checksums, in one read-only transaction)');
    snapshot.postgres = await snapshotPostgres(databaseUrl, {
      sample: inputs.sample < 1 ? inputs.sample : undefined,
    });
    for (const table of snapshot.postgres.tables)
      io.info(
        `  ${table.name}: ${table.rows} rows, checksum ${table.checksum.slice(0, 12)}${table.sampled ? ` (sampled ${table.sampled.fraction})` : ''}`,
      );
  }
  if (redisUrl) {
    io.info('snapshot: Redis keys by pattern (SCAN)');
    snapshot.redis = await snapshotRedis(redisUrl);
    for (const pattern of snapshot.redis.patterns)
      io.info(`  ${pattern.pattern}: ${pattern.keys} keys, ${pattern.withTtl} with a TTL`);
  }
  const target = path.resolve(
    cwd,
    inputs.snapshot || path.join('.switchyard', 'snapshots', `${takenAt.replace(/[:.]/g, '-')}.json`),
  );
  await makeDirectory(path.dirname(target));
  await writeFileAtomic(target, JSON.stringify(io.secrets.redactDeep(snapshot), null, 2) + '\n');
  io.info(`snapshot written to ${target}`);
  return { command: 'snapshot', valid: true, path: target, snapshot };
}

/** validate-migration compare: two snapshots, against the expect lines. */
export async function compareSnapshots(
  inputs: ValidateMigrationInputs,
  deps: Pick<ActionDeps, 'io' | 'cwd'>,
): Promise<CompareResult> {
  const { io, cwd } = deps;
  const before = await readSnapshot('before', inputs.before, cwd);
  const after = await readSnapshot('after', inputs.after, cwd);
  const checks = checkExpectations(before, after, inputs.expect ?? []);
  const found = differences(before, after);
  for (const check of checks) io.info(`${check.passed ? '✓' : '✗'} ${check.text}: ${check.detail}`);
  if (checks.length === 0)
    for (const each of found) io.info(`${each.kind} ${each.subject}: ${each.before} → ${each.after}`);
  return {
    command: 'compare',
    valid: checks.every((check) => check.passed),
    checks,
    differences: found,
    before: inputs.before ?? '',
    after: inputs.after ?? '',
  };
}

async function readSnapshot(
  input: 'before' | 'after',
  file: string | undefined,
  cwd: string,
): Promise<Snapshot> {
  if (!file)
    throw new InputError(input, 'is required to compare: the path of a snapshot the snapshot command wrote');
  let parsed: Partial<Snapshot>;
  try {
    parsed = JSON.parse(await readFile(path.resolve(cwd, file), 'utf8')) as Partial<Snapshot>;
  } catch (error) {
    throw new InputError(input, `${file} cannot be read as a snapshot: ${(error as Error).message}`);
  }
  if (parsed.format !== SNAPSHOT_FORMAT)
    throw new InputError(
      input,
      `${file} is not a switchyard snapshot (format ${SNAPSHOT_FORMAT}); take one with command: snapshot`,
    );
  return parsed as Snapshot;
}
