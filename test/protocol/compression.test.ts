import { deflateRawSync, deflateSync } from 'node:zlib';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { InflateError, RecordInflater, compressRecordMessage, inflateErrorText } from '../../src/protocol/index.js';
import { ByteList, captureCases, protoMessage } from '../support/bytes.js';

const CAP = 1 << 20;

/** A type-4 body built by hand: [u64 declared length][zlib stream]. */
function type4Body(declared: bigint, stream: Uint8Array): Buffer {
  return new ByteList().u64(declared).bytes(stream).join();
}

// Every case runs on both ways of inflating: the zlib state reused (this Node's way) and
// inflateSync per message (a Node without the handle's expected shape).
describe.each([
  ['one zlib state, reused', true],
  ['inflateSync per message', false],
])('%s', (_how, reuseState) => {
  const inflater = new RecordInflater(reuseState);

  function inflateBody(body: Buffer, cap = CAP): ReturnType<RecordInflater['inflate']> {
    return inflater.inflate(body, 0, body.length, cap);
  }

  it('uses the way it was asked for', () => {
    expect(inflater.reusesState).toBe(reuseState);
  });

  describe('compressRecordMessage / RecordInflater', () => {
    it.each(captureCases())('%s round-trips at levels 1, 6 and 9', (_n, c) => {
      for (const level of [1, 6, 9]) {
        const compressed = compressRecordMessage(c.message, level);
        expect(compressed[0]).toBe(2);
        expect(compressed[1]).toBe(4);
        expect(compressed.readUIntBE(2, 6)).toBe(compressed.length - 8);
        expect(compressed.readBigUInt64BE(8)).toBe(BigInt(c.message.length));
        // zlib (RFC 1950) header: CM = 8, and the check bits make the first two bytes a multiple of 31
        expect(compressed[16]! & 0x0f).toBe(8);
        expect(compressed.readUInt16BE(16) % 31).toBe(0);
        const r = inflater.inflate(compressed, 8, compressed.length, CAP);
        expect(r.error).toBe(InflateError.None);
        if (r.error === InflateError.None) expect(r.message).toEqual(c.message);
      }
    });

    it.each(captureCases())('%s inflates from a body deflated independently, at an offset', (_n, c) => {
      const body = type4Body(BigInt(c.message.length), deflateSync(c.message));
      const buf = Buffer.concat([Buffer.alloc(9, 0xee), body, Buffer.alloc(4, 0xee)]);
      const r = inflater.inflate(buf, 9, 9 + body.length, CAP);
      expect(r.error).toBe(InflateError.None);
      if (r.error === InflateError.None) expect(r.message).toEqual(c.message);
    });

    it('round-trips arbitrary type-3 messages (fast-check)', () => {
      fc.assert(
        fc.property(fc.uint8Array({ maxLength: 2000 }), fc.integer({ min: 0, max: 9 }), (body, level) => {
          const msg = protoMessage(3, body);
          const c = compressRecordMessage(msg, level);
          const r = inflater.inflate(c, 8, c.length, CAP);
          expect(r.error).toBe(InflateError.None);
          if (r.error === InflateError.None) expect(r.message.equals(msg)).toBe(true);
        }),
        { numRuns: 300 },
      );
    });

    it('accepts a message exactly at the cap', () => {
      const msg = protoMessage(3, Buffer.alloc(1000 - 8, 3));
      const c = compressRecordMessage(msg);
      expect(inflater.inflate(c, 8, c.length, 1000).error).toBe(InflateError.None);
      expect(inflater.inflate(c, 8, c.length, 999).error).toBe(InflateError.TooLarge);
    });
  });

  describe('declared() and inflateInto()', () => {
    const messages = captureCases().map(([, c]) => c.message);

    it('declared() reads the 8-byte length without a BigInt, and refuses what is short or too large', () => {
      const c = compressRecordMessage(messages[0]!);
      expect(inflater.declared(c, 8, c.length, CAP)).toBe(messages[0]!.length);
      expect(inflater.declared(c, 8, 15, CAP)).toBe(-InflateError.ShortBody);
      expect(inflater.declared(c, 8, c.length, messages[0]!.length - 1)).toBe(-InflateError.TooLarge);
      const huge = type4Body(0xffff_ffff_ffff_ffffn, Buffer.alloc(4));
      expect(inflater.declared(huge, 0, huge.length, Number.MAX_SAFE_INTEGER)).toBe(-InflateError.TooLarge);
      const big = type4Body(0x1_0000_0001n, Buffer.alloc(4));
      expect(inflater.declared(big, 0, big.length, 2 ** 40)).toBe(0x1_0000_0001);
    });

    it('inflates each message at an offset of shared memory, touching nothing outside it', () => {
      const out = Buffer.from(new SharedArrayBuffer(64 * 1024));
      out.fill(0xee);
      let at = 3;
      const placed: Array<[number, Buffer]> = [];
      for (const m of messages) {
        const c = compressRecordMessage(m);
        expect(inflater.inflateInto(c, 8, c.length, m.length, out, at)).toBe(InflateError.None);
        placed.push([at, m]);
        // the byte of room past the message is zlib's to use; the next message starts after it
        at += m.length + 1;
      }
      for (const [where, m] of placed) expect(out.subarray(where, where + m.length).equals(m)).toBe(true);
      expect(out.subarray(0, 3).equals(Buffer.alloc(3, 0xee))).toBe(true);
      expect(out.subarray(at).every((b) => b === 0xee)).toBe(true);
    });

    it('inflateInto() refuses a place without room for the message and one byte more', () => {
      const m = messages[0]!;
      const c = compressRecordMessage(m);
      const out = Buffer.alloc(m.length + 10);
      expect(() => inflater.inflateInto(c, 8, c.length, m.length, out, 10)).toThrow(RangeError);
      expect(() => inflater.inflateInto(c, 8, c.length, m.length, out, -1)).toThrow(RangeError);
      expect(inflater.inflateInto(c, 8, c.length, m.length, out, 9)).toBe(InflateError.None);
      expect(out.subarray(9, 9 + m.length).equals(m)).toBe(true);
    });

    it('inflateInto() reports what inflate() reports', () => {
      const m = messages[0]!;
      const out = Buffer.alloc(4096);
      expect(inflater.inflateInto(type4Body(BigInt(m.length), Buffer.from('not zlib')), 0, 16, m.length, out, 0)).toBe(InflateError.BadStream);
      const longer = type4Body(BigInt(m.length - 1), deflateSync(m));
      expect(inflater.inflateInto(longer, 0, longer.length, m.length - 1, out, 0)).toBe(InflateError.LengthMismatch);
      const notRecord = protoMessage(1, Buffer.from('node\n'));
      const c = type4Body(BigInt(notRecord.length), deflateSync(notRecord));
      expect(inflater.inflateInto(c, 0, c.length, notRecord.length, out, 0)).toBe(InflateError.NotARecord);
    });
  });

  describe('RecordInflater errors', () => {
    const msg = captureCases()[0]![1].message;

    it('a body shorter than its 8-byte length is ShortBody', () => {
      for (let n = 0; n < 8; n++) expect(inflateBody(Buffer.alloc(n)).error).toBe(InflateError.ShortBody);
      expect(inflateErrorText(InflateError.ShortBody)).toBe('compressed message shorter than its 8-byte length');
    });

    it('bytes that are not a zlib stream are BadStream', () => {
      expect(inflateBody(type4Body(BigInt(msg.length), Buffer.from('this is not zlib at all'))).error).toBe(InflateError.BadStream);
      // raw deflate, without the RFC 1950 header
      expect(inflateBody(type4Body(BigInt(msg.length), deflateRawSync(msg))).error).toBe(InflateError.BadStream);
      expect(inflateErrorText(InflateError.BadStream)).toBe('compressed message is not a valid zlib stream');
    });

    it('a zlib stream with a wrong adler32 is BadStream', () => {
      const stream = deflateSync(msg);
      stream[stream.length - 1]! ^= 0x01;
      expect(inflateBody(type4Body(BigInt(msg.length), stream)).error).toBe(InflateError.BadStream);
    });

    it('a zlib stream cut short inside its compressed data is an error, never a message', () => {
      const stream = deflateSync(msg);
      // Cuts that leave out compressed data, not only the final bits and the 4-byte adler32 trailer.
      for (let n = 0; n < stream.length - 8; n++) {
        const r = inflateBody(type4Body(BigInt(msg.length), stream.subarray(0, n)));
        expect([InflateError.BadStream, InflateError.LengthMismatch]).toContain(r.error);
      }
    });

    // A stream without its adler32 trailer (RFC 1950) is not a whole stream: its integrity cannot be
    // checked, so it must not inflate "successfully".
    it('a zlib stream missing its 4-byte adler32 trailer is BadStream', () => {
      const stream = deflateSync(msg);
      const r = inflateBody(type4Body(BigInt(msg.length), stream.subarray(0, stream.length - 4)));
      expect(r.error).toBe(InflateError.BadStream);
    });

    it('a declared length above the cap is TooLarge', () => {
      const stream = deflateSync(msg);
      expect(inflateBody(type4Body(BigInt(CAP) + 1n, stream)).error).toBe(InflateError.TooLarge);
      expect(inflateBody(type4Body(0xffff_ffff_ffff_ffffn, stream)).error).toBe(InflateError.TooLarge);
      expect(inflateErrorText(InflateError.TooLarge)).toBe('compressed message inflates past the configured maximum');
    });

    it('a declared length other than the real one is LengthMismatch', () => {
      const stream = deflateSync(msg);
      expect(inflateBody(type4Body(BigInt(msg.length + 1), stream)).error).toBe(InflateError.LengthMismatch);
      expect(inflateBody(type4Body(BigInt(msg.length + 500), stream)).error).toBe(InflateError.LengthMismatch);
      expect(inflateErrorText(InflateError.LengthMismatch)).toBe('compressed message inflates to a length other than it declares');
    });

    it('a stream longer than declared stops at the declared length', () => {
      const stream = deflateSync(msg);
      for (const declared of [0, 8, msg.length - 1]) {
        expect([InflateError.TooLarge, InflateError.LengthMismatch]).toContain(inflateBody(type4Body(BigInt(declared), stream)).error);
      }
    });

    describe('a zlib bomb: 10 MB of zeros in about 10 KB', () => {
      const bomb = deflateSync(Buffer.alloc(10 * 1024 * 1024));

      it('is small on the wire', () => {
        expect(bomb.length).toBeLessThan(20_000);
      });

      it.each([
        ['small', 100n],
        ['at the cap', BigInt(CAP)],
        ['just under the cap', BigInt(CAP - 1)],
      ])('declared %s: TooLarge or LengthMismatch, never inflated past the cap', (_what, declared) => {
        const r = inflateBody(type4Body(declared, bomb));
        expect([InflateError.TooLarge, InflateError.LengthMismatch]).toContain(r.error);
      });

      it('declared at its real size, above the cap: TooLarge', () => {
        expect(inflateBody(type4Body(10n * 1024n * 1024n, bomb)).error).toBe(InflateError.TooLarge);
      });
    });

    it('an inner message other than a type-3 message is NotARecord', () => {
      const cases = [
        protoMessage(1, Buffer.from('node\n')),
        protoMessage(4, Buffer.alloc(20)),
        protoMessage(3, msg.subarray(8), 1),
        Buffer.from([2, 3, 0, 0, 0]),
        Buffer.alloc(0),
      ];
      for (const inner of cases) {
        expect(inflateBody(type4Body(BigInt(inner.length), deflateSync(inner))).error).toBe(InflateError.NotARecord);
      }
      expect(inflateErrorText(InflateError.NotARecord)).toBe('compressed message does not hold a type-3 record message');
    });

    it('an inner type-3 message whose own length is wrong is LengthMismatch', () => {
      const inner = Buffer.from(msg);
      inner.writeUIntBE(msg.length - 8 + 1, 2, 6);
      expect(inflateBody(type4Body(BigInt(inner.length), deflateSync(inner))).error).toBe(InflateError.LengthMismatch);
    });

    it('arbitrary bodies never throw (fast-check)', () => {
      fc.assert(
        fc.property(fc.uint8Array({ maxLength: 200 }), fc.bigInt({ min: 0n, max: 4096n }), (stream, declared) => {
          const r = inflateBody(type4Body(declared, stream), 4096);
          expect(r.error).toBeGreaterThanOrEqual(InflateError.None);
          expect(r.error).toBeLessThanOrEqual(InflateError.NotARecord);
        }),
        { numRuns: 1000 },
      );
    });
  });

  describe('one message after another', () => {
    const messages = captureCases().map(([, c]) => c.message);
    const compressed = messages.map((m) => compressRecordMessage(m));

    it('each is whole, with bad bodies in between (a failure leaves the inflater ready)', () => {
      const bad = [type4Body(100n, Buffer.from('not zlib')), type4Body(100n, deflateSync(Buffer.alloc(1 << 20))), type4Body(50n, deflateSync(messages[0]!).subarray(0, 10))];
      for (let round = 0; round < 3; round++) {
        compressed.forEach((c, i) => {
          const r = inflater.inflate(c, 8, c.length, CAP);
          expect(r.error).toBe(InflateError.None);
          if (r.error === InflateError.None) expect(r.message.equals(messages[i]!)).toBe(true);
          expect(inflateBody(bad[i % bad.length]!).error).not.toBe(InflateError.None);
        });
      }
    });

    it('a message bigger than the kept output buffer (64 KiB) inflates whole', () => {
      const big = protoMessage(3, Buffer.alloc(200_000, 7));
      const c = compressRecordMessage(big);
      const r = inflater.inflate(c, 8, c.length, CAP);
      expect(r.error).toBe(InflateError.None);
      if (r.error === InflateError.None) expect(r.message.equals(big)).toBe(true);
      // and the next small one still comes out right
      const r2 = inflater.inflate(compressed[0]!, 8, compressed[0]!.length, CAP);
      expect(r2.error === InflateError.None && r2.message.equals(messages[0]!)).toBe(true);
    });

    it('inflates from shared memory at an odd offset (a body read in place into the source arena)', () => {
      const c = compressed[0]!;
      const arena = Buffer.from(new SharedArrayBuffer(c.length + 11), 0);
      c.copy(arena, 3);
      const r = inflater.inflate(arena, 3 + 8, 3 + c.length, CAP);
      expect(r.error === InflateError.None && r.message.equals(messages[0]!)).toBe(true);
    });
  });
});
