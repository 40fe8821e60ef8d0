/**
 * Partition → worker: 4096 entries, so one record's changes always reach the same worker, in order.
 * Partitions are dealt round-robin, which spreads a uniform digest space evenly.
 */

const PARTITIONS = 4096;

export class PartitionTable {
  private readonly owner = new Uint8Array(PARTITIONS);

  constructor(readonly workers: number) {
    if (workers < 1 || workers > 255) throw new RangeError(`worker count must be 1–255, got ${workers}`);
    for (let p = 0; p < PARTITIONS; p++) this.owner[p] = p % workers;
  }

  workerFor(partition: number): number {
    return this.owner[partition]!;
  }
}
