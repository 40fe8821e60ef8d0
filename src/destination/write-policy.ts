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
 *   - the namespace field is replaced when the namespace is mapped.
 */

import { AS_MSG_HEADER_SIZE, AsMsg, FieldType, Info2, MessageType, PROTO_HEADER_SIZE, PROTO_VERSION, Scan, copyBytes } from '../protocol/index.js';
import type { PolicySettings } from '../threads/index.js';

const LUT_FIELD_SIZE = 4 + 1 + 8;

export class WritePolicy {
  private readonly from: Buffer[];
  private readonly to: Buffer[];
  private readonly stripLut: boolean;
  private readonly info2Mask: number;

  constructor(opts: PolicySettings) {
    this.from = opts.namespaceMap.map(([f]) => Buffer.from(f, 'utf8'));
    this.to = opts.namespaceMap.map(([, t]) => Buffer.from(t, 'utf8'));
    this.stripLut = opts.stripLut;
    this.info2Mask = opts.stripDurableDelete ? ~Info2.DurableDelete & 0xff : 0xff;
  }

  /** Index of the namespace mapping that applies, or -1 to keep the namespace. */
  mappingOf(buf: Buffer, scan: Int32Array): number {
    const off = scan[Scan.NamespaceOffset]!;
    const len = scan[Scan.NamespaceLength]!;
    outer: for (let m = 0; m < this.from.length; m++) {
      const f = this.from[m]!;
      if (f.length !== len) continue;
      for (let i = 0; i < len; i++) if (f[i] !== buf[off + i]) continue outer;
      return m;
    }
    return -1;
  }

  get mappings(): number {
    return this.to.length;
  }

  /** The destination namespace of mapping `m`, as bytes. */
  target(m: number): Buffer {
    return this.to[m]!;
  }

  /** Bytes `write()` will produce, proto header included. */
  outputLength(start: number, end: number, scan: Int32Array, mapping: number): number {
    let len = PROTO_HEADER_SIZE + end - start;
    if (this.stripLut && scan[Scan.LutFieldOffset]! >= 0) len -= LUT_FIELD_SIZE;
    if (mapping >= 0) len += this.to[mapping]!.length - scan[Scan.NamespaceLength]!;
    return len;
  }

  /** Write the destination message for `buf[start, end)` at `out[at]`; `length` from outputLength(). */
  write(buf: Buffer, start: number, end: number, scan: Int32Array, mapping: number, out: Buffer, at: number, length: number): void {
    out[at] = PROTO_VERSION;
    out[at + 1] = MessageType.Record;
    out.writeUIntBE(length - PROTO_HEADER_SIZE, at + 2, 6);
    let o = at + PROTO_HEADER_SIZE;
    copyBytes(buf, start, start + AS_MSG_HEADER_SIZE, out, o);
    const info2 = buf[start + AsMsg.Info2]!;
    // On a write, 0x10 says the source ships bin LUTs; only a delete's 0x10 is "durable".
    out[o + AsMsg.Info2] = (info2 & Info2.Delete) !== 0 ? info2 & this.info2Mask : info2;
    const lutAt = this.stripLut ? scan[Scan.LutFieldOffset]! : -1;
    if (lutAt < 0 && mapping < 0) {
      // Nothing moves: one copy of fields and ops.
      copyBytes(buf, start + AS_MSG_HEADER_SIZE, end, out, o + AS_MSG_HEADER_SIZE);
      return;
    }
    if (lutAt >= 0) out.writeUInt16BE(buf.readUInt16BE(start + AsMsg.FieldCount) - 1, o + AsMsg.FieldCount);
    o += AS_MSG_HEADER_SIZE;
    const nsFieldAt = scan[Scan.NamespaceOffset]! - 5;
    const opsAt = scan[Scan.OpsOffset]!;
    let pos = start + AS_MSG_HEADER_SIZE;
    while (pos < opsAt) {
      const size = buf.readUInt32BE(pos);
      const next = pos + 4 + size;
      if (pos === lutAt) {
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
    copyBytes(buf, opsAt, end, out, o);
  }
}
