import fc from 'fast-check';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { FrameError, Framer, type FrameSink, countFrames, frameErrorText } from '../../src/protocol/index.js';
import { ByteList, CAPTURES, captureCases, chunksAt, hexBytes, protoMessage } from '../support/bytes.js';

interface Frame {
  type: number;
  body: Buffer;
}

const MAX_BODY = 1 << 20;

/** A sink that copies every frame (the framer's buffer is valid only during the call). */
class Collector implements FrameSink {
  readonly frames: Frame[] = [];
  onFrame(type: number, buf: Buffer, start: number, end: number): boolean {
    this.frames.push({ type, body: Buffer.from(buf.subarray(start, end)) });
    return true;
  }
}

/**
 * A sink that refuses according to `refusals` (consumed one answer per offer; accepts once the list
 * runs out). It records every offer so that re-offers can be checked.
 */
class Refuser implements FrameSink {
  readonly accepted: Frame[] = [];
  readonly offers: Array<Frame & { accepted: boolean }> = [];
  private i = 0;
  constructor(private readonly refusals: readonly boolean[]) {}
  onFrame(type: number, buf: Buffer, start: number, end: number): boolean {
    const refuse = this.refusals[this.i++] ?? false;
    const frame = { type, body: Buffer.from(buf.subarray(start, end)) };
    this.offers.push({ ...frame, accepted: !refuse });
    if (!refuse) this.accepted.push(frame);
    return !refuse;
  }
}

/** Frames as `type:hex` strings: cheap to compare, readable in a failure diff. */
function show(frames: readonly Frame[]): string[] {
  return frames.map((f) => `${f.type}:${f.body.toString('hex')}`);
}

function framesOf(messages: readonly Buffer[]): Frame[] {
  return messages.map((m) => ({ type: m[1]!, body: Buffer.from(m.subarray(8)) }));
}

/** Push every chunk, expecting no error; returns what the sink saw. */
function feed(chunks: readonly Buffer[], maxBody = MAX_BODY): { frames: Frame[]; framer: Framer } {
  const framer = new Framer(maxBody);
  const sink = new Collector();
  for (const c of chunks) expect(framer.push(c, sink)).toBe(FrameError.None);
  return { frames: sink.frames, framer };
}

const captureMessages = CAPTURES.map((c) => c.message);
const allCaptures = Buffer.concat(captureMessages);
const allFrames = framesOf(captureMessages);
const allShown = show(allFrames);

/** A stream with other message types too: info, a version-0 security message, an empty body, a compressed one. */
const mixedMessages = [
  protoMessage(1, Buffer.from('node\nfeatures\n')),
  CAPTURES[0]!.message,
  protoMessage(2, hexBytes('00 00 14 00 000000000000000000000000'), 0),
  protoMessage(1, Buffer.alloc(0)),
  protoMessage(4, hexBytes('0000000000000010 78 9c 03 00 00 00 00 01')),
  CAPTURES[1]!.message,
];
const mixedStream = Buffer.concat(mixedMessages);
const mixedFrames = framesOf(mixedMessages);

afterEach(() => {
  vi.restoreAllMocks();
});

