import {
  cancellationOnSignals,
  githubIO,
  readActionInputs,
  runAction,
  systemClock,
  writeReport,
  type ActionIO,
} from '../../core/src/index.js';
import { runBackupCommand } from '../../core/src/backup/engine.js';
import { backupInputs } from '../../core/src/backup/inputs.js';
import { renderBackupSummary } from '../../core/src/backup/summary.js';
import { systemRunner } from '../../core/src/process.js';

export async function run(io: ActionIO = githubIO()): Promise<void> {
  await runAction(io, async () => {
    const inputs = readActionInputs(io, 'backup', backupInputs);
    const cancellation = cancellationOnSignals();
    try {
      const outcome = await runBackupCommand(inputs, {
        io,
        clock: systemClock,
        runner: systemRunner,
        cwd: process.cwd(),
        signal: cancellation.signal,
        environment: io.getInput('environment') || undefined,
      });
      io.setOutput('backup-id', outcome.id ?? '');
      io.setOutput('manifest', outcome.manifest ? JSON.stringify(outcome.manifest) : '');
      io.setOutput('size-bytes', outcome.manifest ? String(outcome.manifest.sizeBytes) : '');
      io.setOutput('sha256', outcome.sha256 ?? '');
      const { manifestText: _text, ...report } = outcome;
      io.setOutput('report', await writeReport(io, 'backup', report));
      await io.summary(renderBackupSummary(outcome));
    } finally {
      cancellation.dispose();
    }
  });
}
