/**
 * Records bigger than a slab of the source arena (1 MiB) are copied on to their worker: into its
 * ring when they take at most half of it, else into the arena's jumbo run. A ring record must lie
 * in one piece: copied into the ring, a 3.2 MB record after a 1.2 MB one in the least ring (4 MiB,
 * at a small in-flight cap) needs 3.2 MB before the ring's end or after its start, and has neither
 * even when the ring is empty.
 */

import { expect, it } from 'vitest';
import { XdrSource } from '../../src/cli/load/xdr-source.js';
import { useDestination } from '../support/destination.js';
import { startFerry } from '../support/in-process.js';
import { loadOptions } from '../support/load.js';
import { verifyFinalState } from '../support/verify-state.js';

const ctx = useDestination();

it('a 1.2 MB record (by the ring) then 3.2 MB records (by the jumbo run) through a 4 MiB ring replicate, each at its first shipment', async () => {
  const { ferry, port } = await startFerry(ctx.dest, { service: { 'worker-threads': 1, 'max-concurrent-records': 100 } });
  try {
    expect(ferry.workerPool!.ringBytes).toBe(4 * 1024 * 1024);
    // Bins of at most 1 MB each (xdr-load's limit per bin).
    for (const [object, set, changes, connections] of [
      ['B1000000,B200000', 'e2e-large-ring', 1, 1],
      ['B1000000,B1000000,B1000000,B200000', 'e2e-large-run', 40, 2],
    ] as const) {
      // Then two connections, two in flight on each: records of both wait for the run.
      const source = new XdrSource(loadOptions(port, { keys: 6, changes, object, connections, pipeline: 2, set, seed: changes }));
      const stats = await source.run();
      expect(stats.abandons).toBe(0);
      // None waited for the ack deadline (5 s) to be answered 11.
      expect(stats.retries).toBe(0);
      const { mismatches, checked } = await verifyFinalState(ctx.client, source);
      expect(mismatches.slice(0, 2)).toEqual([]);
      expect(checked).toBeGreaterThan(0);
    }
  } finally {
    await ferry.stop();
  }
}, 60_000);