describe('Framer: whole frames whatever the chunking', () => {
  it.each(captureCases())('%s: every two-chunk cut yields the one frame', (_n, c) => {
    const expected = framesOf([c.message]);
    for (let k = 0; k <= c.message.length; k++) {
      const { frames, framer } = feed([c.message.subarray(0, k), c.message.subarray(k)]);
      expect(show(frames), `cut at ${k}`).toEqual(show(expected));
      expect(framer.bufferedBytes).toBe(0);
      expect(framer.paused).toBe(false);
    }
  });

  it('the concatenation of all captures, cut at every offset into two chunks, yields every frame in order', () => {
    for (let k = 0; k <= allCaptures.length; k++) {
      const { frames, framer } = feed([allCaptures.subarray(0, k), allCaptures.subarray(k)]);
      expect(show(frames), `cut at ${k}`).toEqual(allShown);
      expect(framer.bufferedBytes).toBe(0);
    }
  });

  it('the concatenation cut at every pair of offsets into three chunks yields every frame in order', () => {
    const stream = Buffer.concat(captureMessages.slice(0, 3));
    const expected = show(framesOf(captureMessages.slice(0, 3)));
    for (let a = 0; a <= stream.length; a += 3) {
      for (let b = a; b <= stream.length; b += 7) {
        const { frames } = feed(chunksAt(stream, [a, b]));
        expect(show(frames)).toEqual(expected);
      }
    }
  });

  it('one byte at a time yields every frame in order', () => {
    const chunks = [...allCaptures].map((b) => Buffer.from([b]));
    const { frames, framer } = feed(chunks);
    expect(frames).toEqual(allFrames);
    expect(framer.bufferedBytes).toBe(0);
  });

  it('a mixed stream (info, version-0 security, empty body, compressed) one byte at a time', () => {
    const { frames } = feed([...mixedStream].map((b) => Buffer.from([b])));
    expect(frames).toEqual(mixedFrames);
    expect(frames.map((f) => f.type)).toEqual([1, 3, 2, 1, 4, 3]);
  });

  it('a mixed stream cut at every offset', () => {
    for (let k = 0; k <= mixedStream.length; k++) {
      expect(show(feed([mixedStream.subarray(0, k), mixedStream.subarray(k)]).frames)).toEqual(show(mixedFrames));
    }
  });

  it('random chunkings of the concatenation yield every frame in order (fast-check)', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: allCaptures.length }), { maxLength: 40 }), (cuts) => {
        const { frames, framer } = feed(chunksAt(allCaptures, cuts));
        expect(show(frames)).toEqual(allShown);
        expect(framer.bufferedBytes).toBe(0);
      }),
      { numRuns: 500 },
    );
  });

  it('random chunkings of random frame sequences (fast-check)', () => {
    const frameArb = fc.record({
      type: fc.constantFrom(1, 2, 3, 4),
      body: fc.uint8Array({ maxLength: 300 }).map((b) => Buffer.from(b)),
    });
    fc.assert(
      fc.property(fc.array(frameArb, { maxLength: 12 }), fc.array(fc.nat(), { maxLength: 30 }), (frames, rawCuts) => {
        const stream = Buffer.concat(frames.map((f) => protoMessage(f.type, f.body)));
        const cuts = rawCuts.map((c) => (stream.length === 0 ? 0 : c % (stream.length + 1)));
        const out = feed(chunksAt(stream, cuts), 300);
        expect(show(out.frames)).toEqual(show(frames));
      }),
      { numRuns: 300 },
    );
  });

  it('hands out a frame lying whole inside a chunk as a view of that chunk', () => {
    const framer = new Framer(MAX_BODY);
    const chunk = Buffer.concat([CAPTURES[0]!.message, CAPTURES[1]!.message]);
    const seen: Array<{ buf: Buffer; start: number; end: number }> = [];
    framer.push(chunk, {
      onFrame: (_t, buf, start, end) => {
        seen.push({ buf, start, end });
        return true;
      },
    });
    expect(seen).toHaveLength(2);
    expect(seen[0]!.buf).toBe(chunk);
    expect([seen[0]!.start, seen[0]!.end]).toEqual([8, CAPTURES[0]!.message.length]);
    expect(seen[1]!.start).toBe(CAPTURES[0]!.message.length + 8);
    expect(seen[1]!.end).toBe(chunk.length);
  });
});

