/**
 * The API of a transform module (`aerospike.transform`), for module authors: a module's default
 * export is a `Transform`. Every worker thread imports the module once (again on each reload) and
 * calls it for each record, synchronously, before the routing rules apply. docs/transforms.md
 * shows it at work.
 *
 *   import type { Transform } from 'ferry/dist/transform/api.js';
 *   const mask: Transform = (record) => ({ bins: { ...record.bins, ssn: '***' } });
 *   export default mask;
 */

/** A bin's value: Aerospike's particle types as JavaScript values. */
export type BinValue = null | boolean | number | bigint | string | Buffer | BinValue[] | { [key: string]: BinValue } | object;

/** A record's user key, when the source stored and shipped it. */
export type UserKey = string | number | bigint | Buffer;

/** One record as the source shipped it. Bins are decoded only when `bins` is first read. */
export interface SourceRecord {
  readonly namespace: string;
  /** '' when the record has no set */
  readonly set: string;
  /** the user key; undefined when the source did not ship it */
  readonly key: UserKey | undefined;
  /** the 20-byte digest (a copy) */
  readonly digest: Buffer;
  readonly generation: number;
  /** seconds to live as shipped (0: the namespace default; 0xffffffff: never expires) */
  readonly ttl: number;
  /** last-update time in Unix milliseconds; undefined when not shipped */
  readonly lut: number | undefined;
  /** a delete (or durable delete): it has no bins */
  readonly isDelete: boolean;
  /** the bins shipped, by name; decoded on first read, then the same object */
  readonly bins: Readonly<Record<string, BinValue>>;
}

/**
 * A record to write instead. Unset fields keep the source record's values (`namespace`, `set`,
 * `key`, `ttl`); `bins` replaces the bins written. A record whose set or key changes gets a new
 * digest when a key is known (the digest otherwise stays).
 */
export interface RecordToWrite {
  namespace?: string;
  set?: string;
  key?: UserKey;
  ttl?: number;
  bins?: Record<string, BinValue>;
  /** write a delete of the record instead (bins are then ignored) */
  delete?: boolean;
}

/** Skip the record: the source is answered done and nothing is written. */
export const SKIP = 'skip';

/**
 * What a transform returns: the same record (written as it came, no copy), a record to write
 * instead, several (each written; the source's answer waits for all and is the worst of them), or
 * null / 'skip'. An empty list is a skip.
 */
export type TransformResult = SourceRecord | RecordToWrite | ReadonlyArray<SourceRecord | RecordToWrite> | null | typeof SKIP;

/**
 * A module's default export. It must not block: it runs on the worker thread that writes to the
 * destination. A throw fails the record (answered with the retry code 11, logged and counted).
 */
export type Transform = (record: SourceRecord) => TransformResult;
