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
 *   - the namespace field is replaced when the namespace is mapped;
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
import type { LastWriteWinsSettings, PolicySettings } from '../threads/index.js';

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
  readonly bin: string;

  constructor(s: LastWriteWinsSettings) {
    this.bin = s.bin;
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

export class WritePolicy {
  private readonly from: Buffer[];
  private readonly to: Buffer[];
  private readonly stripLut: boolean;
  private readonly info2Mask: number;
  private readonly guard: Guard | null;

  constructor(opts: PolicySettings) {
    this.from = opts.namespaceMap.map(([f]) => Buffer.from(f, 'utf8'));
    this.to = opts.namespaceMap.map(([, t]) => Buffer.from(t, 'utf8'));
    this.stripLut = opts.stripLut;
    this.info2Mask = opts.stripDurableDelete ? ~Info2.DurableDelete & 0xff : 0xff;
    this.guard = opts.lastWriteWins === null ? null : new Guard(opts.lastWriteWins);
  }

  /** Whether writes carry a version guard (last-write-wins is on). */
  get guarded(): boolean {
    return this.guard !== null;
  }

  /** Index of the namespace mapping that applies, or -1 to keep the namespace. */
  mappingOf(buf: Buffer, scan: Int32Array): number {
    return indexOfName(this.from, buf, scan[Scan.NamespaceOffset]!, scan[Scan.NamespaceLength]!);
  }

  get mappings(): number {
    return this.to.length;
  }

  /** The destination namespace of mapping `m`, as bytes. */
  target(m: number): Buffer {
    return this.to[m]!;
  }

  /** The source namespace of mapping `m`, as bytes. */
  source(m: number): Buffer {
    return this.from[m]!;
  }

  /** Whether the LUT field is dropped (`lut: strip`). */
  get stripsLut(): boolean {
    return this.stripLut;
  }

  /** Whether last-write-wins turns deletes into tombstones. */
  get tombstones(): boolean {
    return this.guard !== null && this.guard.tombstoneTtl > 0;
  }

  /** The version bin last-write-wins writes, or null when it is off. */
  get versionBin(): string | null {
    return this.guard === null ? null : this.guard.bin;
  }

  /** Bytes `write()` will produce, proto header included. */
  outputLength(buf: Buffer, start: number, end: number, scan: Int32Array, mapping: number): number {
    let len = PROTO_HEADER_SIZE + end - start;
    if (this.stripLut && scan[Scan.LutFieldOffset]! >= 0) len -= LUT_FIELD_SIZE;
    if (mapping >= 0) len += this.to[mapping]!.length - scan[Scan.NamespaceLength]!;
    const g = this.guard;
    if (g !== null && scan[Scan.LutFieldOffset]! >= 0) {
      len += g.field.length;
      if ((buf[start + AsMsg.Info2]! & Info2.Delete) === 0 || g.tombstoneTtl > 0) len += g.op.length;
    }
    return len;
  }

  /** Write the destination message for `buf[start, end)` at `out[at]`; `length` from outputLength(). */
  write(buf: Buffer, start: number, end: number, scan: Int32Array, mapping: number, out: Buffer, at: number, length: number): void {
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
    if (dropAt < 0 && mapping < 0 && g === null) {
      // Nothing moves: one copy of fields and ops.
      copyBytes(buf, start + AS_MSG_HEADER_SIZE, end, out, o + AS_MSG_HEADER_SIZE);
      return;
    }
    o += AS_MSG_HEADER_SIZE;
    if (dropAt < 0 && mapping < 0) {
      copyBytes(buf, start + AS_MSG_HEADER_SIZE, opsAt, out, o);
      o += opsAt - start - AS_MSG_HEADER_SIZE;
    } else o = this.copyFields(buf, start, scan[Scan.NamespaceOffset]! - 5, opsAt, dropAt, mapping, out, o);
    let fields = buf.readUInt16BE(start + AsMsg.FieldCount) - (dropAt >= 0 ? 1 : 0);
    if (g !== null) {
      g.field.copy(out, o);
      writeVersion(buf, start, lutAt, out, o + g.fieldVersionAt);
      o += g.field.length;
      fields++;
    }
    out.writeUInt16BE(fields, header + AsMsg.FieldCount);
    copyBytes(buf, opsAt, end, out, o);
    o += end - opsAt;
    if (g === null || (isDelete && g.tombstoneTtl === 0)) return;
    if (isDelete) {
      // The tombstone: the version bin alone replaces the record, and expires on its own.
      out[header + AsMsg.Info2] = Info2.Write;
      out[header + AsMsg.Info3] = Info3.CreateOrReplace;
      out.writeUInt32BE(g.tombstoneTtl, header + AsMsg.RecordTtl);
    }
    out.writeUInt16BE(buf.readUInt16BE(start + AsMsg.OpCount) + 1, header + AsMsg.OpCount);
    g.op.copy(out, o);
    writeVersion(buf, start, lutAt, out, o + g.op.length - 8);
  }

  /** Copy the fields, dropping the LUT field at `dropAt` and mapping the namespace; returns the end. */
  private copyFields(buf: Buffer, start: number, nsFieldAt: number, opsAt: number, dropAt: number, mapping: number, out: Buffer, o: number): number {
    let pos = start + AS_MSG_HEADER_SIZE;
    while (pos < opsAt) {
      const size = buf.readUInt32BE(pos);
      const next = pos + 4 + size;
      if (pos === dropAt) {
        // dropped
      } else if (pos === nsFieldAt && mapping >= 0) {
        const to = this.to[mapping]!;
        out.writeUInt32BE(1 + to.length, o);
        out[o + 4] = FieldType.Namespace;
        to.copy(out, o + 5);
        o += 5 + to.length;
      } else {
        copyBytes(buf, pos, next, out, o);
        o += next - pos;
      }
      pos = next;
    }
    return o;
  }
}
