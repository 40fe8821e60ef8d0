/**
 * A destination that stops answering, and a source that stops reading its replies.
 */

import { connect } from 'node:net';
import { afterEach, expect, it } from 'vitest';
import { XdrSource } from '../../src/cli/load/xdr-source.js';
import { FieldType, Info1, Info2, Info3, OpType, encodeRecordRequest, lutField, lutFromUnixMs, stringField } from '../../src/protocol/index.js';
import { OfficialClient } from '../double/official-client.js';
import { AerospikeDouble } from '../double/server.js';
import { rssMiB, scale } from '../support/chaos.js';
import { FerryProcess, testConfig } from '../support/ferry-process.js';
import { until } from '../support/in-process.js';
import { loadOptions } from '../support/load.js';
import { verifyFinalState } from '../support/verify-state.js';

const open: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const close of open.splice(0).reverse()) await close();
});

const ready = async (f: FerryProcess): Promise<number> => (await fetch(`http://127.0.0.1:${f.managePort}/health/ready`)).status;

it('the destination stalls: every record is answered 11 before the deadline, memory stays bounded, ready turns false then true', async () => {
  const double = await AerospikeDouble.start();
  open.push(() => double.close());
  const ferry = await FerryProcess.start(testConfig(double));
  open.push(() => ferry.stop());
  // 8 connections × 8,192 in flight can offer twice Ferry's 32,768 cap, as a busy source does.
  const source = new XdrSource(loadOptions(ferry.port, { keys: 40_000, changes: scale(150_000, 1_000_000), object: 'B1024', set: 'stall', throttle: 20_000, pipeline: 8192, seed: 41, retryDelayMs: 100 }));
  const run = source.run();
  await until(() => source.stats.acks > 10_000, 30_000, 'the load to be under way');
  const pausesBefore = await ferry.metric('ferry_source_read_pauses_total');
  double.faults.stall = true;
  const stallMs = scale(8000, 30_000);
  const t0 = performance.now();
  let peakRss = 0;
  let sawNotReady = false;
  while (performance.now() - t0 < stallMs) {
    peakRss = Math.max(peakRss, await rssMiB(ferry.child.pid!));
    if ((await ready(ferry)) === 503) sawNotReady = true;
    await new Promise((r) => setTimeout(r, 200));
  }
  expect(sawNotReady).toBe(true);
  expect(source.stats.resets).toBe(0);
  // Nothing waited longer than the 5 s deadline plus a sweep: no bucket at or past 2^23 µs (8.4 s).
  expect(source.stats.latency.slice(23).reduce((a, b) => a + b, 0)).toBe(0);
  // Every record in flight when the destination stopped was answered with the retry code.
  expect(source.stats.retries).toBeGreaterThan(0);
  expect(await ferry.metric('ferry_source_read_pauses_total')).toBeGreaterThan(pausesBefore);
  console.log(`stall: peak RSS ${peakRss.toFixed(0)} MiB over a ${stallMs / 1000} s stall`);
  expect(peakRss).toBeLessThan(300);

  double.faults.stall = false;
  const released = performance.now();
  await until(async () => (await ready(ferry)) === 200, 15_000, 'ready again');
  console.log(`stall: ready ${Math.round(performance.now() - released)} ms after the destination answered again`);
  const stats = await run;
  expect(stats.abandons).toBe(0);
  const client = await OfficialClient.start();
  open.push(() => client.stop());
  await client.connect(double.port);
  const { mismatches } = await verifyFinalState(client, source);
  expect(mismatches.slice(0, 5)).toEqual([]);
});

it('a source that stops reading its replies: its connection is closed, logged once; others are untouched', async () => {
  const double = await AerospikeDouble.start();
  open.push(() => double.close());
  const ferry = await FerryProcess.start(testConfig(double, { service: { 'slow-reader-timeout': 2000 } }));
  open.push(() => ferry.stop());
  const others = new XdrSource(loadOptions(ferry.port, { keys: 2000, changes: scale(20_000, 200_000), object: 'I', set: 'polite', throttle: 5000, connections: 2 }));
  const run = others.run();

  // The rude source: one connection, requests as fast as it can write them, replies never read.
  const msg = encodeRecordRequest({
    info1: Info1.Xdr,
    info2: Info2.Write,
    info3: Info3.CreateOrReplace,
    recordTtl: 0xffffffff,
    fields: [stringField(FieldType.Namespace, 'test'), { type: FieldType.Digest, data: Buffer.alloc(20, 9) }, stringField(FieldType.Set, 'rude'), lutField(lutFromUnixMs(Date.now()))],
    ops: [{ op: OpType.Write, particleType: 1, name: 'a', value: Buffer.alloc(8) }],
  });
  const batch = Buffer.concat(Array.from({ length: 10_000 }, () => msg));
  let local = '';
  const closed = new Promise<void>((resolve) => {
    const s = connect({ host: '127.0.0.1', port: ferry.port }, () => {
      local = `127.0.0.1:${s.localPort}`;
      s.pause(); // never read a reply
      const pump = (): void => {
        while (s.write(batch)) {
          // keep writing until the kernel pushes back
        }
      };
      s.on('drain', pump);
      pump();
    });
    s.on('error', () => undefined);
    s.on('close', () => resolve());
  });
  await closed;
  await until(() => ferry.logs.some((l) => l.msg === 'closing source connection: it has not read its replies'), 5000, 'the log line');
  const line = ferry.logs.find((l) => l.msg === 'closing source connection: it has not read its replies');
  expect(line?.['peer']).toBe(local);
  // Bounded: what waited unread is at most a window of replies, not an unbounded queue.
  expect(Number(line?.['unread'])).toBeLessThan(8192 * 30 + 1024 * 1024);
  expect(ferry.logs.filter((l) => l.msg === 'closing source connection: it has not read its replies')).toHaveLength(1);
  expect(await ferry.metric('ferry_source_slow_readers_total')).toBe(1);
  const stats = await run;
  expect(stats.abandons).toBe(0);
  expect(stats.resets).toBe(0);
});
