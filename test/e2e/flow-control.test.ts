/**
 * Flow control on the source side: the ack deadline, the in-flight caps, health checks and
 * malformed input. These need to stall the destination, so they run against the double only.
 */

import { existsSync, mkdtempSync, readFileSync, readlinkSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { XdrSource } from '../../src/cli/load/xdr-source.js';
import type { Ferry } from '../../src/main.js';
import { OfficialClient } from '../double/official-client.js';
import { AerospikeDouble } from '../double/server.js';
import { startFerry, until } from '../support/in-process.js';
import { loadOptions } from '../support/load.js';
import { verifyFinalState } from '../support/verify-state.js';

describe('source flow control', () => {
  let double: AerospikeDouble;
  let client: OfficialClient;
  let ferry: Ferry | undefined;

  beforeAll(async () => {
    double = await AerospikeDouble.start();
    client = await OfficialClient.start();
    await client.connect(double.port);
  });
  afterEach(async () => {
    double.faults.stall = false;
    await ferry?.stop();
    ferry = undefined;
  });
  afterAll(async () => {
    await client?.stop();
    await double?.close();
  });

  it('a stalled destination: records are answered 11 within the ack deadline, and replicate once it recovers', async () => {
    const started = await startFerry(double, { service: { 'ack-deadline': 800 }, aerospike: { timeouts: { write: 400 } } });
    ferry = started.ferry;
    double.faults.stall = true;
    const source = new XdrSource(loadOptions(started.port, { keys: 2000, changes: 2000, workload: 'insert', object: 'I,S:64', set: 'stall' }));
    const run = source.run();
    await until(() => source.stats.retries >= 2000, 20_000, 'every record to be answered with the retry code');
    // Nothing waited anywhere near the source's 10 s reset: every reply came within ~1 s.
    expect(source.stats.resets).toBe(0);
    expect(source.stats.latency.slice(21).reduce((a, b) => a + b, 0)).toBe(0); // none ≥ 2^21 µs ≈ 2.1 s
    expect(source.stats.byCode[11]).toBeGreaterThanOrEqual(2000);
    double.faults.stall = false;
    const stats = await run;
    expect(stats.abandons).toBe(0);
    expect(stats.orderViolations).toBe(0);
    const { checked, mismatches } = await verifyFinalState(client, source);
    expect(mismatches).toEqual([]);
    expect(checked).toBe(2000);
  });

  it('at the in-flight cap Ferry stops reading and drops nothing', async () => {
    const cap = 1000;
    const started = await startFerry(double, {
      service: { 'max-concurrent-records': cap, 'ack-deadline': 9000 },
      aerospike: { timeouts: { write: 9000 } },
    });
    ferry = started.ferry;
    const f = started.ferry;
    double.faults.stall = true;
    // 8 connections × 256 in flight = 2,048 offered, twice the cap.
    const source = new XdrSource(loadOptions(started.port, { keys: 20_000, changes: 20_000, workload: 'insert', object: 'I', set: 'cap', probeEvery: 0 }));
    const run = source.run();
    await until(() => f.inFlight() >= cap, 10_000, 'Ferry to reach its in-flight cap');
    let peak = 0;
    for (let i = 0; i < 20; i++) {
      peak = Math.max(peak, f.inFlight());
      await new Promise((r) => setTimeout(r, 10));
    }
    expect(peak).toBe(cap);
    expect(f.stats.readPauses).toBeGreaterThan(0);
    // The source has more in flight than Ferry took: the rest waits in socket buffers.
    expect(source.inFlightCount).toBeGreaterThan(cap);
    double.faults.stall = false;
    const stats = await run;
    expect(stats.acks).toBe(20_000);
    expect(stats.retries + stats.abandons).toBe(0);
    const { checked, mismatches } = await verifyFinalState(client, source);
    expect(mismatches).toEqual([]);
    expect(checked).toBe(20_000);
  });

  it('a deep queue: main looks at the results every 4 ms while it lasts, and every 1 ms again once it drains', async () => {
    const started = await startFerry(double, { service: { 'worker-threads': 1, 'ack-deadline': 9000 }, aerospike: { timeouts: { write: 9000 } } });
    ferry = started.ferry;
    const f = started.ferry;
    const pool = f.workerPool!;
    const look = async (): Promise<number> => {
      const text = await (await fetch(`http://127.0.0.1:${f.managementAddress!.port}/metrics`)).text();
      return Number(/^ferry_completion_look_seconds (\S+)$/m.exec(text)?.[1]);
    };
    expect(pool.lookMs).toBe(1);
    expect(await look()).toBe(0.001);
    double.faults.stall = true;
    // 8 connections × 256 in flight against a destination that answers nothing: 2,048 out and
    // none back, well past 256 out and 16 ms each.
    const source = new XdrSource(loadOptions(started.port, { keys: 4000, changes: 4000, workload: 'insert', object: 'I', set: 'deep', probeEvery: 0 }));
    const run = source.run();
    await until(() => f.inFlight() >= 2000 && pool.lookMs === 4, 10_000, '2,000 records out and the 4 ms look');
    expect(await look()).toBe(0.004);
    double.faults.stall = false;
    const stats = await run;
    expect(stats.acks).toBe(4000);
    expect(stats.retries + stats.abandons).toBe(0);
    // Whichever look took the last results, nothing out is no deep queue.
    await until(() => f.inFlight() === 0, 5_000, 'nothing in flight');
    expect(pool.lookMs).toBe(1);
    expect(await look()).toBe(0.001);
    const { checked, mismatches } = await verifyFinalState(client, source);
    expect(mismatches).toEqual([]);
    expect(checked).toBe(4000);
  });

  it('a stalled destination and big records: intake waits once the arena is held, and the ring does not fill with copies instead', async () => {
    // 8 connections × 256 records of 64 KiB offered (128 MiB) against an arena of 16 slabs (16 MiB)
    // and a cap of 4,096 records: the arena, not the cap, must stop the reading.
    const started = await startFerry(double, { service: { 'worker-threads': 1, 'max-concurrent-records': 4096, 'ack-deadline': 9000 }, aerospike: { timeouts: { write: 9000 } } });
    ferry = started.ferry;
    const f = started.ferry;
    double.faults.stall = true;
    const source = new XdrSource(loadOptions(started.port, { keys: 3000, changes: 3000, workload: 'insert', object: 'B65536', set: 'arena', probeEvery: 0 }));
    const run = source.run();
    await until(() => f.arenaSlabs().free === 0 && f.stats.readPauses > 0, 10_000, 'the arena to be held and reading to pause');
    // Settled: no more records come in while the workers pass none.
    await new Promise((r) => setTimeout(r, 300));
    const held = f.inFlight();
    await new Promise((r) => setTimeout(r, 300));
    expect(f.inFlight()).toBe(held);
    expect(held).toBeLessThan(4096);
    // The ring holds references into the arena, plus at most what each connection read into its
    // own 256 KiB buffer when it found no slab free (copied once a slab was free again): 8 × 256
    // KiB, not the ring's 8 MiB.
    expect(f.workers()[0]!.ringUsedBytes).toBeLessThan(8 * 256 * 1024 + held * 64);
    expect(f.arenaSlabs().retired + f.arenaSlabs().lent).toBe(16);
    double.faults.stall = false;
    const stats = await run;
    expect(stats.acks).toBe(3000);
    expect(stats.abandons).toBe(0);
    const { checked, mismatches } = await verifyFinalState(client, source);
    expect(mismatches).toEqual([]);
    expect(checked).toBe(3000);
  });

  it('destination pipelines full: records wait for room, none is answered with the retry code', async () => {
    // One worker and one connection of depth 4: 2,048 records offered at once against room for 4,
    // so nearly every offer finds the only connection full.
    const started = await startFerry(double, { service: { 'worker-threads': 1 }, aerospike: { 'connections-per-node': 1, 'pipeline-depth': 4 } });
    ferry = started.ferry;
    const source = new XdrSource(loadOptions(started.port, { keys: 6000, changes: 6000, workload: 'insert', object: 'I', set: 'full-pipes', probeEvery: 0 }));
    const stats = await source.run();
    expect(stats.acks).toBe(6000);
    expect(stats.retries).toBe(0);
    expect(stats.abandons).toBe(0);
    const { checked, mismatches } = await verifyFinalState(client, source);
    expect(mismatches).toEqual([]);
    expect(checked).toBe(6000);
  });

  it('health-check connections are normal; malformed input closes only its own connection, logged once', async () => {
    const logDir = mkdtempSync(join(tmpdir(), 'ferry-log-'));
    const logFile = join(logDir, 'ferry.log');
    const started = await startFerry(double, { logging: { file: logFile, levels: { root: 'info' } } });
    ferry = started.ferry;
    const f = started.ferry;
    for (let i = 0; i < 3; i++) {
      await new Promise<void>((resolve) => {
        const s = connect({ host: '127.0.0.1', port: started.port }, () => s.end());
        s.on('close', () => resolve());
      });
    }
    await until(() => f.stats.healthChecks === 3, 5000, 'three health checks to be counted');

    const source = new XdrSource(loadOptions(started.port, { keys: 3000, changes: 20_000, set: 'hostile', object: 'I,S:32' }));
    const run = source.run();
    // A frame with proto version 7 on its own connection, in the middle of the load.
    const closed = await new Promise<string>((resolve) => {
      let local = '';
      const s = connect({ host: '127.0.0.1', port: started.port }, () => {
        local = `127.0.0.1:${s.localPort}`;
        s.write(Buffer.from('0703000000000016' + '00'.repeat(22), 'hex'));
      });
      s.on('close', () => resolve(local));
      s.on('error', () => undefined);
    });
    const stats = await run;
    expect(stats.abandons).toBe(0);
    expect(stats.resets).toBe(0);
    expect(stats.orderViolations).toBe(0);
    expect(f.stats.protocolErrors).toBe(1);
    await f.stop();
    ferry = undefined;
    // The log is written by pino's transport thread to the day's rotated file (current.log links to it).
    const read = (): Array<{ level: number; msg: string; peer?: string; reason?: string }> =>
      readFileSync(join(logDir, 'current.log'), 'utf8')
        .split('\n')
        .filter((l) => l !== '')
        .map((l) => JSON.parse(l) as { level: number; msg: string; peer?: string; reason?: string });
    await until(() => existsSync(join(logDir, 'current.log')) && read().some((l) => l.msg === 'stopped'), 5000, 'the log to be flushed');
    // Named by the day, as the README says: ferry.<yyyy-MM-dd>.<n>.log.
    expect(readlinkSync(join(logDir, 'current.log'))).toMatch(/ferry\.\d{4}-\d{2}-\d{2}\.1\.log$/);
    const lines = read();
    const warnings = lines.filter((l) => l.level >= 40);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]!.peer).toBe(closed);
    expect(warnings[0]!.reason).toMatch(/unsupported proto version/);
  });
});
