/**
 * End to end: transform modules (`aerospike.transform`) in a Ferry process, each case checked at
 * the destination with the official client: pass, rewrite, fan-out, skip, throw, a module that
 * fails to load, a reload on SIGHUP; and the three modules in examples/transforms/.
 */

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { useDestination } from '../support/destination.js';
import { FerryProcess, testConfig } from '../support/ferry-process.js';
import { XdrShipper, useFerryAndShipper } from '../support/xdr-ship.js';

const tag = `${process.pid}`;
const set = (name: string): string => `tm-${name}-${tag}`;
const dir = mkdtempSync(join(tmpdir(), 'ferry-transforms-'));
const example = (name: string): string => fileURLToPath(new URL(`../../examples/transforms/${name}`, import.meta.url));

/** Write a module into the test's folder; returns its path. */
function module(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

async function until(cond: () => boolean, what: string): Promise<void> {
  const end = Date.now() + 15_000;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const BY_SET = `
export default function bySet(r) {
  switch (r.set) {
    case '${set('pass')}': return r;
    case '${set('rewrite')}': return { bins: { ...r.bins, n: r.bins.n * 2, added: 'yes' }, ttl: 3600 };
    case '${set('fanout')}': return [r, { namespace: 'bar', set: '${set('copy')}' }, { key: r.key + 1000, bins: { from: r.key } }];
    case '${set('skip')}': return r.key === 1 ? null : 'skip';
    case '${set('throw')}': throw new Error('no such customer');
    default: return r;
  }
}
`;

describe('transform modules through Ferry', () => {
  const ctx = useDestination(['test', 'bar']);

  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  describe('one module, every kind of answer', () => {
    const f = useFerryAndShipper(() => testConfig(ctx.dest, { aerospike: { transform: module('by-set.mjs', BY_SET) } }));

    it('pass: the record is written as it came', async () => {
      expect(await f.source.ship({ namespace: 'test', set: set('pass'), key: 1, bins: { a: 'A', n: 1 } })).toEqual([0]);
      expect((await ctx.client.get(['test', set('pass'), 1])).bins).toEqual({ a: 'A', n: 1 });
    });

    it('rewrite: the bins and TTL the module returns are written', async () => {
      expect(await f.source.ship({ namespace: 'test', set: set('rewrite'), key: 2, bins: { a: 'A', n: 21 } })).toEqual([0]);
      const r = await ctx.client.get(['test', set('rewrite'), 2]);
      expect(r.bins).toEqual({ a: 'A', n: 42, added: 'yes' });
      expect(r.ttl).toBeGreaterThan(3000);
      expect(r.ttl).toBeLessThanOrEqual(3600);
    });

    it('fan-out: every record returned is written, and the source is answered once', async () => {
      expect(await f.source.ship({ namespace: 'test', set: set('fanout'), key: 3, bins: { a: 'A' } })).toEqual([0]);
      expect((await ctx.client.get(['test', set('fanout'), 3])).bins).toEqual({ a: 'A' });
      expect((await ctx.client.get(['bar', set('copy'), 3])).bins).toEqual({ a: 'A' });
      expect((await ctx.client.get(['test', set('fanout'), 1003])).bins).toEqual({ from: 3 });
      expect(await f.ferry.metric('ferry_transform_fanout_writes_total')).toBe(2);
      expect(f.source.pendingFrames()).toBe(0);
    });

    it('skip: null and "skip" are answered done, nothing written, counted', async () => {
      expect(await f.source.ship({ namespace: 'test', set: set('skip'), key: 1, bins: { a: 'A' } }, { namespace: 'test', set: set('skip'), key: 2, bins: { a: 'A' } })).toEqual([0, 0]);
      expect(await ctx.client.exists(['test', set('skip'), 1])).toBe(false);
      expect(await ctx.client.exists(['test', set('skip'), 2])).toBe(false);
      expect(await f.ferry.metric('ferry_records_skipped_total{reason="transform"}')).toBe(2);
    });

    it('throw: the record is answered 11 (the source retries), logged with the record, counted; the worker lives on', async () => {
      expect(await f.source.ship({ namespace: 'test', set: set('throw'), key: 5, bins: { a: 'A' } })).toEqual([11]);
      expect(await ctx.client.exists(['test', set('throw'), 5])).toBe(false);
      await until(() => f.ferry.logs.some((l) => l.msg === 'worker error' && l['code'] === 'ERR_TRANSFORM'), 'the log line');
      const line = f.ferry.logs.find((l) => l.msg === 'worker error' && l['code'] === 'ERR_TRANSFORM')!;
      expect(String(line['reason'])).toContain(`test/${set('throw')}`);
      expect(String(line['reason'])).toContain('no such customer');
      expect(await f.ferry.metric('ferry_destination_results_total{result="transform-failed"}')).toBe(1);
      // The same worker goes on with the next record.
      expect(await f.source.ship({ namespace: 'test', set: set('pass'), key: 6, bins: { a: 'after' } })).toEqual([0]);
      expect((await ctx.client.get(['test', set('pass'), 6])).bins).toEqual({ a: 'after' });
    });
  });

  it.each([
    ['a syntax error', 'broken.mjs', 'export default (r) => {', /SyntaxError|Unexpected/],
    ['no default export', 'no-default.mjs', 'export const x = 1;', /default export is not a function/],
  ])('a module with %s is a start-up error naming the file (exit 2)', async (_what, name, text, why) => {
    const path = module(name, text);
    const ferry = FerryProcess.launch(testConfig(ctx.dest, { aerospike: { transform: path } }));
    expect(await ferry.exitCode()).toBe(2);
    const stderr = ferry.stderr.join('');
    expect(stderr).toContain(`aerospike.transform: cannot load ${path}`);
    expect(stderr).toMatch(why);
  });

  it('a module file that does not exist is a start-up error naming it (exit 2)', async () => {
    const path = join(dir, 'missing.mjs');
    const ferry = FerryProcess.launch(testConfig(ctx.dest, { aerospike: { transform: path } }));
    expect(await ferry.exitCode()).toBe(2);
    expect(ferry.stderr.join('')).toContain(`aerospike.transform: cannot read ${path} (no such file)`);
  });

  it('SIGHUP imports the module again: records after the reload see the new code', async () => {
    const path = module('versioned.mjs', "export default (r) => ({ bins: { ...r.bins, v: 'one' } });");
    const ferry = await FerryProcess.start(testConfig(ctx.dest, { aerospike: { transform: path } }));
    const source = await XdrShipper.open(ferry.port);
    try {
      expect(await source.ship({ namespace: 'test', set: set('reload'), key: 1, bins: { a: 'A' } })).toEqual([0]);
      expect((await ctx.client.get(['test', set('reload'), 1])).bins).toEqual({ a: 'A', v: 'one' });
      writeFileSync(path, "export default (r) => ({ bins: { ...r.bins, v: 'two' } });");
      ferry.child.kill('SIGHUP');
      await until(() => ferry.logs.some((l) => l.msg.startsWith('configuration reloaded')), 'the reload');
      // 32 keys reach both workers: each has the new version before the file is broken below.
      const keys = Array.from({ length: 32 }, (_, i) => 100 + i);
      expect(await source.ship(...keys.map((key) => ({ namespace: 'test', set: set('reload'), key, bins: { a: 'A' } })))).toEqual(keys.map(() => 0));
      expect(await ctx.client.getMany(keys.map((key) => ['test', set('reload'), key]))).toEqual(keys.map(() => ({ bins: { a: 'A', v: 'two' } })));
      // A module that no longer loads refuses the reload; the one loaded keeps working.
      writeFileSync(path, 'export default 42;');
      ferry.child.kill('SIGHUP');
      await until(() => ferry.logs.some((l) => l.msg.startsWith('reload refused')), 'the refusal');
      expect(String(ferry.logs.find((l) => l.msg.startsWith('reload refused'))!['problems'])).toContain(`aerospike.transform: cannot load ${path}`);
      expect(await source.ship(...keys.map((key) => ({ namespace: 'test', set: set('reload'), key, bins: { a: 'B' } })))).toEqual(keys.map(() => 0));
      expect(await ctx.client.getMany(keys.map((key) => ['test', set('reload'), key]))).toEqual(keys.map(() => ({ bins: { a: 'B', v: 'two' } })));
    } finally {
      source.close();
      expect(await ferry.stop()).toBe(0);
    }
  });

  describe('the examples in examples/transforms/', () => {
    async function withModule(path: string, run: (source: XdrShipper, ferry: FerryProcess) => Promise<void>): Promise<void> {
      const ferry = await FerryProcess.start(testConfig(ctx.dest, { aerospike: { transform: path } }));
      const source = await XdrShipper.open(ferry.port);
      try {
        await run(source, ferry);
      } finally {
        source.close();
        expect(await ferry.stop()).toBe(0);
      }
    }

    it('mask-pii.js: PII bins keep their last four characters, other bins and records pass', async () => {
      await withModule(example('mask-pii.js'), async (source) => {
        expect(await source.ship({ namespace: 'test', set: set('pii'), key: 1, bins: { name: 'Ada', ssn: '123-45-6789', email: 'ada@example.com', n: 7 } }, { namespace: 'test', set: set('pii'), key: 2, bins: { name: 'Bob' } })).toEqual([0, 0]);
        expect((await ctx.client.get(['test', set('pii'), 1])).bins).toEqual({ name: 'Ada', ssn: '*******6789', email: '***********.com', n: 7 });
        expect((await ctx.client.get(['test', set('pii'), 2])).bins).toEqual({ name: 'Bob' });
      });
    });

    it('route-set.js: set audit goes to another namespace and set, deletes too', async () => {
      // The example routes to namespace `archive`; this destination has `bar`, so a copy is edited.
      const path = module('route-set.mjs', (await import('node:fs')).readFileSync(example('route-set.js'), 'utf8').replace("const TO_NAMESPACE = 'archive';", "const TO_NAMESPACE = 'bar';"));
      await withModule(path, async (source) => {
        expect(await source.ship({ namespace: 'test', set: 'audit', key: `k-${tag}`, bins: { what: 'login' } }, { namespace: 'test', set: set('other'), key: 1, bins: { a: 'A' } })).toEqual([0, 0]);
        expect((await ctx.client.get(['bar', 'audit-test', `k-${tag}`])).bins).toEqual({ what: 'login' });
        expect(await ctx.client.exists(['test', 'audit', `k-${tag}`])).toBe(false);
        expect((await ctx.client.get(['test', set('other'), 1])).bins).toEqual({ a: 'A' });
        expect(await source.ship({ namespace: 'test', set: 'audit', key: `k-${tag}`, delete: true })).toEqual([0]);
        expect(await ctx.client.exists(['bar', 'audit-test', `k-${tag}`])).toBe(false);
      });
    });

    it('drop-old.js: a record last updated more than 30 days ago is skipped, a recent one written', async () => {
      await withModule(example('drop-old.js'), async (source, ferry) => {
        const day = 24 * 3600 * 1000;
        expect(await source.ship({ namespace: 'test', set: set('old'), key: 1, bins: { a: 'old' }, lutMs: Date.now() - 31 * day }, { namespace: 'test', set: set('old'), key: 2, bins: { a: 'new' }, lutMs: Date.now() - 29 * day })).toEqual([0, 0]);
        expect(await ctx.client.exists(['test', set('old'), 1])).toBe(false);
        expect((await ctx.client.get(['test', set('old'), 2])).bins).toEqual({ a: 'new' });
        expect(await ferry.metric('ferry_records_skipped_total{reason="transform"}')).toBe(1);
      });
    });
  });
});
