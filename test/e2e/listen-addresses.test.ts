/**
 * Listen addresses as a Ferry process reports them: an address that is not this host's is
 * `service.address`'s fault (not the port's), and an IPv6 address is written in brackets.
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

  it('IPv6: [::1]:port in the started line, and in a failure to listen', async () => {
    const double = await AerospikeDouble.start();
    open.push(() => double.close());
    const ferry = await FerryProcess.start(testConfig(double, { service: { address: '::1', manage: { address: '::1', port: 0 } } }));
    open.push(() => ferry.stop());
    const started = ferry.logs.find((l) => l.msg === 'ferry started')!;
    expect(started['listening']).toEqual([`[::1]:${ferry.port}`]);
    expect(started['management']).toBe(`[::1]:${ferry.managePort}`);

    // fd00::1: a unique local address no test host has.
    const elsewhere = FerryProcess.launch(testConfig(double, { service: { address: 'fd00::1', port: 18902 } }));
    expect(await elsewhere.exitCode()).toBe(3);
    expect(elsewhere.logs.filter((l) => l.level === 60).map((l) => l.msg)).toEqual(['cannot start: service.address: cannot listen on [fd00::1]:18902: no such local address']);
  });
});
