import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CITRUSLEAF_EPOCH_MS, lutFromUnixMs, lutSourceId, lutToUnixMs } from '../../src/protocol/index.js';

describe('last-update times', () => {
  it('counts milliseconds from 2010-01-01T00:00:00Z', () => {
    expect(CITRUSLEAF_EPOCH_MS).toBe(Date.UTC(2010, 0, 1));
    expect(lutToUnixMs(0n)).toBe(Date.UTC(2010, 0, 1));
    expect(lutFromUnixMs(Date.UTC(2010, 0, 1))).toBe(0n);
  });

  it('keeps the source id above the 40-bit millisecond count', () => {
    // the first capture's LUT: src-id 1, 2024-12-16T22:38:24.784Z
    const lut = 0x0000016dea70ee10n;
    expect(lutSourceId(lut)).toBe(1);
    expect(new Date(lutToUnixMs(lut)).toISOString()).toBe('2024-12-16T22:38:24.784Z');
    expect(lutFromUnixMs(Date.parse('2024-12-16T22:38:24.784Z'), 1)).toBe(lut);
  });

  it('round-trips any time in the 40-bit range and any source id (fast-check)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 2 ** 40 - 1 }), fc.integer({ min: 0, max: 0xffff }), (ms, src) => {
        const unixMs = ms + CITRUSLEAF_EPOCH_MS;
        const lut = lutFromUnixMs(unixMs, src);
        expect(lut).toBe((BigInt(src) << 40n) | BigInt(ms));
        expect(lutToUnixMs(lut)).toBe(unixMs);
        expect(lutSourceId(lut)).toBe(src);
      }),
    );
  });
});
