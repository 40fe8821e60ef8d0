/**
 * Type-4 messages inflated straight into the source arena, so that the record a compressed message
 * carries reaches its worker by reference, as a plain record does, instead of being copied from
 * the inflater's own buffer into a ring. That copy went into shared memory, which the engine
 * copies through its slow relaxed-atomic memmove, and made a view per record: 6% of main's samples
 * with a fifth of the records compressed.
 *
 *   the slab lent to the inflater:
 *   [base ········ pos ·························· limit)
 *    records kept   the next message is inflated here
 *
 * `inflate()` writes at `pos`; `keep()` moves `pos` past the message once its record went to a
 * worker. Anything else (held, refused for want of ring room, answered here, malformed) leaves
 * `pos` where it was: no worker was handed those bytes, and the next message overwrites them. When a message does not fit what is left of the slab, the slab is retired (the arena frees
 * it once every worker is past its records, dispatch/slab-pool.ts) and another is lent. With none
 * free, or for a message bigger than a slab, the message goes to the inflater's own buffer and its
 * record is copied into the ring as before.
 */

import { InflateError, RecordInflater } from '../protocol/index.js';
import type { ReadArena } from './types.js';

/** Where the last inflated message lies: `bytes[start, end)`, its 8-byte proto header included. */
export interface Inflated {
  bytes: Buffer;
  start: number;
  end: number;
}

export class ArenaInflater {
  private readonly inflater = new RecordInflater();
  /** the slab lent to the inflater, or -1 */
  private slab = -1;
  private pos = 0;
  private limit = 0;
  /** just past the last message inflated into the slab (what keep() moves `pos` to), or -1 */
  private end = -1;
  private closed = false;

  constructor(private readonly arena: ReadArena) {}

  /**
   * Inflate the type-4 body `buf[start, end)` into `out` (valid until the next call); an
   * InflateError when it cannot be.
   */
  inflate(buf: Buffer, start: number, end: number, maxMessage: number, out: Inflated): InflateError {
    this.end = -1;
    const length = this.inflater.declared(buf, start, end, maxMessage);
    if (length < 0) return -length as InflateError;
    if (this.room(length + 1)) {
      const err = this.inflater.inflateInto(buf, start, end, length, this.arena.bytes, this.pos);
      if (err !== InflateError.None) return err;
      out.bytes = this.arena.bytes;
      out.start = this.pos;
      out.end = this.pos + length;
      this.end = out.end;
      return InflateError.None;
    }
    const r = this.inflater.inflate(buf, start, end, maxMessage);
    if (r.error !== InflateError.None) return r.error;
    out.bytes = r.message;
    out.start = 0;
    out.end = r.message.length;
    return InflateError.None;
  }

  /** Keep the message last inflated (its record went to a worker): its bytes stay until the slab is freed. */
  keep(): void {
    if (this.end < 0) return;
    this.pos = this.end;
    this.end = -1;
  }

  /** Give the slab back (the listener is closing). */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.release();
  }

  /** Whether `need` bytes fit at `pos`, in the slab held or in a fresh one. */
  private room(need: number): boolean {
    if (this.closed || need > this.arena.slabBytes) return false;
    if (this.slab >= 0 && this.limit - this.pos >= need) return true;
    this.release();
    const slab = this.arena.acquire();
    if (slab < 0) return false;
    this.slab = slab;
    this.pos = slab * this.arena.slabBytes;
    this.limit = this.pos + this.arena.slabBytes;
    return true;
  }

  private release(): void {
    if (this.slab >= 0) this.arena.retire(this.slab);
    this.slab = -1;
    this.pos = 0;
    this.limit = 0;
  }
}
