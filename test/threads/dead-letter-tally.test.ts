/** The dead-letter tally a worker publishes and main reads for ferry_dead_letters_total. */

import { describe, expect, it } from 'vitest';
import { DeadLetterTallyWriter, SnapshotFormatError, deadLetterTallyCell, newDeadLetterTallyBuffer } from '../../src/threads/index.js';
import { Snapshot } from '../../src/threads/snapshot.js';

describe('DeadLetterTallyWriter', () => {
  it('counts by namespace and code, and publishes only what changed', () => {
    const sab = newDeadLetterTallyBuffer();
    const reader = deadLetterTallyCell(sab);
    const w = new DeadLetterTallyWriter(sab);
    w.publish();
    expect(reader.poll()).toBeUndefined();
    w.add('orders', 20);
    w.add('orders', 20);
    w.add('orders', 13);
    w.add('users', 22);
    w.publish();
    expect(reader.poll()).toEqual({ orders: { 20: 2, 13: 1 }, users: { 22: 1 } });
    w.publish();
    expect(reader.changed()).toBe(false);
  });

  it('a replacement worker goes on from the published tally', () => {
    const sab = newDeadLetterTallyBuffer();
    const first = new DeadLetterTallyWriter(sab);
    first.add('orders', 20);
    first.publish();
    const second = new DeadLetterTallyWriter(sab);
    second.add('orders', 20);
    second.publish();
    expect(deadLetterTallyCell(sab).poll()).toEqual({ orders: { 20: 2 } });
  });

  it('past 64 namespaces, the others count under (other)', () => {
    const sab = newDeadLetterTallyBuffer();
    const w = new DeadLetterTallyWriter(sab);
    for (let i = 0; i < 70; i++) w.add(`ns${i}`, 20);
    w.add('ns3', 20);
    w.publish();
    const tally = deadLetterTallyCell(sab).poll()!;
    expect(Object.keys(tally)).toHaveLength(65);
    expect(tally['(other)']).toEqual({ 20: 6 });
    expect(tally['ns3']).toEqual({ 20: 2 });
  });

  it('a value that is not a tally is reported, not used', () => {
    const sab = newDeadLetterTallyBuffer();
    new Snapshot(sab).write(new TextEncoder().encode('{"orders":{"x":1}}'));
    expect(() => deadLetterTallyCell(sab).poll()).toThrow(SnapshotFormatError);
  });
});
