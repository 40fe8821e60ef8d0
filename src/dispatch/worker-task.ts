/** What the main thread hands each long-lived worker (structured-cloned; SABs are shared). */

import type { DestinationSettings, PolicySettings } from '../destination/index.js';

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
  /**
   * Int32: [0] stop flag, [1] policy generation (bumped when `policyText` holds a new policy),
   * [2] the ack deadline in ms (records older than this are no longer sent)
   */
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
 *   [0, 261)  completions by outcome (destination result code, or destination Outcome)
 *   [261]     records taken from the ring
 *   [262]     bytes written to the destination
 *   [263]     destination connections opened
 *   [264]     destination connections lost
 *   [265]     destination connections up now
 *   [266]     heartbeat: bumped every 100 ms while the worker's event loop runs
 *   [267]     1 when the thread is pinned to its CPUs
 *   [268]     writes sent again after their destination connection was lost
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
  Size: 272,
} as const;
