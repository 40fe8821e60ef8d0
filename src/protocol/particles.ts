/**
 * Particle values as plain values, for output formats (the file destination, debug logs). Off the
 * hot path: the relay itself passes particles through as opaque bytes.
 *
 *   integer  8 bytes, signed BE          double  IEEE-754 BE        string  UTF-8     bool  1 byte
 *   blob, HLL, language blobs: raw bytes
 *   GeoJSON  [u8 flags][u16 cell count][cells × u64][JSON text]
 *   list/map msgpack, where a string carries a leading particle-type byte (0x03 string, 0x04 blob)
 *            inside the msgpack str/bin payload, and an ordered list/map starts with an ext element
 *            (list: first element; map: first key, with a nil value) that carries its flags.
 *
 * Aerospike's msgpack is read by the small reader below rather than a general msgpack library: a
 * general reader decodes a str payload as UTF-8 before the type byte can be looked at, which
 * corrupts blobs stored inside lists and maps.
 */

import { ParticleType } from './constants.js';
import { FerryError } from '../errors.js';

export type ParticleValue = null | boolean | number | bigint | string | Buffer | ParticleValue[] | { [key: string]: ParticleValue } | object;

export interface DecodedParticle {
  /** type name: null, int, double, str, blob, bool, hll, map, list, geojson, or blob-<n> */
  type: string;
  value: ParticleValue;
}

export class ParticleError extends FerryError {
  readonly code = 'ERR_PARTICLE';
  readonly retriable = false;
}

const TYPE_NAMES: Record<number, string> = {
  [ParticleType.Null]: 'null',
  [ParticleType.Integer]: 'int',
  [ParticleType.Double]: 'double',
  [ParticleType.String]: 'str',
  [ParticleType.Blob]: 'blob',
  [ParticleType.Bool]: 'bool',
  [ParticleType.Hll]: 'hll',
  [ParticleType.Map]: 'map',
  [ParticleType.List]: 'list',
  [ParticleType.GeoJson]: 'geojson',
};

export function decodeParticle(type: number, bytes: Buffer): DecodedParticle {
  const name = TYPE_NAMES[type] ?? `blob-${type}`;
  switch (type) {
    case ParticleType.Null:
      return { type: name, value: null };
    case ParticleType.Integer: {
      if (bytes.length !== 8) throw new ParticleError(`integer particle of ${bytes.length} bytes`);
      const v = bytes.readBigInt64BE(0);
      return { type: name, value: v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v };
    }
    case ParticleType.Double:
      if (bytes.length !== 8) throw new ParticleError(`double particle of ${bytes.length} bytes`);
      return { type: name, value: bytes.readDoubleBE(0) };
    case ParticleType.String:
      return { type: name, value: bytes.toString('utf8') };
    case ParticleType.Bool:
      return { type: name, value: bytes.length > 0 && bytes[0] !== 0 };
    case ParticleType.List:
    case ParticleType.Map: {
      const r = new MsgpackReader(bytes);
      const value = r.value();
      return { type: name, value };
    }
    case ParticleType.GeoJson: {
      if (bytes.length < 3) throw new ParticleError('GeoJSON particle shorter than its header');
      const cells = bytes.readUInt16BE(1);
      const text = bytes.toString('utf8', 3 + cells * 8);
      return { type: name, value: JSON.parse(text) as object };
    }
    default:
      return { type: name, value: Buffer.from(bytes) };
  }
}

/** Ext elements mark ordering flags; they are not values. */
const EXT = Symbol('ext');

class MsgpackReader {
  private pos = 0;

  constructor(private readonly b: Buffer) {}

  private need(n: number): void {
    if (this.pos + n > this.b.length) throw new ParticleError('msgpack value overruns its particle');
  }

  private u8(): number {
    this.need(1);
    return this.b[this.pos++]!;
  }

  private uint(n: 1 | 2 | 4): number {
    this.need(n);
    const v = this.b.readUIntBE(this.pos, n);
    this.pos += n;
    return v;
  }

  value(): ParticleValue {
    const v = this.any();
    if (v === EXT) return null;
    return v;
  }

