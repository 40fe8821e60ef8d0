import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { Mirror } from '../../src/mirror/index.js';
import { dump, etcdctlBinary, waitForKey } from '../support/etcd.js';
import { etcdPair, MemoryLog, mirrorOptions, sourceRevision, waitForCheckpoint } from './helpers.js';

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

  it('moves the ownership marker off the lease when the key is put again without one, so a resync still deletes it', async () => {
    const source = etcd.source.client;
    const dest = etcd.dest.client;
    const lease = await source.leaseClient.leaseGrant({ TTL: 60 });
    await source.put('lo/live').value('1').lease(lease.ID).exec();
    await source.put('lo/sync').value('1').lease(lease.ID).exec();
    const options = mirrorOptions(etcd.source.endpoint, etcd.dest.endpoint, { prefix: 'lo/', 'keep-leases': true, name: 'lease-owner' });
    const start = async (): Promise<{ mirror: Mirror; running: Promise<void> }> => {
      const mirror = new Mirror(options, new MemoryLog(), { probeIntervalMs: 200 });
      const running = mirror.run();
      await new Promise((r) => mirror.once('synced', r));
      return { mirror, running };
    };
    const stop = async (m: { mirror: Mirror; running: Promise<void> }): Promise<void> => {
      m.mirror.stop();
      await m.running;
    };
    // Compacted past the revision after the checkpoint, so that a restart has to resync.
    const compact = async (): Promise<void> => {
      await source.put('outside').value('x');
      await source.kv.compact({ revision: await sourceRevision(source), physical: true });
    };
    const markerLease = async (key: string): Promise<string | undefined> => (await dest.kv.range({ key: Buffer.from(`__ferry/mirror/lease-owner/own/${key}`) })).kvs[0]?.lease;
    let m = await start();

    // Live: the key is put again without a lease.
    const rev = Number((await source.put('lo/live').value('2').exec()).header.revision);
    await waitForCheckpoint(dest, 'lease-owner', (c) => c.revision >= rev);
    expect(await markerLease('lo/live')).toBe('0');

    // Resync: the same while the mirror is away, found by a resync after compaction.
    await stop(m);
    await source.put('lo/sync').value('2');
    await compact();
    m = await start();
    expect(await dest.get('lo/sync').string()).toBe('2');
    expect(await markerLease('lo/sync')).toBe('0');

    // The old lease ends: the destination lease is revoked; the keys and their markers stay.
    await source.leaseClient.leaseRevoke({ ID: lease.ID });
    await waitForKey(dest, `__ferry/mirror/lease-owner/lease/${lease.ID}`, (v) => v === null, 30_000);

    // Deleted while the mirror is away, history compacted: the resync deletes both keys it wrote.
    await stop(m);
    await source.delete().prefix('lo/');
    await compact();
    m = await start();
    expect(await dest.get('lo/live').string()).toBeNull();
    expect(await dest.get('lo/sync').string()).toBeNull();
    await stop(m);
  });

  it('keeps short destination leases alive while the source lease lives, across a restart, and puts back the keys of a lost one', async () => {
    const source = etcd.source.client;
    const dest = etcd.dest.client;
    const three = await source.leaseClient.leaseGrant({ TTL: 3 });
    const six = await source.leaseClient.leaseGrant({ TTL: 6 });
    // The source's own client keeps its leases alive, as an application would.
    const keepers = [three, six].map((l) => spawn(etcdctlBinary(), ['--endpoints', etcd.source.endpoint, 'lease', 'keep-alive', BigInt(l.ID).toString(16)], { stdio: 'ignore' }));
    const options = mirrorOptions(etcd.source.endpoint, etcd.dest.endpoint, { prefix: 'short/', 'keep-leases': true, name: 'short' });
    // Both keys stay in the destination throughout `ms`.
    const stayFor = async (ms: number): Promise<void> => {
      for (const until = Date.now() + ms; Date.now() < until; await new Promise((r) => setTimeout(r, 200))) {
        expect([...(await dump(dest, 'short/')).keys()]).toEqual(['short/3', 'short/6']);
      }
    };
    try {
      await source.put('short/3').value('3').lease(three.ID).exec();
      await source.put('short/6').value('6').lease(six.ID).exec();
      // The default probe interval (5 s), longer than a third of either TTL.
      let mirror = new Mirror(options, new MemoryLog());
      let running = mirror.run();
      await new Promise((r) => mirror.once('synced', r));
      await stayFor(8000);

      mirror.stop();
      await running;
      const log = new MemoryLog();
      mirror = new Mirror(options, log);
      running = mirror.run();
      await stayFor(8000);

      // A destination lease lost while the source lease lives: its key comes back on a new lease.
      const lost = (await dest.kv.range({ key: Buffer.from('short/6') })).kvs[0]!.lease;
      await dest.leaseClient.leaseRevoke({ ID: lost });
      await waitForKey(dest, 'short/6', (v) => v !== null, 10_000);
      const restored = (await dest.kv.range({ key: Buffer.from('short/6') })).kvs[0]!;
      expect(restored.value.toString()).toBe('6');
      expect(restored.lease).not.toBe(lost);
      expect(Number((await dest.leaseClient.leaseTimeToLive({ ID: restored.lease })).grantedTTL)).toBe(6);
      expect((await dest.kv.range({ key: Buffer.from('__ferry/mirror/short/own/short/6') })).kvs[0]?.lease).toBe(restored.lease);
      expect(log.lines.some((l) => l.level === 'warn' && /destination lease expired while the source lease lives/.test(l.msg))).toBe(true);
      expect(log.lines.some((l) => /put back the keys/.test(l.msg))).toBe(true);
      // Put back alone, without a sync.
      expect(mirror.stats.syncs).toBe(0);
      await stayFor(7000);
      mirror.stop();
      await running;
    } finally {
      for (const k of keepers) k.kill('SIGTERM');
    }
  });
});
