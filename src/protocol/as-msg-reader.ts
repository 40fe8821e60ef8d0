/**
 * Reads a record message (as_msg) in place, without building objects.
 *
 *   as_msg := header(22) field* op*
 *   header := [u8 22][u8 info1][u8 info2][u8 info3][u8 info4][u8 result]
 *             [u32 generation][u32 record ttl][u32 transaction ttl][u16 n_fields][u16 n_ops]
 *   field  := [u32 size = 1 + n][u8 type][n bytes]
 *   op     := [u32 size][u8 op][u8 particle][u8 flags][u8 name len][name][u64 bin LUT if flags & 1][value]
 *
 * `scanRecordMessage` walks the fields once and writes the offsets a worker needs into a
 * caller-owned Int32Array (see `Scan`), so handling a record costs no allocation.
 * `routeRecordMessage` makes the same walk and the same checks, and keeps only what main needs to
 * route the record (see `Route`): main validates every record, and its worker scans it again.
 */

import { AS_MSG_HEADER_SIZE, AsMsg, DIGEST_SIZE, FieldType, OP_FLAG_BIN_LUT, PARTITIONS } from './constants.js';
import { u16be, u32be } from './big-endian.js';

/** Slots of the scan result. Offsets are absolute within the scanned buffer; -1 = absent. */
export const Scan = {
  NamespaceOffset: 0,
  NamespaceLength: 1,
  SetOffset: 2,
  SetLength: 3,
  DigestOffset: 4,
  /** offset of the LUT field's size word (the whole field starts here) */
  LutFieldOffset: 5,
  KeyOffset: 6,
  KeyLength: 7,
  /** first byte after the fields: where the ops begin */
  OpsOffset: 8,
  FieldCount: 9,
  OpCount: 10,
  Size: 11,
} as const;

/** Slots of a route: what main needs of a record. Offsets are absolute; -1 = absent. */
export const Route = {
  DigestOffset: 0,
  /** offset of the LUT field's size word, as in `Scan` */
  LutFieldOffset: 1,
  Size: 2,
} as const;

export const enum ScanError {
  None = 0,
  ShortHeader = 1,
  BadHeaderSize = 2,
  FieldOverrun = 3,
  OpOverrun = 4,
  NoNamespace = 5,
  NoDigest = 6,
  TrailingBytes = 7,
}

export function scanErrorText(err: ScanError): string {
  switch (err) {
    case ScanError.ShortHeader:
      return 'record message shorter than its 22-byte header';
    case ScanError.BadHeaderSize:
      return 'record message header size is not 22';
    case ScanError.FieldOverrun:
      return 'a field overruns the message';
    case ScanError.OpOverrun:
      return 'an op overruns the message';
    case ScanError.NoNamespace:
      return 'record message has no namespace field';
    case ScanError.NoDigest:
      return 'record message has no 20-byte digest field';
    case ScanError.TrailingBytes:
      return 'record message has bytes after its last op';
    default:
      return 'no error';
  }
}

export function newScan(): Int32Array {
  return new Int32Array(Scan.Size);
}

export function newRoute(): Int32Array {
  return new Int32Array(Route.Size);
}

/**
 * Walk the header, fields and op sizes of `buf[start, end)`. Every length is checked against `end`
 * before it is used. Ops are walked only for their sizes, so that an op overrunning the message is
 * caught before anything reads it.
 */
