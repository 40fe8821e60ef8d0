/**
 * Partition → worker: 4096 entries, so one record's changes always reach the same worker, in order,
 * with only as many workers at work as the load needs.
 *
 *   spread[p]  the worker partition p belongs to with `active` workers at work: p mod active
 *   owner[p]   the worker its records go to now
 *   out[p]     its records handed to owner[p] and not yet completed
 *
 * A partition follows a change of `active` lazily: owner[p] becomes spread[p] at p's next record
 * with out[p] = 0, never while any of its records is still with the old owner. Two changes to one
 * digest are therefore never with two workers at once, whatever `active` does; a partition busy
 * without a pause keeps its worker until it has one.
 */

import { PARTITIONS } from '../protocol/constants.js';

export class PartitionTable {
  private readonly owner = new Uint8Array(PARTITIONS);
  private readonly spread = new Uint8Array(PARTITIONS);
  /** records out per partition; completions count down (threads/records.ts carries the partition) */
  readonly out = new Int32Array(PARTITIONS);
  private activeWorkers = 0;
  /** partitions that changed worker */
  moves = 0;

  /** `active`: the workers at work to begin with (all by default). */
  constructor(
    readonly workers: number,
    active = workers,
  ) {
    if (workers < 1 || workers > 255) throw new RangeError(`worker count must be 1–255, got ${workers}`);
    this.setActive(active);
    this.owner.set(this.spread);
  }

  /** Workers that new partitions' records go to: 0 … active − 1. */
  get active(): number {
    return this.activeWorkers;
  }

  /** Put `n` workers (1 … workers) at work; partitions follow as they go idle. */
  setActive(n: number): void {
    const k = Math.min(this.workers, Math.max(1, Math.trunc(n)));
    if (k === this.activeWorkers) return;
    this.activeWorkers = k;
    for (let p = 0; p < PARTITIONS; p++) this.spread[p] = p % k;
  }

  /** The worker for partition `p`'s next record (it moves to its spread worker if nothing of it is out). */
  workerFor(p: number): number {
    const w = this.owner[p]!;
    const to = this.spread[p]!;
    if (w === to || this.out[p] !== 0) return w;
    this.owner[p] = to;
    this.moves++;
    return to;
  }

  /** Worker `w` died and every record it held was answered: none of its partitions has any out. */
  workerLost(w: number): void {
    for (let p = 0; p < PARTITIONS; p++) if (this.owner[p] === w) this.out[p] = 0;
  }
}
