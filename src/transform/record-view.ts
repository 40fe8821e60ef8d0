/**
 * A record message seen as a `SourceRecord`: header values and fields are read from the bytes when
 * asked for; bins are decoded on the first read of `bins` (a transform that looks only at the set
 * or the LUT decodes nothing). The view is valid during the transform call only: its bytes are the
 * worker's inbound ring, reused once the record is handled.
 */

import { AsMsg, Info2, OP_FLAG_BIN_LUT, ParticleType, Scan, decodeParticle, lutToUnixMs } from '../protocol/index.js';
import type { BinValue, SourceRecord, UserKey } from './api.js';

/** A bin as shipped: its op's bytes, for writing it again unchanged. */
export interface RawBin {
  /** the whole op, size word included */
  op: Buffer;
  /** the decoded value handed to the transform (compared by identity on the way out) */
  value: BinValue;
}

export class RecordView implements SourceRecord {
  private decoded: Record<string, BinValue> | null = null;
  /** by bin name, filled with `bins` */
  readonly raw = new Map<string, RawBin>();

  constructor(
    readonly buf: Buffer,
    readonly start: number,
    readonly end: number,
    /** the scan of `buf[start, end)` (the worker's: read during the call only) */
    readonly scan: Int32Array,
  ) {}

  get namespace(): string {
    return this.buf.toString('utf8', this.scan[Scan.NamespaceOffset]!, this.scan[Scan.NamespaceOffset]! + this.scan[Scan.NamespaceLength]!);
  }

  get set(): string {
    const at = this.scan[Scan.SetOffset]!;
    return at < 0 ? '' : this.buf.toString('utf8', at, at + this.scan[Scan.SetLength]!);
  }

  /** The key field's data ([u8 particle type][value]), or null. */
  get keyField(): Buffer | null {
    const at = this.scan[Scan.KeyOffset]!;
    return at < 0 ? null : this.buf.subarray(at, at + this.scan[Scan.KeyLength]!);
  }

  get key(): UserKey | undefined {
    const f = this.keyField;
    if (f === null || f.length < 1) return undefined;
    const bytes = f.subarray(1);
    switch (f[0]) {
      case ParticleType.Integer: {
        if (bytes.length !== 8) return undefined;
        const v = bytes.readBigInt64BE(0);
        return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
      }
      case ParticleType.String:
        return bytes.toString('utf8');
      default:
        return Buffer.from(bytes);
    }
  }

  get digest(): Buffer {
    const at = this.scan[Scan.DigestOffset]!;
    return Buffer.from(this.buf.subarray(at, at + 20));
  }

  get generation(): number {
    return this.buf.readUInt32BE(this.start + AsMsg.Generation);
  }

  get ttl(): number {
    return this.buf.readUInt32BE(this.start + AsMsg.RecordTtl);
  }

  get lut(): number | undefined {
    const at = this.scan[Scan.LutFieldOffset]!;
    return at < 0 ? undefined : lutToUnixMs(this.buf.readBigUInt64BE(at + 5));
  }

  get isDelete(): boolean {
    return (this.buf[this.start + AsMsg.Info2]! & Info2.Delete) !== 0;
  }

  get bins(): Readonly<Record<string, BinValue>> {
    if (this.decoded !== null) return this.decoded;
    const bins: Record<string, BinValue> = {};
    let pos = this.scan[Scan.OpsOffset]!;
    while (pos < this.end) {
      const size = this.buf.readUInt32BE(pos);
      const next = pos + 4 + size;
      const nameLen = this.buf[pos + 7]!;
      const name = this.buf.toString('utf8', pos + 8, pos + 8 + nameLen);
      const valueAt = pos + 8 + nameLen + ((this.buf[pos + 6]! & OP_FLAG_BIN_LUT) !== 0 ? 8 : 0);
      const value = decodeParticle(this.buf[pos + 5]!, this.buf.subarray(valueAt, next)).value as BinValue;
      bins[name] = value;
      this.raw.set(name, { op: this.buf.subarray(pos, next), value });
      pos = next;
    }
    this.decoded = bins;
    return bins;
  }
}
