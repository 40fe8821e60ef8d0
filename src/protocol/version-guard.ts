/**
 * The filter expression that guards a last-write-wins write: apply only when the stored record has
 * no version bin, or holds a version no newer than the incoming one. Encoded once per policy, with
 * a fixed-width slot for the version, so a record costs eight byte stores, not an encode.
 *
 *   expression (msgpack, as Aerospike's expression compiler lays it out):
 *   93 11                                    [OR,
 *     93 01 92 52 <str name> 00                [EQ, [BIN_TYPE, name], 0],
 *     93 06 93 51 02 <str name> cf <u64 BE>    [LE, [BIN, INT, name], version]]
 *   <str name> := a0|len name  (len ≤ 31; bin names are at most 15 bytes)
 *
 * A write to a key that does not exist is not filtered (the server writes it); a delete of a key
 * that does not exist answers 2. A false expression answers 27 (filtered out) and changes nothing.
 *
 * The version is always written as msgpack uint64 (0xcf + 8 bytes), which is what the official
 * clients emit for any value ≥ 2^32; versions are (ms since 2010 << 16 | generation), far above it.
 */

/** Expression op codes (the first element of each msgpack array). */
export const ExpOp = {
  Eq: 1,
  Le: 6,
  Or: 17,
  /** [BIN, type, name]: the bin's value as `type` */
  Bin: 81,
  /** [BIN_TYPE, name]: the bin's particle type; 0 when the bin does not exist */
  BinType: 82,
} as const;

/** Expression result types, as BIN's second element. */
export const ExpType = {
  Int: 2,
} as const;

/** Bin names longer than this are refused by the server. */
export const MAX_BIN_NAME = 15;

const MSGPACK_UINT64 = 0xcf;

export interface VersionGuard {
  /** the expression, ready to be the data of a filter-expression field (type 43) */
  readonly expression: Buffer;
  /** offset in `expression` of the version's 8 bytes */
  readonly versionAt: number;
}

function packName(name: Buffer): number[] {
  return [0xa0 | name.length, ...name];
}

/** The guard for `bin`, with the version slot zeroed. */
export function encodeVersionGuard(bin: string): VersionGuard {
  const name = Buffer.from(bin, 'utf8');
  if (name.length === 0 || name.length > MAX_BIN_NAME) throw new RangeError(`bin name must be 1–${MAX_BIN_NAME} bytes: '${bin}'`);
  const head = [0x93, ExpOp.Or, 0x93, ExpOp.Eq, 0x92, ExpOp.BinType, ...packName(name), 0x00, 0x93, ExpOp.Le, 0x93, ExpOp.Bin, ExpType.Int, ...packName(name), MSGPACK_UINT64];
  const expression = Buffer.alloc(head.length + 8);
  expression.set(head, 0);
  return { expression, versionAt: head.length };
}
