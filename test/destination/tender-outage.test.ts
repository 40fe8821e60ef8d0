/**
 * A destination outage in the tender's log (src/destination/tender.ts): `tend failed` once at
 * once, then at most one a LogLimiter interval carrying how many were not logged, whatever the
 * tend interval; and one `tend recovered` line when a round works again. The limiter's clock is
 * the test's, so nothing depends on how fast rounds come.
 */

import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { Tender } from '../../src/destination/tender.js';
import { LogLimiter } from '../../src/management/logger.js';
import { PartitionMapWriter, SessionTokenShare, newPartitionMapBuffer, newSessionBuffer } from '../../src/threads/index.js';
import { AerospikeDouble } from '../double/server.js';
import { freePort } from '../support/free-port.js';
import { until } from '../support/in-process.js';

interface Line {
  level: number;
  msg: string;
  [k: string]: unknown;
}

const open: Array<() => unknown> = [];
afterEach(async () => {
  for (const close of open.splice(0).reverse()) await close();
});

describe('tender over an outage', () => {
  it('tend failed: the first at once, then one per interval with suppressed; tend recovered when it works', async () => {
    const lines: Line[] = [];
    const log = pino(
      { level: 'info' },
      new Writable({
        write(chunk: Buffer, _enc, done) {
          lines.push(JSON.parse(chunk.toString('utf8')) as Line);
          done();
        },
      }),
    );
    let now = 0;
    const port = await freePort();
    const tender = new Tender(
      { seeds: [{ host: '127.0.0.1', port, tlsName: undefined }], clusterName: undefined, tls: null, ipMap: {}, servicesAlternate: false, credentials: null, intervalMs: 100, timeoutMs: 1000, tombstones: false },
      new PartitionMapWriter(newPartitionMapBuffer()),
      new SessionTokenShare(newSessionBuffer()),
      log,
      new LogLimiter(10_000, 1024, () => now),
    );
    // Nothing listens yet: the start's own warning, then the outage goes on round after round.
    await tender.start();
    open.push(() => tender.stop());
    const failed = (): Line[] => lines.filter((l) => l.msg === 'tend failed');
    await until(() => tender.rounds >= 6, 20_000, 'rounds against nothing');
    expect(lines.filter((l) => l.msg === 'destination cluster not reachable yet; will keep trying')).toHaveLength(1);
    expect(failed()).toHaveLength(1);
    expect(failed()[0]).toMatchObject({ level: 40, err: expect.stringContaining('no seed answered') });
    expect(failed()[0]).not.toHaveProperty('suppressed');

    now += 10_000;
    await until(() => failed().length === 2, 20_000, 'the next tend failed line');
    const second = failed()[1]!;
    // Rounds 3 to 5 at least came between the two lines (round 2 logged the first).
    expect(second['suppressed']).toBeGreaterThanOrEqual(3);
    const rounds = tender.rounds;
    await until(() => tender.rounds >= rounds + 3, 20_000, 'more rounds against nothing');
    expect(failed()).toHaveLength(2);

    const double = await AerospikeDouble.start({ port });
    open.push(() => double.close());
    await until(() => lines.some((l) => l.msg === 'tend recovered'), 20_000, 'tend recovered');
    const recovered = lines.filter((l) => l.msg === 'tend recovered');
    expect(recovered).toHaveLength(1);
    expect(recovered[0]).toMatchObject({ level: 30 });
    // Every round up to rounds + 2 had ended, failed, before the double listened.
    expect(recovered[0]!['failedRounds']).toBeGreaterThanOrEqual(rounds + 2);
    const after = tender.rounds;
    await until(() => tender.rounds >= after + 3, 20_000, 'rounds once recovered');
    expect(lines.filter((l) => l.msg === 'tend recovered')).toHaveLength(1);
    expect(failed()).toHaveLength(2);
  });
});
