/**
 * A transform's `RecordToWrite` as a record message (as_msg, no proto header: the form the worker
 * offers its sink). Off the hot path: only records a module rewrites come here.
 *
 *   header: the source's (generation, flags), with the TTL and write/delete bits the output asks for
 *   fields: namespace, set (unless ''), user key (when known), digest, the source's LUT field
 *   ops:    one write per bin; a bin whose value is the very value the view decoded is copied as
 *           shipped (no re-encoding: ordered maps, GeoJSON and bin LUTs stay exact)
 *
 * The digest is RIPEMD-160(set ‖ key type ‖ key) when a key is known and the set or key changed;
 * otherwise the source's.
 */

import { createHash } from 'node:crypto';
import { AsMsg, BufferWriter, FieldType, Info2, OpType, ParticleType, Scan } from '../protocol/index.js';
import type { BinValue, RecordToWrite, UserKey } from './api.js';
import { TransformError } from './errors.js';
import type { RecordView } from './record-view.js';

/** the LUT field, whole: [u32 size][u8 14][u64] */
const LUT_FIELD_SIZE = 13;

/** The key field's data: [u8 particle type][value]. */
function keyFieldOf(key: UserKey): Buffer {
  if (typeof key === 'string') return Buffer.concat([Buffer.of(ParticleType.String), Buffer.from(key, 'utf8')]);
  if (typeof key === 'number' || typeof key === 'bigint') {
    if (typeof key === 'number' && !Number.isSafeInteger(key)) throw new TransformError(`key ${key} is not an integer`);
    const b = Buffer.alloc(9);
    b[0] = ParticleType.Integer;
    b.writeBigInt64BE(BigInt(key), 1);
    return b;
  }
  if (Buffer.isBuffer(key) || (key as unknown) instanceof Uint8Array) return Buffer.concat([Buffer.of(ParticleType.Blob), key]);
  throw new TransformError('key must be a string, an integer or a Buffer');
}

/** A bin value as [particle type, bytes]. */
function particleOf(v: BinValue, bin: string): [number, Uint8Array] {
  if (v === null) return [ParticleType.Null, Buffer.alloc(0)];
  switch (typeof v) {
    case 'boolean':
      return [ParticleType.Bool, Buffer.of(v ? 1 : 0)];
    case 'number': {
      const b = Buffer.alloc(8);
      if (Number.isSafeInteger(v)) {
        b.writeBigInt64BE(BigInt(v));
        return [ParticleType.Integer, b];
      }
      b.writeDoubleBE(v);
      return [ParticleType.Double, b];
    }
    case 'bigint': {
      const b = Buffer.alloc(8);
      b.writeBigInt64BE(v);
      return [ParticleType.Integer, b];
    }
    case 'string':
      return [ParticleType.String, Buffer.from(v, 'utf8')];
    default:
      break;
  }
  if (v instanceof Uint8Array) return [ParticleType.Blob, v];
  const w = new BufferWriter(64);
  msgpack(w, v, bin);
  return [Array.isArray(v) ? ParticleType.List : ParticleType.Map, w.finish()];
}

/** Aerospike's msgpack: a string or blob element carries its particle type as its first byte. */
function msgpack(w: BufferWriter, v: BinValue, bin: string): void {
  if (v === null || v === undefined) {
    w.u8(0xc0);
    return;
  }
  switch (typeof v) {
    case 'boolean':
      w.u8(v ? 0xc3 : 0xc2);
      return;
    case 'number':
      if (Number.isSafeInteger(v)) {
        if (v >= 0 && v < 128) w.u8(v);
        else w.u8(0xd3).u64(BigInt.asUintN(64, BigInt(v)));
      } else {
        const b = Buffer.alloc(8);
        b.writeDoubleBE(v);
        w.u8(0xcb).bytes(b);
      }
      return;
    case 'bigint':
      w.u8(0xd3).u64(BigInt.asUintN(64, v));
      return;
    case 'string':
      stringLike(w, ParticleType.String, Buffer.from(v, 'utf8'));
      return;
    default:
      break;
  }
  if (v instanceof Uint8Array) {
    stringLike(w, ParticleType.Blob, v);
    return;
  }
  if (Array.isArray(v)) {
    header(w, v.length, 0x90, 0xdc);
    for (const x of v) msgpack(w, x, bin);
    return;
  }
  if (typeof v !== 'object') throw new TransformError(`bin '${bin}': a ${typeof v} cannot be stored`);
  const entries = Object.entries(v as Record<string, BinValue>);
  header(w, entries.length, 0x80, 0xde);
  for (const [k, x] of entries) {
    stringLike(w, ParticleType.String, Buffer.from(k, 'utf8'));
    msgpack(w, x, bin);
  }
}

