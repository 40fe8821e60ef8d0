/**
 * Writes record messages: the 30-byte reply a source expects, and whole requests (used by the load
 * generator and by client-side requests off the hot path).
 *
 *   reply (30 bytes) := [02 03 00 00 00 00 00 16] [16 00 00 00 00 <result> 00*16]
 *   request          := proto(type 3) header(22) field* op*
 */

import { AS_MSG_HEADER_SIZE, AsMsg, FieldType, MessageType, OP_FLAG_BIN_LUT, PROTO_HEADER_SIZE, PROTO_VERSION } from './constants.js';
import { BufferWriter } from './buffer-writer.js';

export const REPLY_SIZE = PROTO_HEADER_SIZE + AS_MSG_HEADER_SIZE;

/** Write the bare 30-byte reply carrying `code` at `buf[at]`. */
export function writeReply(buf: Uint8Array, at: number, code: number): void {
  buf.fill(0, at, at + REPLY_SIZE);
  buf[at] = PROTO_VERSION;
  buf[at + 1] = MessageType.Record;
  buf[at + 7] = AS_MSG_HEADER_SIZE;
  buf[at + PROTO_HEADER_SIZE + AsMsg.HeaderSize] = AS_MSG_HEADER_SIZE;
  buf[at + PROTO_HEADER_SIZE + AsMsg.ResultCode] = code;
}

export interface RequestField {
  type: number;
  data: Uint8Array;
}

export interface RequestOp {
  op: number;
  particleType: number;
  name: string;
  value: Uint8Array;
  /** per-bin last-update time; sets op flag bit 0 */
  binLut?: bigint;
}

export interface RecordRequest {
  info1: number;
  info2: number;
  info3: number;
  info4?: number;
  generation?: number;
  recordTtl?: number;
  transactionTtl?: number;
  fields: RequestField[];
  ops: RequestOp[];
}

/**
 * Encode a whole type-3 message, proto header included, appended to `w` (a sender can append a
 * batch of messages to one writer and send its bytes at once). Returns the message's bytes: a view
 * into the writer, valid until the writer next grows.
 */
export function encodeRecordRequest(req: RecordRequest, w = new BufferWriter(256)): Buffer {
  const start = w.length;
  w.u8(PROTO_VERSION).u8(MessageType.Record).u48(0);
  w.u8(AS_MSG_HEADER_SIZE)
    .u8(req.info1)
    .u8(req.info2)
    .u8(req.info3)
    .u8(req.info4 ?? 0)
    .u8(0)
    .u32(req.generation ?? 0)
    .u32(req.recordTtl ?? 0)
    .u32(req.transactionTtl ?? 0)
    .u16(req.fields.length)
    .u16(req.ops.length);
  for (const f of req.fields) {
    w.u32(1 + f.data.length).u8(f.type).bytes(f.data);
  }
  for (const op of req.ops) {
    const name = Buffer.from(op.name, 'utf8');
    // The name length is one byte on the wire: a longer name cannot be encoded.
    if (name.length > 255) throw new RangeError(`bin name of ${name.length} bytes does not fit an op (at most 255)`);
    const lutLen = op.binLut === undefined ? 0 : 8;
    w.u32(4 + name.length + lutLen + op.value.length)
      .u8(op.op)
      .u8(op.particleType)
      .u8(op.binLut === undefined ? 0 : OP_FLAG_BIN_LUT)
      .u8(name.length)
      .bytes(name);
    if (op.binLut !== undefined) w.u64(op.binLut);
    w.bytes(op.value);
  }
  w.patchU48(start + 2, w.length - start - PROTO_HEADER_SIZE);
  return w.finish().subarray(start);
}

export function stringField(type: number, s: string): RequestField {
  return { type, data: Buffer.from(s, 'utf8') };
}

export function lutField(lut: bigint): RequestField {
  const data = Buffer.allocUnsafe(8);
  data.writeBigUInt64BE(lut);
  return { type: FieldType.LastUpdateTime, data };
}
