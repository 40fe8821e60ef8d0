import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Mirror } from '../../src/mirror/index.js';
import { type EtcdServer, dump, startEtcd } from '../support/etcd.js';
import { MemoryLog, mirrorOptions, putMany, waitForCheckpoint } from './helpers.js';

describe('ferry mirror: network failures', () => {
  let source: EtcdServer;
  let dest: EtcdServer;

  beforeAll(async () => {
    [source, dest] = await Promise.all([startEtcd({ name: 'source' }), startEtcd({ name: 'dest' })]);
  });
  afterAll(async () => {
    await Promise.all([source?.close(), dest?.close()]);
  });

  it('reconnects with backoff when either side dies, and converges once it is back', async () => {
    await putMany(source.client, 'r/', 300, (i) => `v${i}`);
    const log = new MemoryLog();
    const mirror = new Mirror(mirrorOptions(source.endpoint, dest.endpoint, { prefix: 'r/', name: 'net' }), log, { probeIntervalMs: 300, backoffInitialMs: 100, backoffMaxMs: 500 });
    const running = mirror.run();
    await new Promise((r) => mirror.once('synced', r));

    // The destination dies while the source keeps changing.
    await dest.kill();
    for (let i = 0; i < 50; i++) await source.client.put(`r/while-dest-down-${i}`).value('x');
    await dest.restart();
    const r1 = Number((await source.client.put('r/after-dest').value('y').exec()).header.revision);
    await waitForCheckpoint(dest.client, 'net', (c) => c.revision >= r1);

    // The source dies under the watch; the mirror notices, retries, and resumes from its checkpoint.
    await source.kill();
    await source.restart();
    const r2 = Number((await source.client.put('r/after-source').value('z').exec()).header.revision);
    await waitForCheckpoint(dest.client, 'net', (c) => c.revision >= r2);

    expect(await dump(dest.client, 'r/')).toEqual(await dump(source.client, 'r/'));
    expect(mirror.stats.reconnects).toBeGreaterThan(0);
    expect(log.lines.some((l) => l.level === 'warn' && l.msg === 'transient failure; reconnecting')).toBe(true);
    expect(mirror.stats.syncs).toBe(1);
    mirror.stop();
    await running;
  });
});
