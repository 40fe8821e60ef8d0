/**
 * Stopping the pool leaves nothing behind that holds the process open: once the workers have
 * returned, the grace given them is not left pending (a timer of the rest of the ack deadline kept
 * `ferry run` alive after "stopped" until the command's own exit grace ended it). A real pool (one
 * worker thread, the file destination).
 */

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { filePool } from './file-pool.js';
import type { CompletionSink } from '../../src/threads/index.js';

const timers = (): number => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;

it('stop() with a long grace resolves once the worker returns and leaves no timer pending', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ferry-pool-'));
  const sink: CompletionSink = { complete: () => {}, batchEnd: () => {}, workerLost: () => {} };
  const pool = filePool(dir, sink);
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
