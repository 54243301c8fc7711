import { defineAction, githubIO, runAction, type ActionIO } from '../../core/src/index.js';
import { runBackupCommand } from '../../core/src/backup/engine.js';
import { backupInputs } from '../../core/src/backup/inputs.js';
import { renderBackupSummary } from '../../core/src/backup/summary.js';

export const backupAction = defineAction({
  name: 'backup',
  inputs: backupInputs,
  engine: runBackupCommand,
  outputs: {
    'backup-id': {
      description: 'The backup taken, restored or verified (list: the newest).',
      value: (outcome) => outcome.id ?? '',
    },
    manifest: {
      description:
        "The backup's manifest as JSON: id, time, commit, sources (credentials redacted), and per part its size, sha256 and record counts.",
      value: (outcome) => (outcome.manifest ? JSON.stringify(outcome.manifest) : ''),
    },
    'size-bytes': {
      description: 'The stored size of the backup, all parts compressed.',
      value: (outcome) => (outcome.manifest ? String(outcome.manifest.sizeBytes) : ''),
    },
    sha256: {
      description: "The sha256 of the manifest, which pins every part's checksum.",
      value: (outcome) => outcome.sha256 ?? '',
    },
  },
  report: {
    description: 'Path of the JSON report (the manifest, the checks, the records counted after a restore).',
    // The manifest is in the report already, parsed; its exact text only matters for its sha256.
    body: ({ manifestText: _text, ...report }) => report,
  },
  summary: renderBackupSummary,
});

export const run = (io: ActionIO = githubIO()) => runAction(backupAction, io);
