/**
 * Per-worker counters in shared memory: the worker increments (plain stores, one writer), the main
 * thread reads them at scrape time (a value read mid-update is at worst one batch old).
 *
 *   Float64Array (WorkerCounter.Size):
 *   [0, 262)  completions by outcome (destination result code, or an Outcome ≥ 256)
 *   [262]     records taken from the ring
 *   [263]     bytes written to the destination
 *   [264]     destination connections opened
 *   [265]     destination connections lost
 *   [266]     destination connections up now
 *   [267]     heartbeat: bumped every 100 ms while the worker's event loop runs
 *   [268]     1 when the thread is pinned to its CPUs
 *   [269]     writes sent again after their destination connection was lost
 *   [270]     records without a LUT field, written unguarded under last-write-wins
 *   [271]     dead letters dropped (not written: store full, disk full, folder not writable)
 *   [272, 305) stale records (answered 27 under last-write-wins) by destination namespace:
 *             [272] namespace not in the partition map, [273 + i] the map's namespace i
 *   [305, 309) records answered done without a destination write, by reason (Skipped + SkipReason)
 *   [309]     extra destination writes a transform module's fan-out made
 *   [310]     share of the last 100 ms tick the worker's event loop was busy, 0–1, or 0 when it took
 *             no records in it (dispatch's worker-spread.ts puts as many workers to work as that
 *             asks for)
 */
export const WorkerCounter = {
  Records: 262,
  BytesOut: 263,
  ConnectsOpened: 264,
  ConnectsLost: 265,
  ConnectionsUp: 266,
  Heartbeat: 267,
  Pinned: 268,
  Resent: 269,
  Unversioned: 270,
  DeadLettersDropped: 271,
  Stale: 272,
  Skipped: 272 + 1 + 32,
  FannedOut: 272 + 1 + 32 + 4,
  Busy: 272 + 1 + 32 + 4 + 1,
  Size: 272 + 1 + 32 + 4 + 2,
} as const;

/** Why a record was answered done and not written (offsets from WorkerCounter.Skipped). */
export const SkipReason = {
  /** a routing rule with `mode: skip` */
  Routing: 0,
  /** its set is in `aerospike.skip-sets` */
  SkipSet: 1,
  /** a write whose every bin the bin rules removed */
  NoBins: 2,
  /** the transform module returned null or "skip" */
  Transform: 3,
} as const;

export const SKIP_REASON_NAMES = ['routing', 'skip-set', 'no-bins', 'transform'] as const;

export function newCountersBuffer(): SharedArrayBuffer {
  return new SharedArrayBuffer(WorkerCounter.Size * Float64Array.BYTES_PER_ELEMENT);
}
