/**
 * A TCP source connection's bytes, framed where they were read: in a slab of the source arena
 * (threads/arena.ts), so that a record reaches its worker as an offset rather than a copy; or, when
 * no slab is free (or a message is bigger than a slab), in the connection's own buffer, whose
 * records are copied into the rings instead.
 *
 *   region:  [base ········ cursor ·········· fill ·················· limit)
 *             framed and    unframed bytes     room for the next read
 *             handed out    (a partial message,
 *                           or messages refused
 *                           while paused)
 *
 * A plain socket reads straight into the room (`readBuffer()` is its `onread` buffer, and
 * `received(n)` frames what came); a TLS socket's decrypted chunks are copied in (`push`). The room
 * handed to a read is never less than MIN_READ, and a message always lies whole in one region:
 * when the room runs short, or the message at the cursor would not fit, the unframed bytes move to
 * the start of a fresh region and the old slab goes back to the arena (which lends it again once
 * no worker can still be reading it).
 *
 * The sink may refuse a message (backpressure): framing stops at it, `paused` turns true, and
 * `resume()` offers it again.
 */

import { FrameError, type FrameSink, StreamHeaders, u48be } from '../protocol/index.js';
import { MessageType, PROTO_HEADER_SIZE, PROTO_VERSION } from '../protocol/constants.js';
import type { ReadArena } from './types.js';

/** Least room handed to one read (what Node reads per call by default). */
export const MIN_READ = 64 * 1024;
/** The connection's own buffer, when it has no slab: enough for a few reads. */
const OWN_BYTES = 256 * 1024;
/** What a read gets once the connection is closed (the socket reads nothing more). */
const DISCARD = new Uint8Array(MIN_READ);

export class InPlaceReader {
  /** the current region's buffer: the arena's bytes, or `own` */
  private bytes: Buffer;
  /** the arena slab lent to this connection, or -1 */
  private slab = -1;
  private base = 0;
  private limit = 0;
  private cursor = 0;
  private fill = 0;
  private own: Buffer | null = null;
  private readonly headers: StreamHeaders;
  private closed = false;
  /** the sink refused the message at the cursor: nothing more is framed until resume() */
  paused = false;
  constructor(
    private readonly arena: ReadArena,
    private readonly maxBody: number,
  ) {
    this.headers = new StreamHeaders(maxBody);
    this.bytes = arena.bytes;
    this.moveTo(MIN_READ);
  }

  /** the offending 8 header bytes of the stream's error, for the log line */
  get lastBadHeader(): Buffer | null {
    return this.headers.lastBadHeader;
  }

  /** Bytes read and not yet handed out. */
  get bufferedBytes(): number {
    return this.fill - this.cursor;
  }

  /** Whether the current region is an arena slab (its records go to the workers by reference). */
  get inArena(): boolean {
    return this.slab >= 0;
  }

  /** The room for the next read: at least MIN_READ bytes, and the whole of the message begun. */
  readBuffer(): Uint8Array {
    if (this.closed) return DISCARD;
    this.ensureRoom(MIN_READ);
    return new Uint8Array(this.bytes.buffer, this.bytes.byteOffset + this.fill, this.limit - this.fill);
  }

  /** `n` bytes arrived in the last readBuffer(): frame them. */
  received(n: number, sink: FrameSink): FrameError {
    // Closed: the read went into DISCARD, and the old slab may be another connection's now.
    if (this.closed) return FrameError.None;
    this.fill += n;
    return this.paused ? this.headers.failed : this.frame(sink);
  }

  /** A chunk from a 'data' event (a TLS socket): copy it in, then frame. */
  push(chunk: Buffer, sink: FrameSink): FrameError {
    if (this.closed) return FrameError.None;
    let pos = 0;
    while (pos < chunk.length) {
      this.ensureRoom(Math.min(MIN_READ, chunk.length - pos));
      const n = Math.min(chunk.length - pos, this.limit - this.fill);
      chunk.copy(this.bytes, this.fill, pos, pos + n);
      this.fill += n;
      pos += n;
      if (!this.paused) {
        const err = this.frame(sink);
        if (err !== FrameError.None || this.closed) return err;
      }
    }
    return this.headers.failed;
  }

  /** Offer the refused message again, and what follows it. */
  resume(sink: FrameSink): FrameError {
    this.paused = false;
    return this.frame(sink);
  }

  /** The connection is gone: give the slab back. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.slab >= 0) this.arena.retire(this.slab);
    this.slab = -1;
    this.own = null;
  }

  private frame(sink: FrameSink): FrameError {
    if (this.headers.failed !== FrameError.None) return this.headers.failed;
    const buf = this.bytes;
    const fill = this.fill;
    let pos = this.cursor;
    while (fill - pos >= PROTO_HEADER_SIZE) {
      const type = buf[pos + 1]!;
      const bodyLength = u48be(buf, pos + 2);
      // The usual header passes with three comparisons; anything else gets the full check.
      if (buf[pos] !== PROTO_VERSION || type < MessageType.Info || type > MessageType.Compressed || bodyLength > this.maxBody) {
        const err = this.headers.check(buf, pos);
        if (err !== FrameError.None) return err;
      }
      const start = pos + PROTO_HEADER_SIZE;
      const end = start + bodyLength;
      if (end > fill) break;
      if (!sink.onFrame(type, buf, start, end)) {
        this.paused = true;
        break;
      }
      pos = end;
      // The sink may have closed the connection (a malformed record).
      if (this.closed) return FrameError.None;
    }
    this.cursor = pos;
    return FrameError.None;
  }

  /** Make room for `want` more bytes after the unframed ones, and for the whole message begun. */
  private ensureRoom(want: number): void {
    const unframed = this.fill - this.cursor;
    let need = unframed + want;
    if (unframed >= PROTO_HEADER_SIZE && this.headers.failed === FrameError.None) {
      const at = this.cursor;
      const total = PROTO_HEADER_SIZE + u48be(this.bytes, at + 2);
      // A header beyond the maximum fails when framed; room for it is never made.
      if (total - PROTO_HEADER_SIZE <= this.maxBody && total + want > need) need = total + want;
    }
    if (this.limit - this.cursor >= need && this.limit - this.fill >= want) return;
    this.moveTo(need);
  }

  /** Continue in a fresh region of at least `need` bytes, the unframed bytes moved to its start. */
  private moveTo(need: number): void {
    const from = this.bytes;
    const start = this.cursor;
    const length = this.fill - this.cursor;
    const oldSlab = this.slab;
    const slab = need <= this.arena.slabBytes ? this.arena.acquire() : -1;
    if (slab >= 0) {
      this.bytes = this.arena.bytes;
      this.base = slab * this.arena.slabBytes;
      this.limit = this.base + this.arena.slabBytes;
    } else {
      // Records read into it are copied into the rings as they are framed, so it may be reused at
      // once. A big message gets a buffer its size; the next move drops it again.
      const size = Math.max(need, OWN_BYTES);
      if (this.own === null || this.own.length < need || (this.own.length > OWN_BYTES && size === OWN_BYTES)) {
        const next = Buffer.allocUnsafe(size);
        if (length > 0) from.copy(next, 0, start, start + length);
        this.own = next;
      } else if (length > 0) from.copy(this.own, 0, start, start + length);
      this.bytes = this.own;
      this.base = 0;
      this.limit = this.own.length;
    }
    if (slab >= 0 && length > 0) from.copy(this.bytes, this.base, start, start + length);
    this.cursor = this.base;
    this.fill = this.base + length;
    this.slab = slab;
    if (oldSlab >= 0) this.arena.retire(oldSlab);
  }
}
