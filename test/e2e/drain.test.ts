/**
 * SIGTERM under load: Ferry stops reading, answers what it took, and exits 0 well inside the
 * source's 10 s reset. A new Ferry on the same port takes over, and nothing is lost.
 */

import { expect, it } from 'vitest';
import { XdrSource } from '../../src/cli/load/xdr-source.js';
import { useDestination } from '../support/destination.js';
import { freePort } from '../support/free-port.js';
import { FerryProcess, testConfig } from '../support/ferry-process.js';
import { until } from '../support/in-process.js';
import { loadOptions } from '../support/load.js';
import { verifyFinalState } from '../support/verify-state.js';

const ctx = useDestination();


it('SIGTERM under load drains and exits 0; a restarted Ferry finishes the job with nothing lost', async () => {
  const port = await freePort();
  const config = testConfig(ctx.dest, { service: { port } });
  const first = await FerryProcess.start(config);
  const source = new XdrSource(loadOptions(port, { keys: 10_000, changes: 60_000, object: 'I,S:32', deletePct: 5, set: 'drain', seed: 9 }));
  const run = source.run();
  await until(() => source.stats.acks > 5000, 20_000, 'the load to get going');
  const t0 = performance.now();
  const code = await first.stop('SIGTERM');
  const drainMs = performance.now() - t0;
  expect(code).toBe(0);
  expect(drainMs).toBeLessThan(6000);
  expect(first.logs.some((l) => l.msg === 'draining')).toBe(true);
  expect(first.logs.some((l) => l.msg === 'stopped')).toBe(true);

  const second = await FerryProcess.start(config);
  try {
    const stats = await run;
    expect(stats.abandons).toBe(0);
    expect(stats.orderViolations).toBe(0);
    const { checked, mismatches } = await verifyFinalState(ctx.client, source);
    expect(mismatches.slice(0, 5)).toEqual([]);
    expect(checked).toBeGreaterThan(9900);
  } finally {
    expect(await second.stop()).toBe(0);
  }
});
