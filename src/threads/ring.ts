/**
 * Single-producer / single-consumer ring of variable-length records in a SharedArrayBuffer.
 *
 *   SharedArrayBuffer
 *   +--------------------------- control (128 bytes, Int32) ----------------------------+----- data ------+
 *   | [0] HEAD: bytes ever published (producer writes)                                    |                 |
 *   | [8] SLEEPING: 1 while the consumer waits for data (doorbell)                        |  capacity bytes |
 *   | [16] TAIL: bytes ever released (consumer writes)                                    |  (power of two) |
 *   +-------------------------------------------------------------------------------------+-----------------+
 *   HEAD and TAIL sit on separate cache lines so that the two threads do not false-share.
 *
 *   record := [u32 payload length][payload][pad to 4]       (length in host order, 4-byte aligned)
 *   a length of WRAP means "the rest of the data area is unused; continue at offset 0".
 *
 * Positions count bytes monotonically and wrap at 2^32 (the arithmetic is done >>> 0); the offset in
 * the data area is `position & (capacity - 1)`.
 *   empty: HEAD == TAIL          full: capacity - (HEAD - TAIL) < bytes needed
 *
 * A producer given a working set smaller than the capacity goes back to offset 0 early, with the
 * same WRAP record, once it is past the working set while the backlog is small (at most a quarter of
 * it). The pages in use then follow the backlog, not the capacity: a ring that holds 68-byte
 * references would otherwise touch (and keep resident) every page of its data area on the way
 * round, one first-touch page fault per 60 records until it has. A large backlog still has the
 * whole ring. The end such a WRAP skips holds room until the consumer steps over it, but it is no
 * backlog: the producer's used() and unpublished() (the ring's metric, the dispatch delay) leave
 * it out.
 *
 * Publishing is batched: the producer writes any number of records, then stores HEAD once. It wakes
 * the consumer only when the consumer said it is sleeping (the empty → non-empty edge), so a busy
 * ring costs no wake-ups at all. All control words go through Atomics (sequentially consistent), which
 * makes "set SLEEPING, re-check HEAD" on one side and "store HEAD, check SLEEPING" on the other safe.
 */

import { spanCopier } from './span-copier.js';

const CONTROL_BYTES = 128;
const HEAD = 0;
const SLEEPING = 8;
const TAIL = 16;
const WRAP = -1;
/** Bytes a producer past its working set writes between two looks at going back early. */
const LOOK_EVERY = 64 * 1024;

/** A doorbell several rings may share: one Int32 slot that a consumer sleeps on. */
export interface Doorbell {
  readonly cells: Int32Array;
  readonly index: number;
}

export function newDoorbell(): Doorbell {
  return { cells: new Int32Array(new SharedArrayBuffer(4)), index: 0 };
}

export function ringBytes(capacity: number): number {
  if (capacity < 64 || (capacity & (capacity - 1)) !== 0) throw new RangeError(`ring capacity must be a power of two ≥ 64, got ${capacity}`);
  return CONTROL_BYTES + capacity;
}

export function newRingBuffer(capacity: number): SharedArrayBuffer {
  return new SharedArrayBuffer(ringBytes(capacity));
}

abstract class RingSide {
  protected readonly control: Int32Array;
  /** the data area as bytes, and as Int32 for the aligned length words */
  readonly data: Buffer;
  /** the data area as Int32: length words, and fixed-layout records (every record is 4-aligned) */
  readonly words: Int32Array;
  readonly capacity: number;
  protected readonly mask: number;
  protected readonly bell: Doorbell;

  constructor(sab: SharedArrayBuffer, bell?: Doorbell) {
    this.capacity = sab.byteLength - CONTROL_BYTES;
    ringBytes(this.capacity);
    this.mask = this.capacity - 1;
    this.control = new Int32Array(sab, 0, CONTROL_BYTES / 4);
    this.data = Buffer.from(sab, CONTROL_BYTES, this.capacity);
    this.words = new Int32Array(sab, CONTROL_BYTES, this.capacity / 4);
    this.bell = bell ?? { cells: this.control, index: SLEEPING };
  }

  /** Bytes published and not yet released. */
  used(): number {
    return (Atomics.load(this.control, HEAD) - Atomics.load(this.control, TAIL)) >>> 0;
  }
}

/** The producing side. Not thread-safe: one producer thread only. */
export class RingWriter extends RingSide {
  private head: number;
  /**
   * TAIL as last loaded. The consumer only moves it forward, so room computed from it is never
   * more than there is; it is loaded again only when that room looks too small. Loading TAIL per
   * record would fetch the cache line the consumer last wrote, on every record.
   */
  private tail: number;
  /** the data offset below which records stay while the backlog is small (capacity: no limit) */
  private readonly workingSet: number;
  /**
   * The data offset at which reserve() next looks at going back to offset 0 early: the working set,
   * or LOOK_EVERY past the last look; set back to the working set whenever a record lies below it.
   */
  private nextLook: number;
  /**
   * The end of the data area the last early WRAP skipped, as positions [padAt, padAt + padBytes)
   * (0 bytes: none, or the consumer is past it). It counts as used until the consumer steps over
   * it, but it is no backlog: used() and unpublished() leave it out.
   */
  private padAt = 0;
  private padBytes = 0;

