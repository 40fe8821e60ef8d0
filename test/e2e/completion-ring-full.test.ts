/**
 * A worker whose completion ring is full keeps its results until main has drained the ring: a
 * ring with room for 256 completions, under 8 connections × 256 in flight (2,048 records out at
 * once), still answers every record with its own result, in order, before any ack deadline.
 */

import { expect, it } from 'vitest';
import { XdrSource } from '../../src/cli/load/xdr-source.js';
import { useDestination } from '../support/destination.js';
import { startFerry } from '../support/in-process.js';
import { loadOptions } from '../support/load.js';
import { verifyFinalState } from '../support/verify-state.js';

const ctx = useDestination();

it('a completion ring with room for 256 results loses none and holds none back', async () => {
  // 4 KiB: 256 completions of 16 bytes.
  const { ferry, port } = await startFerry(ctx.dest, { completionRingBytes: 4096 });
  try {
    const source = new XdrSource(loadOptions(port, { keys: 4000, changes: 30_000, object: 'I,S:32', seed: 9, set: 'e2e-full-completions' }));
    const stats = await source.run();
    expect(stats.abandons).toBe(0);
    expect(stats.orderViolations).toBe(0);
    // No record waited for the ack deadline (5 s) or a lost worker: each got its own result.
    expect(stats.retries).toBe(0);
    expect(ferry.stats.workerLostRetries).toBe(0);
    const { mismatches, checked } = await verifyFinalState(ctx.client, source);
    expect(mismatches.slice(0, 5)).toEqual([]);
    expect(checked).toBeGreaterThan(3900);
  } finally {
    await ferry.stop();
  }
});
