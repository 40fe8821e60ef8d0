/**
 * A finer ack-latency histogram beside asbenchmark's log2 one: each power of two of microseconds
 * is cut into FINE_STEPS equal parts, so a bucket's upper edge is at most 1/FINE_STEPS above its
 * lower one (12.5%) from 8 µs up. The log2 histogram says "p99 ≤ 32.8 ms", which cannot tell
 * 17 ms from 32 ms; this one can, and two runs' p99 can be compared to within an eighth.
 *
 *   bucket index = octave × FINE_STEPS + step
 *   octave       = floor(log2(µs))                       (0..31)
 *   step         = the FINE_STEPS-part of that octave the value falls in
 *   bucket       = [2^octave + step × 2^octave / FINE_STEPS, the next bucket's start)
 */

/** Parts per power of two. */
export const FINE_STEPS = 8;
const STEP_BITS = 3;
/** Buckets in a fine histogram: 32 octaves of µs. */
export const FINE_BUCKETS = 32 * FINE_STEPS;

/** The bucket of a latency of `us` whole microseconds (at least 1). */
export function fineBucketOf(us: number): number {
  const v = Math.min(Math.max(1, us), 0xffffffff) >>> 0;
  const octave = 31 - Math.clz32(v);
  // The STEP_BITS bits below the leading one (shifted up when the octave has fewer).
  const step = octave >= STEP_BITS ? (v >>> (octave - STEP_BITS)) & (FINE_STEPS - 1) : (v << (STEP_BITS - octave)) & (FINE_STEPS - 1);
  return octave * FINE_STEPS + step;
}

/** The lower edge of a bucket, in ms. */
export function fineLowerMs(bucket: number): number {
  const octave = Math.floor(bucket / FINE_STEPS);
  const step = bucket % FINE_STEPS;
  return (2 ** octave * (FINE_STEPS + step)) / FINE_STEPS / 1000;
}

/** The upper edge of a bucket (the next one's lower edge), in ms. */
export function fineUpperMs(bucket: number): number {
  return fineLowerMs(bucket + 1);
}

/** The bucket holding the `p` quantile (0 < p ≤ 1), or -1 for an empty histogram. */
export function fineQuantileBucket(histogram: readonly number[], p: number): number {
  const total = histogram.reduce((a, b) => a + b, 0);
  if (total === 0) return -1;
  let seen = 0;
  for (let i = 0; i < histogram.length; i++) {
    seen += histogram[i]!;
    if (seen >= total * p) return i;
  }
  return histogram.length - 1;
}

/** The `p` quantile's upper bucket edge in ms (0 for an empty histogram). */
export function finePercentileMs(histogram: readonly number[], p: number): number {
  const b = fineQuantileBucket(histogram, p);
  return b < 0 ? 0 : fineUpperMs(b);
}
