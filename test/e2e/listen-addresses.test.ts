/**
 * Listen addresses as a Ferry process reports them: an address that is not this host's is
 * `service.address`'s fault (not the port's).
 */

import { afterEach, describe, expect, it } from 'vitest';
import { AerospikeDouble } from '../double/server.js';
import { FerryProcess, testConfig } from '../support/ferry-process.js';

const open: Array<() => Promise<unknown> | void> = [];
afterEach(async () => {
  for (const close of open.splice(0).reverse()) await close();
});

describe('listen addresses', () => {
  it('an address that is not this host: exit 3, naming service.address', async () => {
    const double = await AerospikeDouble.start();
    open.push(() => double.close());
    // 10.255.255.1: a private address no test host has.
    const ferry = FerryProcess.launch(testConfig(double, { service: { address: '10.255.255.1', port: 18901 } }));
    expect(await ferry.exitCode()).toBe(3);
    const fatal = ferry.logs.filter((l) => l.level === 60);
    expect(fatal.map((l) => l.msg)).toEqual(['cannot start: service.address: cannot listen on 10.255.255.1:18901: no such local address']);
    expect(fatal[0]!['cause']).toBe('EADDRNOTAVAIL');
  });
});
