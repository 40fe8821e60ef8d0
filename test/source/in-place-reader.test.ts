import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { SlabPool } from '../../src/dispatch/slab-pool.js';
import { FrameError, type FrameSink } from '../../src/protocol/index.js';
import { InPlaceReader, MIN_READ } from '../../src/source/in-place-reader.js';
import { SLAB_BYTES, newArenaBuffer, slabOf } from '../../src/threads/index.js';

const SLABS = 4;
const MAX_BODY = 4 * SLAB_BYTES;
const BIG = 1.5 * SLAB_BYTES;

/** A small deterministic generator (mulberry32): uniform in [0, 1). */
function prng(seed: number): () => number {
  let a = seed | 0;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** An integer in [lo, hi]. */
function between(rnd: () => number, lo: number, hi: number): number {
  return lo + Math.floor(rnd() * (hi - lo + 1));
}

/** Random bytes that bodies are cut from (at random offsets, so that no two bodies line up). */
const RANDOM = (() => {
  const rnd = prng(0x5eed);
  const b = Buffer.alloc(2 * SLAB_BYTES + 4096);
  for (let i = 0; i < b.length; i += 4) b.writeUInt32LE(Math.floor(rnd() * 4294967296), i);
  return b;
})();

function header(version: number, type: number, length: number): Buffer {
  const h = Buffer.alloc(8);
  h[0] = version;
  h[1] = type;
  h.writeUIntBE(length, 2, 6);
  return h;
}

interface Msg {
  type: number;
  body: Buffer;
}

interface MsgSpec {
  type: number;
  size: number;
  at: number;
}

function build(spec: MsgSpec): Msg {
  const at = spec.at % (RANDOM.length - spec.size + 1);
  return { type: spec.type, body: RANDOM.subarray(at, at + spec.size) };
}

/** The wire bytes of `msgs`, and every offset where a header or a body ends. */
function wire(msgs: Msg[]): { stream: Buffer; cuts: number[] } {
  const parts: Buffer[] = [];
  const cuts: number[] = [];
  let pos = 0;
  for (const m of msgs) {
    parts.push(header(2, m.type, m.body.length), m.body);
    cuts.push(pos + 8, pos + 8 + m.body.length);
    pos += 8 + m.body.length;
  }
  return { stream: Buffer.concat(parts), cuts };
}

const sizeArb = fc.oneof(
  { arbitrary: fc.integer({ min: 0, max: 64 }), weight: 5 },
  { arbitrary: fc.integer({ min: 0, max: 300 * 1024 }), weight: 5 },
  // around the largest message a slab can hold together with a read's room
  { arbitrary: fc.integer({ min: SLAB_BYTES - MIN_READ - 40, max: SLAB_BYTES + 8 }), weight: 1 },
  { arbitrary: fc.constant(BIG), weight: 1 },
);

const msgArb: fc.Arbitrary<MsgSpec> = fc.record({
  type: fc.integer({ min: 1, max: 4 }),
  size: sizeArb,
  at: fc.nat(),
});

/**
 * How many bytes the next read takes, at most `max`: a few bytes, up to a header or body edge
 * (give or take one), or anything up to `max`.
 */
function readSize(rnd: () => number, max: number, pos: number, cuts: number[]): number {
  const mode = rnd();
  if (mode < 0.15) return between(rnd, 1, Math.min(16, max));
  if (mode < 0.4) {
    let i = 0;
    while (i < cuts.length && cuts[i]! <= pos) i++;
    const target = (cuts[i] ?? pos + max) + between(rnd, -1, 1) - pos;
    return Math.max(1, Math.min(max, target));
  }
  return between(rnd, 1, max);
}

/**
 * Checks each frame against the next expected message; refuses a frame when `refuse()` says so.
 * `onArena` sees every accepted frame that lies in the arena.
 */
class CheckingSink implements FrameSink {
  next = 0;
  fromArena = 0;
  fromOwn = 0;
  refused = 0;

  constructor(
    private readonly msgs: Msg[],
    private readonly pool: SlabPool,
    private readonly refuse: () => boolean,
    private readonly onArena: (start: number, end: number, body: Buffer) => void = () => {},
  ) {}

  onFrame(type: number, buf: Buffer, start: number, end: number): boolean {
    const m = this.msgs[this.next];
    if (m === undefined) throw new Error(`frame ${this.next} delivered, only ${this.msgs.length} sent`);
    if (type !== m.type) throw new Error(`frame ${this.next}: type ${type}, sent ${m.type}`);
    if (end - start !== m.body.length) throw new Error(`frame ${this.next}: ${end - start} bytes, sent ${m.body.length}`);
    if (Buffer.compare(buf.subarray(start, end), m.body) !== 0) throw new Error(`frame ${this.next}: body differs`);
    if (this.refuse()) {
      this.refused++;
      return false;
    }
    if (buf === this.pool.bytes) {
      // a message lies whole in one slab
      if (end > start && slabOf(start) !== slabOf(end - 1)) throw new Error(`frame ${this.next} straddles slabs: [${start}, ${end})`);
      this.fromArena++;
      this.onArena(start, end, m.body);
    } else {
      this.fromOwn++;
    }
    this.next++;
    return true;
  }
}

function sameBodies(got: Array<{ body: Buffer }>, msgs: Msg[]): boolean {
  return got.length === msgs.length && got.every((g, i) => g.body.equals(msgs[i]!.body));
}

function resumeAll(reader: InPlaceReader, sink: FrameSink): void {
  while (reader.paused) expect(reader.resume(sink)).toBe(FrameError.None);
}

/** One socket read: copy up to `n` bytes of `src` into the room readBuffer() offers. */
function readInto(reader: InPlaceReader, src: Buffer, sink: FrameSink): FrameError {
  const room = reader.readBuffer();
  const n = Math.min(room.length, src.length);
  room.set(src.subarray(0, n));
  return reader.received(n, sink);
}

/** Every message delivered and nothing left buffered; closing gives every slab back. Tallies the run. */
/** One property run's setup: a fresh arena, the messages on the wire, a reader and a sink refusing a quarter. */
function streamCase(specs: MsgSpec[], seed: number): { pool: SlabPool; rnd: () => number; msgs: Msg[]; stream: Buffer; cuts: number[]; reader: InPlaceReader; sink: CheckingSink } {
  const pool = new SlabPool(newArenaBuffer(SLABS), 1);
  const rnd = prng(seed);
  const msgs = specs.map(build);
  const { stream, cuts } = wire(msgs);
  const reader = new InPlaceReader(pool, MAX_BODY);
  const sink = new CheckingSink(msgs, pool, () => rnd() < 0.25);
  return { pool, rnd, msgs, stream, cuts, reader, sink };
}

function expectDrained(reader: InPlaceReader, sink: CheckingSink, messages: number, pool: SlabPool, seen: { fromArena: number; fromOwn: number; refused: number }): void {
  expect(sink.next).toBe(messages);
  expect(reader.bufferedBytes).toBe(0);
  reader.close();
  expect(pool.freeSlabs).toBe(SLABS);
  expect(pool.retired).toBe(0);
  seen.fromArena += sink.fromArena;
  seen.fromOwn += sink.fromOwn;
  seen.refused += sink.refused;
}

describe('InPlaceReader: framing', () => {
  const streamArb = fc.tuple(fc.array(msgArb, { minLength: 1, maxLength: 16 }), fc.integer());

  it('delivers every message once, in order, through socket reads into readBuffer()', () => {
    const seen = { fromArena: 0, fromOwn: 0, refused: 0, big: 0 };
    fc.assert(
      fc.property(streamArb, ([specs, seed]) => {
        const { pool, rnd, msgs, stream, cuts, reader, sink } = streamCase(specs, seed);
        const bigSeen: boolean[] = [];
        const checkBig = {
          onFrame(type: number, buf: Buffer, start: number, end: number): boolean {
            const i = sink.next;
            const ok = sink.onFrame(type, buf, start, end);
            // no slab holds a header and a body bigger than the slab
            if (ok && end - start > SLAB_BYTES - 8) bigSeen[i] = buf === pool.bytes;
            return ok;
          },
        };
        let pos = 0;
        while (pos < stream.length) {
          resumeAll(reader, checkBig);
          const room = reader.readBuffer();
          expect(room.length).toBeGreaterThanOrEqual(MIN_READ);
          const n = readSize(rnd, Math.min(room.length, stream.length - pos), pos, cuts);
          room.set(stream.subarray(pos, pos + n));
          pos += n;
          expect(reader.received(n, checkBig)).toBe(FrameError.None);
        }
        resumeAll(reader, checkBig);
        expect(bigSeen.filter((inArena) => inArena)).toEqual([]);
        expectDrained(reader, sink, msgs.length, pool, seen);
        seen.big += bigSeen.length;
      }),
      { numRuns: 40 },
    );
    // the runs framed in slabs and in the own buffer, refused frames, and carried bigger-than-slab messages
    expect(Object.values(seen).every((n) => n > 0)).toBe(true);
  });

  it('delivers every message once, in order, through push() of arbitrary chunks', () => {
    const seen = { fromArena: 0, fromOwn: 0, refused: 0 };
    fc.assert(
      fc.property(streamArb, ([specs, seed]) => {
        const { pool, rnd, msgs, stream, cuts, reader, sink } = streamCase(specs, seed);
        let pos = 0;
        while (pos < stream.length) {
          resumeAll(reader, sink);
          const n = readSize(rnd, Math.min(3 * MIN_READ, stream.length - pos), pos, cuts);
          expect(reader.push(stream.subarray(pos, pos + n), sink)).toBe(FrameError.None);
          pos += n;
        }
        resumeAll(reader, sink);
        expectDrained(reader, sink, msgs.length, pool, seen);
      }),
      { numRuns: 40 },
    );
    expect(Object.values(seen).every((n) => n > 0)).toBe(true);
  });

  it('a read that arrives while paused is framed, in order, only on resume()', () => {
    const pool = new SlabPool(newArenaBuffer(SLABS), 1);
    const msgs = [10, 0, 70_000, 5].map((size, i) => build({ type: 1 + (i % 4), size, at: 1000 * i }));
    const { stream } = wire(msgs);
    let refuse = true;
    const sink = new CheckingSink(msgs, pool, () => refuse);
    const reader = new InPlaceReader(pool, MAX_BODY);
    expect(readInto(reader, stream.subarray(0, 30), sink)).toBe(FrameError.None);
    expect(reader.paused).toBe(true);
    expect(sink.next).toBe(0);
    refuse = false;
    let pos = 30;
    while (pos < stream.length) {
      const room = reader.readBuffer();
      const n = Math.min(room.length, stream.length - pos);
      room.set(stream.subarray(pos, pos + n));
      pos += n;
      expect(reader.received(n, sink)).toBe(FrameError.None);
    }
    expect(sink.next).toBe(0);
    expect(reader.bufferedBytes).toBe(stream.length);
    expect(reader.resume(sink)).toBe(FrameError.None);
    expect(reader.paused).toBe(false);
    expect(sink.next).toBe(msgs.length);
    expect(reader.bufferedBytes).toBe(0);
  });

  it('a version-0 security message is accepted', () => {
    const pool = new SlabPool(newArenaBuffer(1), 1);
    const reader = new InPlaceReader(pool, MAX_BODY);
    const got: Array<[number, string]> = [];
    const sink = { onFrame: (type: number, buf: Buffer, start: number, end: number) => got.push([type, buf.toString('hex', start, end)]) > 0 };
    expect(readInto(reader, Buffer.concat([header(0, 2, 2), Buffer.from([0xaa, 0xbb])]), sink)).toBe(FrameError.None);
    expect(got).toEqual([[2, 'aabb']]);
  });
});

describe('InPlaceReader: where records are framed', () => {
  function collect(pool: SlabPool): { sink: FrameSink; got: Array<{ type: number; inArena: boolean; start: number; body: Buffer }> } {
    const got: Array<{ type: number; inArena: boolean; start: number; body: Buffer }> = [];
    return {
      got,
      sink: {
        onFrame(type, buf, start, end) {
          got.push({ type, inArena: buf === pool.bytes, start, body: Buffer.from(buf.subarray(start, end)) });
          return true;
        },
      },
    };
  }

  it('frames records in place in its slab: buf is the arena', () => {
    const pool = new SlabPool(newArenaBuffer(SLABS), 1);
    const reader = new InPlaceReader(pool, MAX_BODY);
    expect(reader.inArena).toBe(true);
    expect(pool.freeSlabs).toBe(SLABS - 1);
    const room = reader.readBuffer();
    expect(room.buffer).toBe(pool.bytes.buffer);
    // a fresh pool lends slab 0 first
    expect(room.byteOffset).toBe(0);
    expect(room.length).toBe(SLAB_BYTES);
    const msgs = [3, 0, 1000].map((size, i) => build({ type: 3, size, at: 77 * i }));
    const { stream } = wire(msgs);
    const { sink, got } = collect(pool);
    expect(readInto(reader, stream, sink)).toBe(FrameError.None);
    expect(got.map((g) => g.inArena)).toEqual([true, true, true]);
    expect(got.map((g) => g.start)).toEqual([8, 8 + 3 + 8, 8 + 3 + 8 + 8]);
    expect(sameBodies(got, msgs)).toBe(true);
    reader.close();
    expect(pool.freeSlabs).toBe(SLABS);
  });

  it('with no free slab, frames in its own buffer, and returns to the arena once one is free', () => {
    const pool = new SlabPool(newArenaBuffer(SLABS), 1);
    const held = Array.from({ length: SLABS }, () => pool.acquire());
    expect(pool.freeSlabs).toBe(0);
    const reader = new InPlaceReader(pool, MAX_BODY);
    expect(reader.inArena).toBe(false);
    expect(reader.readBuffer().buffer).not.toBe(pool.bytes.buffer);

    const msgs = Array.from({ length: 12 }, (_, i) => build({ type: 1 + (i % 4), size: i === 0 ? 0 : 60_000 + i, at: 3001 * i }));
    const { stream } = wire(msgs);
    const { sink, got } = collect(pool);
    let pos = 0;
    // the first few reads, while every slab is lent elsewhere
    for (let i = 0; i < 3; i++) {
      const room = reader.readBuffer();
      const n = Math.min(room.length, 50_000);
      room.set(stream.subarray(pos, pos + n));
      pos += n;
      expect(reader.received(n, sink)).toBe(FrameError.None);
    }
    expect(got.length).toBeGreaterThan(0);
    expect(got.every((g) => !g.inArena)).toBe(true);

    for (const s of held) pool.retire(s);
    expect(pool.freeSlabs).toBe(SLABS);
    while (pos < stream.length) {
      const room = reader.readBuffer();
      const n = Math.min(room.length, 50_000, stream.length - pos);
      room.set(stream.subarray(pos, pos + n));
      pos += n;
      expect(reader.received(n, sink)).toBe(FrameError.None);
    }
    expect(got.map((g) => g.type)).toEqual(msgs.map((m) => m.type));
    expect(sameBodies(got, msgs)).toBe(true);
    // the reader moved back into a slab once its own buffer ran short
    expect(reader.inArena).toBe(true);
    expect(got.at(-1)!.inArena).toBe(true);
    reader.close();
    expect(pool.freeSlabs).toBe(SLABS);
  });

  it('frames a message bigger than a slab in its own buffer, with room for all of it', () => {
    const pool = new SlabPool(newArenaBuffer(SLABS), 1);
    const reader = new InPlaceReader(pool, MAX_BODY);
    const msgs = [build({ type: 3, size: 100, at: 1 }), build({ type: 3, size: BIG, at: 2 }), build({ type: 4, size: 200, at: 3 })];
    const { stream } = wire(msgs);
    const { sink, got } = collect(pool);
    // the first message and the big one's header
    expect(readInto(reader, stream.subarray(0, 8 + 100 + 8), sink)).toBe(FrameError.None);
    const room = reader.readBuffer();
    expect(reader.inArena).toBe(false);
    expect(room.buffer).not.toBe(pool.bytes.buffer);
    expect(room.length).toBeGreaterThanOrEqual(BIG);
    // the slab it left is free again
    expect(pool.freeSlabs).toBe(SLABS);
    let pos = 8 + 100 + 8;
    while (pos < stream.length) {
      const r = reader.readBuffer();
      const n = Math.min(r.length, stream.length - pos);
      r.set(stream.subarray(pos, pos + n));
      pos += n;
      expect(reader.received(n, sink)).toBe(FrameError.None);
    }
    expect(got.map((g) => g.inArena)).toEqual([true, false, false]);
    expect(sameBodies(got, msgs)).toBe(true);
  });

  it('close() gives its slab back once, and afterwards reads land outside the arena', () => {
    const pool = new SlabPool(newArenaBuffer(2), 1);
    const reader = new InPlaceReader(pool, MAX_BODY);
    expect(pool.freeSlabs).toBe(1);
    reader.close();
    expect(pool.freeSlabs).toBe(2);
    reader.close();
    expect(pool.freeSlabs).toBe(2);
    expect(reader.inArena).toBe(false);
    expect(reader.readBuffer().buffer).not.toBe(pool.bytes.buffer);
    const frames: number[] = [];
    expect(reader.push(wire([build({ type: 3, size: 4, at: 0 })]).stream, { onFrame: (t) => frames.push(t) > 0 })).toBe(FrameError.None);
    expect(frames).toEqual([]);
  });

  it('a read after close() delivers nothing, even when its old slab holds another connection\'s message', () => {
    const pool = new SlabPool(newArenaBuffer(1), 1);
    const closed = new InPlaceReader(pool, MAX_BODY);
    const frames: string[] = [];
    const sink = { onFrame: (_t: number, buf: Buffer, start: number, end: number) => frames.push(buf.toString('hex', start, end)) > 0 };
    closed.close();
    // another connection gets the slab and reads a message into it
    const other = new InPlaceReader(pool, MAX_BODY);
    expect(other.inArena).toBe(true);
    const msg = wire([build({ type: 3, size: 16, at: 5 })]).stream;
    const otherFrames: number[] = [];
    expect(readInto(other, msg, { onFrame: (t) => otherFrames.push(t) > 0 })).toBe(FrameError.None);
    expect(otherFrames).toEqual([3]);
    // the closed connection's socket completes one more read
    const room = closed.readBuffer();
    room.fill(0);
    expect(closed.received(msg.length, sink)).toBe(FrameError.None);
    expect(frames).toEqual([]);
  });
});

describe('InPlaceReader: malformed streams', () => {
  const MAX = 1000;

  function failWith(bad: Buffer, expected: FrameError, split: number): void {
    const pool = new SlabPool(newArenaBuffer(2), 1);
    const reader = new InPlaceReader(pool, MAX);
    const good = wire([build({ type: 3, size: 20, at: 9 })]).stream;
    const stream = Buffer.concat([good, bad, good]);
    const types: number[] = [];
    const sink = { onFrame: (t: number) => types.push(t) > 0 };
    let err: FrameError = FrameError.None;
    let pos = 0;
    for (const cut of [split, stream.length]) {
      const room = reader.readBuffer();
      room.set(stream.subarray(pos, cut));
      err = reader.received(cut - pos, sink);
      pos = cut;
      if (cut < good.length + 8) expect(err).toBe(FrameError.None);
    }
    expect(err).toBe(expected);
    // only the message before the bad header
    expect(types).toEqual([3]);
    expect(reader.lastBadHeader).toEqual(bad.subarray(0, 8));
    // the error sticks
    expect(readInto(reader, good, sink)).toBe(expected);
    expect(reader.resume(sink)).toBe(expected);
    expect(types).toEqual([3]);
    reader.close();
    expect(pool.freeSlabs).toBe(2);
  }

  const cases: Array<[string, Buffer, FrameError]> = [
    ['version 1', header(1, 3, 4), FrameError.BadVersion],
    ['version 0 on a record', header(0, 3, 4), FrameError.BadVersion],
    ['version 3', header(3, 1, 0), FrameError.BadVersion],
    ['type 0', header(2, 0, 4), FrameError.BadType],
    ['type 5', header(2, 5, 4), FrameError.BadType],
    ['bad type and bad version', header(7, 9, 4), FrameError.BadType],
    ['one byte over the maximum', header(2, 3, MAX + 1), FrameError.TooLarge],
    ['a length in the high 16 bits', header(2, 3, 2 ** 32 + 1), FrameError.TooLarge],
    ['the largest u48 length', header(2, 4, 2 ** 48 - 1), FrameError.TooLarge],
  ];

  for (const [name, bad, expected] of cases) {
    it(`${name}: the error, with the header kept`, () => {
      const withBody = Buffer.concat([bad, Buffer.alloc(4, 0xee)]);
      // the header whole in one read, and split across two
      failWith(withBody, expected, 28 + 8 + 4);
      failWith(withBody, expected, 28 + 3);
      failWith(withBody, expected, 28);
    });
  }

  it('a message of exactly the maximum is accepted', () => {
    const pool = new SlabPool(newArenaBuffer(1), 1);
    const reader = new InPlaceReader(pool, MAX);
    const msgs = [build({ type: 3, size: MAX, at: 3 })];
    const sink = new CheckingSink(msgs, pool, () => false);
    expect(readInto(reader, wire(msgs).stream, sink)).toBe(FrameError.None);
    expect(sink.next).toBe(1);
    expect(reader.lastBadHeader).toBe(null);
  });

  it('push() reports the error too', () => {
    const pool = new SlabPool(newArenaBuffer(1), 1);
    const reader = new InPlaceReader(pool, MAX);
    const types: number[] = [];
    const bad = header(2, 6, 0);
    expect(reader.push(Buffer.concat([wire([build({ type: 1, size: 3, at: 0 })]).stream, bad]), { onFrame: (t) => types.push(t) > 0 })).toBe(FrameError.BadType);
    expect(types).toEqual([1]);
    expect(reader.lastBadHeader).toEqual(bad);
  });
});

describe('InPlaceReader: arena safety', () => {
  const LANES = 2;
  /** ring positions start just below the 2^31 wrap */
  const START = 2 ** 31 - 40;

  interface Outstanding {
    position: number;
    start: number;
    end: number;
    body: Buffer;
  }

  interface Lane {
    head: number;
    tail: number;
    records: Outstanding[];
  }

  function consume(pool: SlabPool, lane: Lane, to: number): void {
    while (lane.records.length > 0 && lane.records[0]!.position <= to) {
      const r = lane.records.shift()!;
      if (Buffer.compare(pool.bytes.subarray(r.start, r.end), r.body) !== 0) {
        throw new Error(`record at [${r.start}, ${r.end}) (position ${r.position}) was overwritten before its worker released it`);
      }
    }
    lane.tail = to;
  }

  const connArb = fc.array(msgArb, { minLength: 1, maxLength: 14 });

  it('never overwrites a byte a worker may still read, and frees every slab at the end', () => {
    // across the runs: records pinned, records framed outside the arena while it was exhausted,
    // slabs waiting on a worker, and arena reads checked against outstanding records
    const seen = { pinned: 0, fromOwn: 0, retired: 0, arenaReads: 0 };
    fc.assert(
      fc.property(connArb, connArb, fc.integer(), (specsA, specsB, seed) => {
        const pool = new SlabPool(newArenaBuffer(SLABS), LANES);
        const rnd = prng(seed);
        const lanes: Lane[] = Array.from({ length: LANES }, () => ({ head: START, tail: START, records: [] }));
        const tailOf = (lane: number): number => lanes[lane]!.tail | 0;
        const conns = [specsA, specsB].map((specs) => {
          const msgs = specs.map(build);
          const { stream, cuts } = wire(msgs);
          const reader = new InPlaceReader(pool, MAX_BODY);
          const sink = new CheckingSink(msgs, pool, () => rnd() < 0.15, (start, end, body) => {
            // dispatched by reference to a random lane
            const lane = lanes[between(rnd, 0, LANES - 1)]!;
            lane.head++;
            pool.pin(start, lanes.indexOf(lane), lane.head | 0);
            seen.pinned++;
            lane.records.push({ position: lane.head, start, end, body });
          });
          return { msgs, stream, cuts, reader, sink, pos: 0 };
        });
        const overlapsOutstanding = (from: number, to: number): boolean =>
          lanes.some((l) => l.records.some((r) => r.start < to && from < r.end));
        const accounted = (): void => {
          const open = conns.filter((c) => c.reader.inArena).length;
          expect(pool.freeSlabs + pool.retired + open).toBe(SLABS);
        };

        while (conns.some((c) => c.pos < c.stream.length)) {
          const action = rnd();
          if (action < 0.6) {
            const live = conns.filter((c) => c.pos < c.stream.length);
            const c = live[between(rnd, 0, live.length - 1)]!;
            resumeAll(c.reader, c.sink);
            const room = c.reader.readBuffer();
            if (room.buffer === pool.bytes.buffer) {
              const from = room.byteOffset - pool.bytes.byteOffset;
              expect(overlapsOutstanding(from, from + room.length)).toBe(false);
              seen.arenaReads++;
            }
            const n = readSize(rnd, Math.min(room.length, c.stream.length - c.pos), c.pos, c.cuts);
            room.set(c.stream.subarray(c.pos, c.pos + n));
            c.pos += n;
            expect(c.reader.received(n, c.sink)).toBe(FrameError.None);
          } else if (action < 0.9) {
            const lane = lanes[between(rnd, 0, LANES - 1)]!;
            consume(pool, lane, between(rnd, lane.tail, lane.head));
          } else {
            pool.reclaim(tailOf);
          }
          accounted();
          if (pool.retired > 0) seen.retired++;
        }
        for (const c of conns) {
          resumeAll(c.reader, c.sink);
          expect(c.sink.next).toBe(c.msgs.length);
          seen.fromOwn += c.sink.fromOwn;
        }
        for (const c of conns) c.reader.close();
        pool.reclaim(tailOf);
        accounted();
        for (const lane of lanes) consume(pool, lane, lane.head);
        pool.reclaim(tailOf);
        expect(pool.retired).toBe(0);
        expect(pool.freeSlabs).toBe(SLABS);
        // every slab can be lent again
        const again = Array.from({ length: SLABS }, () => pool.acquire()).sort();
        expect(again).toEqual([0, 1, 2, 3]);
      }),
      { numRuns: 40 },
    );
    expect(Object.values(seen).every((n) => n > 0)).toBe(true);
  });
});
