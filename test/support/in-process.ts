/** Ferry started inside the test process (workers from the build), for tests that look at its state. */

import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildConfig } from '../../src/config/index.js';
import { Ferry } from '../../src/main.js';
import type { WorkerFaults } from '../../src/threads/index.js';

export const WORKER_FILE = new URL('../../dist/workers/worker-entry.js', import.meta.url);

export async function startFerry(
  destination: { host: string; port: number },
  extra: { service?: Record<string, unknown>; aerospike?: Record<string, unknown>; logging?: Record<string, unknown>; faults?: WorkerFaults; completionRingBytes?: number } = {},
): Promise<{ ferry: Ferry; port: number }> {
  const config = buildConfig({
    service: { port: 0, address: '127.0.0.1', 'worker-threads': 2, manage: { address: '127.0.0.1', port: 0 }, ...extra.service },
    // Dead letters (the order probes' namespace-not-found) go to the system's temporary folder.
    aerospike: { seeds: [{ [destination.host]: { port: destination.port } }], 'dead-letters': { path: join(tmpdir(), `ferry-dead-letters-${process.pid}`) }, ...extra.aerospike },
    logging: { 'enable-console-logging': false, ...extra.logging },
  });
  const ferry = new Ferry(config, { workerFile: WORKER_FILE, faults: extra.faults ?? {}, ...(extra.completionRingBytes === undefined ? {} : { completionRingBytes: extra.completionRingBytes }) });
  const [bound] = await ferry.start();
  return { ferry, port: bound!.port };
}

/** Resolve when `cond()` holds, checking every 10 ms; fail after `timeoutMs`. */
export async function until(cond: () => boolean | Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const end = performance.now() + timeoutMs;
  while (!(await cond())) {
    if (performance.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
