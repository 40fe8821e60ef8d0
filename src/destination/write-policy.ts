/**
 * Turns a record as XDR shipped it into the write Ferry sends the destination, by copying bytes and
 * patching a few of them; the record is never decoded.
 *
 *   in:  as_msg: header(22) field* op*                     (no proto header; from the inbound ring)
 *   out: proto(8) header(22, info2 patched) field'* op*   (ready for the destination socket)
 *
 *   - the XDR bit (info1 0x10) is kept, so the destination does not ship the write onward;
 *   - the LUT field (14) is kept or dropped (`stripLut`);
 *   - the durable-delete bit (info2 0x10 on a delete) is cleared when the destination does not
 *     support it (Community Edition answers 25);
 *   - routing rules (routes.ts) replace the namespace and set fields (a set field is added to a
 *     record without one), and recompute the digest when the set changes and the record carries
 *     its user key (digest = RIPEMD-160(set ‖ key type ‖ key)); bin rules drop and rename ops,
 *     fixing up each op's size and the op count. A record whose route changes nothing is copied
 *     as before;
 *   - last-write-wins (`guard`): a filter-expression field (43) and a write of the version bin are
 *     appended, so the destination applies the record only when it holds no newer version:
 *
 *       out: proto(8) header(22, counts +1) field'* [guard field] op* [version op]
 *       version (u64 BE, patched into both slots while copying):
 *         [00][LUT bytes 3..7: ms since 2010, 40 bits][generation, low 16 bits]
 *
 *     A delete gets the guard field only; with tombstones it becomes a create-or-replace write of
 *     the version bin alone, with the tombstone TTL. A record without a LUT field is not guarded.
 */

import {
  AS_MSG_HEADER_SIZE,
  AsMsg,
  FieldType,
  Info2,
  Info3,
  MessageType,
  OpType,
  PROTO_HEADER_SIZE,
  PROTO_VERSION,
  ParticleType,
  Scan,
  copyBytes,
  encodeVersionGuard,
  indexOfName,
} from '../protocol/index.js';
import { createHash } from 'node:crypto';
import type { LastWriteWinsSettings, PolicySettings } from '../threads/index.js';
import { NO_ROUTE, type Route, RouteTable } from './routes.js';

const LUT_FIELD_SIZE = 4 + 1 + 8;
/** the ms part of the LUT: its data's bytes 3..7, after the field's size word and type */
const LUT_MS_AT = 4 + 1 + 3;
/** the generation's low 16 bits in the as_msg header */
const GENERATION_LOW_AT = AsMsg.Generation + 2;

/**
 * The bytes last-write-wins appends, built once per policy; each record patches only its version.
 *   field: [u32 size][u8 43][expression]          version at fieldVersionAt
 *   op:    [u32 size][u8 2][u8 1][u8 0][u8 len][name][u64 version]   version at the last 8 bytes
 */
class Guard {
  readonly field: Buffer;
  readonly fieldVersionAt: number;
  readonly op: Buffer;
  /** seconds a tombstone lives; 0 = deletes stay deletes */
  readonly tombstoneTtl: number;

  constructor(s: LastWriteWinsSettings) {
    const g = encodeVersionGuard(s.bin);
    this.field = Buffer.alloc(5 + g.expression.length);
    this.field.writeUInt32BE(1 + g.expression.length, 0);
    this.field[4] = FieldType.FilterExpression;
    g.expression.copy(this.field, 5);
    this.fieldVersionAt = 5 + g.versionAt;
    const name = Buffer.from(s.bin, 'utf8');
    this.op = Buffer.alloc(8 + name.length + 8);
    this.op.writeUInt32BE(4 + name.length + 8, 0);
    this.op[4] = OpType.Write;
    this.op[5] = ParticleType.Integer;
    this.op[7] = name.length;
    name.copy(this.op, 8);
    this.tombstoneTtl = s.tombstoneTtl;
  }
}

