/**
 * End to end: `ferry xdr-load`'s source ships changes over 8 connections through a Ferry process
 * (two worker threads) into the destination (the double, or a real server named by
 * FERRY_TEST_AEROSPIKE); the official client then reads every key back.
 */

import { describe, expect, it } from 'vitest';
import { XdrSource } from '../../src/cli/load/xdr-source.js';
import { useDestination } from '../support/destination.js';
import { FerryProcess, testConfig } from '../support/ferry-process.js';
import { loadOptions } from '../support/load.js';
import { verifyFinalState } from '../support/verify-state.js';

describe('XDR through Ferry into the destination', () => {
  const ctx = useDestination();

  it('100,000 changes of every particle type, compressed, with deletes: every key at its last version, replies in order', async () => {
    const ferry = await FerryProcess.start(testConfig(ctx.dest));
    try {
      const source = new XdrSource(loadOptions(ferry.port, { compress: true, deletePct: 10, durableDeletes: true, set: 'e2e-all' }));
      const stats = await source.run();
      expect(stats.changes).toBe(100_000);
      expect(stats.abandons).toBe(0);
      expect(stats.orderViolations).toBe(0);
      expect(stats.probes).toBeGreaterThan(100);
      expect(stats.byCode[20]).toBe(stats.probes);
      // Keys repeat: 100,000 changes over 20,000 keys.
      expect(stats.ships).toBeGreaterThan(20_000);
      const { checked, mismatches } = await verifyFinalState(ctx.client, source);
      expect(mismatches.slice(0, 5)).toEqual([]);
      expect(checked).toBeGreaterThan(19_000);
      if (ctx.dest.double !== undefined) {
        // Every write reached the destination as an XDR write; durable deletes were not refused.
        expect(ctx.dest.double.stats.xdrWrites).toBeGreaterThan(0);
        expect(ctx.dest.double.stats.rejected[25] ?? 0).toBe(0);
      }
    } finally {
      expect(await ferry.stop()).toBe(0);
    }
  });

  it('uncompressed writes with bin LUTs, LUT stripped, from a mapped namespace', async () => {
    const ferry = await FerryProcess.start(testConfig(ctx.dest, { aerospike: { lut: 'strip', 'namespace-mapping': { origin: 'test' } } }));
    try {
      const source = new XdrSource(loadOptions(ferry.port, { namespace: 'origin', keys: 2000, changes: 10_000, shipBinLuts: true, deletePct: 5, set: 'e2e-mapped', seed: 3 }));
      const stats = await source.run();
      expect(stats.abandons).toBe(0);
      expect(stats.orderViolations).toBe(0);
      const { checked, mismatches } = await verifyFinalState(ctx.client, source, 'test');
      expect(mismatches.slice(0, 5)).toEqual([]);
      expect(checked).toBeGreaterThan(1900);
      if (ctx.dest.double !== undefined) {
        const stored = [...ctx.dest.double.records('test').values()].filter((r) => r.set === 'e2e-mapped');
        expect(stored.length).toBeGreaterThan(1000);
        expect(stored.every((r) => r.lut === undefined && r.xdr)).toBe(true);
      }
    } finally {
      expect(await ferry.stop()).toBe(0);
    }
  });

  it.each([0, 3])('dispatch-delay %i: every key ends at its last version, replies stay in order, wake-ups are spaced', async (delay) => {
    // prompt-below 0: the delay spaces wake-ups at every rate, as this test counts them; worker-busy
    // 0: both workers at work, so both are counted.
    const ferry = await FerryProcess.start(testConfig(ctx.dest, { service: { 'dispatch-delay': delay, 'prompt-below': 0, 'worker-busy': 0 } }));
    try {
      const source = new XdrSource(loadOptions(ferry.port, { keys: 3000, changes: 20_000, object: 'I,S:32', deletePct: 5, set: `e2e-delay-${delay}`, throttle: 10_000, seed: 13 }));
      const started = performance.now();
      const stats = await source.run();
      const elapsedMs = performance.now() - started;
      const wakeups = await Promise.all([0, 1].map((w) => ferry.metric(`ferry_worker_wakeups_total{worker="${w}"}`)));
      expect(Math.min(...wakeups)).toBeGreaterThan(0);
      // A worker is woken at most once per window: the window sets the bound, not the machine.
      if (delay > 0) for (const n of wakeups) expect(n).toBeLessThanOrEqual(elapsedMs / delay + 1);
      expect(stats.abandons).toBe(0);
      expect(stats.orderViolations).toBe(0);
      expect(stats.byCode[20]).toBe(stats.probes);
      const { checked, mismatches } = await verifyFinalState(ctx.client, source);
      expect(mismatches.slice(0, 5)).toEqual([]);
      expect(checked).toBeGreaterThan(2900);
    } finally {
      expect(await ferry.stop()).toBe(0);
    }
  });

  it('no-bins writes are acknowledged without a destination write', async () => {
    const ferry = await FerryProcess.start(testConfig(ctx.dest));
    try {
      const before = ctx.dest.double?.stats.requests ?? 0;
      const source = new XdrSource(loadOptions(ferry.port, { keys: 500, changes: 500, workload: 'insert', noBins: true, probeEvery: 0, set: 'e2e-nobins' }));
      const stats = await source.run();
      expect(stats.ships).toBe(500);
      expect(stats.byCode).toEqual({ 0: 500 });
      // A destination would answer each of them 4 (an abandon code); none reached it.
      if (ctx.dest.double !== undefined) expect(ctx.dest.double.stats.requests - before).toBe(0);
      for (const key of [0, 250, 499]) expect(await ctx.client.exists(['test', 'e2e-nobins', key])).toBe(false);
    } finally {
      expect(await ferry.stop()).toBe(0);
    }
  });
});
