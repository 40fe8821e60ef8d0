import { describe, expect, it } from 'vitest';
import { Mirror, defaultMirrorName } from '../../src/mirror/index.js';
import { legacyMirrorName } from '../../src/mirror/mirror-options.js';
import { dump } from '../support/etcd.js';
import { etcdPair, MemoryLog, mirrorOptions, putMany, readCheckpoint, waitForCheckpoint } from './helpers.js';

describe('ferry mirror: the default name', () => {
  const etcd = etcdPair();

  it('adopts the checkpoint of the previous default name (same cluster and mapping) and resumes exactly', async () => {
    await putMany(etcd.source.client, 'cfg/', 100, (i) => `v${i}`);
    const spec = { prefix: 'cfg/', 'dest-prefix': 'copy/' };
    // What an earlier version ran: the same mapping under the name that ignored the source cluster.
    const legacy = legacyMirrorName('cfg/', 'copy/');
    const old = new Mirror(mirrorOptions(etcd.source.endpoint, etcd.dest.endpoint, { ...spec, name: legacy }), new MemoryLog(), { probeIntervalMs: 500 });
    const oldRun = old.run();
    await new Promise((r) => old.once('synced', r));
    old.stop();
    await oldRun;
    const before = (await readCheckpoint(etcd.dest.client, legacy))!;
    await etcd.source.client.put('cfg/while-away').value('x');

    const log = new MemoryLog();
    const mirror = new Mirror(mirrorOptions(etcd.source.endpoint, etcd.dest.endpoint, spec), log, { probeIntervalMs: 500 });
    const running = mirror.run();
    const cluster = (await etcd.source.client.kv.range({ key: Buffer.from([0]), limit: 1, keys_only: true })).header.cluster_id;
    const name = defaultMirrorName(cluster, 'cfg/', 'copy/');
    const rev = Number((await etcd.source.client.put('cfg/after').value('y').exec()).header.revision);
    const cp = await waitForCheckpoint(etcd.dest.client, name, (c) => c.revision >= rev);
    expect(mirror.name).toBe(name);
    // No second sync: the adopted checkpoint was resumed from, and the old one is gone.
    expect(cp.syncs).toBe(before.syncs);
    expect(await readCheckpoint(etcd.dest.client, legacy)).toBeNull();
    expect(log.lines.some((l) => l.msg.startsWith('adopted the checkpoint of the previous default name') && l.fields.previousName === legacy)).toBe(true);
    const want = new Map([...(await dump(etcd.source.client, 'cfg/'))].map(([k, v]) => [`copy/${k.slice(4)}`, v]));
    expect(await dump(etcd.dest.client, 'copy/')).toEqual(want);
    mirror.stop();
    await running;
  });
});
