/**
 * One source record written as several (a transform's fan-out): each write goes to the sink under
 * the reserved connection id FANOUT_CONNECTION with a slot number as its sequence; the source's own
 * completion is posted once every write is answered, with the worst outcome:
 *
 *   retry (a transient destination code, or one of Ferry's outcomes) > a permanent refusal > done
 *
 * so the source ships the record again when any write may still succeed.
 */

import { ResultCode, isTransientDestinationCode } from '../protocol/index.js';
import { Outcome, WORKER_CONNECTION } from '../threads/index.js';

/** The connection id fan-out writes go under. */
export const FANOUT_CONNECTION = WORKER_CONNECTION;

function severity(outcome: number): number {
  if (outcome === ResultCode.Ok || outcome === ResultCode.FilteredOut || outcome === ResultCode.NotFound) return 0;
  if (outcome >= Outcome.ConnectionLost || isTransientDestinationCode(outcome)) return 2;
  return 1;
}

export class FanOuts {
  private readonly connection: number[] = [];
  private readonly seq: number[] = [];
  private readonly left: number[] = [];
  private readonly worst: number[] = [];
  private readonly free: number[] = [];

  /** Open a slot for `n` writes of the source record (connection, seq); returns the slot. */
  open(connection: number, seq: number, n: number): number {
    const slot = this.free.pop() ?? this.left.length;
    this.connection[slot] = connection;
    this.seq[slot] = seq;
    this.left[slot] = n;
    this.worst[slot] = ResultCode.Ok;
    return slot;
  }

  /** One write of `slot` is answered; true when it was the last (then `result` holds the source's answer). */
  settle(slot: number, outcome: number, result: { connection: number; seq: number; outcome: number }): boolean {
    if (severity(outcome) > severity(this.worst[slot]!)) this.worst[slot] = outcome;
    if (--this.left[slot]! > 0) return false;
    result.connection = this.connection[slot]!;
    result.seq = this.seq[slot]!;
    result.outcome = this.worst[slot]!;
    this.free.push(slot);
    return true;
  }
}
