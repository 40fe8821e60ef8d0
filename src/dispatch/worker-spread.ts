/**
 * How many workers the load needs at work (service.worker-busy): enough that each is busy at most
 * `target` of its time, judged every SPREAD_TICK_MS from the share of the last 100 ms each worker's
 * event loop was busy (WorkerCounter.Busy), summed over every worker.
 *
 *   tick ─ busy = Σ workers' busy shares ─▶ need = ⌈busy ÷ target⌉ (1 … workers)
 *          need above the workers at work ─▶ that many at once
 *          need below them, with SHRINK_MARGIN to spare, for SHRINK_TICKS ticks in a row
 *                                         ─▶ the most any of those ticks needed
 *
 * Work, not records a second, is the measure: a worker that only patches records and sends them
 * stays far from busy at any rate one main thread can feed it (8–10% of a core at 130,000
 * records/s into a real server here), while one running a costly transform module is busy at a few
 * thousand. What a worker at work costs when it is not needed is wake-ups: at 20,000 records/s into
 * a real server, four workers at work took 31–36 µs of CPU a record against 17–20 µs with one at
 * work (bench/RESULTS.md, "Workers at work by the load"). A busier load gets its workers at the next
 * tick; a lighter one keeps them for a second, so a load that hovers at a boundary does not move
 * partitions back and forth (dispatch/partition-table.ts moves them).
 */

/** How often the need is judged. */
export const SPREAD_TICK_MS = 100;
/** Ticks in a row a smaller need must last before workers are let go. */
export const SHRINK_TICKS = 10;
/** A smaller need counts only with this share of `target` per worker to spare. */
const SHRINK_MARGIN = 0.8;

export class WorkerSpread {
  private quietTicks = 0;
  private quietNeed = 0;

  /** `target`: the busy share per worker at work, 0–1; 0 keeps every worker at work. */
  constructor(
    readonly workers: number,
    public target: number,
  ) {}

  /** Workers at work before the first record: one, or all with target 0. */
  initial(): number {
    return this.target <= 0 ? this.workers : 1;
  }

  /** Workers to have at work after a tick in which the workers were `busy` in all (Σ shares). */
  next(active: number, busy: number): number {
    if (this.target <= 0) return this.workers;
    const need = this.needFor(busy, this.target);
    if (need >= active) {
      this.quietTicks = 0;
      return need;
    }
    const spare = this.needFor(busy, this.target * SHRINK_MARGIN);
    if (spare >= active) {
      this.quietTicks = 0;
      return active;
    }
    this.quietNeed = this.quietTicks === 0 ? spare : Math.max(this.quietNeed, spare);
    if (++this.quietTicks < SHRINK_TICKS) return active;
    this.quietTicks = 0;
    return this.quietNeed;
  }

  private needFor(busy: number, target: number): number {
    return Math.min(this.workers, Math.max(1, Math.ceil(busy / target)));
  }
}