/** Write the record's version (see the file comment) at `out[at]`; `lutAt` is its LUT field. */
function writeVersion(buf: Buffer, start: number, lutAt: number, out: Buffer, at: number): void {
  out[at] = 0;
  copyBytes(buf, lutAt + LUT_MS_AT, lutAt + LUT_FIELD_SIZE, out, at + 1);
  out[at + 6] = buf[start + GENERATION_LOW_AT]!;
  out[at + 7] = buf[start + GENERATION_LOW_AT + 1]!;
}

/** What the bin rules do with one op: drop it, keep it, or rename it (an index into renameTo). */
const DROP = -2;
const KEEP = -1;

function binAction(r: Route, buf: Buffer, nameAt: number, nameLen: number): number {
  if (r.include !== null && indexOfName(r.include, buf, nameAt, nameLen) < 0) return DROP;
  if (r.exclude.length > 0 && indexOfName(r.exclude, buf, nameAt, nameLen) >= 0) return DROP;
  return r.renameFrom.length === 0 ? KEEP : indexOfName(r.renameFrom, buf, nameAt, nameLen);
}

export class WritePolicy {
  private readonly table: RouteTable;
  private readonly stripLut: boolean;
  private readonly info2Mask: number;
  private readonly guard: Guard | null;

  constructor(opts: PolicySettings) {
    this.table = new RouteTable(opts.routing);
    this.stripLut = opts.stripLut;
    this.info2Mask = opts.stripDurableDelete ? ~Info2.DurableDelete & 0xff : 0xff;
    this.guard = opts.lastWriteWins === null ? null : new Guard(opts.lastWriteWins);
  }

  /** Whether writes carry a version guard (last-write-wins is on). */
  get guarded(): boolean {
    return this.guard !== null;
  }

  /** Index of the route that applies, or NO_ROUTE to write the record as it came. */
  routeOf(buf: Buffer, scan: Int32Array): number {
    return this.table.active ? this.table.lookup(buf, scan) : NO_ROUTE;
  }

  get routes(): number {
    return this.table.routes.length;
  }

  /** The destination namespace of route `m`, as bytes; null = the source's. */
  target(m: number): Buffer | null {
    return this.table.routes[m]!.namespace;
  }

  /** The SkipReason of route `m`, or -1 when its records are written. */
  skipOf(m: number): number {
    return this.table.routes[m]!.skip;
  }

  /**
   * The digest of the record under route `m` when the route changes its set and the record carries
   * its user key (the destination finds it by the new set and key); null = the digest stays.
   */
  rekey(buf: Buffer, scan: Int32Array, m: number): Buffer | null {
    const set = m === NO_ROUTE ? null : this.table.routes[m]!.set;
    const keyAt = scan[Scan.KeyOffset]!;
    if (set === null || keyAt < 0) return null;
    return createHash('ripemd160')
      .update(set)
      .update(buf.subarray(keyAt, keyAt + scan[Scan.KeyLength]!))
      .digest();
  }

  /**
   * Bytes `write()` will produce, proto header included; 0 when route `m` leaves a write with no
   * bin at all (nothing to write: the record is answered done instead).
   */
  outputLength(buf: Buffer, start: number, end: number, scan: Int32Array, m: number): number {
    let len = PROTO_HEADER_SIZE + end - start;
    if (this.stripLut && scan[Scan.LutFieldOffset]! >= 0) len -= LUT_FIELD_SIZE;
    if (m !== NO_ROUTE) {
      const r = this.table.routes[m]!;
      if (r.namespace !== null) len += r.namespace.length - scan[Scan.NamespaceLength]!;
      if (r.set !== null) len += scan[Scan.SetOffset]! >= 0 ? r.set.length - scan[Scan.SetLength]! : 5 + r.set.length;
      if (r.bins && scan[Scan.OpCount]! > 0) {
        const delta = this.binDelta(r, buf, scan[Scan.OpsOffset]!, end);
        if (delta === null) return 0;
        len += delta;
      }
    }
    const g = this.guard;
    if (g !== null && scan[Scan.LutFieldOffset]! >= 0) {
      len += g.field.length;
      if ((buf[start + AsMsg.Info2]! & Info2.Delete) === 0 || g.tombstoneTtl > 0) len += g.op.length;
    }
    return len;
  }

