/**
 * A value one thread publishes and others read, whole or not at all: a seqlock over a byte area.
 *
 *   SharedArrayBuffer region (offset, SNAPSHOT_HEADER + capacity bytes)
 *   +-- Int32 header (16 bytes) ------------------------------------------------+-- value --------+
 *   | [0] VERSION: even = stable; odd = a write is under way                      | LENGTH bytes of |
 *   | [1] LENGTH: bytes of the encoded value (0 = nothing published yet)          | the encoding    |
 *   | [2] [3] spare, named by the cell that owns the region (see session-token)   | (≤ capacity)    |
 *   +-----------------------------------------------------------------------------+-----------------+
 *
 *   writer: VERSION += 1 (odd) ─▶ write LENGTH and bytes ─▶ VERSION += 1 (even)
 *   reader: v1 = VERSION (odd: retry) ─▶ copy LENGTH and bytes ─▶ v2 = VERSION; v1 ≠ v2: retry
 *
 * One writer thread per region. Readers never block the writer and never see a half-written value:
 * a copy taken while a write was under way fails the version re-check and is taken again. Every
 * read then goes through the cell's validating decoder, so bytes that are not a well-formed value
 * of the cell's type are reported, never handed on as one (`JSON.parse(...) as T` would hand on
 * whatever a torn copy happened to parse as).
 */

import { FerryError } from '../errors.js';

export const SNAPSHOT_HEADER = 16;
const VERSION = 0;
const LENGTH = 1;

/** How often a reader retries a copy that raced a write before it gives up for now. */
const READ_TRIES = 1000;

/** Bytes a snapshot region of `capacity` value bytes takes. */
export function snapshotBytes(capacity: number): number {
  return SNAPSHOT_HEADER + capacity;
}

/** Turns a value into bytes and back; `decode` throws a SnapshotFormatError on anything else. */
export interface SnapshotCodec<T> {
  encode(value: T): Uint8Array;
  decode(bytes: Uint8Array): T;
}

/** Bytes in a snapshot that are not a value of its cell's type (a bug: the seqlock prevents torn copies). */
export class SnapshotFormatError extends FerryError {
  readonly code = 'ERR_SNAPSHOT_FORMAT';
  readonly retriable = false;
}

/** The raw seqlocked region. */
export class Snapshot {
  readonly header: Int32Array;
  private readonly bytes: Uint8Array;
  readonly capacity: number;

  constructor(sab: SharedArrayBuffer, offset = 0, capacity = sab.byteLength - offset - SNAPSHOT_HEADER) {
    if (offset % 4 !== 0) throw new RangeError('a snapshot region must start 4-byte aligned');
    this.header = new Int32Array(sab, offset, SNAPSHOT_HEADER / 4);
    this.bytes = new Uint8Array(sab, offset + SNAPSHOT_HEADER, capacity);
    this.capacity = capacity;
  }

  /** Writer side: publish `value` (one writer thread only). */
  write(value: Uint8Array): void {
    if (value.length > this.capacity) throw new RangeError(`value of ${value.length} bytes does not fit a ${this.capacity}-byte snapshot`);
    Atomics.add(this.header, VERSION, 1);
    this.bytes.set(value);
    Atomics.store(this.header, LENGTH, value.length);
    Atomics.add(this.header, VERSION, 1);
  }

  /** The stable version now (what `read` would return the value of). */
  version(): number {
    return Atomics.load(this.header, VERSION);
  }

  /**
   * A consistent copy of the value and its version, or null when nothing is published yet or
   * every try raced a write (the caller keeps what it had and asks again later).
   */
  read(): { version: number; bytes: Uint8Array } | null {
    for (let i = 0; i < READ_TRIES; i++) {
      const v1 = Atomics.load(this.header, VERSION);
      if ((v1 & 1) === 1) continue;
      const length = Atomics.load(this.header, LENGTH);
      if (length === 0) return null;
      if (length > this.capacity) continue;
      const copy = this.bytes.slice(0, length);
      if (Atomics.load(this.header, VERSION) === v1) return { version: v1, bytes: copy };
    }
    return null;
  }
}

/** A typed value in a snapshot region: the writer publishes values, each reader polls for new ones. */
export class SnapshotCell<T> {
  private readonly snapshot: Snapshot;
  private seen = -1;

  constructor(
    sab: SharedArrayBuffer,
    private readonly codec: SnapshotCodec<T>,
    offset = 0,
    capacity?: number,
  ) {
    this.snapshot = new Snapshot(sab, offset, capacity);
  }

  publish(value: T): void {
    this.snapshot.write(this.codec.encode(value));
  }

  /** Whether a value newer than the last one `poll` returned is published (one atomic load). */
  changed(): boolean {
    return this.snapshot.version() !== this.seen;
  }

  /**
   * The value published since the last poll, or undefined when there is none new (or the copy
   * kept racing writes: the next poll takes it). Throws a SnapshotFormatError when the published
   * bytes are not a value of this cell's type.
   */
  poll(): T | undefined {
    if (!this.changed()) return undefined;
    const got = this.snapshot.read();
    if (got === null) return undefined;
    this.seen = got.version;
    return this.codec.decode(got.bytes);
  }
}

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

/**
 * A codec of UTF-8 JSON text whose parse is checked by `check`, which returns the value typed or a
 * description of what is wrong with it; `toJson` turns a value into what JSON can carry (bytes as
 * base64, for one). JSON rather than MessagePack: msgpackr's native string extractor crashes the
 * process when it decodes in a worker thread, and these values cross only when they change.
 */
export function jsonCodec<T>(name: string, check: (raw: unknown) => T | string, toJson: (value: T) => unknown = (v) => v): SnapshotCodec<T> {
  return {
    encode: (value) => encoder.encode(JSON.stringify(toJson(value))),
    decode: (bytes) => {
      let raw: unknown;
      try {
        raw = JSON.parse(decoder.decode(bytes));
      } catch (err) {
        throw new SnapshotFormatError(`${name}: not JSON text (${(err as Error).message})`);
      }
      const value = check(raw);
      if (typeof value === 'string') throw new SnapshotFormatError(`${name}: ${value}`);
      return value;
    },
  };
}

// ---- small checks the codecs share ----------------------------------------------------------------

export function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Uint8Array);
}

export function isStringPairList(v: unknown): v is Array<[string, string]> {
  return Array.isArray(v) && v.every((p) => Array.isArray(p) && p.length === 2 && typeof p[0] === 'string' && typeof p[1] === 'string');
}
