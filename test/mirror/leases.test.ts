import { describe, expect, it } from 'vitest';
import { Mirror } from '../../src/mirror/index.js';
import { waitForKey } from '../support/etcd.js';
import { etcdPair, MemoryLog, mirrorOptions, waitForCheckpoint } from './helpers.js';

describe('ferry mirror: --keep-leases', () => {
  const etcd = etcdPair();

  it('gives leased keys a destination lease with the same TTL, and they expire with the source', async () => {
    // A lease the test keeps alive, and one it lets expire (nobody refreshes it).
    const kept = await etcd.source.client.leaseClient.leaseGrant({ TTL: 60 });
    const short = await etcd.source.client.leaseClient.leaseGrant({ TTL: 3 });
    await etcd.source.client.put('l/synced').value('s').lease(kept.ID).exec();
    await etcd.source.client.put('l/plain').value('p');
    const mirror = new Mirror(mirrorOptions(etcd.source.endpoint, etcd.dest.endpoint, { prefix: 'l/', 'keep-leases': true, name: 'leases' }), new MemoryLog(), { probeIntervalMs: 500 });
    const running = mirror.run();
    await new Promise((r) => mirror.once('synced', r));
    const rev = Number((await etcd.source.client.put('l/expiring').value('e').lease(short.ID).exec()).header.revision);
    await waitForCheckpoint(etcd.dest.client, 'leases', (c) => c.revision >= rev);

    const destLease = async (key: string): Promise<{ id: string; granted: number }> => {
      const kv = (await etcd.dest.client.kv.range({ key: Buffer.from(key) })).kvs[0]!;
      const ttl = await etcd.dest.client.leaseClient.leaseTimeToLive({ ID: kv.lease });
      return { id: kv.lease, granted: Number(ttl.grantedTTL) };
    };
    expect((await destLease('l/synced')).granted).toBe(60);
    expect((await destLease('l/expiring')).granted).toBe(3);
    expect((await etcd.dest.client.kv.range({ key: Buffer.from('l/plain') })).kvs[0]!.lease).toBe('0');
    const expiringLease = (await destLease('l/expiring')).id;

    // The source lease expires: the key goes in the source, then in the destination, and the
    // destination lease is revoked.
    await waitForKey(etcd.dest.client, 'l/expiring', (v) => v === null, 30_000);
    expect(await etcd.source.client.get('l/expiring').string()).toBeNull();
    expect(await etcd.dest.client.get('l/synced').string()).toBe('s');
    await waitForKey(etcd.dest.client, `__ferry/mirror/leases/lease/${short.ID}`, (v) => v === null, 30_000);
    expect(Number((await etcd.dest.client.leaseClient.leaseTimeToLive({ ID: expiringLease })).TTL)).toBeLessThanOrEqual(0);
    mirror.stop();
    await running;
    await etcd.source.client.leaseClient.leaseRevoke({ ID: kept.ID });
  });
});
