/**
 * Wire constants, named once. Grammar and meanings: docs/wire.md.
 *
 *   proto header (8 bytes)
 *   +---------+------+----------------------------+
 *   | version | type | body length (u48, BE)      |
 *   +---------+------+----------------------------+
 *     0         1      2..7
 */

export const PROTO_HEADER_SIZE = 8;
export const PROTO_VERSION = 2;

/** Proto message types (byte 1 of the proto header). */
export const MessageType = {
  /** info request/reply: newline-separated names, tab-separated values */
  Info: 1,
  /** security: LOGIN, AUTHENTICATE */
  Security: 2,
  /** record message (as_msg) */
  Record: 3,
  /** compressed record message: [u64 original length][zlib stream of a whole type-3 message] */
  Compressed: 4,
} as const;

/**
 * as_msg header (22 bytes, after the proto header)
 *
 *   0        1      2      3      4      5       6..9   10..13  14..17  18..19    20..21
 *   +--------+------+------+------+------+-------+------+-------+-------+---------+-------+
 *   | hdr=22 | info1| info2| info3| info4|result | gen  | ttl   | t-ttl | nfields | nops  |
 *   +--------+------+------+------+------+-------+------+-------+-------+---------+-------+
 */
export const AS_MSG_HEADER_SIZE = 22;
export const AsMsg = {
  HeaderSize: 0,
  Info1: 1,
  Info2: 2,
  Info3: 3,
  Info4: 4,
  ResultCode: 5,
  Generation: 6,
  RecordTtl: 10,
  TransactionTtl: 14,
  FieldCount: 18,
  OpCount: 20,
} as const;

export const Info1 = {
  Read: 0x01,
  GetAll: 0x02,
  Batch: 0x08,
  /** the write is made by XDR: the destination does not ship it onward */
  Xdr: 0x10,
  NoBins: 0x20,
} as const;

export const Info2 = {
  Write: 0x01,
  Delete: 0x02,
  GenerationEqual: 0x04,
  GenerationGreater: 0x08,
  DurableDelete: 0x10,
  CreateOnly: 0x20,
} as const;

export const Info3 = {
  Last: 0x01,
  /** on a scan request: partition markers are understood; on a reply: a partition is done */
  PartitionDone: 0x04,
  UpdateOnly: 0x08,
  CreateOrReplace: 0x10,
  ReplaceOnly: 0x20,
} as const;

/** Field: [u32 size = 1 + data length][u8 type][data] */
export const FieldType = {
  Namespace: 0,
  Set: 1,
  UserKey: 2,
  Digest: 4,
  /** u64; a scan's task id */
  TransactionId: 7,
  /** u32 ms a scan waits on a client that does not read */
  SocketTimeout: 9,
  /** the partitions a scan covers: u16 ids, little-endian */
  PidArray: 11,
  /** last-update time, u64: (src_id << 40) | ms since 2010-01-01 */
  LastUpdateTime: 14,
  Batch: 41,
  FilterExpression: 43,
} as const;

export const DIGEST_SIZE = 20;

/** Op: [u32 size][u8 op][u8 particle type][u8 flags][u8 name length][name][8-byte bin LUT if flags & 1][value] */
export const OpType = {
  Read: 1,
  Write: 2,
  Incr: 5,
  /** value: msgpack [expression, flags]; answers the expression's value under the op's name */
  ExpRead: 7,
  Append: 9,
  Prepend: 10,
  Touch: 11,
  Delete: 14,
} as const;

export const OP_FLAG_BIN_LUT = 0x01;

export const ParticleType = {
  Null: 0,
  Integer: 1,
  Double: 2,
  String: 3,
  Blob: 4,
  Bool: 17,
  Hll: 18,
  Map: 19,
  List: 20,
  GeoJson: 23,
} as const;

/** Record TTL sentinels (as_msg header offset 10 on requests). */
export const Ttl = {
  NamespaceDefault: 0,
  NeverExpire: 0xffffffff,
  DontUpdate: 0xfffffffe,
} as const;

/** Unix milliseconds at the Aerospike epoch, 2010-01-01T00:00:00Z. */
export const CITRUSLEAF_EPOCH_MS = 1262304000000;

export const PARTITIONS = 4096;
