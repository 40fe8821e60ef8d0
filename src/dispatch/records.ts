/**
 * Record layouts in the rings (host byte order; every ring record is 4-byte aligned).
 *
 *   inbound   (main → worker):  [u32 connection][u32 sequence][as_msg body: header, fields, ops]
 *   completion (worker → main): [u32 connection][u32 sequence][u32 outcome]
 */

export const INBOUND_HEADER = 8;
export const COMPLETION_SIZE = 12;

/**
 * A completion's outcome: a destination result code (0–255), or one of Ferry's own outcomes when no
 * destination answer exists. Main turns outcomes into reply codes through one table.
 */
export const Outcome = {
  /** the destination connection closed with the record in flight */
  ConnectionLost: 256,
  /** the destination did not answer within the write timeout */
  Timeout: 257,
  /** no connection to the destination node could be had */
  NoConnection: 258,
  /** the record's namespace maps nowhere at the destination */
  Unmapped: 259,
} as const;

export const OUTCOME_SLOTS = 260;
