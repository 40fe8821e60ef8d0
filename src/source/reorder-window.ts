/**
 * Per-connection reorder window: requests are numbered as they arrive; results come back in any
 * order; replies leave strictly in request order.
 *
 *   sequence:   head ............................ tail
 *               [done][done][PENDING][done][PENDING]   <- slot = seq & mask
 *                ^^^^^^^^^^ flushable now   ^ stops at the first PENDING
 *
 * Slots hold a result code (or PENDING), the arrival time for the ack deadline, and the worker that
 * owns the record (so a dead worker's records can be answered at once). Sequences are u32 and wrap;
 * all comparisons are done on `(seq - head) >>> 0`.
 */

export const PENDING = -1;
/** a slot whose reply is a prepared message (security, info) rather than a 30-byte result */
export const PREPARED = -2;
export const NO_WORKER = -1;
/** owner of a record held by the session itself (nowhere to send it now) until it is answered */
export const HELD = -2;

export class ReorderWindow {
  readonly capacity: number;
  private readonly mask: number;
  private readonly codes: Int16Array;
  private readonly arrival: Float64Array;
  private readonly owner: Int16Array;
  private prepared: Map<number, Buffer> | null = null;
  head = 0;
  tail = 0;

  constructor(maxInFlight: number) {
    let cap = 16;
    while (cap < maxInFlight) cap *= 2;
    this.capacity = cap;
    this.mask = cap - 1;
    this.codes = new Int16Array(cap);
    this.arrival = new Float64Array(cap);
    this.owner = new Int16Array(cap);
  }

  get size(): number {
    return (this.tail - this.head) >>> 0;
  }

  /** Number a new request; the caller checks `size` against its cap first. */
  open(now: number, worker: number): number {
    const seq = this.tail;
    const slot = seq & this.mask;
    this.codes[slot] = PENDING;
    this.arrival[slot] = now;
    this.owner[slot] = worker;
    this.tail = (seq + 1) >>> 0;
    return seq;
  }

  /** A request answered by a prepared message (kept until its turn). */
  openPrepared(now: number, reply: Buffer): number {
    const seq = this.open(now, NO_WORKER);
    this.codes[seq & this.mask] = PREPARED;
    (this.prepared ??= new Map()).set(seq, reply);
    return seq;
  }

  /** Record a result. Returns false for a sequence outside the window or already answered. */
  complete(seq: number, code: number): boolean {
    if (((seq - this.head) >>> 0) >= this.size) return false;
    const slot = seq & this.mask;
    if (this.codes[slot] !== PENDING) return false;
    this.codes[slot] = code;
    return true;
  }

  /** Whether the oldest request is answered (a flush would release something). */
  headReady(): boolean {
    return this.head !== this.tail && this.codes[this.head & this.mask] !== PENDING;
  }

  /** Answer `code` to every pending request whose arrival is at or before `cutoff`, oldest first. */
  expire(cutoff: number, code: number): number {
    let n = 0;
    for (let seq = this.head; seq !== this.tail; seq = (seq + 1) >>> 0) {
      const slot = seq & this.mask;
      if (this.arrival[slot]! > cutoff) break;
      if (this.codes[slot] === PENDING) {
        this.codes[slot] = code;
        n++;
      }
    }
    return n;
  }

  /**
   * Answer `code` to every held request (owner HELD) that arrived at or before `cutoff`. Returns
   * how many were answered, and how many held ones are still pending in `stillHeld`.
   */
  releaseHeld(cutoff: number, code: number): { answered: number; stillHeld: number } {
    let answered = 0;
    let stillHeld = 0;
    for (let seq = this.head; seq !== this.tail; seq = (seq + 1) >>> 0) {
      const slot = seq & this.mask;
      if (this.codes[slot] !== PENDING || this.owner[slot] !== HELD) continue;
      if (this.arrival[slot]! <= cutoff) {
        this.codes[slot] = code;
        answered++;
      } else stillHeld++;
    }
    return { answered, stillHeld };
  }

  /** Answer `code` to every pending request owned by `worker`. */
  failWorker(worker: number, code: number): number {
    let n = 0;
    for (let seq = this.head; seq !== this.tail; seq = (seq + 1) >>> 0) {
      const slot = seq & this.mask;
      if (this.codes[slot] === PENDING && this.owner[slot] === worker) {
        this.codes[slot] = code;
        n++;
      }
    }
    return n;
  }

  /**
   * Hand every answered request at the head, in order, to `emit` (a code, or a prepared message),
   * and release them. Returns how many were released.
   */
  drain(emit: (code: number, prepared: Buffer | undefined, arrival: number) => void): number {
    let n = 0;
    while (this.head !== this.tail) {
      const slot = this.head & this.mask;
      const code = this.codes[slot]!;
      if (code === PENDING) break;
      if (code === PREPARED) {
        const msg = this.prepared!.get(this.head)!;
        this.prepared!.delete(this.head);
        emit(code, msg, this.arrival[slot]!);
      } else {
        emit(code, undefined, this.arrival[slot]!);
      }
      this.head = (this.head + 1) >>> 0;
      n++;
    }
    return n;
  }

  /** Count of answered requests waiting at the head, stopping at the first pending one. */
  readyCount(): number {
    let n = 0;
    for (let seq = this.head; seq !== this.tail; seq = (seq + 1) >>> 0) {
      if (this.codes[seq & this.mask] === PENDING) break;
      n++;
    }
    return n;
  }
}