export function scanRecordMessage(buf: Buffer, start: number, end: number, out: Int32Array): ScanError {
  if (end - start < AS_MSG_HEADER_SIZE) return ScanError.ShortHeader;
  if (buf[start + AsMsg.HeaderSize] !== AS_MSG_HEADER_SIZE) return ScanError.BadHeaderSize;
  const nFields = u16be(buf, start + AsMsg.FieldCount);
  const nOps = u16be(buf, start + AsMsg.OpCount);
  out[Scan.NamespaceOffset] = -1;
  out[Scan.NamespaceLength] = 0;
  out[Scan.SetOffset] = -1;
  out[Scan.SetLength] = 0;
  out[Scan.DigestOffset] = -1;
  out[Scan.LutFieldOffset] = -1;
  out[Scan.KeyOffset] = -1;
  out[Scan.KeyLength] = 0;
  out[Scan.FieldCount] = nFields;
  out[Scan.OpCount] = nOps;

  let pos = start + AS_MSG_HEADER_SIZE;
  for (let i = 0; i < nFields; i++) {
    const size = fieldSize(buf, pos, end);
    if (size < 0) return ScanError.FieldOverrun;
    const type = buf[pos + 4]!;
    const data = pos + 5;
    const dataLen = size - 1;
    switch (type) {
      case FieldType.Namespace:
        out[Scan.NamespaceOffset] = data;
        out[Scan.NamespaceLength] = dataLen;
        break;
      case FieldType.Set:
        out[Scan.SetOffset] = data;
        out[Scan.SetLength] = dataLen;
        break;
      case FieldType.Digest:
        if (dataLen === DIGEST_SIZE) out[Scan.DigestOffset] = data;
        break;
      case FieldType.LastUpdateTime:
        if (dataLen === 8) out[Scan.LutFieldOffset] = pos;
        break;
      case FieldType.UserKey:
        out[Scan.KeyOffset] = data;
        out[Scan.KeyLength] = dataLen;
        break;
      default:
        // Unknown field types are skipped, never rejected.
        break;
    }
    pos = data + dataLen;
  }
  out[Scan.OpsOffset] = pos;
  const err = checkOps(buf, pos, end, nOps);
  if (err !== ScanError.None) return err;
  if (out[Scan.NamespaceOffset]! < 0) return ScanError.NoNamespace;
  if (out[Scan.DigestOffset]! < 0) return ScanError.NoDigest;
  return ScanError.None;
}

/**
 * `scanRecordMessage`'s walk and checks, keeping only the digest and the LUT field (into `out`, see
 * `Route`): the same message passes or fails both, with the same error.
 */
export function routeRecordMessage(buf: Buffer, start: number, end: number, out: Int32Array): ScanError {
  if (end - start < AS_MSG_HEADER_SIZE) return ScanError.ShortHeader;
  if (buf[start + AsMsg.HeaderSize] !== AS_MSG_HEADER_SIZE) return ScanError.BadHeaderSize;
  const nFields = u16be(buf, start + AsMsg.FieldCount);
  const nOps = u16be(buf, start + AsMsg.OpCount);
  let namespace = false;
  let digest = -1;
  let lut = -1;
  let pos = start + AS_MSG_HEADER_SIZE;
  for (let i = 0; i < nFields; i++) {
    const size = fieldSize(buf, pos, end);
    if (size < 0) return ScanError.FieldOverrun;
    const type = buf[pos + 4]!;
    if (type === FieldType.Namespace) namespace = true;
    else if (type === FieldType.Digest) {
      if (size === 1 + DIGEST_SIZE) digest = pos + 5;
    } else if (type === FieldType.LastUpdateTime && size === 9) lut = pos;
    pos += 4 + size;
  }
  const err = checkOps(buf, pos, end, nOps);
  if (err !== ScanError.None) return err;
  if (!namespace) return ScanError.NoNamespace;
  if (digest < 0) return ScanError.NoDigest;
  out[Route.DigestOffset] = digest;
  out[Route.LutFieldOffset] = lut;
  return ScanError.None;
}

/** The size word of the field at `pos` (type and data), or -1 when the field does not fit before `end`. */
function fieldSize(buf: Buffer, pos: number, end: number): number {
  if (end - pos < 5) return -1;
  const size = u32be(buf, pos);
  return size < 1 || size > end - pos - 4 ? -1 : size;
}

/** The sizes of `nOps` ops from `pos`: each within `end`, and the last one ending at `end`. */
function checkOps(buf: Buffer, pos: number, end: number, nOps: number): ScanError {
  for (let i = 0; i < nOps; i++) {
    if (end - pos < 8) return ScanError.OpOverrun;
    const size = u32be(buf, pos);
    // size counts op, particle, flags, name length, name, optional LUT and value.
    const nameLen = buf[pos + 7]!;
    const lutLen = (buf[pos + 6]! & OP_FLAG_BIN_LUT) !== 0 ? 8 : 0;
    if (size < 4 + nameLen + lutLen || size > end - pos - 4) return ScanError.OpOverrun;
    pos += 4 + size;
  }
  return pos === end ? ScanError.None : ScanError.TrailingBytes;
}

/** Partition of a digest: the low 12 bits of its first two bytes, little-endian. */
export function partitionOf(buf: Buffer | Uint8Array, digestOffset: number): number {
  return (buf[digestOffset]! | (buf[digestOffset + 1]! << 8)) & (PARTITIONS - 1);
}