/** fixarray/fixmap (`fix` | n) up to 15 elements, else the 16- or 32-bit form (`wide`, `wide` + 1). */
function header(w: BufferWriter, n: number, fix: number, wide: number): void {
  if (n < 16) w.u8(fix | n);
  else if (n < 0x10000) w.u8(wide).u16(n);
  else w.u8(wide + 1).u32(n);
}

function stringLike(w: BufferWriter, type: number, bytes: Uint8Array): void {
  const n = bytes.length + 1;
  if (n < 32) w.u8(0xa0 | n);
  else if (n < 0x100) w.u8(0xd9).u8(n);
  else if (n < 0x10000) w.u8(0xda).u16(n);
  else w.u8(0xdb).u32(n);
  w.u8(type).bytes(bytes);
}

function field(w: BufferWriter, type: number, data: Uint8Array): void {
  w.u32(1 + data.length).u8(type).bytes(data);
}

/** Encode `out` (defaults from `src`) as a record message. */
export function encodeRecord(src: RecordView, out: RecordToWrite): Buffer {
  const buf = src.buf;
  const scan = src.scan;
  const namespace = out.namespace ?? src.namespace;
  const set = out.set ?? src.set;
  const keyField = out.key === undefined ? src.keyField : keyFieldOf(out.key);
  const rekey = keyField !== null && (out.key !== undefined || set !== src.set);
  const digest = rekey ? createHash('ripemd160').update(set, 'utf8').update(keyField).digest() : src.digest;
  const isDelete = out.delete ?? (src.isDelete && out.bins === undefined);
  const bins = isDelete ? [] : Object.entries(out.bins ?? src.bins);
  if (Buffer.byteLength(namespace, 'utf8') === 0) throw new TransformError('namespace must not be empty');
  const w = new BufferWriter(256 + (src.end - src.start));
  w.bytes(buf.subarray(src.start, src.start + AsMsg.FieldCount));
  const info2 = buf[src.start + AsMsg.Info2]!;
  w.patchU32(AsMsg.RecordTtl, out.ttl ?? src.ttl);
  const lutAt = scan[Scan.LutFieldOffset]!;
  w.u16(2 + (set === '' ? 0 : 1) + (keyField === null ? 0 : 1) + (lutAt >= 0 ? 1 : 0)).u16(bins.length);
  field(w, FieldType.Namespace, Buffer.from(namespace, 'utf8'));
  if (set !== '') field(w, FieldType.Set, Buffer.from(set, 'utf8'));
  if (keyField !== null) field(w, FieldType.UserKey, keyField);
  field(w, FieldType.Digest, digest);
  if (lutAt >= 0) w.bytes(buf.subarray(lutAt, lutAt + LUT_FIELD_SIZE));
  for (const [name, value] of bins) {
    const raw = src.raw.get(name);
    if (raw !== undefined && raw.value === value) {
      w.bytes(raw.op);
      continue;
    }
    const nameBytes = Buffer.from(name, 'utf8');
    if (nameBytes.length === 0 || nameBytes.length > 15) throw new TransformError(`bin name '${name}' must be 1 to 15 bytes`);
    const [type, bytes] = particleOf(value, name);
    w.u32(4 + nameBytes.length + bytes.length).u8(OpType.Write).u8(type).u8(0).u8(nameBytes.length).bytes(nameBytes).bytes(bytes);
  }
  const msg = w.finish();
  msg[AsMsg.Info2] = isDelete ? info2 | Info2.Delete : (info2 & ~(Info2.Delete | Info2.DurableDelete)) | Info2.Write;
  return msg;
}
