/**
 * End to end: a Ferry process with three worker threads puts as many to work as the load needs
 * (`service.worker-busy`), moves partitions between them while the load runs, and keeps every key's
 * changes in order; the target is reloaded without a restart.
 */

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { XdrSource } from '../../src/cli/load/xdr-source.js';
import { AerospikeDouble } from '../double/server.js';
import { useDestination } from '../support/destination.js';
import { FerryProcess, testConfig } from '../support/ferry-process.js';
import { until } from '../support/in-process.js';
import { loadOptions } from '../support/load.js';
import { verifyFinalState } from '../support/verify-state.js';
import { XdrShipper } from '../support/xdr-ship.js';

const records = (ferry: FerryProcess, w: number): Promise<number> => ferry.metric(`ferry_worker_records_total{worker="${w}"}`);
const active = (ferry: FerryProcess): Promise<number> => ferry.metric('ferry_workers_active');

/** Write `config` to Ferry's file and SIGHUP it; resolves once it says the reload is done. */
async function reload(ferry: FerryProcess, config: Record<string, unknown>): Promise<void> {
  const done = (): number => ferry.logs.filter((l) => l.msg.startsWith('configuration reloaded')).length;
  const before = done();
  writeFileSync(ferry.configFile, stringify(config));
  ferry.child.kill('SIGHUP');
  await until(() => done() > before, 5000, 'the reload');
}

