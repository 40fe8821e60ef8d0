import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { RingReader, RingWriter, newDoorbell, newRingBuffer, ringBytes } from '../../src/threads/ring.js';

/** Control words as documented at the top of ring.ts (Int32 indexes). */
const HEAD = 0;
const SLEEPING = 8;
const TAIL = 16;
const CONTROL_BYTES = 128;

function control(sab: SharedArrayBuffer): Int32Array {
  return new Int32Array(sab, 0, CONTROL_BYTES / 4);
}

/** A ring whose positions start at `start` (as if `start` bytes had already passed through). */
function ringAt(capacity: number, start: number, workingSet = capacity): { sab: SharedArrayBuffer; writer: RingWriter; reader: RingReader } {
  const sab = newRingBuffer(capacity);
  const c = control(sab);
  c[HEAD] = start | 0;
  c[TAIL] = start | 0;
  return { sab, writer: new RingWriter(sab, undefined, workingSet), reader: new RingReader(sab) };
}

function write(writer: RingWriter, payload: Uint8Array): number {
  const at = writer.reserve(payload.length);
  if (at >= 0) writer.data.set(payload, at);
  return at;
}

/** Read every published record (peek/lengthAt/next), without releasing. */
function readAll(reader: RingReader): Buffer[] {
  const out: Buffer[] = [];
  for (let at = reader.peek(); at >= 0; at = reader.peek()) {
    out.push(Buffer.from(reader.data.subarray(at, at + reader.lengthAt(at))));
    reader.next(at);
  }
  return out;
}

describe('ring geometry', () => {
  it('wants a power-of-two capacity of at least 64 bytes', () => {
    expect(ringBytes(64)).toBe(CONTROL_BYTES + 64);
    expect(ringBytes(1 << 20)).toBe(CONTROL_BYTES + (1 << 20));
    for (const bad of [0, 32, 63, 65, 100, 3000]) expect(() => ringBytes(bad)).toThrow(RangeError);
    expect(() => new RingWriter(new SharedArrayBuffer(CONTROL_BYTES + 100))).toThrow(RangeError);
    expect(() => new RingReader(new SharedArrayBuffer(CONTROL_BYTES + 32))).toThrow(RangeError);
  });

  it('exposes the data area after the 128 control bytes', () => {
    const sab = newRingBuffer(64);
    const writer = new RingWriter(sab);
    expect(writer.capacity).toBe(64);
    expect(writer.data.byteOffset).toBe(CONTROL_BYTES);
    expect(writer.data.length).toBe(64);
    expect(writer.words.length).toBe(16);
  });
});

