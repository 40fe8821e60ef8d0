/**
 * Walks the as_msgs of a multi-record reply (a scan or a batch read): a frame body holds any
 * number of them back to back, each
 *
 *   [22-byte header] field{n_fields} op{n_ops}
 *   field := [u32 size = 1 + n][u8 type][data]
 *   op    := [u32 size][u8 op][u8 particle][u8 flags][u8 name length][name][8-byte bin LUT if flags & 1][value]
 *
 * Nothing is copied or decoded: the reader fills one reused cursor with offsets into the body.
 */

import { AS_MSG_HEADER_SIZE, AsMsg, DIGEST_SIZE, FieldType, OP_FLAG_BIN_LUT } from './constants.js';

export class ReplyCursor {
  info3 = 0;
  resultCode = 0;
  generation = 0;
  /** the transaction-ttl slot: a batch reply's row index */
  index = 0;
  /** offset of the 20-byte digest, or -1 when the message has none */
  digestAt = -1;
  opsAt = 0;
  nOps = 0;
  /** offset just past this message */
  end = 0;

  /**
   * Read the message at `buf[at]` (the body ends at `limit`). Returns false when it runs past
   * `limit` or has a bad header size byte.
   */
  read(buf: Buffer, at: number, limit: number): boolean {
    if (at + AS_MSG_HEADER_SIZE > limit || buf[at] !== AS_MSG_HEADER_SIZE) return false;
    this.info3 = buf[at + AsMsg.Info3]!;
    this.resultCode = buf[at + AsMsg.ResultCode]!;
    this.generation = buf.readUInt32BE(at + AsMsg.Generation);
    this.index = buf.readUInt32BE(at + AsMsg.TransactionTtl);
    const nFields = buf.readUInt16BE(at + AsMsg.FieldCount);
    this.nOps = buf.readUInt16BE(at + AsMsg.OpCount);
    this.digestAt = -1;
    let p = at + AS_MSG_HEADER_SIZE;
    for (let i = 0; i < nFields; i++) {
      if (p + 5 > limit) return false;
      const size = buf.readUInt32BE(p);
      if (size < 1 || p + 4 + size > limit) return false;
      if (buf[p + 4] === FieldType.Digest && size === 1 + DIGEST_SIZE) this.digestAt = p + 5;
      p += 4 + size;
    }
    this.opsAt = p;
    for (let i = 0; i < this.nOps; i++) {
      if (p + 8 > limit) return false;
      const size = buf.readUInt32BE(p);
      if (size < 4 || p + 4 + size > limit) return false;
      p += 4 + size;
    }
    this.end = p;
    return true;
  }
}

/** One op of a reply, as offsets: name `[nameAt, valueAt - lut)`, value `[valueAt, end)`. */
export interface ReplyOp {
  particle: number;
  nameAt: number;
  nameEnd: number;
  valueAt: number;
  end: number;
}

/** The ops of a message `read` has checked, from `opsAt`. */
export function replyOps(buf: Buffer, opsAt: number, nOps: number): ReplyOp[] {
  const ops: ReplyOp[] = [];
  let p = opsAt;
  for (let i = 0; i < nOps; i++) {
    const end = p + 4 + buf.readUInt32BE(p);
    const nameAt = p + 8;
    const nameEnd = nameAt + buf[p + 7]!;
    const valueAt = nameEnd + (buf[p + 6]! & OP_FLAG_BIN_LUT ? 8 : 0);
    ops.push({ particle: buf[p + 5]!, nameAt, nameEnd, valueAt: Math.min(valueAt, end), end });
    p = end;
  }
  return ops;
}
