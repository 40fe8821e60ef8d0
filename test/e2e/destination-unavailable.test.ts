/**
 * With nowhere to write, Ferry does not spin: a source that re-ships every retried record at once
 * gets each retry code after Ferry held the record (src/source/listener.ts HOLD_MS), so the two
 * together stay near idle. Measured as Ferry's CPU time from /proc over 10 s of such a source.
 */

import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { afterEach, expect, it } from 'vitest';
import { NODE_FLAGS } from '../../src/cli/node-flags.js';
import { FERRY_BIN, FerryProcess } from '../support/ferry-process.js';

let ferry: FerryProcess | null = null;

afterEach(async () => {
  await ferry?.stop('SIGKILL');
  ferry = null;
});

/** user + system CPU seconds of a process, all its threads */
function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

it('a source re-shipping at once into a destination that cannot take anything leaves Ferry near idle', async () => {
  ferry = await FerryProcess.start({
    service: { port: 0, address: '127.0.0.1', manage: { address: '127.0.0.1', port: 0 } },
    file: { path: '/proc/ferry-no-such-dir/changes.jsonl' },
    logging: { levels: { root: 'info' } },
  });
  const f = ferry;
  const before = cpuSeconds(f.child.pid!);
  const load = spawn(process.execPath, [...NODE_FLAGS, FERRY_BIN, 'xdr-load', '-h', `127.0.0.1:${f.port}`, '-k', '1000', '-z', '8', '--pipeline', '256', '--retry-delay-ms', '0', '--no-health-checks', '-d', '10'], { stdio: ['ignore', 'ignore', 'pipe'] });
  let status = '';
  load.stderr!.on('data', (c: Buffer) => (status += c.toString('utf8')));
  await new Promise((r) => setTimeout(r, 10_000));
  const used = cpuSeconds(f.child.pid!) - before;
  load.kill('SIGKILL');
  // Everything was answered with the retry code, and often: the source kept re-shipping.
  const retries = await f.metric('ferry_records_total{outcome="destination-down-retry"}');
  expect(retries).toBeGreaterThan(1000);
  expect(await f.metric('aerospike_xdr_proxy_requests{status="success"}')).toBe(0);
  // Documented bound (README, "What Ferry answers the source"): well under 2 s of CPU in 10 s.
  expect(used, `Ferry used ${used.toFixed(2)} s of CPU; load said: ${status.slice(-500)}`).toBeLessThan(2);
});