  /** How many bytes the bin rules take off (negative) or add; null when no op is left. */
  private binDelta(r: Route, buf: Buffer, pos: number, end: number): number | null {
    let delta = 0;
    let kept = 0;
    while (pos < end) {
      const size = buf.readUInt32BE(pos);
      const nameLen = buf[pos + 7]!;
      const a = binAction(r, buf, pos + 8, nameLen);
      if (a === DROP) delta -= 4 + size;
      else {
        kept++;
        if (a >= 0) delta += r.renameTo[a]!.length - nameLen;
      }
      pos += 4 + size;
    }
    return kept === 0 ? null : delta;
  }

  /**
   * Write the destination message for `buf[start, end)` at `out[at]`; `length` from outputLength(),
   * `digest` from rekey().
   */
  write(buf: Buffer, start: number, end: number, scan: Int32Array, m: number, out: Buffer, at: number, length: number, digest: Buffer | null = null): void {
    out[at] = PROTO_VERSION;
    out[at + 1] = MessageType.Record;
    out.writeUIntBE(length - PROTO_HEADER_SIZE, at + 2, 6);
    let o = at + PROTO_HEADER_SIZE;
    const header = o;
    copyBytes(buf, start, start + AS_MSG_HEADER_SIZE, out, o);
    const info2 = buf[start + AsMsg.Info2]!;
    const isDelete = (info2 & Info2.Delete) !== 0;
    // On a write, 0x10 says the source ships bin LUTs; only a delete's 0x10 is "durable".
    out[o + AsMsg.Info2] = isDelete ? info2 & this.info2Mask : info2;
    const lutAt = scan[Scan.LutFieldOffset]!;
    const dropAt = this.stripLut ? lutAt : -1;
    const g = lutAt >= 0 ? this.guard : null;
    const opsAt = scan[Scan.OpsOffset]!;
    if (dropAt < 0 && m === NO_ROUTE && g === null) {
      // Nothing moves: one copy of fields and ops.
      copyBytes(buf, start + AS_MSG_HEADER_SIZE, end, out, o + AS_MSG_HEADER_SIZE);
      return;
    }
    const r = m === NO_ROUTE ? null : this.table.routes[m]!;
    o += AS_MSG_HEADER_SIZE;
    let fields = buf.readUInt16BE(start + AsMsg.FieldCount) - (dropAt >= 0 ? 1 : 0);
    if (dropAt < 0 && (r === null || (r.namespace === null && r.set === null))) {
      copyBytes(buf, start + AS_MSG_HEADER_SIZE, opsAt, out, o);
      o += opsAt - start - AS_MSG_HEADER_SIZE;
    } else {
      o = this.copyFields(buf, start, scan, dropAt, r, digest, out, o);
      if (r !== null && r.set !== null && scan[Scan.SetOffset]! < 0) {
        o = writeNameField(FieldType.Set, r.set, out, o);
        fields++;
      }
    }
    if (g !== null) {
      g.field.copy(out, o);
      writeVersion(buf, start, lutAt, out, o + g.fieldVersionAt);
      o += g.field.length;
      fields++;
    }
    out.writeUInt16BE(fields, header + AsMsg.FieldCount);
    let ops = buf.readUInt16BE(start + AsMsg.OpCount);
    if (r !== null && r.bins && ops > 0) {
      o = this.copyOps(r, buf, opsAt, end, out, o);
      ops = this.keptOps;
    } else {
      copyBytes(buf, opsAt, end, out, o);
      o += end - opsAt;
    }
    out.writeUInt16BE(ops, header + AsMsg.OpCount);
    if (g === null || (isDelete && g.tombstoneTtl === 0)) return;
    if (isDelete) {
      // The tombstone: the version bin alone replaces the record, and expires on its own.
      out[header + AsMsg.Info2] = Info2.Write;
      out[header + AsMsg.Info3] = Info3.CreateOrReplace;
      out.writeUInt32BE(g.tombstoneTtl, header + AsMsg.RecordTtl);
    }
    out.writeUInt16BE(ops + 1, header + AsMsg.OpCount);
    g.op.copy(out, o);
    writeVersion(buf, start, lutAt, out, o + g.op.length - 8);
  }

  /** ops copyOps() kept, for the op count */
  private keptOps = 0;

