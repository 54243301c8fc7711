// npm run bench [-- cold-start|fan-out|deploy|postgres-backup|redis-backup|rollback-pr]: runs the benchmarks and prints markdown tables for BENCHMARKS.md.
import { coldStart } from './cold-start.js';
import { deployBench } from './deploy.js';
import { fanOut } from './fan-out.js';
import { postgresBackup } from './postgres-backup.js';
import { redisBackup } from './redis-backup.js';
import { rollbackPrBench } from './rollback-pr.js';

const all: Record<string, () => Promise<void>> = {
  'cold-start': coldStart,
  'fan-out': fanOut,
  deploy: deployBench,
  'postgres-backup': postgresBackup,
  'redis-backup': redisBackup,
  'rollback-pr': rollbackPrBench,
  'migration-snapshot': async () => (await import('./migration-snapshot.js')).migrationSnapshotBench(),
  'validate-migration': async () => (await import('./validate-migration.js')).validateMigrationBench(),
  'migration-run': async () => (await import('./migration-run.js')).migrationRunBench(),
};
const chosen = process.argv.slice(2);
for (const name of chosen.length ? chosen : Object.keys(all)) {
  const bench = all[name];
  if (!bench) {
    console.error(`unknown benchmark "${name}"; choose from ${Object.keys(all).join(', ')}`);
    process.exit(2);
  }
  await bench();
}
