/**
 * Streaming framer: cuts a byte stream into proto messages.
 *
 *   stream:  [hdr 8][body n0][hdr 8][body n1] ...
 *   hdr:     [u8 version][u8 type][u48 body length, BE]
 *
 * A frame that lies whole inside one chunk is handed out as a view of that chunk (no copy). Only a
 * frame that straddles chunks is assembled, and its buffer is allocated after the header has been
 * checked against the configured maximum, never before.
 *
 * The sink may refuse a frame (backpressure). The framer then keeps the unconsumed rest of the chunk
 * (a view, not a copy) and hands it out again on `resume()`.
 */

import { u48be } from './big-endian.js';
import { MessageType, PROTO_HEADER_SIZE, PROTO_VERSION } from './constants.js';

export const enum FrameError {
  None = 0,
  BadVersion = 1,
  BadType = 2,
  TooLarge = 3,
  /** a body that ends inside a message (only from `countFrames`: a stream just waits for more) */
  Truncated = 4,
}

export interface FrameSink {
  /**
   * One whole message: `buf[start, end)` is the body, `type` the proto type. `buf` is valid only
   * during the call. Return false to stop: the framer offers this same frame again on `resume()`.
   */
  onFrame(type: number, buf: Buffer, start: number, end: number): boolean;
}

export function frameErrorText(err: FrameError): string {
  switch (err) {
    case FrameError.BadVersion:
      return 'unsupported proto version';
    case FrameError.BadType:
      return 'unknown message type';
    case FrameError.TooLarge:
      return 'message longer than the configured maximum';
    case FrameError.Truncated:
      return 'the body ends inside a message';
    default:
      return 'no error';
  }
}

/** Whether the 8-byte proto header at `buf[at]` is one a connector accepts. */
export function checkFrameHeader(buf: Buffer, at: number, maxBody: number): FrameError {
  const version = buf[at]!;
  const type = buf[at + 1]!;
  if (type < MessageType.Info || type > MessageType.Compressed) return FrameError.BadType;
  // A server tolerates version 0 on security messages.
  if (version !== PROTO_VERSION && !(version === 0 && type === MessageType.Security)) return FrameError.BadVersion;
  if (u48be(buf, at + 2) > maxBody) return FrameError.TooLarge;
  return FrameError.None;
}

/**
 * A whole body that must hold whole messages and nothing else (an HTTP/2 request): how many there
 * are in `buf[start, end)`, or the first error as a negative FrameError. Only headers are read.
 *
 *   body:  [hdr 8][body n0][hdr 8][body n1] ... end      (no bytes after the last message)
 */
export function countFrames(buf: Buffer, start: number, end: number, maxBody: number): number {
  let n = 0;
  let pos = start;
  while (pos < end) {
    if (end - pos < PROTO_HEADER_SIZE) return -FrameError.Truncated;
    const err = checkFrameHeader(buf, pos, maxBody);
    if (err !== FrameError.None) return -err;
    pos += PROTO_HEADER_SIZE + u48be(buf, pos + 2);
    if (pos > end) return -FrameError.Truncated;
    n++;
  }
  return n;
}

/**
 * A stream's header check, shared by the framers of a byte stream: the first bad header fails the
 * stream for good (every later call returns the same error), and its 8 bytes are kept for the log
 * line.
 */
export class StreamHeaders {
  failed: FrameError = FrameError.None;
  /** the offending 8 header bytes, once the stream has failed */
  lastBadHeader: Buffer | null = null;

  constructor(readonly maxBody: number) {}

  check(buf: Buffer, at: number): FrameError {
    const err = checkFrameHeader(buf, at, this.maxBody);
    if (err !== FrameError.None) {
      this.failed = err;
      this.lastBadHeader = Buffer.from(buf.subarray(at, at + PROTO_HEADER_SIZE));
    }
    return err;
  }
}

export class Framer {
  private readonly header = Buffer.alloc(PROTO_HEADER_SIZE);
  private headerFill = 0;
  /** body being assembled across chunks, and how much of it has arrived */
  private partial: Buffer | null = null;
  private partialType = 0;
  private partialFill = 0;
  /** rest of a chunk not yet handed out because the sink refused a frame */
  private held: Buffer | null = null;
  private readonly headers: StreamHeaders;

  constructor(maxBody: number) {
    this.headers = new StreamHeaders(maxBody);
  }

  /** the offending 8 header bytes of the last error, for the log line */
  get lastBadHeader(): Buffer | null {
    return this.headers.lastBadHeader;
  }