  /**
   * `workingSet`: keep to the first this many bytes of the data area while the backlog allows (see
   * the top of this file); the default, the capacity, never goes back early.
   */
  constructor(sab: SharedArrayBuffer, bell?: Doorbell, workingSet = sab.byteLength - CONTROL_BYTES) {
    super(sab, bell);
    this.head = Atomics.load(this.control, HEAD) >>> 0;
    this.tail = Atomics.load(this.control, TAIL) >>> 0;
    this.workingSet = workingSet;
    this.nextLook = workingSet;
  }

  /**
   * Reserve room for a `length`-byte payload and return its offset in `data`, or -1 when the ring
   * is full. The record becomes visible to the consumer at the next `publish()`. The caller must
   * fill exactly `length` bytes at the returned offset before publishing.
   */
  reserve(length: number): number {
    const need = 4 + ((length + 3) & ~3);
    let at = this.head & this.mask;
    if (at >= this.nextLook) {
      if (this.backEarly(at, need)) at = 0;
    } else if (at < this.workingSet) this.nextLook = this.workingSet;
    const contiguous = this.capacity - at;
    const wanted = contiguous < need ? contiguous + need : need;
    if (this.capacity - ((this.head - this.tail) >>> 0) < wanted) {
      this.loadTail();
      if (this.capacity - ((this.head - this.tail) >>> 0) < wanted) return -1;
    }
    if (contiguous < need) {
      this.words[at >> 2] = WRAP;
      this.head = (this.head + contiguous) >>> 0;
      at = 0;
    }
    this.words[at >> 2] = length;
    this.head = (this.head + need) >>> 0;
    return at + 4;
  }

  /**
   * Past the working set at data offset `at`: when the backlog is at most a quarter of the working
   * set and a `need`-byte record fits below it, end the data here with a WRAP record, so that the
   * next record goes at offset 0. Otherwise look again LOOK_EVERY bytes on.
   */
  private backEarly(at: number, need: number): boolean {
    this.loadTail();
    const backlog = (this.head - this.tail) >>> 0;
    // The backlog lies just below `at` (it is smaller than `at`), so [0, at - backlog) is free.
    if (backlog > this.workingSet / 4 || at - backlog < need) {
      this.nextLook = at + LOOK_EVERY;
      return false;
    }
    this.words[at >> 2] = WRAP;
    this.padAt = this.head;
    this.padBytes = this.capacity - at;
    this.head = (this.head + this.padBytes) >>> 0;
    this.nextLook = this.workingSet;
    return true;
  }

  /**
   * Load TAIL, and forget the last early WRAP once the consumer is past it. TAIL is loaded at least
   * once per `capacity` bytes written, so a pad is forgotten long before positions (which wrap at
   * 2^32) could bring its position round again.
   */
  private loadTail(): void {
    this.tail = Atomics.load(this.control, TAIL) >>> 0;
    const past = (this.tail - this.padAt) >>> 0;
    if (this.padBytes !== 0 && past !== 0 && past < 2 ** 31) this.padBytes = 0;
  }

  /** The skipped bytes of the last early WRAP when they lie in [from, to), else 0. */
  private skippedIn(from: number, to: number): number {
    return ((this.padAt - from) >>> 0) < ((to - from) >>> 0) ? this.padBytes : 0;
  }

  /** Bytes published and not yet released, less the end an early WRAP skipped (no backlog). */
  override used(): number {
    const tail = Atomics.load(this.control, TAIL) >>> 0;
    const head = Atomics.load(this.control, HEAD) >>> 0;
    return ((head - tail) >>> 0) - this.skippedIn(tail, head);
  }

  /**
   * Make every reserved record visible, and ring the doorbell if the consumer sleeps. Returns
   * whether it rang (a wake-up).
   */
  publish(): boolean {
    if (Atomics.load(this.control, HEAD) >>> 0 === this.head) return false;
    Atomics.store(this.control, HEAD, this.head | 0);
    const { cells, index } = this.bell;
    if (Atomics.load(cells, index) !== 1) return false;
    Atomics.store(cells, index, 0);
    Atomics.notify(cells, index);
    return true;
  }

  /** Whether the consumer is asleep on its doorbell (publishing now would cost a wake-up). */
  consumerSleeping(): boolean {
    return Atomics.load(this.bell.cells, this.bell.index) === 1;
  }

  /** The position just past the last reserved record (published or not). */
  get position(): number {
    return this.head | 0;
  }