  /** Copy the ops the bin rules keep, renamed; returns the end. */
  private copyOps(r: Route, buf: Buffer, pos: number, end: number, out: Buffer, o: number): number {
    let kept = 0;
    while (pos < end) {
      const size = buf.readUInt32BE(pos);
      const next = pos + 4 + size;
      const nameLen = buf[pos + 7]!;
      const a = binAction(r, buf, pos + 8, nameLen);
      if (a === KEEP) {
        copyBytes(buf, pos, next, out, o);
        o += next - pos;
      } else if (a >= 0) {
        const to = r.renameTo[a]!;
        out.writeUInt32BE(size - nameLen + to.length, o);
        copyBytes(buf, pos + 4, pos + 7, out, o + 4);
        out[o + 7] = to.length;
        copyBytes(to, 0, to.length, out, o + 8);
        o += 8 + to.length;
        copyBytes(buf, pos + 8 + nameLen, next, out, o);
        o += next - pos - 8 - nameLen;
      }
      if (a !== DROP) kept++;
      pos = next;
    }
    this.keptOps = kept;
    return o;
  }

  /** the field edits of one record (at most four: LUT, namespace, set, digest), by position */
  private readonly editAt = new Int32Array(4);
  private readonly editEnd = new Int32Array(4);
  private readonly editType = new Uint8Array(4);
  private readonly editData: Array<Buffer | null> = [null, null, null, null];
  private edits = 0;

  private edit(at: number, end: number, type: number, data: Buffer | null): void {
    let i = this.edits++;
    // Insertion by position: the fields come in any order.
    for (; i > 0 && this.editAt[i - 1]! > at; i--) {
      this.editAt[i] = this.editAt[i - 1]!;
      this.editEnd[i] = this.editEnd[i - 1]!;
      this.editType[i] = this.editType[i - 1]!;
      this.editData[i] = this.editData[i - 1]!;
    }
    this.editAt[i] = at;
    this.editEnd[i] = end;
    this.editType[i] = type;
    this.editData[i] = data;
  }

  /**
   * Copy the fields, dropping the LUT field at `dropAt`, replacing the namespace and set as route
   * `r` says and the digest with `digest`; returns the end. The scan gives where each of those
   * fields is, so the fields between them are copied in runs, never walked.
   */
  private copyFields(buf: Buffer, start: number, scan: Int32Array, dropAt: number, r: Route | null, digest: Buffer | null, out: Buffer, o: number): number {
    this.edits = 0;
    if (dropAt >= 0) this.edit(dropAt, dropAt + LUT_FIELD_SIZE, 0, null);
    if (r !== null && r.namespace !== null) {
      const at = scan[Scan.NamespaceOffset]!;
      this.edit(at - 5, at + scan[Scan.NamespaceLength]!, FieldType.Namespace, r.namespace);
    }
    if (r !== null && r.set !== null && scan[Scan.SetOffset]! >= 0) {
      const at = scan[Scan.SetOffset]!;
      this.edit(at - 5, at + scan[Scan.SetLength]!, FieldType.Set, r.set);
    }
    if (digest !== null) {
      const at = scan[Scan.DigestOffset]!;
      this.edit(at - 5, at + digest.length, FieldType.Digest, digest);
    }
    let pos = start + AS_MSG_HEADER_SIZE;
    for (let i = 0; i < this.edits; i++) {
      const at = this.editAt[i]!;
      copyBytes(buf, pos, at, out, o);
      o += at - pos;
      const data = this.editData[i]!;
      if (data !== null) o = writeNameField(this.editType[i]!, data, out, o);
      pos = this.editEnd[i]!;
    }
    const opsAt = scan[Scan.OpsOffset]!;
    copyBytes(buf, pos, opsAt, out, o);
    return o + opsAt - pos;
  }
}

/** Write the field [u32 size][u8 type][data] at `out[o]`; returns the end. */
function writeNameField(type: number, data: Buffer, out: Buffer, o: number): number {
  out.writeUInt32BE(1 + data.length, o);
  out[o + 4] = type;
  copyBytes(data, 0, data.length, out, o + 5);
  return o + 5 + data.length;
}
