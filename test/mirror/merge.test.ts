import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Mirror, MirrorOverlapError } from '../../src/mirror/index.js';
import { type EtcdServer, dump, startEtcd } from '../support/etcd.js';
import { MemoryLog, mirrorOptions, putMany, waitForCheckpoint } from './helpers.js';
import { MirrorProcess } from './mirror-process.js';

describe('ferry mirror: several sources into one destination', () => {
  let east: EtcdServer;
  let west: EtcdServer;
  let dest: EtcdServer;

  beforeAll(async () => {
    [east, west, dest] = await Promise.all([startEtcd({ name: 'east' }), startEtcd({ name: 'west' }), startEtcd({ name: 'dest' })]);
  });
  afterAll(async () => {
    await Promise.all([east?.close(), west?.close(), dest?.close()]);
  });

  it('merges two clusters under their own prefixes, and refuses a third that overlaps', async () => {
    await putMany(east.client, 'cfg/', 300, (i) => `east ${i}`);
    await putMany(west.client, 'cfg/', 200, (i) => `west ${i}`);
    const a = new Mirror(mirrorOptions(east.endpoint, dest.endpoint, { prefix: 'cfg/', 'dest-prefix': 'east/cfg/', name: 'east' }), new MemoryLog(), { probeIntervalMs: 500 });
    const b = new Mirror(mirrorOptions(west.endpoint, dest.endpoint, { prefix: 'cfg/', 'dest-prefix': 'west/cfg/', name: 'west' }), new MemoryLog(), { probeIntervalMs: 500 });
    const runs = [a.run(), b.run()];
    await Promise.all([new Promise((r) => a.once('synced', r)), new Promise((r) => b.once('synced', r))]);
    const ra = Number((await east.client.delete().key('cfg/000007').exec()).header.revision);
    const rb = Number((await west.client.put('cfg/new').value('w').exec()).header.revision);
    await waitForCheckpoint(dest.client, 'east', (c) => c.revision >= ra);
    await waitForCheckpoint(dest.client, 'west', (c) => c.revision >= rb);
    const prefixed = (m: Map<string, string>, p: string): Map<string, string> => new Map([...m].map(([k, v]) => [`${p}${k}`, v]));
    expect(await dump(dest.client, 'east/')).toEqual(prefixed(await dump(east.client, 'cfg/'), 'east/'));
    expect(await dump(dest.client, 'west/')).toEqual(prefixed(await dump(west.client, 'cfg/'), 'west/'));

    // A third mirror whose destination range lies inside east's: refused before it writes anything.
    const c = new Mirror(mirrorOptions(west.endpoint, dest.endpoint, { prefix: 'cfg/', 'dest-prefix': 'east/cfg/0001', name: 'intruder' }), new MemoryLog());
    const refused = await c.run().then(
      () => null,
      (err: unknown) => err,
    );
    expect(refused).toBeInstanceOf(MirrorOverlapError);
    expect((refused as MirrorOverlapError).code).toBe('ERR_MIRROR_OVERLAP');
    expect((refused as Error).message).toMatch(/overlaps mirror 'east'/);
    expect(await dest.client.get('__ferry/mirror/intruder/checkpoint').string()).toBeNull();
    expect(await dump(dest.client, 'east/')).toEqual(prefixed(await dump(east.client, 'cfg/'), 'east/'));

    // The command exits 1 with the code and the way out.
    const cli = new MirrorProcess(['--endpoints', west.endpoint, '--prefix', 'cfg/', '--no-dest-prefix', '--name', 'root', dest.endpoint]);
    expect((await cli.exit()).code).toBe(1);
    expect(cli.stderr).toMatch(/ERR_MIRROR_OVERLAP: .*overlaps mirror '(east|west)'.*--allow-overlap/);

    a.stop();
    b.stop();
    await Promise.all(runs);
  });

  it('with overlap allowed, merges into a shared range, keeps the other source keys, and counts conflicts', async () => {
    await putMany(east.client, 'shared/', 50, (i) => `east ${i}`);
    await putMany(west.client, 'shared/', 20, (i) => `west ${i}`);
    await west.client.put('shared/west-only').value('w');
    const opts = { prefix: 'shared/', 'dest-prefix': 'merged/', 'allow-overlap': true };
    const a = new Mirror(mirrorOptions(east.endpoint, dest.endpoint, { ...opts, name: 'merge-east' }), new MemoryLog(), { probeIntervalMs: 500 });
    const runA = a.run();
    await new Promise((r) => a.once('synced', r));
    const b = new Mirror(mirrorOptions(west.endpoint, dest.endpoint, { ...opts, name: 'merge-west' }), new MemoryLog(), { probeIntervalMs: 500 });
    const runB = b.run();
    await new Promise((r) => b.once('synced', r));
    // west's sync overwrote the 20 keys both have, and left east's other 30 alone.
    expect(b.stats.conflicts).toBe(20);
    expect((await dump(dest.client, 'merged/')).size).toBe(51);
    expect(await dest.client.get('merged/000040').string()).toBe('east 40');
    // A live write by east to a key west wrote last is a conflict seen by east.
    const before = a.stats.conflicts;
    const rev = Number((await east.client.put('shared/000003').value('east again').exec()).header.revision);
    await waitForCheckpoint(dest.client, 'merge-east', (c) => c.revision >= rev);
    expect(a.stats.conflicts).toBe(before + 1);
    expect(await dest.client.get('merged/000003').string()).toBe('east again');
    a.stop();
    b.stop();
    await Promise.all([runA, runB]);
  });
});
