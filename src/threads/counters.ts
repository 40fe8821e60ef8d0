/**
 * Per-worker counters in shared memory: the worker increments (plain stores, one writer), the main
 * thread reads them at scrape time (a value read mid-update is at worst one batch old).
 *
 *   Float64Array (WorkerCounter.Size):
 *   [0, 261)  completions by outcome (destination result code, or an Outcome ≥ 256)
 *   [261]     records taken from the ring
 *   [262]     bytes written to the destination
 *   [263]     destination connections opened
 *   [264]     destination connections lost
 *   [265]     destination connections up now
 *   [266]     heartbeat: bumped every 100 ms while the worker's event loop runs
 *   [267]     1 when the thread is pinned to its CPUs
 *   [268]     writes sent again after their destination connection was lost
 *   [269]     records without a LUT field, written unguarded under last-write-wins
 *   [270]     dead letters dropped (not written: store full, disk full, folder not writable)
 *   [272, 305) stale records (answered 27 under last-write-wins) by destination namespace:
 *             [272] namespace not in the partition map, [273 + i] the map's namespace i
 */
export const WorkerCounter = {
  Records: 261,
  BytesOut: 262,
  ConnectsOpened: 263,
  ConnectsLost: 264,
  ConnectionsUp: 265,
  Heartbeat: 266,
  Pinned: 267,
  Resent: 268,
  Unversioned: 269,
  DeadLettersDropped: 270,
  Stale: 272,
  Size: 272 + 1 + 32,
} as const;

export function newCountersBuffer(): SharedArrayBuffer {
  return new SharedArrayBuffer(WorkerCounter.Size * Float64Array.BYTES_PER_ELEMENT);
}
