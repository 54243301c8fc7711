// The k6 gate's evidence rule: no threshold to judge, or a rate threshold over no samples (which
// k6 itself lets pass), is inconclusive — never a pass.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from '@jest/globals';
import { judgeK6, k6GateSettings } from '../../actions/core/src/analysis/k6-gate.js';

const dir = mkdtempSync(join(tmpdir(), 'switchyard-k6-evidence-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** The handle-summary fixture with every recorded threshold taken out. */
function withoutThresholds(): string {
  const data = JSON.parse(readFileSync('test/fixtures/k6/handle-summary.json', 'utf8'));
  for (const metric of Object.values(data.metrics) as { thresholds?: unknown }[]) delete metric.thresholds;
  const file = join(dir, 'no-thresholds.json');
  writeFileSync(file, JSON.stringify(data));
  return file;
}

describe('the k6 gate needs evidence', () => {
  it('is inconclusive when nothing is judged', async () => {
    const settings = k6GateSettings([withoutThresholds()], []);
    const verdict = await judgeK6(settings as NonNullable<typeof settings>);
    expect(verdict.verdict).toBe('inconclusive');
    expect(verdict.reason).toMatch(/holds no thresholds and k6-thresholds gives none/);
  });

  it('passes when a threshold is judged on data and holds', async () => {
    const settings = k6GateSettings([withoutThresholds()], ['http_req_duration: p(95)<100000']);
    const verdict = await judgeK6(settings as NonNullable<typeof settings>);
    expect(verdict.verdict).toBe('passed');
  });

  it('fails a broken threshold, naming it with its value', async () => {
    const settings = k6GateSettings([withoutThresholds()], ['http_req_duration: p(95)<0.001']);
    const verdict = await judgeK6(settings as NonNullable<typeof settings>);
    expect(verdict.verdict).toBe('failed');
    expect(verdict.reason).toMatch(/^k6 thresholds failed: http_req_duration p\(95\)<0\.001 \(actual /);
  });
});
