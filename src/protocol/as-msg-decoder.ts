/**
 * Decodes a record message into plain objects. Off the hot path only: debug logs, the file
 * destination, the load generator and tests. The grammar is in as-msg-reader.ts.
 */

import { AS_MSG_HEADER_SIZE, AsMsg, FieldType, OP_FLAG_BIN_LUT } from './constants.js';
import { ScanError, newScan, scanErrorText, scanRecordMessage } from './as-msg-reader.js';
import { FerryError } from '../errors.js';

export interface DecodedOp {
  op: number;
  particleType: number;
  flags: number;
  name: string;
  binLut: bigint | undefined;
  value: Buffer;
}

export interface DecodedRecordMessage {
  info1: number;
  info2: number;
  info3: number;
  info4: number;
  resultCode: number;
  generation: number;
  recordTtl: number;
  transactionTtl: number;
  namespace: string | undefined;
  set: string | undefined;
  digest: Buffer | undefined;
  /** user key: particle type and its bytes */
  userKey: { particleType: number; bytes: Buffer } | undefined;
  lut: bigint | undefined;
  fields: Array<{ type: number; data: Buffer }>;
  ops: DecodedOp[];
}

export class DecodeError extends FerryError {
  readonly code = 'ERR_DECODE';
  readonly retriable = false;
  constructor(readonly reason: ScanError) {
    super(scanErrorText(reason));
  }
}

/**
 * Decode `buf[start, end)`, an as_msg body without its proto header. Replies may lack a namespace or
 * digest; pass `requireKey = false` for them.
 */
export function decodeRecordMessage(buf: Buffer, start = 0, end = buf.length, requireKey = true): DecodedRecordMessage {
  const scan = newScan();
  const err = scanRecordMessage(buf, start, end, scan);
  if (err !== ScanError.None && (requireKey || (err !== ScanError.NoNamespace && err !== ScanError.NoDigest))) {
    throw new DecodeError(err);
  }
  const msg: DecodedRecordMessage = {
    info1: buf[start + AsMsg.Info1]!,
    info2: buf[start + AsMsg.Info2]!,
    info3: buf[start + AsMsg.Info3]!,
    info4: buf[start + AsMsg.Info4]!,
    resultCode: buf[start + AsMsg.ResultCode]!,
    generation: buf.readUInt32BE(start + AsMsg.Generation),
    recordTtl: buf.readUInt32BE(start + AsMsg.RecordTtl),
    transactionTtl: buf.readUInt32BE(start + AsMsg.TransactionTtl),
    namespace: undefined,
    set: undefined,
    digest: undefined,
    userKey: undefined,
    lut: undefined,
    fields: [],
    ops: [],
  };
  const nFields = buf.readUInt16BE(start + AsMsg.FieldCount);
  const nOps = buf.readUInt16BE(start + AsMsg.OpCount);
  let pos = start + AS_MSG_HEADER_SIZE;
  for (let i = 0; i < nFields; i++) {
    const size = buf.readUInt32BE(pos);
    const type = buf[pos + 4]!;
    const data = Buffer.from(buf.subarray(pos + 5, pos + 4 + size));
    msg.fields.push({ type, data });
    if (type === FieldType.Namespace) msg.namespace = data.toString('utf8');
    else if (type === FieldType.Set) msg.set = data.toString('utf8');
    else if (type === FieldType.Digest) msg.digest = data;
    else if (type === FieldType.LastUpdateTime && data.length === 8) msg.lut = data.readBigUInt64BE(0);
    else if (type === FieldType.UserKey && data.length >= 1) msg.userKey = { particleType: data[0]!, bytes: data.subarray(1) };
    pos += 4 + size;
  }
  for (let i = 0; i < nOps; i++) {
    const size = buf.readUInt32BE(pos);
    const flags = buf[pos + 6]!;
    const nameLen = buf[pos + 7]!;
    let p = pos + 8;
    const name = buf.toString('utf8', p, p + nameLen);
    p += nameLen;
    let binLut: bigint | undefined;
    if ((flags & OP_FLAG_BIN_LUT) !== 0) {
      binLut = buf.readBigUInt64BE(p);
      p += 8;
    }
    msg.ops.push({
      op: buf[pos + 4]!,
      particleType: buf[pos + 5]!,
      flags,
      name,
      binLut,
      value: Buffer.from(buf.subarray(p, pos + 4 + size)),
    });
    pos += 4 + size;
  }
  return msg;
}
