/**
 * The outcome of one record at a destination: a destination result code (0–255), or one of Ferry's
 * own outcomes when there is no destination answer. Main turns outcomes into reply codes through one
 * table (main.ts replyCodeFor).
 */
export const Outcome = {
  /** the destination connection closed with the record in flight */
  ConnectionLost: 256,
  /** the destination did not answer within the write timeout */
  Timeout: 257,
  /** no connection to the destination node could be had */
  NoConnection: 258,
  /** the file destination could not write or sync */
  StorageError: 259,
  /** never sent: its ack deadline passed while it waited in the ring (main answered it already) */
  Expired: 260,
  /** the transform module threw on it, or returned what cannot be written (answered 11) */
  TransformFailed: 261,
} as const;

export const OUTCOME_SLOTS = 262;
