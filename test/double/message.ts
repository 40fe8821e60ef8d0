// Record message (as_msg) reader and reply writer. Offsets are within the proto body.
//
//   as_msg  := header fields{n_fields} ops{n_ops}
//   header  := [u8 header size = 22][u8 info1][u8 info2][u8 info3][u8 info4][u8 result code]
//              [u32 generation][u32 record ttl | void time][u32 transaction ttl]
//              [u16 n_fields][u16 n_ops]
//   field   := [u32 size = 1 + data length][u8 type][data]
//   op      := [u32 size = 4 + name length + (8 if flags & 1) + value length]
//              [u8 op][u8 particle type][u8 flags][u8 name length][name]
//              [u64 bin LUT if flags & 1][value]
//
// Replies use the same layout; reply ops are READ (1) results carrying a bin's particle type and
// value. A single-record reply is one as_msg in one type-3 proto frame; a batch reply is a run
// of as_msgs in one frame, the last one flagged info3 LAST.

import { writeProtoHeader } from './framer.js';
import { FieldType, MSG_HEADER_SIZE, OpType, PROTO_HEADER_SIZE, ProtoType } from './wire.js';

export class MalformedMessageError extends Error {
  override readonly name = 'MalformedMessageError';
}

export interface MsgField {
  readonly type: number;
  readonly data: Buffer;
}

export interface MsgOp {
  readonly op: number;
  readonly particle: number;
  readonly flags: number;
  readonly name: string;
  readonly binLut: bigint | undefined;
  readonly value: Buffer;
}

export interface MsgHeader {
  readonly info1: number;
  readonly info2: number;
  readonly info3: number;
  readonly info4: number;
  readonly resultCode: number;
  readonly generation: number;
  readonly ttl: number;
  readonly transactionTtl: number;
  readonly nFields: number;
  readonly nOps: number;
}

export interface AsMsg extends MsgHeader {
  readonly fields: MsgField[];
  readonly ops: MsgOp[];
}

/** Op flag bit 0: an 8-byte bin LUT sits between the name and the value. */
const OP_FLAG_BIN_LUT = 0x01;

/** Reads a whole as_msg from a type-3 proto body. */
export function readMessage(body: Buffer): AsMsg {
  if (body.length < MSG_HEADER_SIZE || body[0] !== MSG_HEADER_SIZE) {
    throw new MalformedMessageError('as_msg header is short or has a bad size byte');
  }
  const header: MsgHeader = {
    info1: body[1]!,
    info2: body[2]!,
    info3: body[3]!,
    info4: body[4]!,
    resultCode: body[5]!,
    generation: body.readUInt32BE(6),
    ttl: body.readUInt32BE(10),
    transactionTtl: body.readUInt32BE(14),
    nFields: body.readUInt16BE(18),
    nOps: body.readUInt16BE(20),
  };
  const cursor = { offset: MSG_HEADER_SIZE };
  const fields = readFields(body, cursor, header.nFields);
  const ops = readOps(body, cursor, header.nOps);
  return { ...header, fields, ops };
}

/** Reads `count` fields starting at `cursor.offset`, advancing it. */
export function readFields(buf: Buffer, cursor: { offset: number }, count: number): MsgField[] {
  const fields: MsgField[] = [];
  for (let i = 0; i < count; i++) {
    const at = cursor.offset;
    if (at + 5 > buf.length) throw new MalformedMessageError(`field ${i} header runs past the message`);
    const size = buf.readUInt32BE(at);
    const end = at + 4 + size;
    if (size < 1 || end > buf.length) throw new MalformedMessageError(`field ${i} runs past the message`);
    fields.push({ type: buf[at + 4]!, data: buf.subarray(at + 5, end) });
    cursor.offset = end;
  }
  return fields;
}

