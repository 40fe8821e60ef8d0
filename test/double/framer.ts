// Streaming framer for the proto layer.
//
//   frame := [u8 version = 2][u8 type][u48 body length][body × length]
//
// A server tolerates version 0 only for security (type 2) frames. Types other than 1..4 and
// bodies over 128 MiB are fatal for the connection. The header is checked as soon as its
// 8 bytes are in, before the body is waited for or allocated.
//
// Frames are handed out as subarrays of the socket's chunks; bytes are copied only when a
// frame straddles chunks, and then once per frame (the pieces are collected, then joined when
// the whole frame is present), so a large frame arriving in many chunks costs O(n).

import { MAX_PROTO_BODY, PROTO_HEADER_SIZE, PROTO_VERSION, ProtoType } from './wire.js';

export interface Frame {
  readonly type: number;
  readonly body: Buffer;
}

export class FrameError extends Error {
  override readonly name = 'FrameError';
}

export class Framer {
  private pieces: Buffer[] = [];
  private piecesLength = 0;

  constructor(private readonly maxBody: number = MAX_PROTO_BODY) {}

  /** Feeds one chunk; calls `onFrame` for every complete frame, in order. Throws FrameError. */
  push(chunk: Buffer, onFrame: (frame: Frame) => void): void {
    let buf = chunk;
    if (this.piecesLength > 0) {
      this.pieces.push(chunk);
      this.piecesLength += chunk.length;
      if (this.piecesLength < PROTO_HEADER_SIZE) return;
      const head = this.pieces[0]!.length >= PROTO_HEADER_SIZE ? this.pieces[0]! : this.joinPieces();
      const needed = PROTO_HEADER_SIZE + this.checkHeader(head, 0);
      if (this.piecesLength < needed) return;
      buf = this.joinPieces();
      this.pieces = [];
      this.piecesLength = 0;
    }
    let offset = 0;
    while (buf.length - offset >= PROTO_HEADER_SIZE) {
      const bodyLength = this.checkHeader(buf, offset);
      const end = offset + PROTO_HEADER_SIZE + bodyLength;
      if (end > buf.length) break;
      onFrame({ type: buf[offset + 1]!, body: buf.subarray(offset + PROTO_HEADER_SIZE, end) });
      offset = end;
    }
    if (offset < buf.length) {
      this.pieces = [buf.subarray(offset)];
      this.piecesLength = buf.length - offset;
    }
  }

  private joinPieces(): Buffer {
    const joined = Buffer.concat(this.pieces, this.piecesLength);
    this.pieces = [joined];
    return joined;
  }

  /** Validates the header at `offset` and returns the body length. */
  private checkHeader(buf: Buffer, offset: number): number {
    const version = buf[offset]!;
    const type = buf[offset + 1]!;
    if (type < ProtoType.INFO || type > ProtoType.COMPRESSED) {
      throw new FrameError(`unknown proto type ${type}`);
    }
    if (version !== PROTO_VERSION && !(version === 0 && type === ProtoType.SECURITY)) {
      throw new FrameError(`bad proto version ${version}`);
    }
    const length = buf.readUIntBE(offset + 2, 6);
    if (length > this.maxBody) {
      throw new FrameError(`proto body of ${length} bytes is over the ${this.maxBody}-byte limit`);
    }
    return length;
  }
}

/** Writes a proto header for a body of `length` bytes into `buf` at `offset`. */
export function writeProtoHeader(buf: Buffer, offset: number, type: number, length: number): void {
  buf[offset] = PROTO_VERSION;
  buf[offset + 1] = type;
  buf.writeUIntBE(length, offset + 2, 6);
}
