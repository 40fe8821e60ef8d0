import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { PartitionTable } from '../../src/dispatch/partition-table.js';

const ALL = Array.from({ length: 4096 }, (_, p) => p);

describe('PartitionTable', () => {
  it('accepts 1 to 255 workers', () => {
    for (const bad of [0, -1, 256, 1000]) expect(() => new PartitionTable(bad)).toThrow(RangeError);
    expect(new PartitionTable(1).workers).toBe(1);
    expect(new PartitionTable(255).workers).toBe(255);
  });

  it('sends every partition to worker 0 when there is one worker', () => {
    const t = new PartitionTable(1);
    expect(new Set(ALL.map((p) => t.workerFor(p)))).toEqual(new Set([0]));
  });

  it('deals partitions round-robin: evenly, and the same partition always to the same worker (fast-check)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 255 }), (workers) => {
        const t = new PartitionTable(workers);
        const owners = ALL.map((p) => t.workerFor(p));
        expect(owners).toEqual(ALL.map((p) => p % workers));
        expect(ALL.map((p) => t.workerFor(p))).toEqual(owners);
        const counts = new Array<number>(workers).fill(0);
        for (const w of owners) counts[w]!++;
        expect(Math.max(...counts) - Math.min(...counts)).toBeLessThanOrEqual(1);
      }),
      { numRuns: 100 },
    );
  });

  it('starts with every worker at work, or as many as it is told; setActive keeps to 1 … workers', () => {
    const one = new PartitionTable(4, 1);
    expect(one.active).toBe(1);
    expect(new Set(ALL.map((p) => one.workerFor(p)))).toEqual(new Set([0]));
    expect(one.moves).toBe(0);
    const t = new PartitionTable(4);
    expect(t.active).toBe(4);
    t.setActive(0);
    expect(t.active).toBe(1);
    t.setActive(9);
    expect(t.active).toBe(4);
  });

  it('a partition moves to its worker under the new count at its next record, when nothing of it is out', () => {
    const t = new PartitionTable(4);
    t.setActive(1);
    // Nothing out anywhere: every partition goes to worker 0 at once.
    expect(new Set(ALL.map((p) => t.workerFor(p)))).toEqual(new Set([0]));
    expect(t.moves).toBe(4096 - 1024);
    t.setActive(4);
    expect(ALL.map((p) => t.workerFor(p))).toEqual(ALL.map((p) => p % 4));
  });

  it('a partition with records out stays with its worker until the last one completes', () => {
    const t = new PartitionTable(3);
    const p = 5; // worker 2 of 3
    expect(t.workerFor(p)).toBe(2);
    t.out[p]! += 2;
    t.setActive(1);
    expect(t.workerFor(p)).toBe(2);
    t.out[p]!--;
    expect(t.workerFor(p)).toBe(2);
    t.out[p]!--;
    expect(t.workerFor(p)).toBe(0);
    // Others with nothing out moved at their first record.
    expect(t.workerFor(4)).toBe(0);
  });

  it('a dead worker has nothing out: its partitions may move', () => {
    const t = new PartitionTable(2);
    t.out[1] = 7; // worker 1's
    t.out[2] = 3; // worker 0's
    t.setActive(1);
    t.workerLost(1);
    expect(t.out[1]).toBe(0);
    expect(t.out[2]).toBe(3);
    expect(t.workerFor(1)).toBe(0);
  });

  it('whatever the counts do, a partition never has records out with two workers (fast-check)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.oneof(fc.record({ kind: fc.constant('active' as const), n: fc.integer({ min: 1, max: 4 }) }), fc.record({ kind: fc.constant('send' as const), p: fc.integer({ min: 0, max: 7 }) }), fc.record({ kind: fc.constant('done' as const), p: fc.integer({ min: 0, max: 7 }) })), { maxLength: 200 }),
        (steps) => {
          const t = new PartitionTable(4);
          // records out per partition, by the worker each went to
          const with_ = Array.from({ length: 8 }, () => new Map<number, number>());
          for (const s of steps) {
            if (s.kind === 'active') t.setActive(s.n);
            else if (s.kind === 'send') {
              const w = t.workerFor(s.p);
              t.out[s.p]!++;
              with_[s.p]!.set(w, (with_[s.p]!.get(w) ?? 0) + 1);
              expect(with_[s.p]!.size).toBe(1);
            } else {
              const [w, n] = [...with_[s.p]!][0] ?? [-1, 0];
              if (n === 0) continue;
              t.out[s.p]!--;
              if (n === 1) with_[s.p]!.delete(w);
              else with_[s.p]!.set(w, n - 1);
            }
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});
