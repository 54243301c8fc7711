import { greenShare, type LoadReport } from '../../scripts/load.js';

/** A promotion, then the rollback to blue: the green share at each step. */
export const PROMOTION = [10, 25, 50, 75, 100, 0];
/** Enough for a ±5-point share to mean something, and quick at a thousand or more requests a second. */
export const REQUESTS_PER_STEP = 400;

/**
 * The step windows (labelled "green N") whose green share is off: by more than 5 points, or at
 * all for 0 and 100.
 */
export function outOfBounds(report: LoadReport): string[] {
  return report.windows
    .filter((w) => w.label.startsWith('green '))
    .filter((w) => {
      const set = Number(w.label.slice('green '.length));
      if (set === 0) return w.green > 0 || w.blue === 0;
      if (set === 100) return w.blue > 0 || w.green === 0;
      return w.total < REQUESTS_PER_STEP || Math.abs(greenShare(w) - set) > 5;
    })
    .map((w) => `${w.label}: ${w.green} green, ${w.blue} blue of ${w.total}`);
}