describe('Framer: backpressure', () => {
  it('a refused frame is offered again on resume(), then the rest follows', () => {
    const framer = new Framer(MAX_BODY);
    const sink = new Refuser([false, true]);
    expect(framer.push(allCaptures, sink)).toBe(FrameError.None);
    expect(framer.paused).toBe(true);
    expect(sink.accepted).toEqual(allFrames.slice(0, 1));
    expect(framer.bufferedBytes).toBe(allCaptures.length - CAPTURES[0]!.message.length);
    expect(framer.resume(sink)).toBe(FrameError.None);
    expect(framer.paused).toBe(false);
    expect(sink.accepted).toEqual(allFrames);
    expect(sink.offers[1]!.accepted).toBe(false);
    expect(sink.offers[2]).toEqual({ ...allFrames[1]!, accepted: true });
    expect(framer.bufferedBytes).toBe(0);
  });

  it('resume() with nothing held is a no-op', () => {
    const framer = new Framer(MAX_BODY);
    const sink = new Collector();
    expect(framer.resume(sink)).toBe(FrameError.None);
    expect(sink.frames).toEqual([]);
  });

  it('a refused frame assembled across chunks is re-offered whole', () => {
    const framer = new Framer(MAX_BODY);
    const sink = new Refuser([true, true]);
    const m = CAPTURES[0]!.message;
    expect(framer.push(m.subarray(0, 50), sink)).toBe(FrameError.None);
    expect(framer.push(m.subarray(50), sink)).toBe(FrameError.None);
    expect(framer.paused).toBe(true);
    expect(framer.resume(sink)).toBe(FrameError.None);
    expect(framer.paused).toBe(true);
    expect(framer.resume(sink)).toBe(FrameError.None);
    expect(framer.paused).toBe(false);
    expect(sink.offers.map((o) => o.body)).toEqual([m.subarray(8), m.subarray(8), m.subarray(8)]);
    expect(sink.accepted).toEqual(framesOf([m]));
  });

  it('a refused version-0 security frame is re-offered with its type and body intact', () => {
    const m = protoMessage(2, hexBytes('00 00 14 00 000000000000000000000000'), 0);
    for (let k = 0; k <= m.length; k++) {
      const framer = new Framer(MAX_BODY);
      const sink = new Refuser([true]);
      framer.push(m.subarray(0, k), sink);
      framer.push(m.subarray(k), sink);
      expect(framer.resume(sink)).toBe(FrameError.None);
      expect(sink.accepted).toEqual(framesOf([m]));
    }
  });

  it('random refusals and chunkings lose and duplicate nothing (fast-check)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 0, max: mixedStream.length + allCaptures.length }), { maxLength: 30 }),
        fc.array(fc.boolean(), { maxLength: 80 }),
        fc.boolean(),
        (cuts, refusals, pushWhilePaused) => {
          const stream = Buffer.concat([mixedStream, allCaptures]);
          const expected = show([...mixedFrames, ...allFrames]);
          const framer = new Framer(MAX_BODY);
          const sink = new Refuser(refusals);
          for (const chunk of chunksAt(stream, cuts)) {
            // A well-behaved caller stops reading while paused; a sloppy one keeps pushing.
            if (!pushWhilePaused) while (framer.paused) expect(framer.resume(sink)).toBe(FrameError.None);
            expect(framer.push(chunk, sink)).toBe(FrameError.None);
          }
          while (framer.paused) expect(framer.resume(sink)).toBe(FrameError.None);
          expect(show(sink.accepted)).toEqual(expected);
          // After every refusal, the very next offer is the same frame again.
          for (let i = 0; i < sink.offers.length; i++) {
            if (!sink.offers[i]!.accepted) {
              expect(show([sink.offers[i + 1]!])).toEqual(show([sink.offers[i]!]));
            }
          }
          expect(framer.bufferedBytes).toBe(0);
        },
      ),
      { numRuns: 500 },
    );
  });
});

