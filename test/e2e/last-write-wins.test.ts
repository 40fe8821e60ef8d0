/**
 * End to end: two Ferry processes in front of one destination, the way a source DC lists several
 * connector nodes. xdr-load ships 100,000 changes over 10,000 keys round-robin across both, holds
 * back a fifth of the first instance's shipments so that older versions land after newer ones, and
 * one instance is killed and restarted mid-run. With aerospike.last-write-wins every key ends at its
 * last version; without it, the same run leaves stale keys (so the guard is what makes it right).
 */

import { describe, expect, it } from 'vitest';
import { XdrSource } from '../../src/cli/load/xdr-source.js';
import { useDestination } from '../support/destination.js';
import { freePort } from '../support/free-port.js';
import { FerryProcess, testConfig } from '../support/ferry-process.js';
import { loadOptions } from '../support/load.js';
import { verifyFinalState } from '../support/verify-state.js';

/** Resolve once `ready()` holds, checking whenever the event loop turns over. */
async function until(ready: () => boolean): Promise<void> {
  while (!ready()) await new Promise((r) => setTimeout(r, 20));
}

describe('last-write-wins across two Ferry instances', () => {
  const ctx = useDestination();

  /** The reordered, two-instance run; returns the source and the stale count both instances saw. */
  async function reorderedRun(set: string, aerospike: Record<string, unknown>): Promise<{ source: XdrSource; stale: number }> {
    const ports = [await freePort(), await freePort()] as const;
    const config = (port: number): Record<string, unknown> => testConfig(ctx.dest, { service: { port }, aerospike });
    const [first, started] = (await FerryProcess.startAll([config(ports[0]), config(ports[1])])) as [FerryProcess, FerryProcess];
    let second = started;
    try {
      const source = new XdrSource(
        loadOptions(ports[0], {
          hosts: ports.map((port) => ({ host: '127.0.0.1', port })),
          keys: 10_000,
          changes: 100_000,
          object: 'I,S:12',
          holdBackPct: 20,
          holdBackMs: 400,
          probeEvery: 0,
          set,
          seed: 5,
        }),
      );
      const run = source.run();
      // Mid-run, the second instance dies without a word and comes back on its port.
      await until(() => source.stats.changes >= 40_000);
      expect(await second.stop('SIGKILL')).toBe(null);
      await until(() => source.stats.connectErrors > 0);
      second = await FerryProcess.start(config(ports[1]));
      const stats = await run;
      expect(stats.changes).toBe(100_000);
      expect(stats.abandons).toBe(0);
      expect(stats.orderViolations).toBe(0);
      expect(stats.heldSent).toBeGreaterThan(1000);
      const stale = (await first.metric('ferry_records_stale_total{namespace="test"}')) + (await second.metric('ferry_records_stale_total{namespace="test"}'));
      return { source, stale };
    } finally {
      expect(await first.stop()).toBe(0);
      expect(await second.stop()).toBe(0);
    }
  }

  it('with last-write-wins: every key ends at its last version, and stale versions were turned away', async () => {
    const { source, stale } = await reorderedRun(`lww-on-${process.pid}`, { 'last-write-wins': { bin: 'lww' } });
    const { checked, mismatches } = await verifyFinalState(ctx.client, source);
    expect(checked).toBeGreaterThan(9_900);
    expect(mismatches.slice(0, 5)).toEqual([]);
    expect(stale).toBeGreaterThan(0);
  });

  it('without it, the same run leaves keys at an older version', async () => {
    const { source, stale } = await reorderedRun(`lww-off-${process.pid}`, {});
    const { checked, mismatches } = await verifyFinalState(ctx.client, source);
    expect(checked).toBeGreaterThan(9_900);
    expect(mismatches.length).toBeGreaterThan(0);
    expect(stale).toBe(0);
  });
});
