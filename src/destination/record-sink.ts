/**
 * Where a worker sends records. The worker loop drains its ring into a sink and posts what the sink
 * reports back to the main thread as completions.
 *
 *   ring ─▶ offer(record) … offer(record) ─▶ flush()      (once per drained batch)
 *   sink ─▶ done(connection, seq, outcome)                  (any time, in any order)
 *   sink ─▶ progress()                                      (room freed: drain again; publish)
 *   sink ─▶ problem(key, error) … cleared(key)              (main logs, counts, readiness)
 *   sink ─▶ count(slot)                                     (a WorkerCounter slot, +1)
 *   sink ─▶ parked(namespace, code)                         (a dead letter was written)
 */

import type { ErrorShape } from '../errors.js';
import type { PolicySettings } from '../threads/index.js';

export interface SinkEvents {
  done(connection: number, seq: number, outcome: number): void;
  progress(): void;
  /** a destination connection came up / went down (counted) */
  up(): void;
  down(): void;
  /**
   * A condition began (or changed) that main should log once, count, and, when it blocks all
   * traffic, reflect in readiness; `cleared` ends it. Keys name what it is about.
   */
  problem(key: string, error: ErrorShape, blocksTraffic: boolean): void;
  cleared(key: string): void;
  /** Add one to the worker counter `slot` (a WorkerCounter index). */
  count(slot: number): void;
  /** A dead letter of source namespace `namespace`, rejected with `code`, was written. */
  parked(namespace: string, code: number): void;
}

export interface RecordSink {
  /**
   * Take the record `data[start, end)` (an as_msg body; `scan` holds its offsets). Returns false when
   * the sink has no room now: the loop stops draining until `progress()`.
   */
  offer(data: Buffer, start: number, end: number, scan: Int32Array, connection: number, seq: number): boolean;
  /** Start of a batch (before the first offer). */
  beginBatch?(): void;
  /** End of a batch: send or write what was offered. Returns bytes handed to the OS. */
  flush(): number;
  /** Requests taken but not yet done. */
  readonly inFlight: number;
  open(): void;
  /** Called every 100 ms: time out what waits too long, and send what waits. Returns bytes handed to the OS. */
  tick(now: number): number;
  close(): Promise<void>;
  /** Writes sent a second time after their connection was lost. */
  readonly resent?: number;
  /** A new write policy (live reload); sinks that apply none ignore it. */
  setPolicy?(policy: PolicySettings): void;
}
