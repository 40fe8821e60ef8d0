/**
 * Stopping the pool leaves nothing behind that holds the process open: once the workers have
 * returned, the grace given them is not left pending (a timer of the rest of the ack deadline kept
 * `ferry run` alive after "stopped" until the command's own exit grace ended it). A real pool (one
 * worker thread, the file destination).
 */

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { expect, it } from 'vitest';
import { WorkerPool } from '../../src/dispatch/worker-pool.js';
import { type CompletionSink, IDENTITY_RULE } from '../../src/threads/index.js';
import { WORKER_FILE } from '../support/in-process.js';

const timers = (): number => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;

it('stop() with a long grace resolves once the worker returns and leaves no timer pending', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ferry-pool-'));
  const sink: CompletionSink = { complete: () => {}, batchEnd: () => {}, workerLost: () => {} };
  const pool = new WorkerPool(
    {
      threads: 1,
      ringBytes: 4 * 1024 * 1024,
      completionBytes: 64 * 1024,
      dispatchDelayMs: 1,
      promptBelowPerS: 25_000,
      workerBusy: 0.5,
      workerFile: WORKER_FILE,
      task: { destination: { kind: 'file', path: join(dir, 'changes.jsonl'), format: 'json', sync: false }, faults: {} },
      policy: { stripLut: false, stripDurableDelete: false, routing: { fallback: IDENTITY_RULE, namespaces: [], skipSets: [] }, transform: null, lastWriteWins: null },
      cpus: [],
      arenaSlabs: 16,
      largestBody: 1024 * 1024,
    },
    sink,
    pino({ level: 'silent' }),
  );
  try {
    pool.start();
    expect(await pool.waitForDestination(5000)).toBe(true);
    // The pool's own timers do not hold the process open (they are unref'd and not listed); the
    // grace is, while it is pending.
    const before = timers();
    await pool.stop(600_000);
    expect(timers()).toBeLessThanOrEqual(before);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
