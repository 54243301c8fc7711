/**
 * Measurements, not booleans: every probe attempt is a sample, and error rate, latency
 * percentiles and failure streaks are derived from the samples — so the verdict, the report and
 * the chart all come from the same data.
 */
export interface Sample {
  /** Milliseconds since the check started. */
  at: number;
  target: string;
  ok: boolean;
  latencyMs: number;
  detail: string;
  /** The probe round it belongs to, in modes that probe in rounds. */
  round?: number;
}

/** The sample one probe attempt makes. */
export function sampleOf(
  target: string,
  result: { ok: boolean; latencyMs: number; detail: string },
  at: number,
  round?: number,
): Sample {
  return { at, target, ok: result.ok, latencyMs: result.latencyMs, detail: result.detail, round };
}

export interface WindowStats {
  samples: number;
  failures: number;
  errorRate: number;
  p50?: number;
  p95?: number;
  p99?: number;
  /** Failures in a row at the end of the window. */
  consecutiveFailures: number;
}

/** Percentile by linear interpolation between closest ranks (as k6 computes p(N)). */
export function percentile(sorted: readonly number[], p: number): number | undefined {
  if (sorted.length === 0) return undefined;
  const rank = (p / 100) * (sorted.length - 1);
  const low = Math.floor(rank);
  const high = Math.ceil(rank);
  const lowValue = sorted[low] as number;
  return lowValue + ((sorted[high] as number) - lowValue) * (rank - low);
}

/** The samples of one scope (a target, or all targets together). */
export class Window {
  private readonly latencies: number[] = [];
  private failures = 0;
  private streak = 0;

  add(sample: Sample): void {
    // Insert in order: windows stay small (hundreds of samples), and stats are read after every add.
    let i = this.latencies.length;
    while (i > 0 && (this.latencies[i - 1] as number) > sample.latencyMs) i--;
    this.latencies.splice(i, 0, sample.latencyMs);
    if (sample.ok) {
      this.streak = 0;
    } else {
      this.failures++;
      this.streak++;
    }
  }

  stats(): WindowStats {
    const samples = this.latencies.length;
    return {
      samples,
      failures: this.failures,
      errorRate: samples === 0 ? 0 : this.failures / samples,
      p50: percentile(this.latencies, 50),
      p95: percentile(this.latencies, 95),
      p99: percentile(this.latencies, 99),
      consecutiveFailures: this.streak,
    };
  }
}
