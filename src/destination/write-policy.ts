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
  DIGEST_SIZE,
  ParticleType,
  Scan,
  copyBytes,
  encodeVersionGuard,
  indexOfName,
} from '../protocol/index.js';
import { createHash } from 'node:crypto';
import { type LastWriteWinsSettings, type PolicySettings, spanCopier } from '../threads/index.js';
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

/**
 * u32 BE read and write as plain byte loads and stores, per op and per edit: the Buffer methods
 * check their arguments on every call, and their callers here already stay inside the message.
 */
function readU32(buf: Buffer, at: number): number {
  return ((buf[at]! << 24) | (buf[at + 1]! << 16) | (buf[at + 2]! << 8) | buf[at + 3]!) >>> 0;
}

function writeU32(out: Buffer, at: number, v: number): void {
  out[at] = v >>> 24;
  out[at + 1] = (v >>> 16) & 0xff;
  out[at + 2] = (v >>> 8) & 0xff;
  out[at + 3] = v & 0xff;
}

/** A DataView over each buffer run() copies from or to, made once and dropped with the buffer. */
const views = new WeakMap<Buffer, DataView>();

function viewOf(b: Buffer): DataView {
  let v = views.get(b);
  if (v === undefined) {
    v = new DataView(b.buffer, b.byteOffset, b.length);
    views.set(b, v);
  }
  return v;
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

  /**
   * The source namespace of the records route `m` moves to another namespace, as bytes; null when
   * the route keeps the namespace or serves several (the fallback rule).
   */
  sourceNamespace(m: number): Buffer | null {
    const r = this.table.routes[m];
    return r === undefined || r.namespace === null ? null : r.source;
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
   * bin at all (nothing to write: the record is answered done instead). Plans the record's edits,
   * which write() then applies.
   */
  outputLength(buf: Buffer, start: number, end: number, scan: Int32Array, m: number): number {
    return this.plan(buf, start, end, scan, m);
  }

  /**
   * Plan the edits of one record (see Edit): fields replaced or dropped, what is inserted after the
   * fields (a set field, the guard field), ops dropped or renamed; returns the output length (0:
   * no bin left). Everything between edits is copied in runs.
   */
  private plan(buf: Buffer, start: number, end: number, scan: Int32Array, m: number): number {
    const e = this.edits;
    e.clear();
    this.plannedBuf = buf;
    this.plannedStart = start;
    this.plannedRoute = m;
    let len = PROTO_HEADER_SIZE + end - start;
    const lutAt = scan[Scan.LutFieldOffset]!;
    if (this.stripLut && lutAt >= 0) {
      e.add(lutAt, lutAt + LUT_FIELD_SIZE, Edit.Drop, 0, null);
      len -= LUT_FIELD_SIZE;
    }
    const opsAt = scan[Scan.OpsOffset]!;
    const r = m === NO_ROUTE ? null : this.table.routes[m]!;
    this.insertSet = null;
    if (r !== null) {
      if (r.namespace !== null) {
        const at = scan[Scan.NamespaceOffset]!;
        e.add(at - 5, at + scan[Scan.NamespaceLength]!, Edit.Field, FieldType.Namespace, r.namespace);
        len += r.namespace.length - scan[Scan.NamespaceLength]!;
      }
      if (r.set !== null) {
        const at = scan[Scan.SetOffset]!;
        if (at >= 0) {
          e.add(at - 5, at + scan[Scan.SetLength]!, Edit.Field, FieldType.Set, r.set);
          len += r.set.length - scan[Scan.SetLength]!;
        } else {
          this.insertSet = r.set;
          len += 5 + r.set.length;
        }
      }
    }
    const g = lutAt >= 0 ? this.guard : null;
    if (g !== null) {
      len += g.field.length;
      if ((buf[start + AsMsg.Info2]! & Info2.Delete) === 0 || g.tombstoneTtl > 0) len += g.op.length;
    }
    if (this.insertSet !== null || g !== null) e.add(opsAt, opsAt, Edit.Insert, 0, null);
    this.keptOps = scan[Scan.OpCount]!;
    if (r !== null && r.bins && this.keptOps > 0) {
      let kept = 0;
      const lengths = r.include === null ? r.binLengths : -1;
      for (let pos = opsAt; pos < end; ) {
        const next = pos + 4 + readU32(buf, pos);
        const nameLen = buf[pos + 7]!;
        if (((lengths >>> (nameLen & 31)) & 1) === 0) {
          // No rule names a bin this long: kept as it is.
          kept++;
          pos = next;
          continue;
        }
        const a = binAction(r, buf, pos + 8, nameLen);
        if (a === DROP) {
          e.add(pos, next, Edit.Drop, 0, null);
          len -= next - pos;
        } else {
          kept++;
          if (a >= 0) {
            e.add(pos, pos + 8 + nameLen, Edit.Rename, a, null);
            len += r.renameTo[a]!.length - nameLen;
          }
        }
        pos = next;
      }
      if (kept === 0) return 0;
      this.keptOps = kept;
    }
    return len;
  }

  /**
   * Write the destination message for `buf[start, end)` at `out[at]`; `length` from outputLength(),
   * `digest` from rekey(). Long copies out of shared memory are queued (threads/span-copier.ts):
   * `out` holds the whole message once `spanCopier.finish()` has run, which a connection's flush()
   * and the worker's ring release() call.
   */
  write(buf: Buffer, start: number, end: number, scan: Int32Array, m: number, out: Buffer, at: number, length: number, digest: Buffer | null = null): void {
    // The proto header: version, type, u48 BE size (a message is far below 4 GiB: top 2 bytes 0).
    const size = length - PROTO_HEADER_SIZE;
    out[at] = PROTO_VERSION;
    out[at + 1] = MessageType.Record;
    out[at + 2] = 0;
    out[at + 3] = 0;
    writeU32(out, at + 4, size);
    const header = at + PROTO_HEADER_SIZE;
    copyBytes(buf, start, start + AS_MSG_HEADER_SIZE, out, header);
    const info2 = buf[start + AsMsg.Info2]!;
    // On a write, 0x10 says the source ships bin LUTs; only a delete's 0x10 is "durable".
    if ((info2 & Info2.Delete) !== 0) out[header + AsMsg.Info2] = info2 & this.info2Mask;
    const lutAt = scan[Scan.LutFieldOffset]!;
    const g = lutAt >= 0 ? this.guard : null;
    if (m === NO_ROUTE && g === null && !(this.stripLut && lutAt >= 0)) {
      // Nothing moves: one copy of fields and ops.
      spanCopier.copy(buf, start + AS_MSG_HEADER_SIZE, end, out, header + AS_MSG_HEADER_SIZE);
      return;
    }
    if (this.plannedBuf !== buf || this.plannedStart !== start || this.plannedRoute !== m) this.plan(buf, start, end, scan, m);
    // A plan serves one write (the digest edit below joins it).
    this.plannedBuf = null;
    const e = this.edits;
    if (digest !== null) {
      const d = scan[Scan.DigestOffset]!;
      e.add(d - 5, d + DIGEST_SIZE, Edit.Field, FieldType.Digest, digest);
    } else if (e.n === 0) {
      // A route that edits nothing here (no bin it names, no field it changes): one copy, as above.
      spanCopier.copy(buf, start + AS_MSG_HEADER_SIZE, end, out, header + AS_MSG_HEADER_SIZE);
      return;
    }
    const o = this.applyEdits(buf, start, end, scan, m, out, header, g, lutAt);
    if (g !== null) this.appendGuard(buf, start, out, header, o, g, lutAt);
  }

  /** Copy the record in runs between the planned edits; returns the end of what was written. */
  private applyEdits(buf: Buffer, start: number, end: number, scan: Int32Array, m: number, out: Buffer, header: number, g: Guard | null, lutAt: number): number {
    const e = this.edits;
    const { at: edAt, end: edEnd, kind: edKind, arg: edArg, data: edData } = e;
    const count = e.n;
    const opsAt = scan[Scan.OpsOffset]!;
    const renameTo = m === NO_ROUTE ? null : this.table.routes[m]!.renameTo;
    let fields = (buf[start + AsMsg.FieldCount]! << 8) | buf[start + AsMsg.FieldCount + 1]!;
    let o = header + AS_MSG_HEADER_SIZE;
    let pos = start + AS_MSG_HEADER_SIZE;
    for (let i = 0; i < count; i++) {
      const from = edAt[i]!;
      this.run(buf, pos, from, out, o);
      o += from - pos;
      switch (edKind[i]) {
        case Edit.Drop:
          if (from < opsAt) fields--;
          break;
        case Edit.Field:
          o = writeNameField(edArg[i]!, edData[i]!, out, o);
          break;
        case Edit.Insert:
          if (this.insertSet !== null) {
            o = writeNameField(FieldType.Set, this.insertSet, out, o);
            fields++;
          }
          if (g !== null) {
            copyBytes(g.field, 0, g.field.length, out, o);
            writeVersion(buf, start, lutAt, out, o + g.fieldVersionAt);
            o += g.field.length;
            fields++;
          }
          break;
        default: {
          // Rename: [u32 size][op][particle][flags][u8 name length][name] with the new name.
          const to = renameTo![edArg[i]!]!;
          const nameLen = buf[from + 7]!;
          writeU32(out, o, readU32(buf, from) - nameLen + to.length);
          out[o + 4] = buf[from + 4]!;
          out[o + 5] = buf[from + 5]!;
          out[o + 6] = buf[from + 6]!;
          out[o + 7] = to.length;
          copyBytes(to, 0, to.length, out, o + 8);
          o += 8 + to.length;
        }
      }
      pos = edEnd[i]!;
    }
    this.run(buf, pos, end, out, o);
    const ops = this.keptOps;
    out[header + AsMsg.FieldCount] = fields >>> 8;
    out[header + AsMsg.FieldCount + 1] = fields & 0xff;
    out[header + AsMsg.OpCount] = ops >>> 8;
    out[header + AsMsg.OpCount + 1] = ops & 0xff;
    return o + end - pos;
  }

  /** Last-write-wins: the version op after the record's ops at `out[o]`, or a delete's tombstone. */
  private appendGuard(buf: Buffer, start: number, out: Buffer, header: number, o: number, g: Guard, lutAt: number): void {
    const isDelete = (buf[start + AsMsg.Info2]! & Info2.Delete) !== 0;
    if (isDelete && g.tombstoneTtl === 0) return;
    if (isDelete) {
      // The tombstone: the version bin alone replaces the record, and expires on its own.
      out[header + AsMsg.Info2] = Info2.Write;
      out[header + AsMsg.Info3] = Info3.CreateOrReplace;
      writeU32(out, header + AsMsg.RecordTtl, g.tombstoneTtl);
    }
    out.writeUInt16BE(this.keptOps + 1, header + AsMsg.OpCount);
    copyBytes(g.op, 0, g.op.length, out, o);
    writeVersion(buf, start, lutAt, out, o + g.op.length - 8);
  }

  /**
   * Copy a run between two edits. A run of fields (set, key, digest: 60-odd bytes) costs copyBytes
   * its byte loop, about three times what four bytes at a time through DataViews take (measured
   * in bench/transforms.ts); a long run (the bins) is one block copy, made with the record's other
   * copies out of shared memory when it comes from there (threads/span-copier.ts). The views are
   * kept while the buffers stay the same (the worker's ring, a connection's out chunk), and
   * remembered per buffer (viewOf): the sink writes to several connections' chunks in turn, and a
   * new DataView per record cost more than all the rest of a rename.
   */
  private run(src: Buffer, start: number, end: number, dst: Buffer, at: number): void {
    const n = end - start;
    if (n > 128) {
      spanCopier.copy(src, start, end, dst, at);
      return;
    }
    if (n < 8) {
      copyBytes(src, start, end, dst, at);
      return;
    }
    if (src !== this.runSrc) {
      this.runSrc = src;
      this.runSrcView = viewOf(src);
    }
    if (dst !== this.runDst) {
      this.runDst = dst;
      this.runDstView = viewOf(dst);
    }
    const from = this.runSrcView!;
    const to = this.runDstView!;
    let i = 0;
    for (; i + 4 <= n; i += 4) to.setUint32(at + i, from.getUint32(start + i));
    for (; i < n; i++) dst[at + i] = src[start + i]!;
  }

  private runSrc: Buffer | null = null;
  private runSrcView: DataView | null = null;
  private runDst: Buffer | null = null;
  private runDstView: DataView | null = null;

  /** the record plan() last planned, its edits, the set field to insert, the ops kept */
  private readonly edits = new Edits();
  private plannedBuf: Buffer | null = null;
  private plannedStart = -1;
  private plannedRoute = NO_ROUTE;
  private insertSet: Buffer | null = null;
  private keptOps = 0;
}

/** What an edit does to `[at, end)` of the source message. */
const Edit = {
  /** leave it out (a LUT field, an op the bin rules drop) */
  Drop: 0,
  /** write field `arg` with `data` instead (namespace, set, digest) */
  Field: 1,
  /** at the end of the fields (empty range): the set field a record lacks, the guard field */
  Insert: 2,
  /** an op's header and name, written with rename target `arg` */
  Rename: 3,
} as const;

/** A record's edits, kept sorted by position (fields and ops come in any order). */
class Edits {
  at = new Int32Array(8);
  end = new Int32Array(8);
  kind = new Uint8Array(8);
  arg = new Int32Array(8);
  data: Array<Buffer | null> = new Array<Buffer | null>(8).fill(null);
  n = 0;

  clear(): void {
    this.n = 0;
  }

  add(at: number, end: number, kind: number, arg: number, data: Buffer | null): void {
    if (this.n === this.at.length) this.grow();
    let i = this.n++;
    // Insertion by position; an edit at the same position as an earlier one goes after it.
    for (; i > 0 && this.at[i - 1]! > at; i--) {
      this.at[i] = this.at[i - 1]!;
      this.end[i] = this.end[i - 1]!;
      this.kind[i] = this.kind[i - 1]!;
      this.arg[i] = this.arg[i - 1]!;
      this.data[i] = this.data[i - 1]!;
    }
    this.at[i] = at;
    this.end[i] = end;
    this.kind[i] = kind;
    this.arg[i] = arg;
    this.data[i] = data;
  }

  private grow(): void {
    const size = this.at.length * 2;
    const widen = <T extends Int32Array | Uint8Array>(a: T, b: T): T => {
      b.set(a);
      return b;
    };
    this.at = widen(this.at, new Int32Array(size));
    this.end = widen(this.end, new Int32Array(size));
    this.kind = widen(this.kind, new Uint8Array(size));
    this.arg = widen(this.arg, new Int32Array(size));
    this.data.length = size;
    this.data.fill(null, size / 2);
  }
}

/** Write the field [u32 size][u8 type][data] at `out[o]`; returns the end. */
function writeNameField(type: number, data: Buffer, out: Buffer, o: number): number {
  writeU32(out, o, 1 + data.length);
  out[o + 4] = type;
  copyBytes(data, 0, data.length, out, o + 5);
  return o + 5 + data.length;
}