describe('Framer: stream errors', () => {
  function header(version: number, type: number, length: number): Buffer {
    return new ByteList().u8(version).u8(type).u48(length).join();
  }

  it('rejects version 1 with BadVersion and keeps the offending header', () => {
    const framer = new Framer(MAX_BODY);
    const sink = new Collector();
    const bad = Buffer.concat([header(1, 3, 4), Buffer.from([1, 2, 3, 4])]);
    expect(framer.push(bad, sink)).toBe(FrameError.BadVersion);
    expect(framer.lastBadHeader).toEqual(header(1, 3, 4));
    expect(sink.frames).toEqual([]);
    // The error is sticky: the stream is dead.
    expect(framer.push(CAPTURES[0]!.message, sink)).toBe(FrameError.BadVersion);
    expect(framer.resume(sink)).toBe(FrameError.BadVersion);
    expect(sink.frames).toEqual([]);
    expect(frameErrorText(FrameError.BadVersion)).toBe('unsupported proto version');
  });

  it('rejects a bad version after good frames, with the header straddling chunks', () => {
    const stream = Buffer.concat([CAPTURES[0]!.message, header(3, 3, 0)]);
    for (let k = 0; k <= stream.length; k++) {
      const framer = new Framer(MAX_BODY);
      const sink = new Collector();
      const e1 = framer.push(stream.subarray(0, k), sink);
      const e2 = e1 === FrameError.None ? framer.push(stream.subarray(k), sink) : e1;
      expect(e2).toBe(FrameError.BadVersion);
      expect(sink.frames).toEqual(framesOf([CAPTURES[0]!.message]));
    }
  });

  it.each([0, 5, 9, 255])('rejects type %i with BadType', (type) => {
    const framer = new Framer(MAX_BODY);
    const sink = new Collector();
    expect(framer.push(header(2, type, 0), sink)).toBe(FrameError.BadType);
    expect(framer.lastBadHeader).toEqual(header(2, type, 0));
    expect(frameErrorText(FrameError.BadType)).toBe('unknown message type');
  });

  it('rejects type 9 arriving one byte at a time', () => {
    const framer = new Framer(MAX_BODY);
    const sink = new Collector();
    const h = header(2, 9, 1);
    const errs = [...h].map((b) => framer.push(Buffer.from([b]), sink));
    expect(errs.slice(0, 7)).toEqual([0, 0, 0, 0, 0, 0, 0]);
    expect(errs[7]).toBe(FrameError.BadType);
  });

  it('accepts version 0 only for security messages', () => {
    const body = hexBytes('00 00 14 00 000000000000000000000000');
    const ok = feed([protoMessage(2, body, 0)]);
    expect(ok.frames).toEqual([{ type: 2, body }]);
    for (const type of [1, 3, 4]) {
      const framer = new Framer(MAX_BODY);
      expect(framer.push(protoMessage(type, body, 0), new Collector())).toBe(FrameError.BadVersion);
    }
  });

  it('rejects a 2^48-1 length with TooLarge before allocating anything for the body', () => {
    const h = header(2, 3, 2 ** 48 - 1);
    const whole = Buffer.concat([h, Buffer.alloc(100)]);
    for (const chunks of [[whole], [whole.subarray(0, 5), whole.subarray(5)]]) {
      const framer = new Framer(MAX_BODY);
      const sink = new Collector();
      const allocUnsafe = vi.spyOn(Buffer, 'allocUnsafe');
      const alloc = vi.spyOn(Buffer, 'alloc');
      const errs = chunks.map((c) => framer.push(c, sink));
      expect(errs[errs.length - 1]).toBe(FrameError.TooLarge);
      expect(framer.lastBadHeader).toEqual(h);
      expect(sink.frames).toEqual([]);
      expect(framer.bufferedBytes).toBeLessThan(16);
      // Nothing bigger than a copy of the 8-byte header was allocated.
      const sizes = [...allocUnsafe.mock.calls, ...alloc.mock.calls].map((c) => c[0]);
      expect(sizes.filter((s) => s > 8)).toEqual([]);
      vi.restoreAllMocks();
    }
    expect(frameErrorText(FrameError.TooLarge)).toBe('message longer than the configured maximum');
  });

  it('accepts exactly maxBody and refuses maxBody + 1, whether or not the header straddles', () => {
    const max = 64;
    const okMsg = protoMessage(3, Buffer.alloc(max, 7));
    const tooBig = header(2, 3, max + 1);
    for (let k = 0; k <= 8; k++) {
      expect(feed([okMsg.subarray(0, k), okMsg.subarray(k)], max).frames).toEqual(framesOf([okMsg]));
      const allocUnsafe = vi.spyOn(Buffer, 'allocUnsafe');
      const framer = new Framer(max);
      const sink = new Collector();
      const e1 = framer.push(tooBig.subarray(0, k), sink);
      const e2 = framer.push(Buffer.concat([tooBig.subarray(k), Buffer.alloc(10)]), sink);
      expect(e1 === FrameError.TooLarge || e2 === FrameError.TooLarge).toBe(true);
      expect(e2).toBe(FrameError.TooLarge);
      expect(allocUnsafe.mock.calls.filter((c) => c[0] > max)).toEqual([]);
      allocUnsafe.mockRestore();
    }
  });

  it('arbitrary bytes in arbitrary chunks never make push() throw, and errors are sticky (fast-check)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 400 }), fc.array(fc.nat(), { maxLength: 10 }), fc.boolean(), (bytes, rawCuts, refuse) => {
        const stream = Buffer.from(bytes);
        const framer = new Framer(256);
        let n = 0;
        const sink: FrameSink = {
          onFrame: (type, buf, start, end) => {
            expect(type >= 1 && type <= 4).toBe(true);
            expect(end - start).toBeLessThanOrEqual(256);
            expect(end).toBeLessThanOrEqual(buf.length);
            // Refuse every other frame when asked to, to walk the held paths too.
            return !refuse || n++ % 2 === 0;
          },
        };
        let err: FrameError = FrameError.None;
        for (const c of chunksAt(stream, rawCuts.map((x) => x % (stream.length + 1)))) {
          const e = framer.push(c, sink);
          if (err !== FrameError.None) expect(e).toBe(err);
          err = e;
          while (err === FrameError.None && framer.paused) err = framer.resume(sink);
        }
        expect([FrameError.None, FrameError.BadVersion, FrameError.BadType, FrameError.TooLarge]).toContain(err);
      }),
      { numRuns: 2000 },
    );
  });

  it('arbitrary bytes after a valid prefix never throw (fast-check)', () => {
    fc.assert(
      fc.property(fc.nat({ max: allCaptures.length }), fc.uint8Array({ maxLength: 64 }), (cut, tail) => {
        const framer = new Framer(MAX_BODY);
        const sink = new Collector();
        expect(() => {
          framer.push(allCaptures.subarray(0, cut), sink);
          framer.push(Buffer.from(tail), sink);
        }).not.toThrow();
      }),
      { numRuns: 500 },
    );
  });
});

