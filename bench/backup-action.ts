// The backup action as a user runs it, in this process: its inputs parsed as the action parses
// them, then the engine with the action's defaults. Both backup benches measure through this.
import { readActionInputs } from '../actions/core/src/action-inputs.js';
import { runBackupCommand, type BackupOutcome } from '../actions/core/src/backup/engine.js';
import { backupInputs } from '../actions/core/src/backup/inputs.js';
import { systemClock } from '../actions/core/src/clock.js';
import { memoryIO } from '../actions/core/src/io.js';
import { systemRunner } from '../actions/core/src/process.js';

export async function runBackupAction(inputs: Record<string, string>): Promise<BackupOutcome> {
  const { io, recorded } = memoryIO({ inputs, env: process.env });
  const outcome = await runBackupCommand(readActionInputs(io, 'backup', backupInputs), {
    io,
    clock: systemClock,
    runner: systemRunner,
    cwd: process.cwd(),
  });
  if (recorded.errors.length > 0) throw new Error(recorded.errors.map((e) => e.message).join('\n'));
  return outcome;
}
