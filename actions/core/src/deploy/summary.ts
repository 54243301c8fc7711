import { formatMs, markdownTable, mermaidLineChart } from '../summary.js';
import { describePlan } from './plan.js';
import type { DeployResult, TimelinePoint } from './engine.js';

const weightsText = (w: { blue: number; green: number }) => `blue ${w.blue}% / green ${w.green}%`;

export function renderDeploySummary(result: DeployResult): string {
  const parts: string[] = [];
  const verdict = result.succeeded
    ? '✅'
    : result.froze
      ? `🧊 traffic frozen at ${result.froze.weights[result.froze.to]}% ${result.froze.to}, not rolled back (a contract-phase migration was applied)`
      : result.rolledBack
        ? `↩️ rolled back${result.verdict === 'inconclusive' ? ' (inconclusive: not enough evidence to go on)' : ''}`
        : '❌';
  parts.push(`## Deploy \`${result.command}\`: ${verdict}\n`);
  parts.push(
    `Active **${result.active}**, ${weightsText(result.weights)}` +
      (result.state.releases.blue ? ` · blue runs ${result.state.releases.blue.version}` : '') +
      (result.state.releases.green ? ` · green runs ${result.state.releases.green.version}` : '') +
      '.\n',
  );
  if (result.reason) parts.push(`> **Why:** ${result.reason}\n`);
  if (result.state.frozen) {
    const f = result.state.frozen;
    parts.push(
      `> **Traffic is frozen** at ${weightsText(f.weights)} since ${f.at}: ${f.from}'s code would break on the schema a contract-phase migration left. ` +
        `Fix forward (stage the fix over ${f.to}, then promote, which resumes from ${f.weights[f.to]}%), or restore the database and run rollback with \`force-rollback: true\`.\n`,
    );
  }
  if (result.restoreMs !== undefined)
    parts.push(`Traffic restored ${formatMs(result.restoreMs)} after the decision.\n`);
  if (result.pullRequest) {
    const pr = result.pullRequest;
    parts.push(
      `Rollback pull request [#${pr.number}](${pr.url}) ${pr.created ? 'opened' : 'updated'}: \`${pr.branch}\` reverts ` +
        `${pr.reverted.length} commit${pr.reverted.length === 1 ? '' : 's'} back to \`${pr.good.slice(0, 7)}\` (last good, from the ${pr.goodSource}).\n`,
    );
  }
  if (result.pullRequestError)
    parts.push(`> **Rollback pull request not opened:** ${result.pullRequestError.message}\n`);
  if (result.plan) parts.push('```\n' + describePlan(result.plan).join('\n') + '\n```\n');

  const steps = result.timeline.filter((point) => point.event);
  if (steps.length > 0) {
    parts.push(
      markdownTable(
        ['At', 'Event', 'Weights'],
        steps.map((point) => [formatMs(point.at), point.event, weightsText(point.weights)]),
      ),
    );
  }
  const chart = promotionChart(result.timeline);
  if (chart) parts.push(chart);
  const history = result.state.history.slice(-10).reverse();
  if (history.length > 0) {
    parts.push('### Recent history\n');
    parts.push(
      markdownTable(
        ['When', 'Command', 'Version', 'Verdict', 'By', 'Weights', 'Reason'],
        history.map((h) => [
          h.at,
          h.command,
          h.version ?? '',
          h.verdict,
          h.actor,
          weightsText(h.weights),
          h.reason ?? '',
        ]),
      ),
    );
  }
  return parts.join('\n');
}

/** The promotion as a chart: the idle colour's weight and the analysis' error rate over time. */
export function promotionChart(timeline: TimelinePoint[]): string | undefined {
  if (!timeline.some((point) => point.errorRate !== undefined)) return undefined;
  let errorRate = 0;
  const points = timeline.map((point) => {
    errorRate = point.errorRate ?? errorRate;
    return { at: point.at, green: point.weights.green, errorRate: errorRate * 100 };
  });
  return mermaidLineChart({
    title: 'Green weight and error rate (%)',
    xLabel: 'seconds',
    x: points.map((p) => (p.at / 1000).toFixed(1)),
    yLabel: '%',
    series: [
      { name: 'green weight %', values: points.map((p) => p.green) },
      { name: 'error rate % (analysis, current step)', values: points.map((p) => p.errorRate) },
    ],
  });
}
