import type { Etcd3 } from 'etcd3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type EtcdServer, dump, startEtcd } from '../support/etcd.js';
import { waitForCheckpoint } from './helpers.js';
import { MirrorProcess } from './mirror-process.js';

async function clusterId(client: Etcd3): Promise<string> {
  return (await client.kv.range({ key: Buffer.from([0]), limit: 1, keys_only: true })).header.cluster_id;
}

describe('ferry mirror: a --name reused for another source cluster', () => {
  let first: EtcdServer;
  let second: EtcdServer;
  let dest: EtcdServer;

  beforeAll(async () => {
    [first, second, dest] = await Promise.all([startEtcd({ name: 'first' }), startEtcd({ name: 'second' }), startEtcd({ name: 'dest' })]);
  });
  afterAll(async () => {
    await Promise.all([first?.close(), second?.close(), dest?.close()]);
  });

  it('is refused with exit 1, naming both clusters, and the running mirror and its keys are untouched', async () => {
    await first.client.put('/nm/a').value('a');
    await first.client.put('/nm/b').value('b');
    await second.client.put('/nm/c').value('c');
    const a = new MirrorProcess(['--endpoints', first.endpoint, '--prefix', '/nm/', '--name', 'prod', dest.endpoint]);
    await waitForCheckpoint(dest.client, 'prod', (c) => c.phase === 'watch');

    const b = new MirrorProcess(['--endpoints', second.endpoint, '--prefix', '/nm/', '--name', 'prod', dest.endpoint]);
    const exited = await Promise.race([b.exit(), new Promise<null>((r) => setTimeout(() => r(null), 15_000))]);
    if (exited === null) await b.kill('SIGKILL');
    expect(exited?.code).toBe(1);
    const [firstId, secondId] = [await clusterId(first.client), await clusterId(second.client)];
    expect(b.stderr).toMatch(/ERR_MIRROR_CHECKPOINT: /);
    expect(b.stderr).toContain(firstId);
    expect(b.stderr).toContain(secondId);
    expect(b.stderr).toMatch(/another --name/);
    expect(b.stderr).not.toMatch(/resync/);
    expect(Object.fromEntries(await dump(dest.client, '/nm/'))).toEqual({ '/nm/a': 'a', '/nm/b': 'b' });

    // The first mirror is still running, and still follows its source.
    const rev = Number((await first.client.put('/nm/d').value('d').exec()).header.revision);
    await waitForCheckpoint(dest.client, 'prod', (c) => c.revision >= rev);
    expect(await dest.client.get('/nm/d').string()).toBe('d');
    expect(a.child.exitCode).toBeNull();
    expect(await a.kill('SIGTERM')).toEqual({ code: 0, signal: null });

    // The documented way to take the name over: the old mirror stopped, its key space removed. Its
    // keys stay (nobody owns them now); the new mirror adds its own.
    await dest.client.delete().prefix('__ferry/mirror/prod/');
    const c = new MirrorProcess(['--endpoints', second.endpoint, '--prefix', '/nm/', '--name', 'prod', dest.endpoint]);
    await waitForCheckpoint(dest.client, 'prod', (cp) => cp.phase === 'watch' && cp.sourceClusterId === secondId);
    expect(Object.fromEntries(await dump(dest.client, '/nm/'))).toEqual({ '/nm/a': 'a', '/nm/b': 'b', '/nm/c': 'c', '/nm/d': 'd' });
    expect(await c.kill('SIGTERM')).toEqual({ code: 0, signal: null });
  });
});
