import { describe, expect, it } from 'vitest';
import { Mirror, MirrorOverlapError } from '../../src/mirror/index.js';
import { dump } from '../support/etcd.js';
import { etcdPair, MemoryLog, mirrorOptions, putMany, readCheckpoint, waitForCheckpoint } from './helpers.js';
import { MirrorProcess } from './mirror-process.js';

describe('ferry mirror --exact-prefix', () => {
  const etcd = etcdPair();

  it('makes a dedicated prefix equal the source: strays under it go, nothing outside it is touched', async () => {
    await putMany(etcd.source.client, 'app/', 200, (i) => `v${i}`);
    await etcd.dest.client.put('copy/zz-stray').value('stale');
    await etcd.dest.client.put('copy/000005').value('stale value');
    // Beside the prefix, and sharing its first bytes: not under it.
    await etcd.dest.client.put('copy').value('keep');
    await etcd.dest.client.put('copy0').value('keep');
    await etcd.dest.client.put('elsewhere/x').value('keep');
    const options = mirrorOptions(etcd.source.endpoint, etcd.dest.endpoint, { prefix: 'app/', 'dest-prefix': 'copy/', 'exact-prefix': true, name: 'exact' });
    const mirror = new Mirror(options, new MemoryLog(), { probeIntervalMs: 500 });
    const running = mirror.run();
    await new Promise((r) => mirror.once('synced', r));
    const mapped = async (): Promise<Map<string, string>> => new Map([...(await dump(etcd.source.client, 'app/'))].map(([k, v]) => [`copy/${k.slice(4)}`, v]));
    expect(await dump(etcd.dest.client, 'copy/')).toEqual(await mapped());
    expect(mirror.stats.keysDeleted).toBe(1);
    for (const k of ['copy', 'copy0', 'elsewhere/x']) expect(await etcd.dest.client.get(k).string()).toBe('keep');
    expect((await readCheckpoint(etcd.dest.client, 'exact'))?.mode).toBe('exact');

    // Another mirror may not write under the dedicated prefix, merge or not.
    const other = new Mirror(mirrorOptions(etcd.source.endpoint, etcd.dest.endpoint, { prefix: 'app/', 'dest-prefix': 'copy/sub/', name: 'other' }), new MemoryLog());
    const refused = await other.run().then(
      () => null,
      (err: unknown) => err,
    );
    expect(refused).toBeInstanceOf(MirrorOverlapError);
    expect((refused as Error).message).toMatch(/overlaps mirror 'exact'.*mirror 'exact' is --exact-prefix/);

    // A stray written while the mirror follows is removed by the next resync (here: a restart after
    // the checkpoint was deleted stands in for any resync).
    mirror.stop();
    await running;
    await etcd.dest.client.put('copy/late-stray').value('stale');
    await etcd.dest.client.delete().key('__ferry/mirror/exact/checkpoint');
    const again = new Mirror(options, new MemoryLog(), { probeIntervalMs: 500 });
    const rerun = again.run();
    await new Promise((r) => again.once('synced', r));
    expect(await dump(etcd.dest.client, 'copy/')).toEqual(await mapped());
    const rev = Number((await etcd.source.client.delete().key('app/000001').exec()).header.revision);
    await waitForCheckpoint(etcd.dest.client, 'exact', (c) => c.revision >= rev);
    expect(await dump(etcd.dest.client, 'copy/')).toEqual(await mapped());
    again.stop();
    await rerun;
  });

  it('is refused at the root of the destination, where it would delete everything else', async () => {
    const cli = new MirrorProcess(['--endpoints', etcd.source.endpoint, '--exact-prefix', etcd.dest.endpoint]);
    expect((await cli.exit()).code).toBe(2);
    expect(cli.stderr).toMatch(/--exact-prefix needs a dedicated, non-empty destination prefix/);
  });
});
