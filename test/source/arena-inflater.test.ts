import { deflateSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { SlabPool } from '../../src/dispatch/slab-pool.js';
import { InflateError, compressRecordMessage } from '../../src/protocol/index.js';
import { ArenaInflater, type Inflated } from '../../src/source/arena-inflater.js';
import { SLAB_BYTES, newArenaBuffer, slabOf } from '../../src/threads/index.js';
import { ByteList, protoMessage } from '../support/bytes.js';

const MAX = 4 * SLAB_BYTES;

/** A type-3 message of `size` body bytes, each message's bytes told apart by `seed`. */
function message(size: number, seed: number): Buffer {
  const body = Buffer.alloc(size);
  for (let i = 0; i < size; i++) body[i] = (seed * 31 + i * 7) & 0xff;
  return protoMessage(3, body);
}

function inflate(inflater: ArenaInflater, msg: Buffer): { err: InflateError; out: Inflated } {
  const c = compressRecordMessage(msg);
  const out: Inflated = { bytes: Buffer.alloc(0), start: 0, end: 0 };
  return { err: inflater.inflate(c, 8, c.length, MAX, out), out };
}

function bytesOf(out: Inflated): Buffer {
  return out.bytes.subarray(out.start, out.end);
}

describe('ArenaInflater', () => {
  it('inflates into a slab of the arena; keep() puts the next message after the last, otherwise it reuses the place', () => {
    const pool = new SlabPool(newArenaBuffer(3), 1);
    const inflater = new ArenaInflater(pool);
    const a = message(300, 1);
    const first = inflate(inflater, a);
    expect(first.err).toBe(InflateError.None);
    expect(first.out.bytes).toBe(pool.bytes);
    expect(bytesOf(first.out).equals(a)).toBe(true);
    expect(pool.freeSlabs).toBe(2);
    const at = first.out.start;
    // Not kept (refused, say): the next message lands in the same place.
    const b = message(200, 2);
    const second = inflate(inflater, b);
    expect(second.out.start).toBe(at);
    expect(bytesOf(second.out).equals(b)).toBe(true);
    inflater.keep();
    const c = message(250, 3);
    const third = inflate(inflater, c);
    expect(third.out.start).toBe(at + b.length);
    inflater.keep();
    expect(pool.bytes.subarray(at, at + b.length).equals(b)).toBe(true);
    expect(bytesOf(third.out).equals(c)).toBe(true);
    inflater.close();
    expect(pool.freeSlabs).toBe(3);
  });

  it('moves to a fresh slab when one is full, retiring the old one; a pinned slab keeps its records untouched', () => {
    const pool = new SlabPool(newArenaBuffer(3), 1);
    const inflater = new ArenaInflater(pool);
    const kept: Inflated[] = [];
    const messages: Buffer[] = [];
    let firstSlab = -1;
    for (let i = 0; kept.length < 2 || slabOf(kept.at(-1)!.start) === firstSlab; i++) {
      const m = message(4000 + (i % 7) * 100, i);
      const { err, out } = inflate(inflater, m);
      expect(err).toBe(InflateError.None);
      expect(out.bytes).toBe(pool.bytes);
      if (firstSlab < 0) {
        firstSlab = slabOf(out.start);
        // a worker still has a record in it
        pool.pin(out.start, 0, 1);
      }
      kept.push({ ...out });
      messages.push(m);
      inflater.keep();
      if (i > 1000) throw new Error('never moved on');
    }
    // The last message went to another slab; the first is retired, not free, while it is pinned.
    expect(slabOf(kept.at(-1)!.start)).not.toBe(firstSlab);
    expect(pool.retired).toBe(1);
    for (let i = 0; i < 50; i++) {
      inflate(inflater, message(3000, 1000 + i));
      inflater.keep();
    }
    kept.forEach((k, i) => expect(bytesOf(k).equals(messages[i]!)).toBe(true));
    for (const k of kept) expect(k.end - k.start).toBeLessThan(SLAB_BYTES);
    // Once the worker is past it, the retired slab is free again.
    pool.reclaim(() => 1);
    expect(pool.retired).toBe(0);
    inflater.close();
    expect(pool.freeSlabs).toBe(3);
  });

  it('with no free slab, inflates into its own buffer; and returns to the arena once one is free', () => {
    const pool = new SlabPool(newArenaBuffer(2), 1);
    const held = [pool.acquire(), pool.acquire()];
    const inflater = new ArenaInflater(pool);
    const m = message(300, 9);
    const own = inflate(inflater, m);
    expect(own.err).toBe(InflateError.None);
    expect(own.out.bytes).not.toBe(pool.bytes);
    expect(bytesOf(own.out).equals(m)).toBe(true);
    inflater.keep();
    pool.retire(held[0]!);
    const back = inflate(inflater, m);
    expect(back.out.bytes).toBe(pool.bytes);
    expect(bytesOf(back.out).equals(m)).toBe(true);
    inflater.close();
    pool.retire(held[1]!);
    expect(pool.freeSlabs).toBe(2);
  });

  it('a message bigger than a slab goes to its own buffer', () => {
    const pool = new SlabPool(newArenaBuffer(2), 1);
    const inflater = new ArenaInflater(pool);
    const m = message(SLAB_BYTES, 4);
    const { err, out } = inflate(inflater, m);
    expect(err).toBe(InflateError.None);
    expect(out.bytes).not.toBe(pool.bytes);
    expect(bytesOf(out).equals(m)).toBe(true);
    expect(pool.freeSlabs).toBe(2);
  });

  it('reports a bad message and leaves its place to the next one', () => {
    const pool = new SlabPool(newArenaBuffer(2), 1);
    const inflater = new ArenaInflater(pool);
    const good = message(300, 5);
    const out: Inflated = { bytes: Buffer.alloc(0), start: 0, end: 0 };
    const bad = new ByteList().u64(BigInt(good.length)).bytes(Buffer.from('not zlib at all')).join();
    expect(inflater.inflate(bad, 0, bad.length, MAX, out)).toBe(InflateError.BadStream);
    inflater.keep();
    const tooLarge = new ByteList().u64(BigInt(MAX + 1)).bytes(deflateSync(good)).join();
    expect(inflater.inflate(tooLarge, 0, tooLarge.length, MAX, out)).toBe(InflateError.TooLarge);
    const { err, out: after } = inflate(inflater, good);
    expect(err).toBe(InflateError.None);
    expect(after.start).toBe(0);
    expect(bytesOf(after).equals(good)).toBe(true);
  });

  it('after close(), gives nothing more to the arena', () => {
    const pool = new SlabPool(newArenaBuffer(2), 1);
    const inflater = new ArenaInflater(pool);
    inflate(inflater, message(100, 6));
    inflater.keep();
    inflater.close();
    inflater.close();
    expect(pool.freeSlabs).toBe(2);
    const m = message(100, 7);
    const { err, out } = inflate(inflater, m);
    expect(err).toBe(InflateError.None);
    expect(out.bytes).not.toBe(pool.bytes);
    expect(bytesOf(out).equals(m)).toBe(true);
    expect(pool.freeSlabs).toBe(2);
  });
});
