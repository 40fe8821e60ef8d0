/** What the main thread hands each long-lived worker (structured-cloned; SABs are shared). */

import type { DestinationSettings, PolicySettings } from '../destination/settings.js';

export interface WorkerFaults {
  /** throw from the worker's event loop after this many records (tests only) */
  crashAfterRecords?: number;
}

export interface WorkerTask {
  index: number;
  inbound: SharedArrayBuffer;
  completions: SharedArrayBuffer;
  /** the main thread's doorbell, shared by every completion ring */
  bell: SharedArrayBuffer;
  /** Int32: [0] stop flag, [1] policy generation (bumped when `policyText` holds a new policy) */
  control: SharedArrayBuffer;
  /** [u32 length][UTF-8 JSON of PolicySettings]: written by main on reload, read by workers */
  policyText: SharedArrayBuffer;
  /** Float64 counters, see WorkerCounter */
  counters: SharedArrayBuffer;
  destination: DestinationSettings;
  policy: PolicySettings;
  faults: WorkerFaults;
  /** CPUs to pin this worker's thread to (service.cpu-affinity); empty = no pinning */
  cpus: number[];
}

/**
 * Per-worker counters in shared memory: the worker increments, the main thread reads at scrape time.
 *   [0, 260)  completions by outcome (destination result code, or destination Outcome)
 *   [260]     records taken from the ring
 *   [261]     bytes written to the destination
 *   [262]     destination connections opened
 *   [263]     destination connections lost
 *   [264]     destination connections up now
 *   [265]     heartbeat: bumped every 100 ms while the worker's event loop runs
 *   [266]     1 when the thread is pinned to its CPUs
 *   [267]     writes sent again after their destination connection was lost
 */
export const WorkerCounter = {
  Records: 260,
  BytesOut: 261,
  ConnectsOpened: 262,
  ConnectsLost: 263,
  ConnectionsUp: 264,
  Heartbeat: 265,
  Pinned: 266,
  Resent: 267,
  Size: 272,
} as const;
