/**
 * The source arena: one SharedArrayBuffer that plain-TCP source connections read into, so that a
 * record crosses to its worker as an offset into it (an inbound record by reference, records.ts)
 * rather than as a copy.
 *
 *   SharedArrayBuffer
 *   +---- slab 0 ----+---- slab 1 ----+ ... +---- slab n-1 ----+------- jumbo run -------+
 *   |  SLAB_BYTES    |                |     |                  | k slabs ≥ the largest   |
 *   +----------------+----------------+ ... +------------------+ message, one record    |
 *                                                                +-------------------------+
 *
 * Main owns every byte and writes them only through a socket read into a slab lent to one
 * connection (and the move of a connection's unframed tail into its next slab), or by inflating a
 * compressed message into a slab lent to the inflater (source/arena-inflater.ts), or by copying a
 * record too big for half its worker's ring into the jumbo run (dispatch/worker-pool.ts). A worker only
 * reads the bodies its inbound records point at, between peeking them and releasing its ring.
 * A slab is lent again only once its holder has moved on and every worker's ring has released
 * every record that points into it (dispatch/slab-pool.ts), so no byte a worker may still read is
 * ever overwritten. Ordering: the bytes are in place before main publishes the ring record
 * (Atomics.store of the ring's head), which the worker reads with Atomics.load first.
 */

/** One slab: a power of two, so that the slab of an offset is a shift. */
export const SLAB_SHIFT = 20;
export const SLAB_BYTES = 1 << SLAB_SHIFT;

/** An arena of `slabs` slabs. */
export function newArenaBuffer(slabs: number): SharedArrayBuffer {
  if (!Number.isInteger(slabs) || slabs < 1) throw new RangeError(`arena needs at least one slab, got ${slabs}`);
  return new SharedArrayBuffer(slabs * SLAB_BYTES);
}

/** The slab an arena offset lies in. */
export function slabOf(offset: number): number {
  return offset >>> SLAB_SHIFT;
}
