import { describe, expect, it } from 'vitest';
import { SlabPool } from '../../src/dispatch/slab-pool.js';
import { FieldType, Info2, MessageType, PROTO_HEADER_SIZE, compressRecordMessage } from '../../src/protocol/index.js';
import { ArenaInflater } from '../../src/source/arena-inflater.js';
import { InFlightBudget } from '../../src/source/in-flight-budget.js';
import { Intake, type IntakeContext, type IntakeOwner, takeRecord } from '../../src/source/record-intake.js';
import { ReorderWindow } from '../../src/source/reorder-window.js';
import { SourceStats } from '../../src/source/source-stats.js';
import type { RecordRouter, SessionLimits } from '../../src/source/types.js';
import { newArenaBuffer } from '../../src/threads/index.js';
import { asMsgBody, fieldBytes, opBytes, protoMessage } from '../support/bytes.js';

/** A type-3 write of one 200-byte blob bin, its digest and value told apart by `i`. */
function record(i: number): Buffer {
  const fields = [fieldBytes(FieldType.Namespace, 'test'), fieldBytes(FieldType.Set, 'set'), fieldBytes(FieldType.Digest, Buffer.alloc(20, i))];
  return protoMessage(MessageType.Record, asMsgBody({ info2: Info2.Write }, fields, [opBytes(2, 4, 'b', Buffer.alloc(200, i))]));
}

/** What dispatch saw: where each record's body lay, and whether in the arena. */
interface Dispatched {
  inArena: boolean;
  start: number;
  body: Buffer;
}

function setup(): { limits: SessionLimits; ring: { room: boolean }; dispatched: Dispatched[]; take(msg: Buffer): Intake | string } {
  const pool = new SlabPool(newArenaBuffer(2), 1);
  const dispatched: Dispatched[] = [];
  const ring = { room: true };
  const router: RecordRouter = {
    arena: pool,
    workerFor: () => 0,
    fits: () => ring.room,
    dispatch(_worker, _partition, _connection, _seq, _epochMs, buf, start, end) {
      dispatched.push({ inArena: buf === pool.bytes, start, body: Buffer.from(buf.subarray(start, end)) });
    },
    publish() {},
    waitForRoom() {},
  };
  const limits: SessionLimits = { maxFrame: 1 << 20, maxInFlightPerConnection: 1024, paused: false, destinationDown: false, slowReaderMs: 10_000, recordLog: null, info: () => '' };
  const ctx: IntakeContext = { limits, router, budget: new InFlightBudget(1 << 20), stats: new SourceStats(), clock: { now: 0, epochMs: Date.now() }, inflater: new ArenaInflater(pool) };
  const owner: IntakeOwner = { id: 1, held: 0, tryResume() {} };
  const window = new ReorderWindow(1024);
  return {
    limits,
    ring,
    dispatched,
    take: (msg) => {
      const c = compressRecordMessage(msg);
      return takeRecord(ctx, owner, window, MessageType.Compressed, c, PROTO_HEADER_SIZE, c.length);
    },
  };
}

describe('takeRecord: compressed records and the arena', () => {
  it('a dispatched record lies in the arena, the next one after it', () => {
    const { dispatched, take } = setup();
    const [a, b] = [record(1), record(2)];
    expect(take(a)).toBe(Intake.Taken);
    expect(take(b)).toBe(Intake.Taken);
    expect(dispatched.map((d) => d.inArena)).toEqual([true, true]);
    expect(dispatched[0]!.body.equals(a.subarray(PROTO_HEADER_SIZE))).toBe(true);
    expect(dispatched[1]!.body.equals(b.subarray(PROTO_HEADER_SIZE))).toBe(true);
    expect(dispatched[1]!.start).toBe(dispatched[0]!.start + a.length);
  });

  it('held records (paused) take no room: the first record dispatched afterwards starts the slab', () => {
    const { limits, dispatched, take } = setup();
    limits.paused = true;
    for (let i = 0; i < 3; i++) expect(take(record(i))).toBe(Intake.Held);
    limits.paused = false;
    limits.destinationDown = true;
    expect(take(record(3))).toBe(Intake.Held);
    limits.destinationDown = false;
    expect(dispatched).toEqual([]);
    const m = record(4);
    expect(take(m)).toBe(Intake.Taken);
    expect(dispatched[0]!.start % (1 << 20)).toBe(PROTO_HEADER_SIZE);
    expect(dispatched[0]!.body.equals(m.subarray(PROTO_HEADER_SIZE))).toBe(true);
  });

  it('a record its ring has no room for leaves its place to the next message', () => {
    const { ring, dispatched, take } = setup();
    ring.room = false;
    expect(take(record(5))).toBe(Intake.NoRoom);
    ring.room = true;
    const m = record(6);
    expect(take(m)).toBe(Intake.Taken);
    expect(dispatched[0]!.start % (1 << 20)).toBe(PROTO_HEADER_SIZE);
    expect(dispatched[0]!.body.equals(m.subarray(PROTO_HEADER_SIZE))).toBe(true);
  });
});
