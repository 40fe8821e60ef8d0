/**
 * Record layouts in the rings (host byte order; every ring record is 4-byte aligned).
 *
 *   inbound   (main → worker):  [u32 connection][u32 sequence][u32 arrival, epoch ms mod 2^32]
 *                               [as_msg body: header, fields, ops]
 *   completion (worker → main): [u32 connection][u32 sequence][u32 outcome]
 */

export const INBOUND_HEADER = 12;
export const COMPLETION_SIZE = 12;
