/**
 * Every record dispatched is published, including one dispatched by a reader that main resumed
 * while it was publishing. At a light rate main takes results as it publishes, which can resume a
 * reader waiting for ring room; what that reader dispatches, and what comes after it before the
 * next publish, must reach the worker. A real pool (one worker thread, the file destination).
 */

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { filePool } from './file-pool.js';
import { Scan, ScanError, newScan, partitionOf, scanRecordMessage } from '../../src/protocol/index.js';
import type { CompletionSink } from '../../src/threads/index.js';
import { bodyOf, captureCases } from '../support/bytes.js';
import { until } from '../support/in-process.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

it('a record dispatched by a reader resumed while main publishes, and the next one, reach the worker', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ferry-pool-'));
  dirs.push(dir);
  const done = new Set<number>();
  const sink: CompletionSink = { complete: (_connection, seq) => void done.add(seq), batchEnd: () => {}, workerLost: () => {} };
  const pool = filePool(dir, sink);
  try {
    pool.start();
    expect(await pool.waitForDestination(5000)).toBe(true);
    const [, capture] = captureCases((c) => c.kind === 'write')[0]!;
    const body = bodyOf(capture.message);
    const scan = newScan();
    expect(scanRecordMessage(body, 0, body.length, scan)).toBe(ScanError.None);
    const send = (seq: number): void => {
      expect(pool.fits(0, body, body.length)).toBe(true);
      pool.dispatch(0, partitionOf(body, scan[Scan.DigestOffset]!), 1, seq, Date.now(), body, 0, body.length);
      pool.publish();
    };
    // Past the worker's first 100 ms tick at no load, it is at a light rate: main takes results
    // each time it publishes.
    await new Promise((r) => setTimeout(r, 300));
    send(1);
    await until(() => done.has(1), 5000, 'the first record');
    // A reader waiting for room, resumed by the results the next publish takes: it dispatches
    // record 3 there, and record 4 arrives on a later turn, before main's next publish.
    pool.waitForRoom({
      tryResume: () => {
        setImmediate(() => send(4));
        send(3);
      },
    });
    send(2);
    await until(() => done.size === 4, 5000, 'records 2, 3 and 4');
  } finally {
    await pool.stop(1000);
  }
});
