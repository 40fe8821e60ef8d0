/**
 * Main's bookkeeping of the source arena (threads/arena.ts): which slab is lent to a connection,
 * which slabs workers may still read, and which are free.
 *
 *   free ──acquire()──▶ open (a connection reads into it) ──retire()──▶ retired ──reclaim()──▶ free
 *
 * A record dispatched by reference pins its slab for its worker's lane, up to the ring position
 * just past that record. A worker reads a record's body only before it releases its ring past it,
 * so once a lane's consumer position (the ring's tail) has passed the last pin, that lane is done
 * with the slab. Nothing is counted per record on the worker side: one ring position per lane is
 * all the proof needed.
 *
 * Free slabs are reused last-in first-out, so a steady load keeps touching the same few slabs and
 * the rest of the arena is never paged in.
 *
 * After the slabs the arena may end in one jumbo run, as long as the largest message, lent whole
 * to one record at a time (a record too big to be copied into half a ring, dispatch/worker-pool.ts).
 * It is booked as one more slab: pinned, retired and reclaimed like the others, never lent to a
 * connection, and not counted among them.
 */

import { SLAB_BYTES, slabOf } from '../threads/index.js';

export class SlabPool {
  readonly bytes: Buffer;
  readonly slabBytes = SLAB_BYTES;
  /** the slabs lent to connections and the inflater; the jumbo run, if any, is booked as slab `slabs` */
  private readonly slabs: number;
  private readonly jumboSlabs: number;
  private readonly lanes: number;
  private readonly free: number[] = [];
  /** per slab: 0 free, 1 open (lent to a connection), 2 retired (waiting for the workers) */
  private readonly state: Uint8Array;
  /** per slab: how many lanes pin it */
  private readonly pinCount: Int32Array;
  /** per (slab, lane): 1 while pinned */
  private readonly pinned: Uint8Array;
  /** per (slab, lane): the lane's ring position just past its last record in the slab */
  private readonly pinEnd: Int32Array;
  private retiredCount = 0;

  /** `jumboSlabs`: how many of the arena's last slabs make the jumbo run (0: none) */
  constructor(sab: SharedArrayBuffer, lanes: number, jumboSlabs = 0) {
    this.bytes = Buffer.from(sab);
    this.slabs = sab.byteLength / SLAB_BYTES - jumboSlabs;
    if (!(this.slabs >= 1)) throw new RangeError(`an arena of ${sab.byteLength} bytes has no slab beside a jumbo run of ${jumboSlabs}`);
    this.jumboSlabs = jumboSlabs;
    this.lanes = lanes;
    const booked = this.slabs + 1;
    this.state = new Uint8Array(booked);
    this.pinCount = new Int32Array(booked);
    this.pinned = new Uint8Array(booked * lanes);
    this.pinEnd = new Int32Array(booked * lanes);
    for (let s = this.slabs - 1; s >= 0; s--) this.free.push(s);
  }

  get total(): number {
    return this.slabs;
  }

  /** Slabs neither free nor open: waiting for a worker to pass their records. */
  get retired(): number {
    return this.retiredCount;
  }

  /** Whether anything waits for the workers to pass its records: a retired slab, or the jumbo run. */
  get waiting(): boolean {
    return this.retiredCount > 0 || this.state[this.slabs] === 2;
  }

  /** Whether the jumbo run is there and free. */
  get jumboFree(): boolean {
    return this.jumboSlabs > 0 && this.state[this.slabs] === 0;
  }

  /** Lend the jumbo run to one record: its arena offset, or -1 when it is lent or there is none. */
  acquireJumbo(): number {
    if (!this.jumboFree) return -1;
    this.state[this.slabs] = 1;
    return this.slabs * SLAB_BYTES;
  }

  /** The record has gone into its ring (and pinned the run): free the run once its worker is past it. */
  retireJumbo(): void {
    this.retire(this.slabs);
  }

  get freeSlabs(): number {
    return this.free.length;
  }

  /** Lend a slab to a connection; its index, or -1 when none is free. */
  acquire(): number {
    const s = this.free.pop();
    if (s === undefined) return -1;
    this.state[s] = 1;
    return s;
  }

  /** The connection has moved on from slab `s` (or closed): free it once no worker needs it. */
  retire(s: number): void {
    if (this.state[s] !== 1) throw new Error(`slab ${s} retired while not lent`);
    if (this.pinCount[s] === 0) {
      this.state[s] = 0;
      if (s < this.slabs) this.free.push(s);
      return;
    }
    this.state[s] = 2;
    if (s < this.slabs) this.retiredCount++;
  }

  /** A record at arena `offset` went into `lane`'s ring; the ring's position is now `end`. */
  pin(offset: number, lane: number, end: number): void {
    const s = Math.min(slabOf(offset), this.slabs);
    const k = s * this.lanes + lane;
    if (this.pinned[k] === 0) {
      this.pinned[k] = 1;
      this.pinCount[s]!++;
    }
    this.pinEnd[k] = end;
  }

  /**
   * Unpin every slab whose records `lane` has released (`tail(lane)`: the lane ring's consumer
   * position, or null when the lane's ring was emptied by a reset), and free the retired slabs no
   * lane pins any more.
   */
  reclaim(tail: (lane: number) => number): void {
    for (let lane = 0; lane < this.lanes; lane++) {
      const t = tail(lane);
      for (let s = 0, k = lane; s <= this.slabs; s++, k += this.lanes) {
        if (this.pinned[k] === 1 && ((t - this.pinEnd[k]!) | 0) >= 0) this.unpin(s, k);
      }
    }
  }

  /** `lane`'s ring was reset (its worker died): it reads none of its records any more. */
  dropLane(lane: number): void {
    for (let s = 0, k = lane; s <= this.slabs; s++, k += this.lanes) if (this.pinned[k] === 1) this.unpin(s, k);
  }

  private unpin(s: number, k: number): void {
    this.pinned[k] = 0;
    if (--this.pinCount[s]! > 0 || this.state[s] !== 2) return;
    this.state[s] = 0;
    if (s === this.slabs) return;
    this.retiredCount--;
    this.free.push(s);
  }
}