  /** Bytes buffered but not yet delivered (held rest plus a partial frame). */
  get bufferedBytes(): number {
    return (this.held?.length ?? 0) + this.partialFill + this.headerFill;
  }

  get paused(): boolean {
    return this.held !== null;
  }

  /**
   * Feed a chunk. Returns FrameError.None while the stream is well formed. When the sink refuses a
   * frame, the rest is held, `paused` turns true, and the caller stops reading until `resume()`.
   */
  push(chunk: Buffer, sink: FrameSink): FrameError {
    if (this.headers.failed !== FrameError.None) return this.headers.failed;
    if (this.held !== null) {
      // The caller should not read while paused; keep the order anyway.
      this.held = Buffer.concat([this.held, chunk]);
      return FrameError.None;
    }
    return this.consume(chunk, sink);
  }

  /** Deliver what was held back. Returns FrameError.None or the stream's error. */
  resume(sink: FrameSink): FrameError {
    if (this.headers.failed !== FrameError.None) return this.headers.failed;
    const held = this.held;
    if (held === null) return FrameError.None;
    this.held = null;
    return this.consume(held, sink);
  }

  private consume(chunk: Buffer, sink: FrameSink): FrameError {
    let pos = 0;
    const len = chunk.length;

    if (this.partial !== null) {
      const want = this.partial.length - this.partialFill;
      const take = want < len ? want : len;
      chunk.copy(this.partial, this.partialFill, 0, take);
      this.partialFill += take;
      pos = take;
      if (this.partialFill < this.partial.length) return FrameError.None;
      if (!sink.onFrame(this.partialType, this.partial, 0, this.partial.length)) {
        // Offer the assembled frame again: rebuild it as a held whole frame.
        this.held = this.rebuild(this.partialType, this.partial, chunk.subarray(pos));
        this.partial = null;
        this.partialFill = 0;
        return FrameError.None;
      }
      this.partial = null;
      this.partialFill = 0;
    }

    while (pos < len) {
      let type: number;
      let bodyLen: number;
      let bodyStart: number;
      if (this.headerFill > 0 || len - pos < PROTO_HEADER_SIZE) {
        // The header itself straddles chunks.
        const take = Math.min(PROTO_HEADER_SIZE - this.headerFill, len - pos);
        chunk.copy(this.header, this.headerFill, pos, pos + take);
        this.headerFill += take;
        pos += take;
        if (this.headerFill < PROTO_HEADER_SIZE) return FrameError.None;
        this.headerFill = 0;
        const err = this.headers.check(this.header, 0);
        if (err !== FrameError.None) return err;
        type = this.header[1]!;
        bodyLen = u48be(this.header, 2);
        bodyStart = pos;
        if (len - pos < bodyLen) {
          this.startPartial(type, bodyLen, chunk, pos);
          return FrameError.None;
        }
        if (!sink.onFrame(type, chunk, bodyStart, bodyStart + bodyLen)) {
          this.held = this.rebuild(type, chunk.subarray(bodyStart, bodyStart + bodyLen), chunk.subarray(bodyStart + bodyLen));
          return FrameError.None;
        }
        pos = bodyStart + bodyLen;
        continue;
      }
      const err = this.headers.check(chunk, pos);
      if (err !== FrameError.None) return err;
      type = chunk[pos + 1]!;
      bodyLen = u48be(chunk, pos + 2);
      bodyStart = pos + PROTO_HEADER_SIZE;
      if (len - bodyStart < bodyLen) {
        this.startPartial(type, bodyLen, chunk, bodyStart);
        return FrameError.None;
      }
      if (!sink.onFrame(type, chunk, bodyStart, bodyStart + bodyLen)) {
        this.held = chunk.subarray(pos);
        return FrameError.None;
      }
      pos = bodyStart + bodyLen;
    }
    return FrameError.None;
  }

  private startPartial(type: number, bodyLen: number, chunk: Buffer, from: number): void {
    // Length was checked against maxBody in headers.check(): this allocation is bounded.
    this.partial = Buffer.allocUnsafe(bodyLen);
    this.partialType = type;
    this.partialFill = chunk.copy(this.partial, 0, from);
  }

  private rebuild(type: number, body: Buffer, rest: Buffer): Buffer {
    const out = Buffer.allocUnsafe(PROTO_HEADER_SIZE + body.length + rest.length);
    out[0] = PROTO_VERSION;
    out[1] = type;
    out.writeUIntBE(body.length, 2, 6);
    body.copy(out, PROTO_HEADER_SIZE);
    rest.copy(out, PROTO_HEADER_SIZE + body.length);
    return out;
  }
}
