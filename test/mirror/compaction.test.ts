import { describe, expect, it } from 'vitest';
import { Mirror } from '../../src/mirror/index.js';
import { dump } from '../support/etcd.js';
import { etcdPair, MemoryLog, mirrorOptions, putMany, sourceRevision, waitForCheckpoint } from './helpers.js';

describe('ferry mirror: the source compacted past the checkpoint', () => {
  const etcd = etcdPair();

  it('says so, resyncs, and converges (deletes made while away included), keeping the destination own keys', async () => {
    await putMany(etcd.source.client, 'p/', 500, (i) => `first ${i}`);
    // Keys the destination holds under the prefix that no source ever had (one of them where the
    // source will delete a range while the mirror is away): a resync keeps them.
    await etcd.dest.client.put('p/0003-local').value('local');
    await etcd.dest.client.put('p/zz-local').value('local');
    const options = mirrorOptions(etcd.source.endpoint, etcd.dest.endpoint, { prefix: 'p/', name: 'compacted' });
    const first = new Mirror(options, new MemoryLog(), { probeIntervalMs: 500 });
    const running = first.run();
    await new Promise((resolve) => first.once('synced', resolve));
    first.stop();
    await running;

    // While the mirror is away: overwrites, deletes, new keys; then history is compacted away.
    await putMany(etcd.source.client, 'p/', 250, (i) => `second ${i}`);
    await etcd.source.client.delete().prefix('p/0003');
    await etcd.source.client.put('p/new').value('new');
    const head = await sourceRevision(etcd.source.client);
    await etcd.source.client.kv.compact({ revision: head, physical: true });

    const log = new MemoryLog();
    const second = new Mirror(options, log, { probeIntervalMs: 500 });
    const resynced = new Promise<string>((resolve) => second.once('resync', resolve));
    const again = second.run();
    expect(await resynced).toMatch(/compacted past the checkpoint/);
    const cp = await waitForCheckpoint(etcd.dest.client, 'compacted', (c) => c.phase === 'watch' && c.syncs === 2);
    expect(cp.revision).toBeGreaterThanOrEqual(head);
    const want = new Map([...(await dump(etcd.source.client, 'p/')), ['p/0003-local', 'local'], ['p/zz-local', 'local']]);
    expect(await dump(etcd.dest.client, 'p/')).toEqual(want);
    expect(second.stats.keysDeleted).toBe(100);
    expect(log.lines.some((l) => l.level === 'warn' && /compacted past the checkpoint/.test(l.msg))).toBe(true);
    // A converging resync writes only what differs: p/000250–000499 were untouched, except the 100
    // deleted under p/0003, so 150 keys are left as they were.
    expect(second.stats.keysUnchanged).toBe(150);
    expect(second.stats.resyncs).toBe(1);

    // And it follows the live stream afterwards.
    const rev = Number((await etcd.source.client.put('p/after').value('a').exec()).header.revision);
    await waitForCheckpoint(etcd.dest.client, 'compacted', (c) => c.revision >= rev);
    expect(await etcd.dest.client.get('p/after').string()).toBe('a');
    second.stop();
    await again;
  });
});
