import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { FINE_BUCKETS, fineBucketOf, fineLowerMs, finePercentileMs, fineQuantileBucket, fineUpperMs } from '../../src/cli/load/fine-latency.js';

describe('the fine latency histogram', () => {
  it('puts every latency inside its bucket, and the bucket is at most an eighth wide from 8 µs up', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 0xffffffff }), (us) => {
        const b = fineBucketOf(us);
        expect(b).toBeGreaterThanOrEqual(0);
        expect(b).toBeLessThan(FINE_BUCKETS);
        expect(fineLowerMs(b) * 1000).toBeLessThanOrEqual(us);
        expect(fineUpperMs(b) * 1000).toBeGreaterThan(us);
        if (us >= 8) expect(fineUpperMs(b) / fineLowerMs(b)).toBeLessThanOrEqual(1.125 + 1e-12);
      }),
    );
  });

  it('orders buckets as it orders latencies', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 0xfffffffe }), fc.integer({ min: 1, max: 1000 }), (us, more) => {
        expect(fineBucketOf(us + more)).toBeGreaterThanOrEqual(fineBucketOf(us));
      }),
    );
  });

  it('reads known edges', () => {
    expect(fineBucketOf(1)).toBe(0);
    // 16,384 µs is the start of octave 14; 17,000 µs lies in its first eighth (16,384–18,432)
    expect(fineLowerMs(fineBucketOf(16_384))).toBe(16.384);
    expect(fineLowerMs(fineBucketOf(17_000))).toBe(16.384);
    expect(fineUpperMs(fineBucketOf(17_000))).toBe(18.432);
    expect(fineLowerMs(fineBucketOf(31_000))).toBe(30.72);
  });

  it('finds the quantile bucket', () => {
    const h = new Array<number>(FINE_BUCKETS).fill(0);
    expect(fineQuantileBucket(h, 0.99)).toBe(-1);
    expect(finePercentileMs(h, 0.99)).toBe(0);
    for (let i = 0; i < 98; i++) h[fineBucketOf(1000)]!++;
    h[fineBucketOf(5000)]!++;
    h[fineBucketOf(20_000)]!++;
    expect(fineQuantileBucket(h, 0.5)).toBe(fineBucketOf(1000));
    expect(fineQuantileBucket(h, 0.99)).toBe(fineBucketOf(5000));
    expect(finePercentileMs(h, 0.999)).toBe(fineUpperMs(fineBucketOf(20_000)));
  });
});
