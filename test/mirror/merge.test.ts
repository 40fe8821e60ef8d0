import type { Etcd3 } from 'etcd3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Mirror, MirrorOverlapError, defaultMirrorName } from '../../src/mirror/index.js';
import { type EtcdServer, dump, startEtcd } from '../support/etcd.js';
import { MemoryLog, mirrorOptions, putMany, readCheckpoint, sourceRevision, waitForCheckpoint } from './helpers.js';
import { MirrorProcess } from './mirror-process.js';

async function clusterId(client: Etcd3): Promise<string> {
  return (await client.kv.range({ key: Buffer.from([0]), limit: 1, keys_only: true })).header.cluster_id;
}

/** Every key of a cluster outside Ferry's reserved namespace, read in pages. */
async function data(client: Etcd3): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  const zero = Buffer.from([0]);
  let key = zero;
  for (;;) {
    const res = await client.kv.range({ key, range_end: zero, limit: 5000 });
    for (const kv of res.kvs) if (!kv.key.toString('utf8').startsWith('__ferry/')) out.set(kv.key.toString('utf8'), kv.value.toString('utf8'));
    const last = res.kvs[res.kvs.length - 1];
    if (!res.more || last === undefined) return out;
    key = Buffer.concat([last.key, zero]);
  }
}

