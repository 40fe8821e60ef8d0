import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { u16be, u32be, u48be } from '../../src/protocol/index.js';

describe('big-endian reads', () => {
  it('match Buffer.readUIntBE at any offset (fast-check)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 6, maxLength: 40 }), fc.nat(), (bytes, k) => {
        const buf = Buffer.from(bytes);
        const at = k % (buf.length - 5);
        expect(u16be(buf, at)).toBe(buf.readUIntBE(at, 2));
        expect(u32be(buf, at)).toBe(buf.readUIntBE(at, 4));
        expect(u48be(buf, at)).toBe(buf.readUIntBE(at, 6));
      }),
      { numRuns: 500 },
    );
  });

  it('read the edges of each width exactly', () => {
    const ones = Buffer.alloc(6, 0xff);
    expect(u16be(ones, 0)).toBe(0xffff);
    expect(u32be(ones, 0)).toBe(0xffff_ffff);
    expect(u48be(ones, 0)).toBe(2 ** 48 - 1);
    expect(u48be(Buffer.from([0, 1, 0, 0, 0, 0]), 0)).toBe(2 ** 32);
  });
});
