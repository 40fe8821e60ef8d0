// Wire constants of the Aerospike protocol as the double needs them. Each value is named once,
// with its wire meaning. The double keeps its own copy on purpose: tests must not build their
// expectations with the codec under test in src/.

/** Proto header: `[u8 version][u8 type][u48 body length]`. */
export const PROTO_HEADER_SIZE = 8;
export const PROTO_VERSION = 2;
/** A server drops a connection whose declared body is larger than this. */
export const MAX_PROTO_BODY = 128 * 1024 * 1024;

export const ProtoType = {
  INFO: 1,
  SECURITY: 2,
  MESSAGE: 3,
  COMPRESSED: 4,
} as const;

/** Size of the as_msg header that follows the proto header; also the value of its byte 0. */
export const MSG_HEADER_SIZE = 22;

export const Info1 = {
  READ: 0x01,
  GET_ALL: 0x02,
  BATCH: 0x08,
  XDR: 0x10,
  NO_BIN_DATA: 0x20,
} as const;

export const Info2 = {
  WRITE: 0x01,
  DELETE: 0x02,
  GENERATION: 0x04,
  GENERATION_GT: 0x08,
  DURABLE_DELETE: 0x10,
  CREATE_ONLY: 0x20,
  RESPOND_ALL_OPS: 0x80,
} as const;

export const Info3 = {
  LAST: 0x01,
  /** On a scan request: the client understands per-partition markers. On a reply: a partition is done. */
  PARTITION_DONE: 0x04,
  UPDATE_ONLY: 0x08,
  CREATE_OR_REPLACE: 0x10,
  REPLACE_ONLY: 0x20,
} as const;

export const FieldType = {
  NAMESPACE: 0,
  SET: 1,
  USER_KEY: 2,
  DIGEST: 4,
  /** u64 id the client gives a scan */
  TASK_ID: 7,
  /** u32 ms a scan may wait on a client that does not read */
  SOCKET_TIMEOUT: 9,
  /** u32 records per second a scan is held to */
  RECORDS_PER_SECOND: 10,
  /** partitions to scan: u16 ids, little-endian */
  PID_ARRAY: 11,
  /** partitions to resume: 20-byte digests, scanning each one's partition after that digest */
  DIGEST_ARRAY: 12,
  /** u64 most records a scan returns */
  MAX_RECORDS: 13,
  LUT: 14,
  BATCH_INDEX: 41,
  FILTER_EXPRESSION: 43,
} as const;

export const OpType = {
  READ: 1,
  WRITE: 2,
  CDT_READ: 3,
  CDT_MODIFY: 4,
  INCR: 5,
  /** value: msgpack [expression, flags]; answers the expression's value under the op's name */
  EXP_READ: 7,
  APPEND: 9,
  PREPEND: 10,
  TOUCH: 11,
  DELETE: 14,
} as const;

export const ParticleType = {
  NULL: 0,
  INTEGER: 1,
  DOUBLE: 2,
  STRING: 3,
  BLOB: 4,
  BOOL: 17,
  HLL: 18,
  MAP: 19,
  LIST: 20,
  GEOJSON: 23,
} as const;

export const ResultCode = {
  OK: 0,
  NOT_FOUND: 2,
  GENERATION: 3,
  PARAMETER: 4,
  RECORD_EXISTS: 5,
  PARTITION_UNAVAILABLE: 11,
  INCOMPATIBLE_TYPE: 12,
  UNSUPPORTED_FEATURE: 16,
  NAMESPACE: 20,
  BIN_NAME: 21,
  ENTERPRISE_ONLY: 25,
  FILTERED_OUT: 27,
  SECURITY_NOT_SUPPORTED: 51,
  INVALID_USER: 60,
  INVALID_PASSWORD: 62,
  INVALID_CREDENTIAL: 65,
  EXPIRED_SESSION: 66,
  NOT_AUTHENTICATED: 80,
} as const;

/** Security (type 2) commands the double recognises. */
export const SecurityCommand = {
  AUTHENTICATE: 0,
  LOGIN: 20,
} as const;

/** Security (type 2) field ids: `[u32 size = 1 + length][u8 id][value]`. */
export const SecurityField = {
  USER: 0,
  /** bcrypt(password, fixed salt), as text */
  CREDENTIAL: 3,
  /** the password itself, for external (LDAP) authentication */
  CLEAR_PASSWORD: 4,
  /** opaque bytes handed out by LOGIN, presented by AUTHENTICATE */
  SESSION_TOKEN: 5,
  /** u32 seconds the session token stays valid */
  SESSION_TTL: 6,
} as const;

/** The salt every client hashes a password with before it sends it as the LOGIN credential. */
export const CREDENTIAL_SALT = '$2a$10$7EqJtq98hPqEX7fNZaFWoO';

/** Seconds between the Unix epoch and 2010-01-01T00:00:00Z, the server's clock origin. */
export const CITRUSLEAF_EPOCH_SECONDS = 1_262_304_000;

/** Record TTL values with a meaning of their own. */
export const Ttl = {
  NAMESPACE_DEFAULT: 0,
  NEVER_EXPIRE: 0xffff_ffff,
  DONT_UPDATE: 0xffff_fffe,
} as const;

export const DIGEST_SIZE = 20;
export const N_PARTITIONS = 4096;
/** Server bin names are at most 15 bytes. */
export const MAX_BIN_NAME = 15;
