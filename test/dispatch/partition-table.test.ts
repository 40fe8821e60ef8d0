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
});
