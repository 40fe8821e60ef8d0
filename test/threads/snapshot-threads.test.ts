import { Worker } from 'node:worker_threads';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { PartitionMapWriter, SessionTokenShare, newPartitionMapBuffer, newPolicyBuffer, newSessionBuffer, policyCell } from '../../src/threads/index.js';
import { ensureBuilt } from '../support/built.js';
// @ts-expect-error plain ESM fixture shared with the reader threads, no type declarations
import { mapOf, policyOf, tokenOf } from './fixtures/shared-values.mjs';

/**
 * The values that cross threads while both sides run: main publishes partition maps, session tokens
 * and write policies as fast as it can while reader threads (the compiled src/threads, as workers
 * load it) take every new one and check it whole. A reader that copied a value mid-rewrite and
 * used it would hand on a mix of two generations, or fail to decode it.
 */

interface Report {
  fresh: { map: number; token: number; policy: number };
  bad: string[];
  badCount: number;
}

let threadsUrl = '';
const workers: Worker[] = [];

beforeAll(() => {
  threadsUrl = ensureBuilt('threads/snapshot.ts', 'threads/snapshot.js');
  threadsUrl = threadsUrl.replace(/snapshot\.js$/, 'index.js');
}, 120_000);

afterEach(async () => {
  await Promise.all(workers.splice(0).map((w) => w.terminate()));
});

function startReader(shared: Record<string, SharedArrayBuffer>): { ready: Promise<void>; report: Promise<Report> } {
  const w = new Worker(new URL('./fixtures/snapshot-reader.mjs', import.meta.url), { workerData: { threadsUrl, ...shared } });
  workers.push(w);
  let onReady: () => void = () => undefined;
  const ready = new Promise<void>((r) => (onReady = r));
  const report = new Promise<Report>((resolve, reject) => {
    w.on('message', (m: { ready?: boolean } & Report) => (m.ready === true ? onReady() : resolve(m)));
    w.once('error', reject);
    w.once('exit', (code) => reject(new Error(`reader exited with ${code} before reporting`)));
  });
  return { ready, report };
}

describe('values shared with the workers are read whole', () => {
  it('maps, tokens and policies published as fast as possible are never seen torn', async () => {
    const shared = { map: newPartitionMapBuffer(), session: newSessionBuffer(), policy: newPolicyBuffer(), stop: new SharedArrayBuffer(4) };
    const map = new PartitionMapWriter(shared.map);
    const session = new SessionTokenShare(shared.session);
    const policy = policyCell(shared.policy);
    const readers = [startReader(shared), startReader(shared)];
    await Promise.all(readers.map((r) => r.ready));

    // Publish until every reader has had plenty of fresh values of each kind: counted, not timed.
    const owners = [new Uint8Array(4096)];
    let g = 0;
    const until = Date.now() + 60_000;
    let reports: Report[] | null = null;
    while (Date.now() < until) {
      for (let i = 0; i < 2000; i++, g++) {
        map.publish(mapOf(g), owners);
        const t = tokenOf(g);
        session.publish(t.user, Buffer.from(t.token));
        policy.publish(policyOf(g));
      }
      if (g >= 30_000) break;
      await new Promise((r) => setImmediate(r));
    }
    Atomics.store(new Int32Array(shared.stop), 0, 1);
    reports = await Promise.all(readers.map((r) => r.report));

    for (const r of reports) {
      expect(r.bad).toEqual([]);
      expect(r.badCount).toBe(0);
      // Each reader really raced the writer: it took many distinct values of each kind.
      expect(r.fresh.map).toBeGreaterThan(50);
      expect(r.fresh.token).toBeGreaterThan(50);
      expect(r.fresh.policy).toBeGreaterThan(50);
    }
  });
});
