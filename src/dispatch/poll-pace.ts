/**
 * How long main waits between two looks at the completion rings while records are out with the
 * workers: POLL_MS, or DEEP_POLL_MS while the records out form a deep queue.
 *
 *   look ─ took n results in the last `ms`, `out` records still out ─▶ next look in 1 or 4 ms
 *
 * Each look is a wake-up of main (an epoll return, a task switch, a timer turn: 10–20 µs of CPU on
 * a shared core): at saturation with a 1 ms look main slept about once per 85 records, nearly
 * always for the look (bench/RESULTS.md, "Main's look at the results under a deep queue").
 * A longer look only delays acknowledgements where they wait long anyway: by Little's law the
 * records out spend out ÷ (n ÷ ms) ms on average, and once that is DEEP_WAIT_MS or more (a source
 * that keeps its whole window full against a destination that sets the pace) 3 ms more is at most
 * a fifth of it, and nothing at all in records/s while the destination is the bottleneck. Below
 * DEEP_OUT records out (a light or moderate rate, where the mean is short or too few records to
 * judge by) the look stays at 1 ms, so the ack latency there does not change.
 */

/** The look while the records out are few or come back soon. */
export const POLL_MS = 1;
/** The look while they form a deep queue. */
export const DEEP_POLL_MS = 4;
/** At least this many records out, */
export const DEEP_OUT = 256;
/** and spending at least this long out on average, make a deep queue. */
export const DEEP_WAIT_MS = 16;

/**
 * The wait before the next look, after a look `ms` after the one before that took `taken` results
 * and left `out` records out.
 */
export function nextPollMs(ms: number, taken: number, out: number): number {
  return out >= DEEP_OUT && out * ms >= DEEP_WAIT_MS * taken ? DEEP_POLL_MS : POLL_MS;
}
