// In-memory record store: namespace → digest (hex) → record. Expired records read as absent
// and are dropped when touched, as a server's expiry would have removed them.

import { CITRUSLEAF_EPOCH_SECONDS, N_PARTITIONS } from './wire.js';

/** One bin: particle type and the particle bytes exactly as they travel on the wire. */
export interface StoredBin {
  type: number;
  value: Buffer;
}

export interface StoredRecord {
  bins: Map<string, StoredBin>;
  generation: number;
  /** Seconds since 2010-01-01 UTC at which the record expires; 0 = never. */
  voidTime: number;
  /** LUT field (type 14) of the last write, if it carried one. */
  lut: bigint | undefined;
  /** When the record was last written: nanoseconds since the Unix epoch, as LAST_UPDATE reads it. */
  lastUpdateNs: bigint;
  /** Whether the last write had the XDR bit (info1 0x10). */
  xdr: boolean;
  /** User key field data, particle type byte included. */
  key: Buffer | undefined;
  set: string | undefined;
}

/** Now as a record's last-update time: nanoseconds since the Unix epoch. */
export function nowNs(): bigint {
  return BigInt(Date.now()) * 1_000_000n;
}

/** Seconds since 2010-01-01T00:00:00Z, the server's clock for void times. */
export function citrusNow(): number {
  return Math.floor(Date.now() / 1000) - CITRUSLEAF_EPOCH_SECONDS;
}

/** The partition of a digest given in hex: the low 12 bits of its first two bytes, little-endian. */
export function partitionOfHex(digestHex: string): number {
  return (parseInt(digestHex.slice(0, 2), 16) | (parseInt(digestHex.slice(2, 4), 16) << 8)) & (N_PARTITIONS - 1);
}

export class RecordStore {
  private readonly spaces = new Map<string, Map<string, StoredRecord>>();
  /**
   * Per namespace, the digests written into each partition, so a scan of one partition costs that
   * partition's records, not the namespace's. Entries may outlive their record (a delete, an
   * expiry): a scan looks each one up.
   */
  private readonly partitions = new Map<string, Array<Set<string>>>();
  /** The last filter expression (field 43) a request carried, for tests that pin its bytes. */
  lastFilterExpression: Buffer | undefined;

  constructor(namespaces: readonly string[]) {
    for (const ns of namespaces) {
      this.spaces.set(ns, new Map());
      this.partitions.set(ns, Array.from({ length: N_PARTITIONS }, () => new Set<string>()));
    }
  }

  /** Forget every record of every namespace. */
  clear(): void {
    for (const records of this.spaces.values()) records.clear();
    for (const sets of this.partitions.values()) for (const set of sets) set.clear();
  }

  hasNamespace(ns: string): boolean {
    return this.spaces.has(ns);
  }

  namespaces(): string[] {
    return [...this.spaces.keys()];
  }

  /** The live record, or undefined when absent or expired. */
  get(ns: string, digestHex: string): StoredRecord | undefined {
    const space = this.spaces.get(ns);
    const record = space?.get(digestHex);
    if (!record) return undefined;
    if (record.voidTime !== 0 && record.voidTime <= citrusNow()) {
      space!.delete(digestHex);
      return undefined;
    }
    return record;
  }

  put(ns: string, digestHex: string, record: StoredRecord): void {
    this.space(ns).set(digestHex, record);
    this.partitions.get(ns)![partitionOfHex(digestHex)]!.add(digestHex);
  }

  delete(ns: string, digestHex: string): boolean {
    this.partitions.get(ns)?.[partitionOfHex(digestHex)]?.delete(digestHex);
    return this.space(ns).delete(digestHex);
  }

  /** The live records of one partition, in digest order. */
  partitionRecords(ns: string, partition: number): Array<[string, StoredRecord]> {
    const digests = this.partitions.get(ns)?.[partition];
    if (digests === undefined) return [];
    const out: Array<[string, StoredRecord]> = [];
    for (const digestHex of digests) {
      const record = this.get(ns, digestHex);
      if (record === undefined) digests.delete(digestHex);
      else out.push([digestHex, record]);
    }
    return out.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  }

  /** The live map of a namespace (expired records are purged first). */
  records(ns: string): Map<string, StoredRecord> {
    const space = this.space(ns);
    const now = citrusNow();
    for (const [digest, record] of space) {
      if (record.voidTime !== 0 && record.voidTime <= now) space.delete(digest);
    }
    return space;
  }

  count(ns: string): number {
    return this.spaces.get(ns)?.size ?? 0;
  }

  private space(ns: string): Map<string, StoredRecord> {
    const space = this.spaces.get(ns);
    if (!space) throw new Error(`namespace ${ns} is not configured on this double`);
    return space;
  }
}
