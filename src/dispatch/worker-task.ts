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
  /** [0] stop flag (Int32) */
  control: SharedArrayBuffer;
  /** Float64 counters, see WorkerCounter */
  counters: SharedArrayBuffer;
  destination: DestinationSettings;
  policy: PolicySettings;
  faults: WorkerFaults;
}

/**
 * Per-worker counters in shared memory: the worker increments, the main thread reads at scrape time.
 *   [0, 260)  completions by outcome (destination result code, or destination Outcome)
 *   [260]     records taken from the ring
 *   [261]     bytes written to the destination
 *   [262]     destination connections opened
 *   [263]     destination connections lost
 *   [264]     destination connections up now
 */
export const WorkerCounter = {
  Records: 260,
  BytesOut: 261,
  ConnectsOpened: 262,
  ConnectsLost: 263,
  ConnectionsUp: 264,
  Size: 272,
} as const;