describe('ring: single thread', () => {
  it('fills to exactly the capacity, and a record larger than the data area never fits', () => {
    const { writer, reader } = ringAt(64, 0);
    expect(writer.fits(61)).toBe(false);
    expect(writer.reserve(61)).toBe(-1);
    expect(write(writer, Buffer.alloc(60, 1))).toBe(4);
    expect(writer.fits(0)).toBe(false);
    expect(writer.reserve(0)).toBe(-1);
    writer.publish();
    expect(writer.used()).toBe(64);
    expect(readAll(reader)).toEqual([Buffer.alloc(60, 1)]);
    // Read but not released: still full for the producer.
    expect(writer.reserve(0)).toBe(-1);
    reader.release();
    expect(writer.used()).toBe(0);
    expect(write(writer, Buffer.alloc(0))).toBe(4);
  });

  it('pads records to 4 bytes and wraps a record that would cross the end', () => {
    const { writer, reader } = ringAt(64, 0);
    expect(write(writer, Buffer.from('abcde'))).toBe(4); // 4 + 8 bytes
    expect(write(writer, Buffer.alloc(30, 2))).toBe(16); // 4 + 32 bytes, ends at 48
    writer.publish();
    expect(readAll(reader)).toEqual([Buffer.from('abcde'), Buffer.alloc(30, 2)]);
    reader.release();
    // 16 bytes left before the end; 24 needed: the rest is skipped and the record starts at 0.
    expect(write(writer, Buffer.alloc(20, 3))).toBe(4);
    writer.publish();
    expect(writer.used()).toBe(16 + 24);
    expect(reader.peek()).toBe(4);
    expect(reader.lengthAt(4)).toBe(20);
    expect(readAll(reader)).toEqual([Buffer.alloc(20, 3)]);
    reader.release();
    expect(writer.used()).toBe(0);
  });

  it('refuses a wrapping record when the skipped end and the record together do not fit', () => {
    const { writer, reader } = ringAt(64, 0);
    write(writer, Buffer.alloc(44)); // 48 bytes
    writer.publish();
    readAll(reader);
    reader.release();
    write(writer, Buffer.alloc(4)); // 8 bytes at 48..56
    writer.publish();
    // head at 56: 8 bytes to the end, 56 free in all. A 44-byte record needs 8 + 48 = 56: fits.
    expect(writer.fits(44)).toBe(true);
    expect(writer.fits(45)).toBe(false);
    expect(writer.reserve(45)).toBe(-1);
    expect(writer.reserve(44)).toBe(4);
  });

  it('keeps records invisible until publish()', () => {
    const { writer, reader } = ringAt(256, 0);
    write(writer, Buffer.from('one'));
    expect(reader.peek()).toBe(-1);
    expect(writer.used()).toBe(0);
    writer.publish();
    write(writer, Buffer.from('two'));
    expect(readAll(reader)).toEqual([Buffer.from('one')]);
    writer.publish();
    expect(readAll(reader)).toEqual([Buffer.from('two')]);
  });

  it('peek() is idempotent and lengthAt() reads the record length', () => {
    const { writer, reader } = ringAt(256, 0);
    write(writer, Buffer.from('hello'));
    writer.publish();
    const at = reader.peek();
    expect(reader.peek()).toBe(at);
    expect(reader.lengthAt(at)).toBe(5);
    reader.next(at);
    expect(reader.peek()).toBe(-1);
  });

  it('reset() forgets everything published', () => {
    const { sab, writer } = ringAt(128, 0);
    write(writer, Buffer.alloc(100));
    writer.publish();
    // 104 bytes used: 24 left, all before the end.
    expect(writer.fits(20)).toBe(true);
    expect(writer.fits(21)).toBe(false);
    writer.reset();
    expect(writer.used()).toBe(0);
    const fresh = new RingReader(sab);
    expect(fresh.peek()).toBe(-1);
    // Back to the released position: the whole area is free again.
    expect(writer.fits(124)).toBe(true);
    expect(write(writer, Buffer.from('after'))).toBe(4);
    writer.publish();
    expect(readAll(fresh)).toEqual([Buffer.from('after')]);
  });

  it('works across the 2^32 position wrap', () => {
    const { sab, writer, reader } = ringAt(64, 2 ** 32 - 24);
    const sent: Buffer[] = [];
    for (let i = 0; i < 40; i++) {
      const p = Buffer.alloc(i % 13, i);
      expect(write(writer, p)).toBeGreaterThanOrEqual(0);
      sent.push(p);
      writer.publish();
      expect(readAll(reader)).toEqual([p]);
      reader.release();
      expect(writer.used()).toBe(0);
    }
    // Positions have wrapped past 2^32 and stay consistent.
    const c = control(sab);
    expect(c[HEAD]).toBe(c[TAIL]);
    expect(c[HEAD]! >>> 0).toBeLessThan(2 ** 32 - 24);
  });

  describe('a working set below the capacity', () => {
    const CAP = 1 << 20;
    const WS = 128 * 1024;

    it('keeps records below it while the consumer keeps up, and every record reads back in order', () => {
      const { writer, reader } = ringAt(CAP, 0, WS);
      let highest = 0;
      let expected = 0;
      let wrong = 0;
      for (let i = 0; i < 30_000; i++) {
        const at = write(writer, Buffer.alloc(96, i & 0xff));
        if (at < 0) wrong++;
        highest = Math.max(highest, at);
        if (i % 10 === 9) {
          writer.publish();
          for (const rec of readAll(reader)) if (!rec.equals(Buffer.alloc(96, expected++ & 0xff))) wrong++;
          reader.release();
        }
      }
      expect(wrong).toBe(0);
      // 30,000 × 100 bytes went round a 128 KiB stretch, not the whole megabyte.
      expect(highest).toBeLessThan(WS + 100);
      expect(expected).toBe(30_000);
    });

    it('goes back with a backlog of a quarter of it, and not with one byte more', () => {
      for (const [backlog, back] of [
        [WS / 4, true],
        [WS / 4 + 4, false],
      ] as const) {
        const { writer, reader } = ringAt(CAP, 0, WS);
        // Up to the working set, all of it consumed but the last `backlog` bytes (one record).
        expect(write(writer, Buffer.alloc(WS - backlog - 4))).toBe(4);
        expect(write(writer, Buffer.alloc(backlog - 4))).toBe(WS - backlog + 4);
        writer.publish();
        reader.next(reader.peek());
        reader.release();
        expect(writer.used()).toBe(backlog);
        expect(write(writer, Buffer.alloc(8))).toBe(back ? 4 : WS + 4);
      }
    });

    it('leaves the skipped end out of used() and unpublished() until the consumer is past it', () => {
      const { writer, reader } = ringAt(CAP, 0, WS);
      expect(write(writer, Buffer.alloc(WS - 4))).toBe(4);
      writer.publish();
      readAll(reader);
      reader.release();
      // At the working set with nothing waiting: the next record goes back to the start.
      expect(write(writer, Buffer.alloc(100))).toBe(4);
      expect(writer.unpublished()).toBe(104);
      writer.publish();
      expect(writer.unpublished()).toBe(0);
      expect(writer.used()).toBe(104);
      expect(write(writer, Buffer.alloc(8))).toBe(108);
      expect(writer.unpublished()).toBe(12);
      writer.publish();
      expect(writer.used()).toBe(116);
      // The consumer steps over the skipped end to the two records.
      expect(readAll(reader).map((b) => b.length)).toEqual([100, 8]);
      reader.release();
      expect(writer.used()).toBe(0);
      expect(write(writer, Buffer.alloc(20))).toBe(120);
      writer.publish();
      expect(writer.used()).toBe(24);
    });

    it('forgets a skipped end once passed, so positions coming round 2^32 later never meet it again', () => {
      const { writer, reader } = ringAt(CAP, 0, WS);
      const pass = (): void => {
        writer.publish();
        readAll(reader);
        reader.release();
      };
      expect(write(writer, Buffer.alloc(WS - 4))).toBe(4);
      pass();
      expect(write(writer, Buffer.alloc(100))).toBe(4);
      pass();
      // Up to the next 64 KiB, so that the records below meet the end of the ring exactly.
      expect(write(writer, Buffer.alloc(64 * 1024 - 108))).toBe(108);
      pass();
      // 2^32 bytes more in 64 KiB records, always 8 waiting (more than a quarter of the working
      // set, so none goes back early): the backlog passes where the skipped end was, modulo 2^32.
      const RECORD = 64 * 1024;
      let waiting = 0;
      const wrong: string[] = [];
      for (let written = 0; written < 2 ** 32 + CAP; written += RECORD) {
        if (writer.reserve(RECORD - 4) < 0) wrong.push(`full at ${written}`);
        writer.publish();
        waiting++;
        if (waiting > 8) {
          reader.next(reader.peek());
          reader.release();
          waiting--;
        }
        if (writer.used() !== waiting * RECORD) wrong.push(`used ${writer.used()} at ${written}`);
      }
      expect(wrong).toEqual([]);
    });

    it('takes the whole ring for a large backlog, and goes back at a later look once it has drained', () => {
      const { writer, reader } = ringAt(CAP, 0, WS);
      let n = 0;
      // Nothing consumed: records fill the whole ring, as without a working set.
      while (write(writer, Buffer.alloc(60)) >= 0) n++;
      expect(n).toBe(CAP / 64);
      writer.publish();
      expect(readAll(reader)).toHaveLength(n);
      reader.release();
      // Round once more: the consumer keeps up now, so the ring goes back at the working set.
      const offsets: number[] = [];
      for (let i = 0; i < 4000; i++) {
        offsets.push(write(writer, Buffer.alloc(60)));
        writer.publish();
        readAll(reader);
        reader.release();
      }
      expect(offsets[0]).toBe(4);
      expect(offsets[WS / 64]).toBe(4);
      expect(Math.max(...offsets)).toBe(WS - 60);
    });
  });

  /**
   * Model-based test. The model follows the rule stated in ring.ts: a record takes
   * 4 + its length rounded up to 4; one that would cross the end of the data area starts at offset
   * 0 and the rest of the area is wasted; it fits when its end lies within capacity bytes of the
   * released position. Positions are plain numbers here (no 2^32 wrap) and compared modulo 2^32.
   * With a working set below the capacity, a reserve at or past it (and past the next look) goes
   * back to offset 0 first when the backlog is at most a quarter of the working set and the record
   * fits below it; otherwise the next look is 64 KiB on (past the end of these small rings), until
   * a record lies below the working set again.
   */
  type Command = { kind: 'reserve'; len: number } | { kind: 'publish' } | { kind: 'read'; n: number } | { kind: 'peek' } | { kind: 'release' };
  interface Rec {
    bytes: Buffer;
    /** position of its length word */
    pos: number;
    /** position after its padding */
    end: number;
  }

  const commandArb: fc.Arbitrary<Command> = fc.oneof(
    { weight: 5, arbitrary: fc.record({ kind: fc.constant('reserve' as const), len: fc.integer({ min: 0, max: 300 }) }) },
    { weight: 2, arbitrary: fc.record({ kind: fc.constant('publish' as const) }) },
    { weight: 3, arbitrary: fc.record({ kind: fc.constant('read' as const), n: fc.integer({ min: 1, max: 6 }) }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('peek' as const) }) },
    { weight: 2, arbitrary: fc.record({ kind: fc.constant('release' as const) }) },
  );

  it('reads back every record byte-exact and in order, and reserve() is -1 exactly when full (fast-check)', () => {
    const startArb = fc.oneof(fc.constant(0), fc.integer({ min: 2 ** 30 - 2000, max: 2 ** 30 - 1 }).map((x) => x * 4));
    fc.assert(
      fc.property(fc.constantFrom(64, 128, 256, 1024), fc.constantFrom(1, 2, 4), startArb, fc.array(commandArb, { maxLength: 250 }), fc.integer(), (cap, share, start, commands, seed) => {
        const workingSet = cap / share;
        const { writer, reader } = ringAt(cap, start, workingSet);
        let nextLook = workingSet;
        // the last early WRAP's skipped end (used() leaves it out until the consumer is past it)
        let padAt = -1;
        let padBytes = 0;
        let head = start; // reserved
        let published = start;
        let consumed = start; // consumer's own position (read, maybe not released)
        let released = start;
        const pending: Rec[] = [];
        const readable: Rec[] = [];
        let fill = seed;

        const need = (len: number): number => 4 + Math.ceil(len / 4) * 4;
        const place = (len: number): number => {
          const toEnd = cap - (head % cap);
          return toEnd < need(len) ? head + toEnd : head;
        };
        const fits = (len: number): boolean => place(len) + need(len) - released <= cap;

        const check = (): void => {
          const pad = padAt >= released && padAt < published ? padBytes : 0;
          expect(writer.used()).toBe((published - released - pad) % 2 ** 32);
        };

        for (const cmd of commands) {
          switch (cmd.kind) {
            case 'reserve': {
              const expectFits = fits(cmd.len);
              expect(writer.fits(cmd.len)).toBe(expectFits);
              const bytes = Buffer.alloc(cmd.len);
              for (let i = 0; i < cmd.len; i++) bytes[i] = (fill = (fill * 1103515245 + 12345) | 0) >>> 24;
              const at = write(writer, bytes);
              const offset = head % cap;
              if (offset >= nextLook) {
                const backlog = head - released;
                if (backlog > workingSet / 4 || offset - backlog < need(cmd.len)) nextLook = offset + 64 * 1024;
                else {
                  padAt = head;
                  padBytes = cap - offset;
                  head += cap - offset;
                  nextLook = workingSet;
                }
              } else if (offset < workingSet) nextLook = workingSet;
              if (!expectFits) {
                expect(at).toBe(-1);
                break;
              }
              const pos = place(cmd.len);
              expect(at).toBe((pos % cap) + 4);
              expect(at + cmd.len).toBeLessThanOrEqual(cap);
              head = pos + need(cmd.len);
              pending.push({ bytes, pos, end: head });
              break;
            }
            case 'publish':
              writer.publish();
              published = head;
              readable.push(...pending.splice(0));
              break;
            case 'read':
              for (let i = 0; i < cmd.n; i++) {
                const at = reader.peek();
                const rec = readable.shift();
                if (rec === undefined) {
                  expect(at).toBe(-1);
                  break;
                }
                expect(at).toBe((rec.pos % cap) + 4);
                expect(reader.lengthAt(at)).toBe(rec.bytes.length);
                expect(reader.data.subarray(at, at + rec.bytes.length).equals(rec.bytes)).toBe(true);
                reader.next(at);
                consumed = rec.end;
              }
              break;
            case 'peek': {
              const at = reader.peek();
              const rec = readable[0];
              if (rec === undefined) expect(at).toBe(-1);
              else {
                expect(at).toBe((rec.pos % cap) + 4);
                // A peek steps over the wasted end of the area: that space is the consumer's to release.
                consumed = rec.pos;
              }
              break;
            }
            case 'release':
              reader.release();
              released = consumed;
              break;
          }
          check();
        }
        // Drain what is left.
        writer.publish();
        readable.push(...pending.splice(0));
        const rest = readAll(reader);
        expect(rest.map((b) => b.toString('hex'))).toEqual(readable.map((r) => r.bytes.toString('hex')));
        reader.release();
        expect(writer.used()).toBe(0);
      }),
      { numRuns: 400 },
    );
  });
});

