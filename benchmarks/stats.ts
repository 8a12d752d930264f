/** Timing helpers: warm-up, then repeated runs within a time budget; medians, not means. */

export interface Timing {
  medianMs: number;
  runs: number;
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

/**
 * Runs `fn` once to warm up, then until `minRuns` runs and `budgetMs` have
 * both been reached (at most `maxRuns`). `fn` must finish its work (read its
 * result) before returning.
 */
export async function timeRuns(fn: () => Promise<void> | void, budgetMs = 3000, minRuns = 3, maxRuns = 50):
    Promise<Timing> {
  await fn();
  const times: number[] = [];
  const start = performance.now();
  while (times.length < maxRuns && (times.length < minRuns || performance.now() - start < budgetMs)) {
    const t0 = performance.now();
    await fn();
    times.push(performance.now() - t0);
  }
  return {medianMs: median(times), runs: times.length};
}
