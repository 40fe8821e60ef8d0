import { describe, expect, it } from 'vitest';
import { Mirror } from '../../src/mirror/index.js';
import { dump } from '../support/etcd.js';
import { etcdPair, MemoryLog, mirrorOptions, putMany, waitForCheckpoint } from './helpers.js';

describe('ferry mirror: network failures', () => {
  const etcd = etcdPair();

  it('reconnects with backoff when either side dies, and converges once it is back', async () => {
    await putMany(etcd.source.client, 'r/', 300, (i) => `v${i}`);
    const log = new MemoryLog();
    const mirror = new Mirror(mirrorOptions(etcd.source.endpoint, etcd.dest.endpoint, { prefix: 'r/', name: 'net' }), log, { probeIntervalMs: 300, backoffInitialMs: 100, backoffMaxMs: 500 });
    const running = mirror.run();
    await new Promise((r) => mirror.once('synced', r));

    // The destination dies while the source keeps changing.
    await etcd.dest.kill();
    for (let i = 0; i < 50; i++) await etcd.source.client.put(`r/while-dest-down-${i}`).value('x');
    await etcd.dest.restart();
    const r1 = Number((await etcd.source.client.put('r/after-dest').value('y').exec()).header.revision);
    await waitForCheckpoint(etcd.dest.client, 'net', (c) => c.revision >= r1);

    // The source dies under the watch; the mirror notices, retries, and resumes from its checkpoint.
    await etcd.source.kill();
    await etcd.source.restart();
    const r2 = Number((await etcd.source.client.put('r/after-source').value('z').exec()).header.revision);
    await waitForCheckpoint(etcd.dest.client, 'net', (c) => c.revision >= r2);

    expect(await dump(etcd.dest.client, 'r/')).toEqual(await dump(etcd.source.client, 'r/'));
    expect(mirror.stats.reconnects).toBeGreaterThan(0);
    expect(log.lines.some((l) => l.level === 'warn' && l.msg === 'transient failure; reconnecting')).toBe(true);
    expect(mirror.stats.syncs).toBe(1);
    mirror.stop();
    await running;
  });
});
