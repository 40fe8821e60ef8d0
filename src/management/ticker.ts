/**
 * The ticker: one info line every `logging.ticker-interval` seconds with throughput, lag and errors
 * since the last line, for operators who read logs rather than dashboards. 0 turns it off.
 */

import type { Logger } from 'pino';
import type { BucketHistogram } from '../source/bucket-histogram.js';
import type { MetricsSource } from './metrics.js';

/** Upper bucket edge under which `p` of the observations since `before` fall (seconds). */
function quantile(h: BucketHistogram, before: Float64Array, p: number): number | null {
  let total = 0;
  for (let i = 0; i < h.counts.length; i++) total += h.counts[i]! - before[i]!;
  if (total === 0) return null;
  let seen = 0;
  for (let i = 0; i < h.counts.length; i++) {
    seen += h.counts[i]! - before[i]!;
    if (seen >= total * p) return i < h.bounds.length ? h.bounds[i]! : Number.POSITIVE_INFINITY;
  }
  return null;
}

export class Ticker {
  private timer: NodeJS.Timeout | null = null;
  private last = { at: 0, records: 0, success: 0, retry: 0, error: 0, parseErrors: 0 };
  private lagBefore: Float64Array;
  private ackBefore: Float64Array;

  constructor(
    private readonly src: MetricsSource,
    private readonly log: Logger,
  ) {
    this.lagBefore = new Float64Array(src.stats.lag.counts.length);
    this.ackBefore = new Float64Array(src.stats.ackLatency.counts.length);
  }

  start(intervalS: number): void {
    this.stop();
    this.snapshot();
    if (intervalS <= 0) return;
    this.timer = setInterval(() => this.tick(), intervalS * 1000);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
  }

  private counts(): { records: number; success: number; retry: number; error: number; parseErrors: number } {
    const s = this.src.stats;
    return { records: s.records, ...s.replyTotals(), parseErrors: s.protocolErrors };
  }

  private snapshot(): void {
    this.last = { at: performance.now(), ...this.counts() };
    this.lagBefore = Float64Array.from(this.src.stats.lag.counts);
    this.ackBefore = Float64Array.from(this.src.stats.ackLatency.counts);
  }

  private tick(): void {
    const now = this.counts();
    const seconds = (performance.now() - this.last.at) / 1000;
    const s = this.src.stats;
    this.log.info(
      {
        recordsPerSecond: Math.round((now.records - this.last.records) / seconds),
        success: now.success - this.last.success,
        retry: now.retry - this.last.retry,
        error: now.error - this.last.error,
        parseErrors: now.parseErrors - this.last.parseErrors,
        inFlight: this.src.inFlight(),
        connections: this.src.activeConnections(),
        paused: this.src.paused(),
        lagP50Seconds: quantile(s.lag, this.lagBefore, 0.5),
        lagP99Seconds: quantile(s.lag, this.lagBefore, 0.99),
        ackP99Seconds: quantile(s.ackLatency, this.ackBefore, 0.99),
      },
      'ticker',
    );
    this.snapshot();
  }
}
