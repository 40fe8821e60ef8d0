import { describe, expect, it } from 'vitest';
import { Mirror } from '../../src/mirror/index.js';
import { dump } from '../support/etcd.js';
import { etcdPair, MemoryLog, mirrorOptions, putMany, readCheckpoint, waitForCheckpoint } from './helpers.js';

describe('ferry mirror: initial sync, then the live stream', () => {
  // The source allows bigger transactions than the mirror's max-txn-ops, so one revision must be split.
  const etcd = etcdPair(['--max-txn-ops', '1000']);

  it('copies 20,000 keys in transactions within max-txn-ops, keeps the destination own keys, then follows puts and deletes', async () => {
    await putMany(etcd.source.client, 'app/', 20_000, (i) => `value-${i}`);
    await etcd.source.client.put('other/untouched').value('x');
    // The destination's own keys under the prefix: the mirror never deletes what it did not write,
    // and overwrites a key the source also has (the source is the last writer).
    await etcd.dest.client.put('mirror/app/zz-own').value('the destination');
    await etcd.dest.client.put('mirror/app/000005').value('stale value');
    await etcd.dest.client.put('elsewhere/keep').value('not ours');

    const log = new MemoryLog();
    const mirror = new Mirror(mirrorOptions(etcd.source.endpoint, etcd.dest.endpoint, { prefix: 'app/', 'dest-prefix': 'mirror/app/', 'max-txn-ops': 100, name: 'sync' }), log, {
      probeIntervalMs: 500,
    });
    const synced = new Promise<{ revision: number; keys: number }>((resolve) => mirror.once('synced', resolve));
    const running = mirror.run();
    const s = await synced;
    expect(s.keys).toBe(20_000);
    // 20,000 puts, each with its ownership marker, at ≤ 99 data ops per transaction (one op is the checkpoint).
    expect(mirror.stats.txns).toBeGreaterThanOrEqual(Math.ceil(40_000 / 99));
    const want = new Map([...(await dump(etcd.source.client, 'app/'))].map(([k, v]) => [`mirror/${k}`, v]));
    want.set('mirror/app/zz-own', 'the destination');
    expect(await dump(etcd.dest.client, 'mirror/app/')).toEqual(want);
    expect(await etcd.dest.client.get('elsewhere/keep').string()).toBe('not ours');
    expect(await etcd.dest.client.get('other/untouched').string()).toBeNull();

    // The live stream: puts, overwrites, single deletes, a range delete, a multi-key transaction.
    let last = 0;
    for (let i = 0; i < 200; i++) last = Number((await etcd.source.client.put(`app/live-${i}`).value(`v${i}`).exec()).header.revision);
    for (let i = 0; i < 100; i++) last = Number((await etcd.source.client.delete().key(`app/${String(i).padStart(6, '0')}`).exec()).header.revision);
    last = Number((await etcd.source.client.delete().prefix('app/0001').exec()).header.revision);
    const txn = await etcd.source.client.kv.txn({
      success: Array.from({ length: 250 }, (_, i) => ({ request_put: { key: Buffer.from(`app/txn-${i}`), value: Buffer.from(`t${i}`) } })),
    });
    last = Number(txn.header.revision);
    await etcd.source.client.put('other/after').value('y');

    const cp = await waitForCheckpoint(etcd.dest.client, 'sync', (c) => c.phase === 'watch' && c.revision >= last);
    expect(cp.partialRevision).toBeUndefined();
    const want2 = new Map([...(await dump(etcd.source.client, 'app/'))].map(([k, v]) => [`mirror/${k}`, v]));
    want2.set('mirror/app/zz-own', 'the destination');
    expect(await dump(etcd.dest.client, 'mirror/app/')).toEqual(want2);
    // 200 puts, 100 deletes, the range delete's 100 keys (app/000100–000199), 250 puts in one
    // revision: each event applied exactly once.
    expect(cp.events).toBe(200 + 100 + 100 + 250);
    expect(await etcd.dest.client.get('other/after').string()).toBeNull();
    mirror.stop();
    await running;
    expect(mirror.stats.phase).toBe('stopped');
    expect((await readCheckpoint(etcd.dest.client, 'sync'))?.revision).toBe(cp.revision);
  });
});
