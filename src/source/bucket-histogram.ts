/**
 * A histogram kept as plain counts in a typed array, for the hot path: observe() is a short scan
 * and two adds, never a prom-client call. The metrics module publishes it at scrape time.
 */
export class BucketHistogram {
  /** counts[i] = observations ≤ bounds[i] and > bounds[i-1]; the last slot is +Inf */
  readonly counts: Float64Array;
  sum = 0;

  constructor(readonly bounds: readonly number[]) {
    this.counts = new Float64Array(bounds.length + 1);
  }

  observe(v: number): void {
    const b = this.bounds;
    let i = 0;
    while (i < b.length && v > b[i]!) i++;
    this.counts[i]!++;
    this.sum += v;
  }

  get count(): number {
    let n = 0;
    for (const c of this.counts) n += c;
    return n;
  }
}

/** Seconds: from a millisecond to ten minutes. */
export const LAG_BOUNDS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 600];
/** Seconds: ack latency, well under the 10 s source reset. */
export const ACK_BOUNDS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
