import {
  cancellationOnSignals,
  githubIO,
  readActionInputs,
  runAction,
  systemClock,
  writeReport,
  type ActionIO,
} from '../../core/src/index.js';
import { deploy } from '../../core/src/deploy/engine.js';
import { deployInputs } from '../../core/src/deploy/inputs.js';
import { renderDeploySummary } from '../../core/src/deploy/summary.js';
import { systemRunner } from '../../core/src/process.js';

export async function run(io: ActionIO = githubIO()): Promise<void> {
  await runAction(io, async () => {
    const inputs = readActionInputs(io, 'deploy', deployInputs);
    const cancellation = cancellationOnSignals();
    try {
      const result = await deploy(inputs, {
        io,
        clock: systemClock,
        runner: systemRunner,
        signal: cancellation.signal,
        environment: io.getInput('environment') || undefined,
      });
      io.setOutput('active', result.active);
      io.setOutput('previous', result.previous ?? '');
      io.setOutput('weights', JSON.stringify(result.weights));
      io.setOutput('rolled-back', String(result.rolledBack));
      io.setOutput('reason', result.reason ?? '');
      io.setOutput('report', await writeReport(io, 'deploy', result));
      await io.summary(renderDeploySummary(result));
      if (!result.succeeded) {
        io.error(`${result.rolledBack ? 'Rolled back' : 'Failed'}: ${result.reason}`, {
          title: `deploy ${result.command} failed`,
        });
        io.setExitCode(1);
      }
    } finally {
      cancellation.dispose();
    }
  });
}
