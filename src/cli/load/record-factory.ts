/**
 * Builds the records the load generator ships, as XDR would: deterministic bins for (key, version),
 * so a checker can recompute what every key must hold at the end.
 *
 * Object spec (asbenchmark's `-o`, comma-separated):
 *   I        integer            D   double          B<n>  blob of n bytes     S<n> | S:<n>  string
 *   Z        bool               L   list (msgpack)  M     map (msgpack)       G   GeoJSON point
 *   H        HyperLogLog        all = I,D,S:16,B16,Z,L,M,G,H
 * Bins are named after their position: bin0, bin1, …
 */

import { createHash } from 'node:crypto';
import { ParticleType } from '../../protocol/index.js';
import { FerryError } from '../../errors.js';

export interface BinSpec {
  kind: 'I' | 'D' | 'B' | 'S' | 'Z' | 'L' | 'M' | 'G' | 'H';
  size: number;
}

export class SpecError extends FerryError {
  readonly code = 'ERR_OBJECT_SPEC';
  readonly retriable = false;
}

export function parseObjectSpec(spec: string): BinSpec[] {
  const tokens = spec.trim().toLowerCase() === 'all' ? ['I', 'D', 'S:16', 'B16', 'Z', 'L', 'M', 'G', 'H'] : spec.split(',');
  return tokens.map((raw) => {
    const t = raw.trim().toUpperCase();
    const m = /^([IDBSZLMGH]):?(\d*)$/.exec(t);
    if (m === null) throw new SpecError(`-o: '${raw}' is not an object spec (use I, D, B<n>, S<n>, Z, L, M, G, H or all)`);
    const kind = m[1] as BinSpec['kind'];
    const size = m[2] === '' ? (kind === 'B' || kind === 'S' ? 16 : 8) : Number(m[2]);
    if ((kind === 'B' || kind === 'S') && (size < 1 || size > 1024 * 1024)) throw new SpecError(`-o: size of '${raw}' must be 1–1048576`);
    return { kind, size };
  });
}

export interface BinValue {
  name: string;
  particleType: number;
  bytes: Buffer;
}

const HLL_INDEX_BITS = 4;

/** msgpack string as Aerospike stores it inside lists and maps: a leading 0x03 type byte. */
function packString(s: string): Buffer {
  const body = Buffer.concat([Buffer.from([0x03]), Buffer.from(s, 'utf8')]);
  if (body.length > 31) throw new RangeError('packString: keep test strings short');
  return Buffer.concat([Buffer.from([0xa0 | body.length]), body]);
}

function packUint(n: number): Buffer {
  const b = Buffer.allocUnsafe(5);
  b[0] = 0xce;
  b.writeUInt32BE(n >>> 0, 1);
  return b;
}

/** The expected value of bin i for (key, version), as a plain value a client would return. */
export function expectedValue(spec: BinSpec, key: number, version: number): unknown {
  switch (spec.kind) {
    case 'I':
      return key * 1000 + (version % 1000);
    case 'D':
      return key + version / 1024 + 0.5;
    case 'S':
      return `k${key}v${version}`.padEnd(spec.size, 'x');
    case 'B':
      return blob(spec.size, key, version);
    case 'Z':
      return (key + version) % 2 === 0;
    case 'L':
      return [version, `k${key}`];
    case 'M':
      return { k: key, v: version };
    case 'G':
      return { type: 'Point', coordinates: [(key % 360) - 180 + 0.25, (version % 180) - 90 + 0.25] };
    case 'H':
      return hll(key, version);
  }
}

function blob(size: number, key: number, version: number): Buffer {
  const b = Buffer.allocUnsafe(size);
  for (let i = 0; i < size; i++) b[i] = (key * 31 + version * 7 + i) & 0xff;
  return b;
}

/**
 * A valid HyperLogLog particle: [u8 flags = 0][u8 index bits][u8 minhash bits][u64 cache][registers],
 * the registers being ((6 + minhash bits) × 2^index bits + 7) / 8 bytes. A server refuses any other
 * shape with 4.
 */
function hll(key: number, version: number): Buffer {
  const registers = Math.ceil((6 << HLL_INDEX_BITS) / 8);
  const b = Buffer.alloc(3 + 8 + registers);
  b[1] = HLL_INDEX_BITS;
  b[11] = (key + version) & 0x3f;
  return b;
}

/** The bins shipped for (key, version). */
export function binsFor(specs: readonly BinSpec[], key: number, version: number): BinValue[] {
  return specs.map((spec, i) => {
    const name = `bin${i}`;
    const v = expectedValue(spec, key, version);
    switch (spec.kind) {
      case 'I': {
        const b = Buffer.allocUnsafe(8);
        b.writeBigInt64BE(BigInt(v as number));
        return { name, particleType: ParticleType.Integer, bytes: b };
      }
      case 'D': {
        const b = Buffer.allocUnsafe(8);
        b.writeDoubleBE(v as number);
        return { name, particleType: ParticleType.Double, bytes: b };
      }
      case 'S':
        return { name, particleType: ParticleType.String, bytes: Buffer.from(v as string, 'utf8') };
      case 'B':
        return { name, particleType: ParticleType.Blob, bytes: v as Buffer };
      case 'Z':
        return { name, particleType: ParticleType.Bool, bytes: Buffer.from([(v as boolean) ? 1 : 0]) };
      case 'L':
        return { name, particleType: ParticleType.List, bytes: Buffer.concat([Buffer.from([0x92]), packUint(version), packString(`k${key}`)]) };
      case 'M':
        return {
          name,
          particleType: ParticleType.Map,
          bytes: Buffer.concat([Buffer.from([0x82]), packString('k'), packUint(key), packString('v'), packUint(version)]),
        };
      case 'G': {
        const json = Buffer.from(JSON.stringify(v), 'utf8');
        // [u8 flags][u16 cell count][cells][JSON]: a client sends no cells; the server computes them.
        return { name, particleType: ParticleType.GeoJson, bytes: Buffer.concat([Buffer.from([0, 0, 0]), json]) };
      }
      case 'H':
        return { name, particleType: ParticleType.Hll, bytes: v as Buffer };
    }
  });
}

/** digest = RIPEMD-160(set ‖ key particle type ‖ key bytes); an integer key is 8 bytes big-endian. */
export function integerKeyDigest(set: string, key: number): Buffer {
  const k = Buffer.allocUnsafe(9);
  k[0] = ParticleType.Integer;
  k.writeBigInt64BE(BigInt(key), 1);
  return createHash('ripemd160').update(set, 'utf8').update(k).digest();
}

/**
 * xorshift32: deterministic, so a run can be repeated, and so another writer (bench/) can walk the
 * same key sequence.
 */
export function rng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x / 0x100000000;
  };
}