/** Reads `count` ops starting at `cursor.offset`, advancing it. */
export function readOps(buf: Buffer, cursor: { offset: number }, count: number): MsgOp[] {
  const ops: MsgOp[] = [];
  for (let i = 0; i < count; i++) {
    const at = cursor.offset;
    if (at + 8 > buf.length) throw new MalformedMessageError(`op ${i} header runs past the message`);
    const size = buf.readUInt32BE(at);
    const end = at + 4 + size;
    const flags = buf[at + 6]!;
    const nameLength = buf[at + 7]!;
    const lutLength = flags & OP_FLAG_BIN_LUT ? 8 : 0;
    const valueStart = at + 8 + nameLength + lutLength;
    if (size < 4 || end > buf.length || valueStart > end) {
      throw new MalformedMessageError(`op ${i} runs past the message`);
    }
    ops.push({
      op: buf[at + 4]!,
      particle: buf[at + 5]!,
      flags,
      name: buf.toString('utf8', at + 8, at + 8 + nameLength),
      binLut: lutLength ? buf.readBigUInt64BE(at + 8 + nameLength) : undefined,
      value: buf.subarray(valueStart, end),
    });
    cursor.offset = end;
  }
  return ops;
}

/** The first field of a type, if present. */
export function findField(fields: readonly MsgField[], type: number): Buffer | undefined {
  for (const f of fields) if (f.type === type) return f.data;
  return undefined;
}

export function namespaceOf(fields: readonly MsgField[]): string | undefined {
  return findField(fields, FieldType.NAMESPACE)?.toString('utf8');
}

// ---------------------------------------------------------------------------------------------
// Replies

export interface ReplyBin {
  readonly name: string;
  readonly particle: number;
  readonly value: Buffer;
}

export interface ReplyHeader {
  readonly resultCode: number;
  readonly generation?: number;
  readonly voidTime?: number;
  readonly info3?: number;
  /** Batch replies carry the row index here. */
  readonly transactionTtl?: number;
}

/** Bytes one reply as_msg takes, without a proto header. */
export function replyMessageSize(bins: readonly ReplyBin[]): number {
  let size = MSG_HEADER_SIZE;
  for (const bin of bins) size += 8 + Buffer.byteLength(bin.name) + bin.value.length;
  return size;
}

/** Writes one reply as_msg (no proto header) at `offset`; returns the offset after it. */
export function writeReplyMessage(buf: Buffer, offset: number, header: ReplyHeader, bins: readonly ReplyBin[]): number {
  buf[offset] = MSG_HEADER_SIZE;
  buf[offset + 1] = 0;
  buf[offset + 2] = 0;
  buf[offset + 3] = header.info3 ?? 0;
  buf[offset + 4] = 0;
  buf[offset + 5] = header.resultCode;
  buf.writeUInt32BE(header.generation ?? 0, offset + 6);
  buf.writeUInt32BE(header.voidTime ?? 0, offset + 10);
  buf.writeUInt32BE(header.transactionTtl ?? 0, offset + 14);
  buf.writeUInt16BE(0, offset + 18);
  buf.writeUInt16BE(bins.length, offset + 20);
  let at = offset + MSG_HEADER_SIZE;
  for (const bin of bins) {
    const nameLength = buf.write(bin.name, at + 8, 'utf8');
    buf.writeUInt32BE(4 + nameLength + bin.value.length, at);
    buf[at + 4] = OpType.READ;
    buf[at + 5] = bin.particle;
    buf[at + 6] = 0;
    buf[at + 7] = nameLength;
    at += 8 + nameLength;
    at += bin.value.copy(buf, at);
  }
  return at;
}

/** A complete single-record reply frame (proto header + as_msg). */
export function encodeReply(header: ReplyHeader, bins: readonly ReplyBin[] = []): Buffer {
  const size = replyMessageSize(bins);
  const buf = Buffer.allocUnsafe(PROTO_HEADER_SIZE + size);
  writeProtoHeader(buf, 0, ProtoType.MESSAGE, size);
  writeReplyMessage(buf, PROTO_HEADER_SIZE, header, bins);
  return buf;
}

/** Replies that carry only a result code are the same bytes every time; build each once. */
const bareReplies = new Map<number, Buffer>();
export function bareReply(resultCode: number): Buffer {
  let reply = bareReplies.get(resultCode);
  if (!reply) {
    reply = encodeReply({ resultCode });
    bareReplies.set(resultCode, reply);
  }
  return reply;
}