describe('countFrames: a body that must hold whole messages and nothing else', () => {
  const a = protoMessage(3, Buffer.alloc(30, 1));
  const b = protoMessage(4, Buffer.alloc(12, 2));
  const body = Buffer.concat([Buffer.from([0]), a, b]);

  it('counts whole messages after the given start', () => {
    expect(countFrames(body, 1, body.length, 1024)).toBe(2);
    expect(countFrames(body, 1, 1, 1024)).toBe(0);
  });

  it('a body cut anywhere inside a message is truncated', () => {
    for (let end = 2; end < body.length; end++) {
      if (end === 1 + a.length) continue;
      expect(countFrames(body, 1, end, 1024)).toBe(-FrameError.Truncated);
    }
    expect(frameErrorText(FrameError.Truncated)).toBe('the body ends inside a message');
  });

  it('checks each header as the framer does, before reading past it', () => {
    expect(countFrames(protoMessage(9, Buffer.alloc(4)), 0, 12, 1024)).toBe(-FrameError.BadType);
    expect(countFrames(protoMessage(3, Buffer.alloc(4), 1), 0, 12, 1024)).toBe(-FrameError.BadVersion);
    // Too large by its header alone, whatever follows.
    expect(countFrames(protoMessage(3, Buffer.alloc(40)), 0, 48, 39)).toBe(-FrameError.TooLarge);
  });
});
