import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { NO_WORKER, PENDING, PREPARED, ReorderWindow } from '../../src/source/reorder-window.js';

const U32 = 2 ** 32;

/** A window whose next sequence is `start` (as if `start` requests had already come and gone). */
function windowAt(maxInFlight: number, start: number): ReorderWindow {
  const w = new ReorderWindow(maxInFlight);
  w.head = start;
  w.tail = start;
  return w;
}

function drained(w: ReorderWindow): Array<number | string> {
  const out: Array<number | string> = [];
  w.drain((code, prepared) => out.push(prepared === undefined ? code : `prepared:${prepared.toString()}`));
  return out;
}

/** Starting sequences worth trying: zero, just below the u32 wrap, anywhere. */
const startArb = fc.oneof(fc.constant(0), fc.integer({ min: U32 - 70, max: U32 - 1 }), fc.nat({ max: U32 - 1 }));

describe('ReorderWindow', () => {
  it('rounds its capacity up to a power of two, at least 16', () => {
    expect(new ReorderWindow(1).capacity).toBe(16);
    expect(new ReorderWindow(16).capacity).toBe(16);
    expect(new ReorderWindow(17).capacity).toBe(32);
    expect(new ReorderWindow(1000).capacity).toBe(1024);
  });

  it('numbers requests in arrival order and releases them in that order', () => {
    const w = new ReorderWindow(4);
    expect([w.open(1, 0), w.open(2, 1), w.open(3, 0)]).toEqual([0, 1, 2]);
    expect(w.size).toBe(3);
    expect(w.headReady()).toBe(false);
    expect(w.complete(2, 0)).toBe(true);
    expect(w.complete(1, 11)).toBe(true);
    expect(w.readyCount()).toBe(0);
    expect(drained(w)).toEqual([]);
    expect(w.complete(0, 2)).toBe(true);
    expect(w.headReady()).toBe(true);
    expect(w.readyCount()).toBe(3);
    expect(drained(w)).toEqual([2, 11, 0]);
    expect(w.size).toBe(0);
    expect(w.headReady()).toBe(false);
  });

  it('refuses a second answer and answers outside the window', () => {
    const w = new ReorderWindow(4);
    const a = w.open(0, 0);
    expect(w.complete(a, 0)).toBe(true);
    expect(w.complete(a, 11)).toBe(false);
    expect(w.complete(a + 1, 0)).toBe(false); // not opened yet
    expect(drained(w)).toEqual([0]);
    expect(w.complete(a, 0)).toBe(false); // already released
  });

  it('emits completions strictly in sequence order with their codes, whatever order they come in (fast-check)', () => {
    fc.assert(
      fc.property(
        startArb,
        fc
          .integer({ min: 1, max: 64 })
          .chain((n) =>
            fc.tuple(
              fc.shuffledSubarray([...Array(n).keys()], { minLength: n, maxLength: n }),
              fc.array(fc.integer({ min: 0, max: 255 }), { minLength: n, maxLength: n }),
            ),
          ),
        (start, [order, codes]) => {
          const n = order.length;
          const w = windowAt(64, start);
          const seqs = Array.from({ length: n }, (_, i) => w.open(i, i % 4));
          expect(seqs).toEqual(Array.from({ length: n }, (_, i) => (start + i) % U32));
          expect(w.size).toBe(n);
          const emitted: number[] = [];
          const done = new Set<number>();
          for (const i of order) {
            expect(w.complete(seqs[i]!, codes[i]!)).toBe(true);
            done.add(i);
            // What may leave: the completed run at the head.
            let run = emitted.length;
            while (done.has(run)) run++;
            expect(w.readyCount()).toBe(run - emitted.length);
            expect(w.headReady()).toBe(run > emitted.length);
            const before = emitted.length;
            const released = w.drain((code, prepared) => {
              expect(prepared).toBeUndefined();
              emitted.push(code);
            });
            expect(released).toBe(run - before);
            expect(emitted).toEqual(codes.slice(0, run));
            expect(w.size).toBe(n - run);
            expect(w.head).toBe((start + run) % U32);
          }
          expect(emitted).toEqual(codes);
          expect(w.size).toBe(0);
        },
      ),
      { numRuns: 500 },
    );
  });

  it('expire() answers only pending requests that arrived at or before the cutoff, oldest first (fast-check)', () => {
    fc.assert(
      fc.property(
        startArb,
        fc.array(fc.record({ gap: fc.integer({ min: 0, max: 5 }), done: fc.boolean(), code: fc.integer({ min: 0, max: 255 }) }), {
          minLength: 1,
          maxLength: 60,
        }),
        fc.integer({ min: -1, max: 320 }),
        (start, reqs, cutoff) => {
          const w = windowAt(64, start);
          let t = 0;
          const arrivals = reqs.map((r) => (t += r.gap));
          const seqs = arrivals.map((a) => w.open(a, 0));
          reqs.forEach((r, i) => {
            if (r.done) expect(w.complete(seqs[i]!, r.code)).toBe(true);
          });
          const expired = reqs.map((r, i) => !r.done && arrivals[i]! <= cutoff);
          expect(w.expire(cutoff, 9)).toBe(expired.filter(Boolean).length);
          // Late answers for expired requests are ignored.
          reqs.forEach((_r, i) => {
            if (expired[i]) expect(w.complete(seqs[i]!, 0)).toBe(false);
          });
          // Everything up to the first request still pending leaves, in order.
          const expectedCodes: number[] = [];
          for (let i = 0; i < reqs.length; i++) {
            const r = reqs[i]!;
            if (r.done) expectedCodes.push(r.code);
            else if (expired[i]) expectedCodes.push(9);
            else break;
          }
          expect(drained(w)).toEqual(expectedCodes);
        },
      ),
      { numRuns: 500 },
    );
  });

  it('expire() stops at the first request that arrived after the cutoff', () => {
    const w = new ReorderWindow(8);
    const a = w.open(10, 0);
    const b = w.open(20, 0);
    const c = w.open(30, 0);
    expect(w.expire(25, 9)).toBe(2);
    expect(w.complete(a, 0)).toBe(false);
    expect(w.complete(b, 0)).toBe(false);
    expect(w.complete(c, 0)).toBe(true);
    expect(drained(w)).toEqual([9, 9, 0]);
    expect(w.expire(1000, 9)).toBe(0);
  });

  it("failWorker() answers only that worker's pending requests (fast-check)", () => {
    fc.assert(
      fc.property(
        startArb,
        fc.array(fc.record({ worker: fc.integer({ min: 0, max: 3 }), done: fc.boolean() }), { minLength: 1, maxLength: 60 }),
        fc.integer({ min: 0, max: 3 }),
        (start, reqs, dead) => {
          const w = windowAt(64, start);
          const seqs = reqs.map((r, i) => w.open(i, r.worker));
          reqs.forEach((r, i) => {
            if (r.done) w.complete(seqs[i]!, 0);
          });
          const hit = reqs.map((r) => !r.done && r.worker === dead);
          expect(w.failWorker(dead, 11)).toBe(hit.filter(Boolean).length);
          // The failed ones are answered; every other pending one still takes an answer.
          reqs.forEach((r, i) => {
            expect(w.complete(seqs[i]!, 28)).toBe(!r.done && !hit[i]);
          });
          expect(drained(w)).toEqual(reqs.map((r, i) => (r.done ? 0 : hit[i] ? 11 : 28)));
        },
      ),
      { numRuns: 500 },
    );
  });

  it('failWorker() leaves requests without a worker (prepared replies) alone', () => {
    const w = new ReorderWindow(4);
    w.openPrepared(0, Buffer.from('login'));
    const r = w.open(0, 1);
    expect(w.failWorker(NO_WORKER, 11)).toBe(0);
    expect(w.failWorker(1, 11)).toBe(1);
    expect(w.complete(r, 0)).toBe(false);
    expect(drained(w)).toEqual(['prepared:login', 11]);
  });

  it('releases prepared replies at their turn, between record results', () => {
    const w = windowAt(16, U32 - 2);
    const a = w.open(0, 0);
    const p = w.openPrepared(0, Buffer.from('info-reply'));
    const b = w.open(0, 0);
    expect([a, p, b]).toEqual([U32 - 2, U32 - 1, 0]);
    expect(w.complete(p, 0)).toBe(false); // prepared: nothing to complete
    expect(w.complete(b, 2)).toBe(true);
    expect(drained(w)).toEqual([]);
    expect(w.complete(a, 0)).toBe(true);
    const seen: Array<[number, string | undefined]> = [];
    expect(w.drain((code, msg) => seen.push([code, msg?.toString()]))).toBe(3);
    expect(seen).toEqual([
      [0, undefined],
      [PREPARED, 'info-reply'],
      [2, undefined],
    ]);
  });

  describe('sequence wrap-around at 2^32', () => {
    it('numbers, completes, drains, expires and fails across the wrap', () => {
      const w = windowAt(16, U32 - 5);
      // arrival i, worker i % 2
      const seqs = Array.from({ length: 10 }, (_, i) => w.open(i, i % 2));
      expect(seqs).toEqual([U32 - 5, U32 - 4, U32 - 3, U32 - 2, U32 - 1, 0, 1, 2, 3, 4]);
      expect(w.size).toBe(10);
      expect(w.tail).toBe(5);
      // Outside the window on both sides.
      expect(w.complete(5, 0)).toBe(false);
      expect(w.complete(U32 - 6, 0)).toBe(false);
      // Complete across the wrap, out of order.
      expect(w.complete(0, 21)).toBe(true);
      expect(w.complete(U32 - 5, 20)).toBe(true);
      expect(drained(w)).toEqual([20]);
      expect(w.head).toBe(U32 - 4);
      // Worker 1 owns U32-4, U32-2, 0 (answered), 2 and 4.
      expect(w.failWorker(1, 11)).toBe(4);
      // Arrival ≤ 2: U32-3 is the only one still pending (U32-4 was answered by failWorker).
      expect(w.expire(2, 9)).toBe(1);
      expect(drained(w)).toEqual([11, 9, 11]);
      expect(w.head).toBe(U32 - 1);
      expect(w.complete(4, 0)).toBe(false); // failed already
      for (const s of [3, 1, U32 - 1]) expect(w.complete(s, 0)).toBe(true);
      expect(drained(w)).toEqual([0, 21, 0, 11, 0, 11]);
      expect(w.head).toBe(5);
      expect(w.size).toBe(0);
    });

    it('a late answer after expiry is ignored across the wrap', () => {
      const w = windowAt(16, U32 - 1);
      const a = w.open(0, 0);
      const b = w.open(0, 0);
      expect([a, b]).toEqual([U32 - 1, 0]);
      expect(w.expire(0, 9)).toBe(2);
      expect(w.complete(a, 0)).toBe(false);
      expect(w.complete(b, 0)).toBe(false);
      expect(drained(w)).toEqual([9, 9]);
      // Released: still ignored.
      expect(w.complete(b, 0)).toBe(false);
    });
  });

  it('a full window answers in order and can be reused many times over (fast-check)', () => {
    fc.assert(
      fc.property(startArb, fc.array(fc.integer({ min: 1, max: 16 }), { minLength: 1, maxLength: 30 }), (start, rounds) => {
        const w = windowAt(16, start);
        let next = start;
        for (const n of rounds) {
          const seqs = Array.from({ length: n }, () => w.open(0, 0));
          expect(seqs[0]).toBe(next);
          for (const s of [...seqs].reverse()) expect(w.complete(s, s & 0xff)).toBe(true);
          expect(drained(w)).toEqual(seqs.map((s) => s & 0xff));
          next = (next + n) % U32;
        }
        expect(w.head).toBe(next);
        expect(w.tail).toBe(next);
      }),
    );
  });

  it('keeps the pending and prepared markers apart from every result code', () => {
    expect(PENDING).toBeLessThan(0);
    expect(PREPARED).toBeLessThan(0);
    expect(PENDING).not.toBe(PREPARED);
  });
});
