import type { Etcd3 } from 'etcd3';
import { describe, expect, it } from 'vitest';
import { dump } from '../support/etcd.js';
import { etcdPair, putMany, readCheckpoint, sourceRevision, waitForCheckpoint } from './helpers.js';
import { MirrorProcess } from './mirror-process.js';

/** Key → version, for every key under `prefix`: equal versions mean every put was applied exactly once. */
async function versions(client: Etcd3, prefix: string, strip: number): Promise<Map<string, string>> {
  const res = await client.kv.range({ key: Buffer.from(prefix), range_end: Buffer.from(prefix.slice(0, -1) + String.fromCharCode(prefix.charCodeAt(prefix.length - 1) + 1)) });
  return new Map(res.kvs.map((kv) => [kv.key.toString('utf8').slice(strip), kv.version]));
}

/**
 * A deterministic stream of changes: single puts, deletes (of keys that may or may not exist) and
 * transactions of 20 puts (split by the mirror at --max-txn-ops 8). Returns the number of events
 * the source generated (a delete of a missing key generates none).
 */
async function stream(client: Etcd3, from: number, to: number): Promise<number> {
  let events = 0;
  for (let i = from; i < to; i++) {
    const k = `app/k${Math.floor(i / 3) % 300}`;
    if (i === 777) {
      const res = await client.delete().prefix('app/base0005').exec();
      events += Number(res.deleted);
    } else if (i % 10 === 3) {
      const res = await client.delete().key(k).exec();
      events += Number(res.deleted);
    } else if (i % 50 === 17) {
      await client.kv.txn({ success: Array.from({ length: 20 }, (_, j) => ({ request_put: { key: Buffer.from(`app/t${(i + j) % 60}`), value: Buffer.from(`txn ${i}.${j}`) } })) });
      events += 20;
    } else {
      await client.put(k).value(`v${i}`);
      events += 1;
    }
  }
  return events;
}

describe('ferry mirror: kill -9 and restart', () => {
  const etcd = etcdPair();

  it('resumes from the checkpoint: no resync, no gap, no event applied twice', async () => {
    await putMany(etcd.source.client, 'app/base', 2000, (i) => `base ${i}`);
    const args = ['--endpoints', etcd.source.endpoint, '--prefix', 'app/', '--dest-prefix', 'copy/', '--max-txn-ops', '8', '--name', 'resume', '--status-interval', '1', etcd.dest.endpoint];
    const first = new MirrorProcess(args);
    const synced = await waitForCheckpoint(etcd.dest.client, 'resume', (c) => c.phase === 'watch');
    expect(synced.syncs).toBe(1);

    // Kill the mirror while the stream runs, keep writing while it is down, then restart it.
    let events = 0;
    const writing = stream(etcd.source.client, 0, 1500).then((n) => (events += n));
    await waitForCheckpoint(etcd.dest.client, 'resume', (c) => c.events >= 200);
    const killed = await first.kill('SIGKILL');
    expect(killed.signal).toBe('SIGKILL');
    const atKill = await readCheckpoint(etcd.dest.client, 'resume');
    await writing;
    events += await stream(etcd.source.client, 1500, 2000);
    const last = await sourceRevision(etcd.source.client);
    expect(atKill!.revision).toBeLessThan(last);

    const second = new MirrorProcess(args);
    const cp = await waitForCheckpoint(etcd.dest.client, 'resume', (c) => c.revision >= last && c.partialRevision === undefined);
    await second.waitFor(/watching the source .*fromRevision=\d+/);
    expect(await second.kill('SIGTERM')).toEqual({ code: 0, signal: null });

    // Exactly equal, the restart resumed where the checkpoint said (no second sync), and the count
    // of applied events equals the count of source events: none replayed, none skipped.
    const want = new Map([...(await dump(etcd.source.client, 'app/'))].map(([k, v]) => [`copy/${k.slice(4)}`, v]));
    expect(await dump(etcd.dest.client, 'copy/')).toEqual(want);
    expect(cp.syncs).toBe(1);
    expect(second.stderr).not.toMatch(/initial sync|resync/);
    expect(second.stderr).toMatch(new RegExp(`watching the source .*fromRevision=${atKill!.partialRevision ?? atKill!.revision + 1}\\b`));
    expect(cp.events).toBe(events);
    // Every key's version matches: each put reached the destination exactly once.
    expect(await versions(etcd.dest.client, 'copy/', 5)).toEqual(await versions(etcd.source.client, 'app/', 4));
  });
});