  private any(): ParticleValue | typeof EXT {
    const t = this.u8();
    if (t <= 0x7f) return t;
    if (t >= 0xe0) return t - 0x100;
    if ((t & 0xf0) === 0x80) return this.map(t & 0x0f);
    if ((t & 0xf0) === 0x90) return this.list(t & 0x0f);
    if ((t & 0xe0) === 0xa0) return this.str(t & 0x1f);
    switch (t) {
      case 0xc0:
        return null;
      case 0xc2:
        return false;
      case 0xc3:
        return true;
      case 0xc4:
        return this.raw(this.uint(1));
      case 0xc5:
        return this.raw(this.uint(2));
      case 0xc6:
        return this.raw(this.uint(4));
      case 0xc7:
        return this.ext(this.uint(1));
      case 0xc8:
        return this.ext(this.uint(2));
      case 0xc9:
        return this.ext(this.uint(4));
      case 0xca: {
        this.need(4);
        const v = this.b.readFloatBE(this.pos);
        this.pos += 4;
        return v;
      }
      case 0xcb: {
        this.need(8);
        const v = this.b.readDoubleBE(this.pos);
        this.pos += 8;
        return v;
      }
      case 0xcc:
        return this.uint(1);
      case 0xcd:
        return this.uint(2);
      case 0xce:
        return this.uint(4);
      case 0xcf:
        return this.int64(false);
      case 0xd0:
        this.need(1);
        return this.b.readInt8(this.pos++);
      case 0xd1: {
        this.need(2);
        const v = this.b.readInt16BE(this.pos);
        this.pos += 2;
        return v;
      }
      case 0xd2: {
        this.need(4);
        const v = this.b.readInt32BE(this.pos);
        this.pos += 4;
        return v;
      }
      case 0xd3:
        return this.int64(true);
      case 0xd4:
        return this.ext(1);
      case 0xd5:
        return this.ext(2);
      case 0xd6:
        return this.ext(4);
      case 0xd7:
        return this.ext(8);
      case 0xd8:
        return this.ext(16);
      case 0xd9:
        return this.str(this.uint(1));
      case 0xda:
        return this.str(this.uint(2));
      case 0xdb:
        return this.str(this.uint(4));
      case 0xdc:
        return this.list(this.uint(2));
      case 0xdd:
        return this.list(this.uint(4));
      case 0xde:
        return this.map(this.uint(2));
      case 0xdf:
        return this.map(this.uint(4));
      default:
        throw new ParticleError(`msgpack type byte 0x${t.toString(16)} is not valid`);
    }
  }

  private int64(signed: boolean): number | bigint {
    this.need(8);
    const v = signed ? this.b.readBigInt64BE(this.pos) : this.b.readBigUInt64BE(this.pos);
    this.pos += 8;
    return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
  }

  private ext(n: number): typeof EXT {
    this.need(1 + n);
    this.pos += 1 + n;
    return EXT;
  }

  /** A str payload: its first byte is the particle type of what follows. */
  private str(n: number): ParticleValue {
    this.need(n);
    const start = this.pos;
    this.pos += n;
    if (n === 0) return '';
    const kind = this.b[start]!;
    if (kind === ParticleType.String) return this.b.toString('utf8', start + 1, start + n);
    if (kind === ParticleType.Blob) return Buffer.from(this.b.subarray(start + 1, start + n));
    if (kind === ParticleType.GeoJson) return JSON.parse(this.b.toString('utf8', start + 1, start + n)) as object;
    return this.b.toString('utf8', start, start + n);
  }

  private raw(n: number): Buffer {
    this.need(n);
    const out = Buffer.from(this.b.subarray(this.pos, this.pos + n));
    this.pos += n;
    return out;
  }

  private list(n: number): ParticleValue[] {
    const out: ParticleValue[] = [];
    for (let i = 0; i < n; i++) {
      const v = this.any();
      if (v !== EXT) out.push(v);
    }
    return out;
  }

  private map(n: number): { [key: string]: ParticleValue } {
    const out: { [key: string]: ParticleValue } = {};
    for (let i = 0; i < n; i++) {
      const k = this.any();
      const v = this.any();
      if (k === EXT) continue;
      out[Buffer.isBuffer(k) ? k.toString('base64') : String(k)] = v === EXT ? null : v;
    }
    return out;
  }
}
