/**
 * The pace of main's looks at the completion rings: 1 ms, or 4 ms while the records out form a
 * deep queue (at least DEEP_OUT of them, spending DEEP_WAIT_MS or more out on average by Little's
 * law). The rule alone here; test/e2e/flow-control.test.ts watches a running pool take it up and
 * drop it against a stalled destination.
 */

import { describe, expect, it } from 'vitest';
import { DEEP_OUT, DEEP_POLL_MS, DEEP_WAIT_MS, POLL_MS, nextPollMs } from '../../src/dispatch/poll-pace.js';

describe('nextPollMs', () => {
  it('stays at 1 ms at a light or moderate rate, whatever the look took', () => {
    // 20,000 records/s with a 2 ms round trip: ~40 out.
    expect(nextPollMs(POLL_MS, 20, 40)).toBe(POLL_MS);
    // Few out and none back (one record on a slow link): too few to judge by.
    expect(nextPollMs(POLL_MS, 0, 1)).toBe(POLL_MS);
    expect(nextPollMs(POLL_MS, 0, DEEP_OUT - 1)).toBe(POLL_MS);
    // 64,000 records/s with a 2 ms round trip: 128 out.
    expect(nextPollMs(POLL_MS, 64, 128)).toBe(POLL_MS);
    // Many out, but coming back fast: 300 out at 100 a millisecond is 3 ms each.
    expect(nextPollMs(POLL_MS, 100, 300)).toBe(POLL_MS);
  });

  it('takes 4 ms once the records out spend 16 ms out on average, and not a record before', () => {
    // 2,048 out (8 connections × 256) at 85 a millisecond: 24 ms.
    expect(nextPollMs(POLL_MS, 85, 2048)).toBe(DEEP_POLL_MS);
    // Exactly DEEP_WAIT_MS (16 ms): 512 out, 32 back in 1 ms.
    expect(nextPollMs(POLL_MS, 512 / DEEP_WAIT_MS, 512)).toBe(DEEP_POLL_MS);
    expect(nextPollMs(POLL_MS, 512 / DEEP_WAIT_MS + 1, 512)).toBe(POLL_MS);
    // The boundary of the count: DEEP_OUT out with none back (a stalled destination).
    expect(nextPollMs(POLL_MS, 0, DEEP_OUT)).toBe(DEEP_POLL_MS);
  });

  it('judges a 4 ms look by what it took in 4 ms, and goes back to 1 ms when the queue drains', () => {
    // Saturation held: 2,048 out, 340 back in 4 ms (85 a millisecond) is 24 ms.
    expect(nextPollMs(DEEP_POLL_MS, 340, 2048)).toBe(DEEP_POLL_MS);
    // A 4 ms look's results came over 4 ms: 512 out stay deep with up to 128 back (32 a
    // millisecond, 16 ms each), not with 129.
    expect(nextPollMs(DEEP_POLL_MS, 128, 512)).toBe(DEEP_POLL_MS);
    expect(nextPollMs(DEEP_POLL_MS, 129, 512)).toBe(POLL_MS);
    // The source slowed down: fewer out.
    expect(nextPollMs(DEEP_POLL_MS, 300, 200)).toBe(POLL_MS);
    // Everything answered.
    expect(nextPollMs(DEEP_POLL_MS, 2048, 0)).toBe(POLL_MS);
  });
});
