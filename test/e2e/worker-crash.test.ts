/**
 * A worker thread that throws is replaced; its records are answered with the retry code and
 * re-shipped by the source, so nothing is lost.
 */

import { expect, it } from 'vitest';
import { XdrSource } from '../../src/cli/load/xdr-source.js';
import { useDestination } from '../support/destination.js';
import { startFerry } from '../support/in-process.js';
import { loadOptions } from '../support/load.js';
import { verifyFinalState } from '../support/verify-state.js';

const ctx = useDestination();

it('a worker that throws is replaced, its records get the retry code, and nothing is lost', async () => {
  // worker-busy 0: both workers at work from the first record, so both reach their crash.
  const { ferry, port } = await startFerry(ctx.dest, { service: { 'worker-busy': 0 }, faults: { crashAfterRecords: 1000 } });
  try {
    const source = new XdrSource(loadOptions(port, { keys: 5000, changes: 40_000, object: 'I,S:32', deletePct: 5, seed: 5, set: 'e2e-crash' }));
    const stats = await source.run();
    const pool = ferry.workerPool!;
    // Both workers crashed once (each after 1,000 records) and were replaced.
    expect(pool.restarts(0) + pool.restarts(1)).toBe(2);
    expect(ferry.stats.workerLostRetries).toBeGreaterThan(0);
    expect(stats.retries).toBeGreaterThan(0);
    expect(stats.abandons).toBe(0);
    expect(stats.orderViolations).toBe(0);
    const { mismatches, checked } = await verifyFinalState(ctx.client, source);
    expect(mismatches.slice(0, 5)).toEqual([]);
    expect(checked).toBeGreaterThan(4900);
  } finally {
    await ferry.stop();
  }
});