describe('workers at work by the load', () => {
  const ctx = useDestination();
  const dir = mkdtempSync(join(tmpdir(), 'ferry-spread-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('one worker at a light load, all three at a heavy one, one again once it falls; every key at its last version, replies in order', async () => {
    // A transform module that keeps its worker busy 250 µs a record: 300 records/s is under a tenth
    // of one worker's time, 5,000 records/s more than two workers' half.
    const spin = join(dir, 'spin.mjs');
    writeFileSync(spin, 'export default (record) => { const end = performance.now() + 0.25; while (performance.now() < end); return record; };\n');
    const ferry = await FerryProcess.start(testConfig(ctx.dest, { service: { 'worker-threads': 3 }, aerospike: { transform: spin } }));
    try {
      expect(await active(ferry)).toBe(1);
      const opts = { keys: 400, object: 'I,S:32', set: 'e2e-spread' };
      // The first records also pay for compiling the code and opening connections, which may
      // briefly ask for a second worker: warm up, then wait for one worker at work.
      expect((await new XdrSource(loadOptions(ferry.port, { ...opts, changes: 300, throttle: 300, seed: 20 })).run()).abandons).toBe(0);
      await until(async () => (await active(ferry)) === 1, 5000, 'one worker at work after the warm-up');
      const others = async (): Promise<number> => (await records(ferry, 1)) + (await records(ferry, 2));
      const [before, first] = [await others(), await records(ferry, 0)];
      const light = await new XdrSource(loadOptions(ferry.port, { ...opts, changes: 600, throttle: 300, seed: 21 })).run();
      expect(light.abandons).toBe(0);
      expect(light.orderViolations).toBe(0);
      // One worker was enough: the others took nothing. (A partition the warm-up had spread moves
      // back to worker 0 at its first record here, so moves may still count up.)
      expect(await active(ferry)).toBe(1);
      expect((await records(ferry, 0)) - first).toBeGreaterThanOrEqual(600);
      expect(await others()).toBe(before);
      const movesLight = await ferry.metric('ferry_partition_moves_total');

      const heavy = new XdrSource(loadOptions(ferry.port, { ...opts, changes: 15_000, throttle: 5000, seed: 22 }));
      let most = 0;
      let busiest = 0;
      const running = heavy.run();
      let done = false;
      void running.finally(() => (done = true));
      while (!done) {
        most = Math.max(most, await active(ferry));
        busiest = Math.max(busiest, await ferry.metric('ferry_worker_busy_ratio{worker="0"}'));
        await new Promise((r) => setTimeout(r, 50));
      }
      const stats = await running;
      expect(most).toBe(3);
      // What put them to work: 250 µs a record at 5,000 records/s keeps a worker well over half busy.
      expect(busiest).toBeGreaterThan(0.3);
      expect(stats.abandons).toBe(0);
      expect(stats.orderViolations).toBe(0);
      expect(stats.byCode[20]).toBe(stats.probes);
      for (const w of [1, 2]) expect(await records(ferry, w)).toBeGreaterThan(500);
      expect(await ferry.metric('ferry_partition_moves_total')).toBeGreaterThan(movesLight);
      // Partitions moved out to the other two while the keys were being written: the 400 keys lie in
      // about 380 partitions, two thirds of which belong to workers 1 and 2.
      const moved = await ferry.metric('ferry_partition_moves_total');
      expect(moved - movesLight).toBeGreaterThan(100);
      const heavyState = await verifyFinalState(ctx.client, heavy);
      expect(heavyState.mismatches.slice(0, 5)).toEqual([]);
      expect(heavyState.checked).toBeGreaterThan(390);
      // A second after the load, one worker again: its partitions move back as they are next written.
      await until(async () => (await active(ferry)) === 1, 5000, 'one worker at work again');
      const after = new XdrSource(loadOptions(ferry.port, { ...opts, changes: 400, throttle: 300, seed: 23 }));
      expect((await after.run()).orderViolations).toBe(0);
      expect(await ferry.metric('ferry_partition_moves_total')).toBeGreaterThan(moved);
      const afterState = await verifyFinalState(ctx.client, after);
      expect(afterState.mismatches.slice(0, 5)).toEqual([]);
      expect(afterState.checked).toBeGreaterThan(200);
    } finally {
      expect(await ferry.stop()).toBe(0);
    }
  });

  it('SIGHUP applies a new service.worker-busy without a restart; 0 keeps every worker at work', async () => {
    const service = { 'worker-threads': 3, 'worker-busy': 0.5 };
    const ferry = await FerryProcess.start(testConfig(ctx.dest, { service }));
    try {
      expect(await active(ferry)).toBe(1);
      await reload(ferry, testConfig(ctx.dest, { service: { ...service, 'worker-busy': 0 } }));
      await until(async () => (await active(ferry)) === 3, 2000, 'all three at work');
      await reload(ferry, testConfig(ctx.dest, { service }));
      // Idle: one worker after a second of ticks that need fewer.
      await until(async () => (await active(ferry)) === 1, 5000, 'one worker at work');
    } finally {
      expect(await ferry.stop()).toBe(0);
    }
  });

  it('a partition with changes still queued for its worker keeps that worker when more are put to work', async () => {
    // The double answers one write at a time per connection, 3 ms each: the first version of 400
    // keys queues behind worker 0's connection for over a second. Half of the keys' partitions
    // belong to worker 1 once both are at work; the second versions must still follow the first
    // through worker 0, or the idle worker 1 would write them first.
    const double = await AerospikeDouble.start({ namespaces: ['test'] });
    const service = { 'worker-threads': 2, 'worker-busy': 0.5 };
    const dest = { host: double.host, port: double.port };
    const ferry = await FerryProcess.start(testConfig(dest, { service }));
    const first = await XdrShipper.open(ferry.port);
    const second = await XdrShipper.open(ferry.port);
    try {
      const keys = Array.from({ length: 400 }, (_, i) => i);
      const version = (v: number) => keys.map((key) => ({ namespace: 'test', set: 'e2e-queued', key, bins: { v } }));
      double.faults.delayMs = 3;
      const firstAcks = first.ship(...version(1));
      await until(() => double.stats.requests > 5, 5000, 'the first writes at the destination');
      await reload(ferry, testConfig(dest, { service: { ...service, 'worker-busy': 0 } }));
      await until(async () => (await active(ferry)) === 2, 2000, 'both workers at work');
      const secondAcks = second.ship(...version(2));
      expect(await firstAcks).toEqual(keys.map(() => 0));
      expect(await secondAcks).toEqual(keys.map(() => 0));
      // Worker 1 took the second versions of the partitions that had nothing queued any more.
      expect(await records(ferry, 1)).toBeGreaterThan(0);
      const stored = [...double.records('test').values()].filter((r) => r.set === 'e2e-queued');
      expect(stored).toHaveLength(400);
      const stale = stored.filter((r) => r.bins.get('v')!.value.readBigInt64BE() !== 2n);
      expect(stale).toHaveLength(0);
    } finally {
      double.faults.delayMs = 0;
      first.close();
      second.close();
      expect(await ferry.stop()).toBe(0);
      await double.close();
    }
  });
});
