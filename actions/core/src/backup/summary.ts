import { count, formatBytes, markdownTable } from '../summary.js';
import type { BackupOutcome } from './engine.js';
import type { ManifestPart } from './manifest.js';

const TITLES: Record<BackupOutcome['command'], string> = {
  backup: 'Backup',
  restore: 'Restore',
  verify: 'Verify',
  list: 'Backups',
  prune: 'Prune',
};

export function renderBackupSummary(outcome: BackupOutcome): string {
  const parts: string[] = [];
  const subject = outcome.id && outcome.command !== 'list' ? ` \`${outcome.id}\`` : '';
  parts.push(`## ${TITLES[outcome.command]}${subject} ✅\n`);
  parts.push(
    `Store: \`${outcome.store}\`.${outcome.sha256 ? ` Manifest sha256 \`${outcome.sha256}\`.` : ''}\n`,
  );
  if (outcome.command === 'restore') {
    parts.push(
      `Restored into ${outcome.restoredInto}. ` +
        (outcome.safetyBackup
          ? `What it overwrote is in the safety backup \`${outcome.safetyBackup}\`.\n`
          : 'No safety backup was needed or asked for.\n'),
    );
  }
  if (outcome.parts.length > 0) parts.push(partsTable(outcome.parts));
  if (outcome.counts && outcome.counts.length > 0) {
    parts.push(
      `### Records after the restore${outcome.command === 'verify' ? ` into ${outcome.restoredInto}` : ''}\n`,
    );
    parts.push(
      markdownTable(
        ['Part', 'Group', 'In the backup', 'In the target'],
        outcome.counts.map((check) => [check.part, check.group, check.expected, check.found]),
      ),
    );
  }
  if (outcome.pruned && outcome.pruned.length > 0)
    parts.push(
      `Pruned ${count(outcome.pruned.length, 'backup')}: ${outcome.pruned.map((id) => `\`${id}\``).join(', ')}.\n`,
    );
  if (outcome.leftovers && outcome.leftovers.length > 0)
    parts.push(
      `Removed what ${count(outcome.leftovers.length, 'interrupted backup')} left (no manifest): ${outcome.leftovers.map((id) => `\`${id}\``).join(', ')}.\n`,
    );
  if (outcome.backups && outcome.command !== 'backup') {
    parts.push(
      markdownTable(
        ['Backup', 'Taken', 'Environment', 'Commit', 'Parts', 'Size', 'Verified'],
        outcome.backups.map((backup) => [
          backup.safetyFor ? `${backup.id} (safety, before ${backup.safetyFor})` : backup.id,
          backup.createdAt ?? '',
          backup.environment ?? '',
          backup.gitSha?.slice(0, 7) ?? '',
          backup.damaged ? `damaged: ${backup.damaged}` : backup.parts.length,
          formatBytes(backup.sizeBytes),
          backup.verifiedAt ?? '',
        ]),
      ),
    );
  }
  return parts.join('\n');
}

function partsTable(parts: ManifestPart[]): string {
  return markdownTable(
    ['Part', 'Source', 'Records', 'Raw', 'Stored', 'sha256', 'Time'],
    parts.map((part) => [
      part.name,
      part.source,
      Object.entries(part.records)
        .map(([group, n]) => `${group}: ${n.toLocaleString('en-US')}`)
        .join('<br>'),
      formatBytes(part.rawBytes),
      formatBytes(part.bytes),
      `${part.sha256.slice(0, 12)}…`,
      `${part.seconds.toFixed(1)} s`,
    ]),
  );
}
