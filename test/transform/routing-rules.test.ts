/**
 * End to end: the declarative rules (aerospike.routing, bin-transforms, namespaces, skip-sets and
 * namespace-mapping) applied by a Ferry process, each record checked at the destination with the
 * official client. One Ferry serves every case, each on sets of its own.
 */

import { describe, expect, it } from 'vitest';
import { useDestination } from '../support/destination.js';
import { testConfig } from '../support/ferry-process.js';
import { useFerryAndShipper } from '../support/xdr-ship.js';

const tag = `${process.pid}`;
const set = (name: string): string => `rr-${name}-${tag}`;

describe('routing and bin rules through Ferry', () => {
  const ctx = useDestination(['test', 'bar']);
  const f = useFerryAndShipper(() =>
    testConfig(ctx.dest, {
        aerospike: {
          'namespace-mapping': { origin: 'test' },
          'skip-sets': [set('dropped')],
          namespaces: {
            test: {
              sets: {
                [set('moved')]: { routing: { namespace: 'bar' } },
                [set('renamed')]: { routing: { set: set('landing') } },
                [set('skipped')]: { routing: { mode: 'skip' } },
                [set('include')]: { 'bin-transforms': { include: ['a', 'b'] } },
                [set('exclude')]: { 'bin-transforms': { exclude: ['secret'] } },
                [set('map')]: { 'bin-transforms': { map: { a: 'alpha' } } },
                [set('emptied')]: { 'bin-transforms': { include: ['zzz'] } },
                [set('all')]: { routing: { namespace: 'bar', set: set('all-landing') }, 'bin-transforms': { exclude: ['secret'], map: { a: 'alpha' } } },
              },
            },
          },
        },
      }),
  );

  it('mapping: a set routed to another namespace lands there and not in its own', async () => {
    expect(await f.source.ship({ namespace: 'test', set: set('moved'), key: 1, bins: { a: 'one', n: 7 } })).toEqual([0]);
    expect((await ctx.client.get(['bar', set('moved'), 1])).bins).toEqual({ a: 'one', n: 7 });
    expect(await ctx.client.exists(['test', set('moved'), 1])).toBe(false);
  });

  it('mapping: a set renamed is found by the new set and the same key (its digest is recomputed)', async () => {
    expect(await f.source.ship({ namespace: 'test', set: set('renamed'), key: 'k1', bins: { a: 'x' } })).toEqual([0]);
    expect((await ctx.client.get(['test', set('landing'), 'k1'])).bins).toEqual({ a: 'x' });
    expect(await ctx.client.exists(['test', set('renamed'), 'k1'])).toBe(false);
  });

  it('namespace-mapping still applies, with the rules beside it', async () => {
    expect(await f.source.ship({ namespace: 'origin', set: set('mapped'), key: 2, bins: { a: 'mapped' } })).toEqual([0]);
    expect((await ctx.client.get(['test', set('mapped'), 2])).bins).toEqual({ a: 'mapped' });
  });

  it('skip: answered done, nothing written, counted', async () => {
    const before = await f.ferry.metric('ferry_records_skipped_total{reason="routing"}');
    expect(await f.source.ship({ namespace: 'test', set: set('skipped'), key: 3, bins: { a: 'no' } }, { namespace: 'test', set: set('skipped'), key: 4, bins: { a: 'no' } })).toEqual([0, 0]);
    expect(await ctx.client.exists(['test', set('skipped'), 3])).toBe(false);
    expect(await ctx.client.exists(['test', set('skipped'), 4])).toBe(false);
    expect((await f.ferry.metric('ferry_records_skipped_total{reason="routing"}')) - before).toBe(2);
  });

  it('set drop: a set in skip-sets is answered done, not written, counted', async () => {
    expect(await f.source.ship({ namespace: 'test', set: set('dropped'), key: 5, bins: { a: 'no' } })).toEqual([0]);
    expect(await ctx.client.exists(['test', set('dropped'), 5])).toBe(false);
    expect(await f.ferry.metric('ferry_records_skipped_total{reason="skip-set"}')).toBe(1);
  });

  it('include: only the listed bins are written', async () => {
    expect(await f.source.ship({ namespace: 'test', set: set('include'), key: 6, bins: { a: 'A', b: 2, c: 'C', d: 4 } })).toEqual([0]);
    expect((await ctx.client.get(['test', set('include'), 6])).bins).toEqual({ a: 'A', b: 2 });
  });

  it('exclude: the listed bins are not written', async () => {
    expect(await f.source.ship({ namespace: 'test', set: set('exclude'), key: 7, bins: { a: 'A', secret: 'hush', n: 1 } })).toEqual([0]);
    expect((await ctx.client.get(['test', set('exclude'), 7])).bins).toEqual({ a: 'A', n: 1 });
  });

  it('rename: a mapped bin is written under its new name', async () => {
    expect(await f.source.ship({ namespace: 'test', set: set('map'), key: 8, bins: { a: 'A', b: 'B' } })).toEqual([0]);
    expect((await ctx.client.get(['test', set('map'), 8])).bins).toEqual({ alpha: 'A', b: 'B' });
  });

  it('a write left without bins is answered done and not written', async () => {
    expect(await f.source.ship({ namespace: 'test', set: set('emptied'), key: 9, bins: { a: 'A' } })).toEqual([0]);
    expect(await ctx.client.exists(['test', set('emptied'), 9])).toBe(false);
    expect(await f.ferry.metric('ferry_records_skipped_total{reason="no-bins"}')).toBe(1);
  });

  it('all at once: namespace, set and bins', async () => {
    expect(await f.source.ship({ namespace: 'test', set: set('all'), key: 10, bins: { a: 'A', secret: 's', z: 26 } })).toEqual([0]);
    expect((await ctx.client.get(['bar', set('all-landing'), 10])).bins).toEqual({ alpha: 'A', z: 26 });
  });

  it('deletes follow the same routing: a delete of a moved, renamed record removes it where it went', async () => {
    expect(await f.source.ship({ namespace: 'test', set: set('all'), key: 11, bins: { a: 'A' } })).toEqual([0]);
    expect(await ctx.client.exists(['bar', set('all-landing'), 11])).toBe(true);
    expect(await f.source.ship({ namespace: 'test', set: set('all'), key: 11, delete: true })).toEqual([0]);
    expect(await ctx.client.exists(['bar', set('all-landing'), 11])).toBe(false);
    // A skipped set's delete is skipped too.
    expect(await f.source.ship({ namespace: 'test', set: set('skipped'), key: 3, delete: true })).toEqual([0]);
  });
});
