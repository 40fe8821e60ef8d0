/**
 * A source that stops answering without closing its connections (`kill -STOP`): every step that
 * talks to it has a deadline, so the mirror keeps retrying, logging each attempt, and its status line
 * says the source is unreachable instead of showing no lag.
 */

import { describe, expect, it } from 'vitest';
import { Mirror, renderStatus } from '../../src/mirror/index.js';
import { dump } from '../support/etcd.js';
import { MemoryLog, etcdPair, mirrorOptions, putMany, until, waitForCheckpoint } from './helpers.js';

describe('ferry mirror: a frozen source', () => {
  const etcd = etcdPair();

  it('keeps retrying with a logged line per attempt, reports the source unreachable, and resumes after SIGCONT', async () => {
    await putMany(etcd.source.client, 'f/', 50, (i) => `v${i}`);
    const log = new MemoryLog();
    const options = mirrorOptions(etcd.source.endpoint, etcd.dest.endpoint, { prefix: 'f/', name: 'frozen' });
    const mirror = new Mirror({ ...options, source: { ...options.source, commandTimeoutMs: 1000 } }, log, { probeIntervalMs: 300, backoffInitialMs: 100, backoffMaxMs: 500 });
    const running = mirror.run();
    const retries = (): number => log.lines.filter((l) => l.msg === 'transient failure; reconnecting').length;
    try {
      await until(() => mirror.stats.phase === 'watching', 30_000, () => 'the mirror to watch');
      const pid = etcd.source.process.pid!;
      process.kill(pid, 'SIGSTOP');
      try {
        // Detecting the silent stream, then failing to reopen it, again and again: each attempt is a line.
        await until(() => retries() >= 4, 60_000, () => `four logged retries (got ${retries()}):\n${log.lines.map((l) => `${l.msg} ${JSON.stringify(l.fields)}`).join('\n')}`);
        const status = renderStatus(mirror.name, mirror.stats, performance.now(), 0);
        expect(status).toMatch(/^mirror frozen: reconnecting .*source unreachable for \d+\.\ds/);
        expect(status).not.toMatch(/lag=0/);
      } finally {
        process.kill(pid, 'SIGCONT');
      }
      const r = Number((await etcd.source.client.put('f/after').value('thawed').exec()).header.revision);
      await waitForCheckpoint(etcd.dest.client, 'frozen', (c) => c.revision >= r);
      expect(await dump(etcd.dest.client, 'f/')).toEqual(await dump(etcd.source.client, 'f/'));
      expect(renderStatus(mirror.name, mirror.stats, performance.now(), 0)).not.toMatch(/unreachable/);
    } finally {
      mirror.stop();
      await running;
    }
  });
});
