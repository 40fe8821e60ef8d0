import { describe, expect, it } from 'vitest';
import { SlabPool } from '../../src/dispatch/slab-pool.js';
import { SLAB_BYTES, newArenaBuffer } from '../../src/threads/index.js';

/** An arena offset inside slab `s` (anywhere in it). */
function inSlab(s: number, at = 100): number {
  return s * SLAB_BYTES + at;
}

/** A tail function for `lanes` lanes, read from the array at each reclaim. */
function tails(values: number[]): (lane: number) => number {
  return (lane) => values[lane]!;
}

describe('SlabPool', () => {
  it('exposes the whole arena as one Buffer over the shared memory', () => {
    const sab = newArenaBuffer(3);
    const pool = new SlabPool(sab, 1);
    expect(pool.slabBytes).toBe(SLAB_BYTES);
    expect(pool.bytes.length).toBe(3 * SLAB_BYTES);
    expect(pool.bytes.buffer).toBe(sab);
    pool.bytes[inSlab(2, 5)] = 0xab;
    expect(new Uint8Array(sab)[inSlab(2, 5)]).toBe(0xab);
    expect(pool.freeSlabs).toBe(3);
    expect(pool.retired).toBe(0);
  });

  it('lends slabs from the low end first and returns -1 once none is free', () => {
    const pool = new SlabPool(newArenaBuffer(4), 1);
    expect([pool.acquire(), pool.acquire(), pool.acquire(), pool.acquire()]).toEqual([0, 1, 2, 3]);
    expect(pool.freeSlabs).toBe(0);
    expect(pool.acquire()).toBe(-1);
    expect(pool.acquire()).toBe(-1);
  });

  it('reuses free slabs last in, first out', () => {
    const pool = new SlabPool(newArenaBuffer(4), 1);
    for (let i = 0; i < 4; i++) pool.acquire();
    pool.retire(2);
    pool.retire(0);
    pool.retire(3);
    expect(pool.freeSlabs).toBe(3);
    expect(pool.acquire()).toBe(3);
    expect(pool.acquire()).toBe(0);
    pool.retire(3);
    expect(pool.acquire()).toBe(3);
    expect(pool.acquire()).toBe(2);
    expect(pool.acquire()).toBe(-1);
  });

  it('frees an unpinned slab as soon as it is retired', () => {
    const pool = new SlabPool(newArenaBuffer(2), 2);
    const s = pool.acquire();
    expect(pool.freeSlabs).toBe(1);
    pool.retire(s);
    expect(pool.freeSlabs).toBe(2);
    expect(pool.retired).toBe(0);
    expect(pool.acquire()).toBe(s);
  });

  it('holds a pinned retired slab until every pinning lane has passed its last pin', () => {
    const pool = new SlabPool(newArenaBuffer(3), 2);
    const s = pool.acquire();
    const other = pool.acquire();
    pool.pin(inSlab(s, 0), 0, 10);
    pool.pin(inSlab(s, 500), 1, 20);
    pool.pin(inSlab(s, SLAB_BYTES - 1), 1, 25);
    // A pin in another slab does not hold this one.
    pool.pin(inSlab(other), 0, 1000);
    pool.retire(s);
    expect(pool.retired).toBe(1);
    expect(pool.freeSlabs).toBe(1);

    pool.reclaim(tails([9, 24]));
    expect(pool.retired).toBe(1);
    pool.reclaim(tails([10, 24]));
    expect(pool.retired).toBe(1);
    expect(pool.freeSlabs).toBe(1);
    // lane 0 was unpinned by the previous reclaim; lane 1 now passes its later pin
    pool.reclaim(tails([0, 25]));
    expect(pool.retired).toBe(0);
    expect(pool.freeSlabs).toBe(2);
    expect(pool.acquire()).toBe(s);

    // `other` is still pinned by lane 0 up to 1000
    pool.retire(other);
    expect(pool.retired).toBe(1);
    pool.reclaim(tails([999, 5000]));
    expect(pool.retired).toBe(1);
    pool.reclaim(tails([1001, 0]));
    expect(pool.retired).toBe(0);
    expect(pool.freeSlabs).toBe(2);
  });

  it('a later pin by the same lane moves its end forward', () => {
    const pool = new SlabPool(newArenaBuffer(1), 1);
    const s = pool.acquire();
    pool.pin(inSlab(s, 10), 0, 5);
    pool.pin(inSlab(s, 20), 0, 9);
    pool.retire(s);
    pool.reclaim(tails([5]));
    expect(pool.retired).toBe(1);
    expect(pool.acquire()).toBe(-1);
    pool.reclaim(tails([9]));
    expect(pool.retired).toBe(0);
    expect(pool.acquire()).toBe(s);
  });

  it('a slab whose pins are released while still open is freed when retired', () => {
    const pool = new SlabPool(newArenaBuffer(2), 2);
    const s = pool.acquire();
    pool.pin(inSlab(s), 0, 3);
    pool.pin(inSlab(s), 1, 4);
    pool.reclaim(tails([3, 4]));
    expect(pool.retired).toBe(0);
    expect(pool.freeSlabs).toBe(1);
    pool.retire(s);
    expect(pool.retired).toBe(0);
    expect(pool.freeSlabs).toBe(2);
  });

  it('a slab pinned again after a reclaim waits for the new pin', () => {
    const pool = new SlabPool(newArenaBuffer(1), 1);
    const s = pool.acquire();
    pool.pin(inSlab(s), 0, 3);
    pool.reclaim(tails([3]));
    pool.pin(inSlab(s, 64), 0, 7);
    pool.retire(s);
    expect(pool.retired).toBe(1);
    pool.reclaim(tails([6]));
    expect(pool.retired).toBe(1);
    pool.reclaim(tails([7]));
    expect(pool.retired).toBe(0);
    expect(pool.freeSlabs).toBe(1);
  });

  it('compares ring positions as signed 32-bit numbers across the 2^31 wrap', () => {
    const pool = new SlabPool(newArenaBuffer(1), 1);
    const s = pool.acquire();
    const end = (2 ** 31 + 2) | 0; // negative once stored in 32 bits
    expect(end).toBeLessThan(0);
    pool.pin(inSlab(s), 0, end);
    pool.retire(s);
    pool.reclaim(tails([2 ** 31 - 1]));
    expect(pool.retired).toBe(1);
    pool.reclaim(tails([(2 ** 31 + 1) | 0]));
    expect(pool.retired).toBe(1);
    pool.reclaim(tails([end]));
    expect(pool.retired).toBe(0);
    expect(pool.freeSlabs).toBe(1);
  });

  it('compares ring positions across the 2^32 wrap, given signed or unsigned', () => {
    for (const [pinEnd, before, after] of [
      // signed: -1 is 2^32 - 1
      [-3, -4, 2],
      // unsigned values just below and past 2^32
      [2 ** 32 - 3, 2 ** 32 - 4, 2 ** 32 + 2],
      // an unsigned pin end, signed tails
      [2 ** 32 - 1, -2, 0],
      // a signed pin end, unsigned tails
      [-1, 2 ** 32 - 2, 2 ** 32 - 1],
    ] as const) {
      const pool = new SlabPool(newArenaBuffer(1), 1);
      const s = pool.acquire();
      pool.pin(inSlab(s), 0, pinEnd);
      pool.retire(s);
      pool.reclaim(tails([before]));
      expect(pool.retired, `pin ${pinEnd}, tail ${before}`).toBe(1);
      pool.reclaim(tails([after]));
      expect(pool.retired, `pin ${pinEnd}, tail ${after}`).toBe(0);
      expect(pool.freeSlabs).toBe(1);
    }
  });

  it('dropLane unpins every slab of that lane only', () => {
    const pool = new SlabPool(newArenaBuffer(3), 2);
    const a = pool.acquire();
    const b = pool.acquire();
    pool.pin(inSlab(a), 0, 10);
    pool.pin(inSlab(a), 1, 10);
    pool.pin(inSlab(b), 0, 11);
    pool.retire(a);
    pool.retire(b);
    expect(pool.retired).toBe(2);
    pool.dropLane(0);
    // b was pinned by lane 0 only; a is still pinned by lane 1
    expect(pool.retired).toBe(1);
    expect(pool.freeSlabs).toBe(2);
    expect(pool.acquire()).toBe(b);
    pool.dropLane(0);
    expect(pool.retired).toBe(1);
    pool.dropLane(1);
    expect(pool.retired).toBe(0);
    expect(pool.acquire()).toBe(a);
  });

  it('after dropLane, a reclaim with a stale tail does not unpin another lane twice', () => {
    const pool = new SlabPool(newArenaBuffer(1), 2);
    const s = pool.acquire();
    pool.pin(inSlab(s), 0, 10);
    pool.pin(inSlab(s), 1, 10);
    pool.dropLane(0);
    pool.retire(s);
    pool.reclaim(tails([100, 9]));
    expect(pool.retired).toBe(1);
    pool.reclaim(tails([100, 10]));
    expect(pool.retired).toBe(0);
    expect(pool.freeSlabs).toBe(1);
  });

  it('throws when a slab that is not lent is retired', () => {
    const pool = new SlabPool(newArenaBuffer(2), 1);
    expect(() => pool.retire(0)).toThrow(/not lent/);
    const s = pool.acquire();
    pool.retire(s);
    expect(() => pool.retire(s)).toThrow(/not lent/);
    const t = pool.acquire();
    pool.pin(inSlab(t), 0, 1);
    pool.retire(t);
    // retired and waiting: not lent either
    expect(() => pool.retire(t)).toThrow(/not lent/);
    expect(pool.retired).toBe(1);
    expect(pool.freeSlabs).toBe(1);
  });

  describe('the jumbo run at the end of the arena', () => {
    // 3 slabs for connections, then a run of 2.
    const arena = (): SlabPool => new SlabPool(newArenaBuffer(5), 2, 2);

    it('is never lent to a connection, nor counted among the slabs', () => {
      const pool = arena();
      expect(pool.total).toBe(3);
      expect(pool.freeSlabs).toBe(3);
      expect([pool.acquire(), pool.acquire(), pool.acquire(), pool.acquire()]).toEqual([0, 1, 2, -1]);
      expect(pool.jumboFree).toBe(true);
    });

    it('is lent to one record at a time and freed once every lane that pinned it is past it', () => {
      const pool = arena();
      const where = pool.acquireJumbo();
      expect(where).toBe(3 * SLAB_BYTES);
      expect(pool.acquireJumbo()).toBe(-1);
      // A record anywhere in the run pins the run, not the slab its offset falls in.
      pool.pin(where + SLAB_BYTES + 10, 1, 500);
      pool.retireJumbo();
      expect(pool.waiting).toBe(true);
      expect(pool.retired).toBe(0);
      expect(pool.jumboFree).toBe(false);
      pool.reclaim(tails([1000, 499]));
      expect(pool.jumboFree).toBe(false);
      pool.reclaim(tails([1000, 500]));
      expect(pool.jumboFree).toBe(true);
      expect(pool.waiting).toBe(false);
      expect(pool.acquireJumbo()).toBe(where);
      // Retired unpinned (its record was never written): free at once.
      pool.retireJumbo();
      expect(pool.jumboFree).toBe(true);
      expect(pool.freeSlabs).toBe(3);
    });

    it('is given back when the lane pinning it is dropped (its worker died)', () => {
      const pool = arena();
      pool.pin(pool.acquireJumbo(), 0, 64);
      pool.retireJumbo();
      pool.dropLane(0);
      expect(pool.jumboFree).toBe(true);
    });

    it('an arena without one never lends it', () => {
      const pool = new SlabPool(newArenaBuffer(2), 1);
      expect(pool.jumboFree).toBe(false);
      expect(pool.acquireJumbo()).toBe(-1);
      expect(() => new SlabPool(newArenaBuffer(2), 1, 2)).toThrow(RangeError);
    });
  });
});