  /** The consumer's position: every record before it is released. */
  consumed(): number {
    return Atomics.load(this.control, TAIL);
  }

  /** Bytes reserved but not yet published. */
  unpublished(): number {
    const published = Atomics.load(this.control, HEAD) >>> 0;
    return ((this.head - published) >>> 0) - this.skippedIn(published, this.head);
  }

  /** Wake the consumer whatever it waits for (used to make it notice a stop flag). */
  wake(): void {
    const { cells, index } = this.bell;
    Atomics.store(cells, index, 0);
    Atomics.notify(cells, index);
  }

  /** Forget everything in the ring: only when the consumer is gone for good (its thread died). */
  reset(): void {
    this.head = Atomics.load(this.control, TAIL) >>> 0;
    this.tail = this.head;
    this.nextLook = this.workingSet;
    this.padBytes = 0;
    Atomics.store(this.control, HEAD, this.head | 0);
  }

  /** Whether a record of `length` bytes would fit now. */
  fits(length: number): boolean {
    const need = 4 + ((length + 3) & ~3);
    const contiguous = this.capacity - (this.head & this.mask);
    const wanted = contiguous < need ? contiguous + need : need;
    if (this.capacity - ((this.head - this.tail) >>> 0) >= wanted) return true;
    this.loadTail();
    return this.capacity - ((this.head - this.tail) >>> 0) >= wanted;
  }

}

/** The consuming side. Not thread-safe: one consumer thread only. */
export class RingReader extends RingSide {
  private tail: number;
  private head: number;
  /** a waiter registered by arm() is pending, and what it calls when rung */
  private armed = false;
  private rang: () => void = () => {};

  constructor(sab: SharedArrayBuffer, bell?: Doorbell) {
    super(sab, bell);
    this.tail = Atomics.load(this.control, TAIL) >>> 0;
    this.head = this.tail;
  }

  /**
   * Offset in `data` of the next record's payload, or -1 when none is published. Its length is
   * `lengthAt(offset)`. Call `next()` to step past it.
   */
  peek(): number {
    if (this.tail === this.head) {
      this.head = Atomics.load(this.control, HEAD) >>> 0;
      if (this.tail === this.head) return -1;
    }
    let at = this.tail & this.mask;
    if (this.words[at >> 2] === WRAP) {
      this.tail = (this.tail + (this.capacity - at)) >>> 0;
      at = 0;
    }
    return at + 4;
  }

  lengthAt(payloadOffset: number): number {
    return this.words[(payloadOffset - 4) >> 2]!;
  }

  /** Step past the record whose payload is at `payloadOffset` (the last peek()). */
  next(payloadOffset: number): void {
    const length = this.words[(payloadOffset - 4) >> 2]!;
    this.tail = (this.tail + 4 + ((length + 3) & ~3)) >>> 0;
  }

  /**
   * Give the consumed space back to the producer (once per batch). Copies still queued out of it
   * (span-copier.ts) are made first: past this store, the producer may write there again, and the
   * arena slabs its records point into may be lent to another connection.
   */
  release(): void {
    spanCopier.finish();
    Atomics.store(this.control, TAIL, this.tail | 0);
  }

  /**
   * Be woken by the producer's next publish while awaiting other things as well: sets SLEEPING
   * and, unless one is pending already, registers a waiter that calls `rang` when the producer
   * rings (or `wake()`s). Returns false, with SLEEPING cleared, when data is published already.
   * One waiter at a time: `disarm()` only clears SLEEPING, and the next arm() re-uses the waiter.
   */
  arm(rang: () => void): boolean {
    const { cells, index } = this.bell;
    Atomics.store(cells, index, 1);
    if (this.peekPublished()) {
      Atomics.store(cells, index, 0);
      return false;
    }
    this.rang = rang;
    if (this.armed) return true;
    // No timeout: a finite one makes the engine post a delayed task per wait, which wakes this
    // thread's event loop twice whether or not the doorbell rang (a wake-up measured 16–18 µs of
    // CPU with a 100 ms timeout and 9–11 µs without; bench/micro.ts, "doorbell"). The store-then-
    // re-check order above cannot miss a publish, and a stop flag comes with a wake().
    const res = Atomics.waitAsync(cells, index, 1);
    if (!res.async) {
      // Rung between the store and the wait.
      Atomics.store(cells, index, 0);
      return false;
    }
    this.armed = true;
    void res.value.then(() => {
      this.armed = false;
      Atomics.store(cells, index, 0);
      this.rang();
    });
    return true;
  }

  /** Busy again: the producer need not ring (a pending waiter stays for the next arm()). */
  disarm(): void {
    Atomics.store(this.bell.cells, this.bell.index, 0);
  }

  private peekPublished(): boolean {
    return this.tail !== this.head || (Atomics.load(this.control, HEAD) >>> 0) !== this.tail;
  }
}
