/**
 * Values close to etcd's request limit (--max-request-bytes, 1.5 MiB by default): the source accepts
 * them in a put of their own, so the mirror must get them into the destination too, although its
 * transactions also carry an ownership marker and the checkpoint.
 */

import { describe, expect, it } from 'vitest';
import { Mirror } from '../../src/mirror/index.js';
import { dump, startEtcd } from '../support/etcd.js';
import { MemoryLog, etcdPair, mirrorOptions, readCheckpoint, waitForCheckpoint } from './helpers.js';

/** A value the source takes in a put of a short key, 164 bytes under etcd's default 1,572,864. */
const NEAR_LIMIT = 1_572_700;

describe('ferry mirror: values near the request limit', () => {
  const etcd = etcdPair();

  it('copies them in the sync and from the watch, once each, marked as the mirror wrote them', async () => {
    await etcd.source.client.put('big/synced').value('s'.repeat(NEAR_LIMIT));
    const mirror = new Mirror(mirrorOptions(etcd.source.endpoint, etcd.dest.endpoint, { prefix: 'big/', name: 'big' }), new MemoryLog());
    const running = mirror.run();
    // A mirror that stops for good fails the test at once rather than at a deadline.
    const stopped = running.then(() => Promise.reject(new Error('the mirror stopped')));
    stopped.catch(() => undefined);
    try {
      const synced = await Promise.race([waitForCheckpoint(etcd.dest.client, 'big', (c) => c.phase === 'watch'), stopped]);
      await etcd.source.client.put('big/small').value('x');
      const r = Number((await etcd.source.client.put('big/watched').value('w'.repeat(NEAR_LIMIT)).exec()).header.revision);
      await Promise.race([waitForCheckpoint(etcd.dest.client, 'big', (c) => c.revision >= r), stopped]);

      expect(await dump(etcd.dest.client, 'big/')).toEqual(await dump(etcd.source.client, 'big/'));
      // Each value was put once: a put redone would have raised the key's version.
      const watched = (await etcd.dest.client.kv.range({ key: Buffer.from('big/watched') })).kvs[0]!;
      expect(watched.version).toBe('1');
      expect((await readCheckpoint(etcd.dest.client, 'big'))?.events).toBe(2);
      expect(synced.syncs).toBe(1);
      for (const key of ['big/synced', 'big/small', 'big/watched']) expect(await etcd.dest.client.get(`__ferry/mirror/big/own/${key}`).string()).toBe('');
    } finally {
      mirror.stop();
      await running;
    }
  });

  it('stops with the key named when a value alone is over the destination limit', async () => {
    const small = await startEtcd({ name: 'small-dest', extraArgs: ['--max-request-bytes', '1100000'] });
    try {
      await etcd.source.client.put('huge/v').value('h'.repeat(1_200_000));
      const mirror = new Mirror(mirrorOptions(etcd.source.endpoint, small.endpoint, { prefix: 'huge/', name: 'huge' }), new MemoryLog());
      await expect(mirror.run()).rejects.toMatchObject({
        code: 'ERR_MIRROR_REJECTED',
        message: expect.stringMatching(/^destination: "huge\/v" has a value of 1200000 bytes, over the destination's request limit \(etcd --max-request-bytes\) even in a transaction of its own/),
      });
    } finally {
      await small.close();
    }
  });
});
