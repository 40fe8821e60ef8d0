/**
 * A destination that accepts connections and answers nothing: the worker's problem is logged once
 * and stays while the destination keeps silent, through every reconnect (a connection that comes
 * up is no proof the node answers), and clears once a write is answered again.
 */

import { afterEach, expect, it } from 'vitest';
import { XdrSource } from '../../src/cli/load/xdr-source.js';
import { AerospikeDouble } from '../double/server.js';
import { FerryProcess, type LogLine, testConfig } from '../support/ferry-process.js';
import { until } from '../support/in-process.js';
import { loadOptions } from '../support/load.js';

const open: Array<() => Promise<unknown> | void> = [];
afterEach(async () => {
  for (const close of open.splice(0).reverse()) await close();
});

it('a stalled destination: one worker problem through the reconnects, cleared once a write is answered', async () => {
  const double = await AerospikeDouble.start();
  open.push(() => double.close());
  const ferry = await FerryProcess.start(testConfig(double, { service: { 'worker-threads': 1 }, aerospike: { timeouts: { write: 300 } } }));
  open.push(() => ferry.stop());
  const source = new XdrSource(loadOptions(ferry.port, { keys: 1000, changes: 1_000_000, object: 'I', set: 'stalled', throttle: 500, connections: 1, pipeline: 16, probeEvery: 0 }));
  const run = source.run();
  open.push(async () => {
    source.abort();
    await run;
  });
  await until(() => source.stats.acks > 100, 30_000, 'the load to be under way');

  const problems = (): LogLine[] => ferry.logs.filter((l) => l.msg === 'worker problem' && String(l['key']).startsWith('node '));
  const cleared = (): LogLine[] => ferry.logs.filter((l) => l.msg === 'worker problem cleared');
  const opened = (): Promise<number> => ferry.metric('ferry_destination_connects_total{worker="0",event="opened"}');
  double.faults.stall = true;
  await until(() => problems().length > 0, 30_000, 'the stall to be reported');
  expect(problems()[0]).toMatchObject({ code: 'ERR_DESTINATION_CONNECTION', reason: 'connection lost: destination timeout' });
  // Two more connections came up while the destination kept silent (each timed out in turn).
  const before = await opened();
  await until(async () => (await opened()) >= before + 2, 30_000, 'reconnects during the stall');
  expect(cleared()).toEqual([]);
  expect(problems()).toHaveLength(1);

  double.faults.stall = false;
  await until(() => cleared().length > 0, 30_000, 'the problem to clear');
  expect(cleared()[0]).toMatchObject({ key: problems()[0]!['key'], code: 'ERR_DESTINATION_CONNECTION' });
});