async function countUnder(client: Etcd3, prefix: string): Promise<number> {
  const end = Buffer.from(prefix);
  end[end.length - 1]!++;
  return Number((await client.kv.range({ key: Buffer.from(prefix), range_end: end, count_only: true })).count);
}

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

  it('merges two clusters with no flags, as make-mirror does: the destination keeps its own keys, and survives a kill -9', async () => {
    await putMany(east.client, 'east/', 300, (i) => `east ${i}`);
    await putMany(west.client, 'west/', 200, (i) => `west ${i}`);
    await putMany(dest.client, 'local/', 50, (i) => `local ${i}`);
    await dest.client.put('east/000007-local').value('the destination wrote this one');
    const own = await data(dest.client);
    const eastName = defaultMirrorName(await clusterId(east.client), '', '');
    const westName = defaultMirrorName(await clusterId(west.client), '', '');
    expect(eastName).not.toBe(westName);

    // Started at the same time, with nothing but the endpoints.
    const argsEast = ['--endpoints', east.endpoint, '--status-interval', '1', dest.endpoint];
    let a = new MirrorProcess(argsEast);
    const b = new MirrorProcess(['--endpoints', west.endpoint, '--status-interval', '1', dest.endpoint]);
    await waitForCheckpoint(dest.client, eastName, (c) => c.phase === 'watch');
    await waitForCheckpoint(dest.client, westName, (c) => c.phase === 'watch');
    const expected = async (): Promise<Map<string, string>> => new Map([...own, ...(await data(east.client)), ...(await data(west.client))]);
    expect(await data(dest.client)).toEqual(await expected());

    // A put and a delete in each source.
    await east.client.put('east/new').value('e');
    const ra = Number((await east.client.delete().key('east/000003').exec()).header.revision);
    await west.client.put('west/new').value('w');
    const rb = Number((await west.client.delete().key('west/000004').exec()).header.revision);
    await waitForCheckpoint(dest.client, eastName, (c) => c.revision >= ra);
    await waitForCheckpoint(dest.client, westName, (c) => c.revision >= rb);
    expect(await data(dest.client)).toEqual(await expected());
    expect(await dest.client.get('east/000003').string()).toBeNull();

    // kill -9 one mirror; its source changes while it is away; it comes back and resumes.
    expect((await a.kill('SIGKILL')).signal).toBe('SIGKILL');
    await east.client.put('east/while-away').value('x');
    await east.client.put('east/000010').value('changed while away');
    await east.client.delete().key('east/000011');
    const last = await sourceRevision(east.client);
    a = new MirrorProcess(argsEast);
    await waitForCheckpoint(dest.client, eastName, (c) => c.revision >= last);
    const rw = Number((await west.client.put('west/after').value('w2').exec()).header.revision);
    await waitForCheckpoint(dest.client, westName, (c) => c.revision >= rw);
    expect(await data(dest.client)).toEqual(await expected());
    for (const [k, v] of own) expect(await dest.client.get(k).string()).toBe(v);
    expect(a.stderr).not.toMatch(/initial sync|resync/);

    // Besides the data: each mirror's checkpoint and one ownership marker per key it wrote.
    expect(await countUnder(dest.client, `__ferry/mirror/${eastName}/own/`)).toBe((await data(east.client)).size);
    expect(await countUnder(dest.client, `__ferry/mirror/${westName}/own/`)).toBe((await data(west.client)).size);
    expect((await readCheckpoint(dest.client, eastName))?.mode).toBe('merge');

    // Both still running, and both stop cleanly.
    expect(a.child.exitCode).toBeNull();
    expect(b.child.exitCode).toBeNull();
    expect(await a.kill('SIGTERM')).toEqual({ code: 0, signal: null });
    expect(await b.kill('SIGTERM')).toEqual({ code: 0, signal: null });
  });

  it('counts conflicts where two sources write the same keys; the last writer wins', async () => {
    // A destination of its own, so that east's mirror starts alone and is joined by west's.
    const dest = await startEtcd({ name: 'dest-conflicts' });
    await putMany(east.client, 'shared/', 50, (i) => `east ${i}`);
    await putMany(west.client, 'shared/', 20, (i) => `west ${i}`);
    await west.client.put('shared/west-only').value('w');
    const opts = { prefix: 'shared/', 'dest-prefix': 'merged/' };
    const logA = new MemoryLog();
    const a = new Mirror(mirrorOptions(east.endpoint, dest.endpoint, { ...opts, name: 'merge-east' }), logA, { probeIntervalMs: 200 });
    const runA = a.run();
    await new Promise((r) => a.once('synced', r));
    const b = new Mirror(mirrorOptions(west.endpoint, dest.endpoint, { ...opts, name: 'merge-west' }), new MemoryLog(), { probeIntervalMs: 500 });
    const runB = b.run();
    await new Promise((r) => b.once('synced', r));
    // east's mirror notices the newcomer and reopens its watch with previous values.
    const reopened = (): boolean => {
      const i = logA.lines.findIndex((l) => /now shares the destination range/.test(String(l.fields.err)));
      return i >= 0 && logA.lines.slice(i).some((l) => l.msg === 'watching the source');
    };
    for (let waited = 0; !reopened(); waited += 50) {
      if (waited > 30_000) throw new Error('east did not reopen its watch after west joined');
      await new Promise((r) => setTimeout(r, 50));
    }
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
    await dest.close();
  });

  it('a resync after compaction deletes what only this mirror wrote, and keeps what another mirror wrote too', async () => {
    await east.client.put('rs/both').value('e');
    await east.client.put('rs/only-east').value('e');
    await west.client.put('rs/both').value('w');
    await dest.client.put('rs/local').value('d');
    const eastOptions = mirrorOptions(east.endpoint, dest.endpoint, { prefix: 'rs/', name: 'rs-east' });
    const a = new Mirror(eastOptions, new MemoryLog(), { probeIntervalMs: 500 });
    const runA = a.run();
    await new Promise((r) => a.once('synced', r));
    const b = new Mirror(mirrorOptions(west.endpoint, dest.endpoint, { prefix: 'rs/', name: 'rs-west' }), new MemoryLog(), { probeIntervalMs: 500 });
    const runB = b.run();
    await new Promise((r) => b.once('synced', r));
    a.stop();
    await runA;

    // While east's mirror is away its source deletes both keys, and compacts the deletes away.
    await east.client.delete().key('rs/both');
    await east.client.delete().key('rs/only-east');
    await east.client.kv.compact({ revision: await sourceRevision(east.client), physical: true });
    const again = new Mirror(eastOptions, new MemoryLog(), { probeIntervalMs: 500 });
    const resynced = new Promise<string>((r) => again.once('resync', r));
    const synced = new Promise((r) => again.once('synced', r));
    const rerun = again.run();
    expect(await resynced).toMatch(/compacted past the checkpoint/);
    await synced;
    expect(await dest.client.get('rs/only-east').string()).toBeNull();
    expect(await dest.client.get('rs/both').string()).toBe('w');
    expect(await dest.client.get('rs/local').string()).toBe('d');
    expect(await dest.client.get('__ferry/mirror/rs-east/own/rs/both').string()).toBeNull();
    expect(await dest.client.get('__ferry/mirror/rs-west/own/rs/both').string()).toBe('');
    again.stop();
    b.stop();
    await Promise.all([rerun, runB]);
  });

  it('a live delete keeps a key another source wrote too; the last source to delete it removes it', async () => {
    // A destination of its own, and the README's merge: no prefix, no name, no other flag.
    const dest = await startEtcd({ name: 'dest-live-delete' });
    await east.client.put('/shared/k2').value('A2');
    const logA = new MemoryLog();
    const a = new Mirror(mirrorOptions(east.endpoint, dest.endpoint), logA, { probeIntervalMs: 200 });
    const b = new Mirror(mirrorOptions(west.endpoint, dest.endpoint), new MemoryLog(), { probeIntervalMs: 200 });
    const runA = a.run();
    await new Promise((r) => a.once('synced', r));
    const runB = b.run();
    await new Promise((r) => b.once('synced', r));
    // east started alone: it learns of west at its next probe.
    for (let waited = 0; !logA.lines.some((l) => /now shares the destination range/.test(String(l.fields.err))); waited += 50) {
      if (waited > 30_000) throw new Error('east did not notice west');
      await new Promise((r) => setTimeout(r, 50));
    }
    const eastName = a.name;
    const westName = b.name;
    const applied = (name: string, rev: number): Promise<unknown> => waitForCheckpoint(dest.client, name, (c) => c.phase === 'watch' && c.revision >= rev);
    const put = async (source: EtcdServer, name: string, key: string, value: string): Promise<unknown> => applied(name, Number((await source.client.put(key).value(value).exec()).header.revision));
    const del = async (source: EtcdServer, name: string, key: string): Promise<unknown> => applied(name, Number((await source.client.delete().key(key).exec()).header.revision));

    // east writes, west writes last, east deletes: west's value stays.
    await put(east, eastName, '/shared/k1', 'A1b');
    await put(west, westName, '/shared/k1', 'B1b');
    await del(east, eastName, '/shared/k1');
    expect(await dest.client.get('/shared/k1').string()).toBe('B1b');
    expect(await dest.client.get(`__ferry/mirror/${eastName}/own//shared/k1`).string()).toBeNull();
    expect(await dest.client.get(`__ferry/mirror/${westName}/own//shared/k1`).string()).toBe('');
    // west deletes it as well: nobody else wrote it now, so it goes.
    await del(west, westName, '/shared/k1');
    expect(await dest.client.get('/shared/k1').string()).toBeNull();

    // west writes, east writes last, east deletes: the key stays (west holds it), with east's last value.
    await put(west, westName, '/shared/k2', 'B2');
    await put(east, eastName, '/shared/k2', 'A2b');
    await del(east, eastName, '/shared/k2');
    expect(await dest.client.get('/shared/k2').string()).toBe('A2b');
    // west's next write of the key puts its value back.
    await put(west, westName, '/shared/k2', 'B2b');
    expect(await dest.client.get('/shared/k2').string()).toBe('B2b');

    // A key only one source wrote is deleted as before.
    await put(east, eastName, '/shared/k3', 'A3');
    await del(east, eastName, '/shared/k3');
    expect(await dest.client.get('/shared/k3').string()).toBeNull();
    expect(a.stats.keysKept).toBe(2);

    // One source transaction of 127 operations (etcd's limit is 128, the checkpoint included): an
    // update and 63 deletes of keys both sources wrote. The nested transactions that keep them
    // count against etcd's limit too, so the mirror splits it instead of being refused.
    await put(east, eastName, '/shared/one', 'A');
    await applied(eastName, await putMany(east.client, '/many/', 63, (i) => `east ${i}`));
    await applied(westName, await putMany(west.client, '/many/', 63, (i) => `west ${i}`));
    const many = Array.from({ length: 63 }, (_, i) => ({ request_delete_range: { key: Buffer.from(`/many/${String(i).padStart(6, '0')}`) } }));
    const rev = Number((await east.client.kv.txn({ success: [{ request_put: { key: Buffer.from('/shared/one'), value: Buffer.from('A again') } }, ...many] })).header.revision);
    await Promise.race([
      applied(eastName, rev),
      runA.then(() => {
        throw new Error('the east mirror stopped');
      }),
    ]);
    expect(await dest.client.get('/shared/one').string()).toBe('A again');
    expect((await dump(dest.client, '/many/')).size).toBe(63);
    expect(a.stats.keysKept).toBe(65);
    a.stop();
    b.stop();
    await Promise.all([runA, runB]);
    await dest.close();
  });

  it('an exclusive mirror refuses to share its range, on either side', async () => {
    // A destination of its own: the root merge mirrors above overlap every range of theirs.
    const dest = await startEtcd({ name: 'dest-exclusive' });
    await putMany(east.client, 'cfg/', 30, (i) => `east ${i}`);
    const a = new Mirror(mirrorOptions(east.endpoint, dest.endpoint, { prefix: 'cfg/', 'dest-prefix': 'only-east/', name: 'only-east', exclusive: true }), new MemoryLog(), { probeIntervalMs: 500 });
    const runA = a.run();
    await Promise.race([
      new Promise((r) => a.once('synced', r)),
      runA.then(() => {
        throw new Error('the exclusive mirror stopped before its sync');
      }),
    ]);

    // A merge mirror whose destination range lies inside the exclusive one's: refused before it writes.
    const c = new Mirror(mirrorOptions(west.endpoint, dest.endpoint, { prefix: 'cfg/', 'dest-prefix': 'only-east/0001', name: 'intruder' }), new MemoryLog());
    const refused = await c.run().then(
      () => null,
      (err: unknown) => err,
    );
    expect(refused).toBeInstanceOf(MirrorOverlapError);
    expect((refused as Error).message).toMatch(/overlaps mirror 'only-east'.*mirror 'only-east' is --exclusive/);
    expect(await dest.client.get('__ferry/mirror/intruder/checkpoint').string()).toBeNull();
    expect((await dump(dest.client, 'only-east/')).size).toBe(30);

    // The command exits 1 with the code and the way out.
    const cli = new MirrorProcess(['--endpoints', west.endpoint, '--prefix', 'cfg/', '--dest-prefix', 'only-east/x/', '--exclusive', dest.endpoint]);
    expect((await cli.exit()).code).toBe(1);
    expect(cli.stderr).toMatch(/ERR_MIRROR_OVERLAP: .*overlaps mirror 'only-east'.*this mirror is --exclusive/);
    a.stop();
    await runA;
    await dest.close();
  });
});