describe('ring: waking the consumer', () => {
  /** Resolves when `reader`'s doorbell rings (at once when data is published already). */
  const rung = (reader: RingReader): Promise<void> =>
    new Promise<void>((r) => {
      if (!reader.arm(r)) r();
    });

  it('arm() returns false, doorbell down, when data is published already', () => {
    const { sab, writer, reader } = ringAt(64, 0);
    write(writer, Buffer.from('x'));
    writer.publish();
    expect(reader.arm(() => {})).toBe(false);
    expect(control(sab)[SLEEPING]).toBe(0);
    expect(reader.peek()).toBe(4);
  });

  it('disarm() takes the doorbell down: a publish then rings nothing', async () => {
    const { sab, writer, reader } = ringAt(64, 0);
    let rings = 0;
    expect(reader.arm(() => rings++)).toBe(true);
    expect(control(sab)[SLEEPING]).toBe(1);
    reader.disarm();
    expect(control(sab)[SLEEPING]).toBe(0);
    write(writer, Buffer.from('x'));
    expect(writer.publish()).toBe(false);
    for (let i = 0; i < 5; i++) await new Promise<void>((r) => setImmediate(r));
    expect(rings).toBe(0);
  });

  it('a sleeping consumer is woken by publish(), not before', async () => {
    const { sab, writer, reader } = ringAt(64, 0);
    let woke = false;
    const waiting = rung(reader).then(() => {
      woke = true;
    });
    // The consumer has said it sleeps and is parked on the doorbell.
    expect(control(sab)[SLEEPING]).toBe(1);
    for (let i = 0; i < 5; i++) await new Promise<void>((r) => setImmediate(r));
    expect(woke).toBe(false);
    // Reserving alone wakes no one.
    write(writer, Buffer.from('wake'));
    for (let i = 0; i < 5; i++) await new Promise<void>((r) => setImmediate(r));
    expect(woke).toBe(false);
    expect(writer.publish()).toBe(true);
    // publish() took the doorbell down as it rang it.
    expect(control(sab)[SLEEPING]).toBe(0);
    await waiting;
    expect(woke).toBe(true);
    expect(readAll(reader)).toEqual([Buffer.from('wake')]);
  });

  it('a waiter left by an earlier arm() serves the next one, once', async () => {
    const { writer, reader } = ringAt(64, 0);
    const calls: string[] = [];
    expect(reader.arm(() => calls.push('first'))).toBe(true);
    reader.disarm();
    expect(reader.arm(() => calls.push('second'))).toBe(true);
    write(writer, Buffer.from('x'));
    expect(writer.publish()).toBe(true);
    for (let i = 0; i < 5; i++) await new Promise<void>((r) => setImmediate(r));
    expect(calls).toEqual(['second']);
  });

  it('a shared doorbell is rung by whichever ring publishes', async () => {
    const bell = newDoorbell();
    const a = newRingBuffer(64);
    const b = newRingBuffer(64);
    const readerA = new RingReader(a, bell);
    const writerB = new RingWriter(b, bell);
    const readerB = new RingReader(b, bell);
    const waiting = rung(readerA);
    expect(bell.cells[bell.index]).toBe(1);
    // The ring's own SLEEPING word is not used with a shared bell.
    expect(control(a)[SLEEPING]).toBe(0);
    write(writerB, Buffer.from('b'));
    writerB.publish();
    await waiting;
    expect(bell.cells[bell.index]).toBe(0);
    expect(readerA.peek()).toBe(-1);
    expect(readAll(readerB)).toEqual([Buffer.from('b')]);
  });

  it('wake() releases a sleeping consumer with nothing published', async () => {
    const { writer, reader } = ringAt(64, 0);
    const waiting = rung(reader);
    writer.wake();
    await waiting;
    expect(reader.peek()).toBe(-1);
  });

  it('publish() with nothing new leaves the doorbell alone', () => {
    const { sab, writer } = ringAt(64, 0);
    control(sab)[SLEEPING] = 1;
    writer.publish();
    expect(control(sab)[SLEEPING]).toBe(1);
  });
});
