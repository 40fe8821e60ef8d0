/**
 * Holds one side's reads to a records/s budget: a caller reports what it has just read and waits
 * as long as reading that much takes at the rate. Reads come a partition at a time, so the rate
 * holds over any window longer than one partition's scan. A rate of 0 is unlimited.
 */

import { setTimeout as sleep } from 'node:timers/promises';

export class RateLimiter {
  /** when the budget spent so far runs out, ms (performance.now clock) */
  private freeAt = 0;

  constructor(private readonly perSecond: number) {}

  async take(records: number): Promise<void> {
    if (this.perSecond <= 0 || records <= 0) return;
    const now = performance.now();
    this.freeAt = Math.max(this.freeAt, now) + (records * 1000) / this.perSecond;
    const wait = this.freeAt - now;
    if (wait > 0) await sleep(wait);
  }
}
