/**
 * Key-space arithmetic on raw bytes: prefix ranges, prefix mapping, overlap, and the reserved
 * namespace where mirrors keep their checkpoints in the destination.
 *
 *   source   [prefix ........................ prefixEnd(prefix))
 *                │ key = prefix + rest
 *                ▼
 *   dest     [destPrefix + rest]        order-preserving: a common prefix swap keeps byte order
 */

/** A half-open byte range [start, end); `end === null` means "to the end of the key space". */
export interface KeyRange {
  readonly start: Buffer;
  readonly end: Buffer | null;
}

/**
 * Where every mirror keeps its state in the destination: `__ferry/mirror/<name>/checkpoint`, the
 * ownership markers `__ferry/mirror/<name>/own/<destination key>` (the keys this mirror wrote) and,
 * with lease mirroring, `__ferry/mirror/<name>/lease/<source lease id>`. Mirrored data never lands
 * here, and a resync never deletes here, even when a mirror maps onto the root.
 */
export const RESERVED_PREFIX = Buffer.from('__ferry/mirror/');

/** etcd's "all keys with this prefix" end key: the prefix with its last non-0xff byte incremented. */
export function prefixEnd(prefix: Buffer): Buffer | null {
  for (let i = prefix.length - 1; i >= 0; i--) {
    if (prefix[i]! < 0xff) {
      const end = Buffer.from(prefix.subarray(0, i + 1));
      end[i]!++;
      return end;
    }
  }
  return null;
}

export function prefixRange(prefix: Buffer): KeyRange {
  return { start: prefix, end: prefixEnd(prefix) };
}

/** The `key`/`range_end` pair of an etcd request for a range (`\0` stands for "unbounded"). */
export function rangeRequest(r: KeyRange): { key: Buffer; range_end: Buffer } {
  const zero = Buffer.from([0]);
  return { key: r.start.length === 0 ? zero : r.start, range_end: r.end ?? zero };
}

export function inRange(key: Buffer, r: KeyRange): boolean {
  return Buffer.compare(key, r.start) >= 0 && (r.end === null || Buffer.compare(key, r.end) < 0);
}

export function rangesOverlap(a: KeyRange, b: KeyRange): boolean {
  const aBeforeB = a.end !== null && Buffer.compare(a.end, b.start) <= 0;
  const bBeforeA = b.end !== null && Buffer.compare(b.end, a.start) <= 0;
  return !aBeforeB && !bBeforeA;
}

/** The intersection of two ranges, or null when they are disjoint. */
export function intersect(a: KeyRange, b: KeyRange): KeyRange | null {
  if (!rangesOverlap(a, b)) return null;
  const start = Buffer.compare(a.start, b.start) >= 0 ? a.start : b.start;
  const end = a.end === null ? b.end : b.end === null ? a.end : Buffer.compare(a.end, b.end) <= 0 ? a.end : b.end;
  return { start, end };
}

export function isReserved(key: Buffer): boolean {
  return key.length >= RESERVED_PREFIX.length && key.subarray(0, RESERVED_PREFIX.length).equals(RESERVED_PREFIX);
}

/** Source key → destination key: swap the source prefix for the destination prefix. */
export function mapKey(key: Buffer, sourcePrefix: Buffer, destPrefix: Buffer): Buffer {
  return Buffer.concat([destPrefix, key.subarray(sourcePrefix.length)]);
}

export function checkpointKey(name: string): Buffer {
  return Buffer.concat([RESERVED_PREFIX, Buffer.from(`${name}/checkpoint`)]);
}

/** A mirror's ownership markers; a marker's key is this prefix plus the destination key it owns. */
export function ownerPrefix(name: string): Buffer {
  return Buffer.concat([RESERVED_PREFIX, Buffer.from(`${name}/own/`)]);
}

export function leaseMapPrefix(name: string): Buffer {
  return Buffer.concat([RESERVED_PREFIX, Buffer.from(`${name}/lease/`)]);
}

/** Printable form of a key for logs and messages: UTF-8 when it is, hex otherwise. */
export function showKey(key: Buffer): string {
  const s = key.toString('utf8');
  return Buffer.from(s, 'utf8').equals(key) && !/[\u0000-\u001f]/.test(s) ? JSON.stringify(s) : `0x${key.toString('hex')}`;
}
