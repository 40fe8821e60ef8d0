/**
 * Record layouts in the rings (ring.ts); host byte order, every ring record 4-byte aligned, so the
 * fixed fields are read and written as Int32 words of the ring's `words` view.
 *
 *   inbound   (main → worker):  [u32 tag][u32 sequence][u32 arrival, epoch ms mod 2^32][i32 where]
 *                               where = INLINE (-1):  [as_msg body: header, fields, ops] follows
 *                               where ≥ 0:            [u32 body length]; the body is at `where` in
 *                                                     the source arena (arena.ts), where the source
 *                                                     connection's read put it
 *   completion (worker → main): [u32 tag][u32 sequence][u32 outcome (outcome.ts)]
 *
 *   tag := [u2 0][u12 partition][u18 connection id]: main's, handed back by the worker as it came
 *          (a worker sees one opaque connection number); main counts each partition's records out
 *          by it (dispatch/partition-table.ts). Under 2^30, so the engine keeps it a small integer
 *          wherever it goes (a larger one would be boxed, at a cost per record on both threads)
 *
 * Main has checked the body whole (protocol's routeRecordMessage) and the worker scans it again
 * (scanRecordMessage). Main's scan once travelled in the record (11 words): writing it cost main
 * about as much as the worker's own scan costs the worker, and reading it back cost the worker
 * nearly that much again (bench/RESULTS.md, "Main routes, the worker scans").
 */

import type { RingReader, RingWriter } from './ring.js';

/** Where main hands the completions it drains (the source side's session registry). */
export interface CompletionSink {
  /** One result; the sink batches its own replies. */
  complete(connection: number, seq: number, outcome: number): void;
  /** End of a drained batch: flush replies. */
  batchEnd(): void;
  /** Worker `worker` died: everything it held is answered now. */
  workerLost(worker: number): void;
}

/** Bits of a tag that hold the connection id; the partition is above them. */
const CONNECTION_BITS = 18;
/** The largest connection id (listener.ts numbers connections from 1 to this, and round again). */
export const MAX_CONNECTION_ID = (1 << CONNECTION_BITS) - 1;

/** Main: the tag of a record from `connection` (1 … MAX_CONNECTION_ID) in `partition`. */
export function recordTag(connection: number, partition: number): number {
  return connection | (partition << CONNECTION_BITS);
}

/**
 * Connection id 0 names no source connection (main numbers them from 1 and skips 0 on wrap): a
 * worker uses it for writes of its own making (a transform module's fan-out).
 */
export const WORKER_CONNECTION = 0;

/** Word indexes of the fixed fields (inbound, then completion). */
const CONNECTION = 0;
const SEQUENCE = 1;
const ARRIVAL = 2;
const WHERE = 3;
const REF_LENGTH = 4;
const OUTCOME = 2;

export const INBOUND_HEADER = 4 * REF_LENGTH;
/** An inbound record by reference: the header and the body's length. */
export const INBOUND_REF_SIZE = INBOUND_HEADER + 4;
export const COMPLETION_SIZE = 12;
/** `where` of an inline record: its body follows the header in the ring. */
const INLINE = -1;

/**
 * Main: reserve an inbound record for a `length`-byte body; returns the body's offset in the ring,
 * or -1.
 */
export function reserveInbound(ring: RingWriter, connection: number, seq: number, epochMs: number, length: number): number {
  const at = ring.reserve(INBOUND_HEADER + length);
  if (at < 0) return -1;
  writeHeader(ring.words, at >> 2, connection, seq, epochMs, INLINE);
  return at + INBOUND_HEADER;
}

/** Main: append a record whose `length`-byte body is at `where` in the source arena; false when full. */
export function writeInboundRef(ring: RingWriter, connection: number, seq: number, epochMs: number, where: number, length: number): boolean {
  const at = ring.reserve(INBOUND_REF_SIZE);
  if (at < 0) return false;
  const i = at >> 2;
  writeHeader(ring.words, i, connection, seq, epochMs, where);
  ring.words[i + REF_LENGTH] = length;
  return true;
}

function writeHeader(words: Int32Array, i: number, connection: number, seq: number, epochMs: number, where: number): void {
  words[i + CONNECTION] = connection;
  words[i + SEQUENCE] = seq;
  words[i + ARRIVAL] = epochMs % 0x100000000 | 0;
  words[i + WHERE] = where;
}

/** Worker: the fields of the inbound record whose payload is at `at`. */
export function inboundConnection(ring: RingReader, at: number): number {
  return ring.words[(at >> 2) + CONNECTION]! >>> 0;
}

export function inboundSequence(ring: RingReader, at: number): number {
  return ring.words[(at >> 2) + SEQUENCE]! >>> 0;
}

/** Arrival as signed epoch ms mod 2^32: compare with `(now - arrival) | 0`. */
export function inboundArrival(ring: RingReader, at: number): number {
  return ring.words[(at >> 2) + ARRIVAL]!;
}

/** Where the inbound record at `at` has its body. */
export interface InboundBody {
  /** the ring's data, or the source arena */
  bytes: Buffer;
  start: number;
  end: number;
}

/** Worker: locate the body of the inbound record at `at` (in the ring, or in `arena`) into `out`. */
export function inboundBody(ring: RingReader, at: number, arena: Buffer, out: InboundBody): void {
  const i = at >> 2;
  const where = ring.words[i + WHERE]!;
  if (where === INLINE) {
    out.bytes = ring.data;
    out.start = at + INBOUND_HEADER;
    out.end = at + ring.lengthAt(at);
    return;
  }
  out.bytes = arena;
  out.start = where;
  out.end = where + ring.words[i + REF_LENGTH]!;
}

/** Worker: append a completion; false when the ring is full. */
export function writeCompletion(ring: RingWriter, connection: number, seq: number, outcome: number): boolean {
  const at = ring.reserve(COMPLETION_SIZE);
  if (at < 0) return false;
  const i = at >> 2;
  ring.words[i + CONNECTION] = connection;
  ring.words[i + SEQUENCE] = seq;
  ring.words[i + OUTCOME] = outcome;
  return true;
}

/** A completion's share of its ring: the payload and the ring's length word (ring.ts). */
const COMPLETION_RING_BYTES = 4 + COMPLETION_SIZE;
/** The least completion ring: 4,096 completions. */
const MIN_COMPLETION_RING = 64 * 1024;

/**
 * The capacity of a completion ring for a worker that may hold `records` records at once (the
 * in-flight cap: partitioning may send every record to one worker): room for twice that many
 * completions, as a power of two of at least 64 KiB and at most `most` (its inbound ring's).
 *
 * Sized by the inbound ring instead (it is sized for copied 1 KiB records), a completion ring was
 * 64 MiB at the default cap, and since a ring's writes go round all of it, a long run kept all
 * 64 MiB resident for what 512 KiB holds. A worker that finds its ring full (main is behind, or a
 * reload raised the cap) keeps the completions and retries every millisecond, as often as main
 * drains (workers/worker-loop.ts), so the size costs wake-ups, never results.
 */
export function completionRingCapacity(records: number, most: number): number {
  const want = 2 * Math.max(1, records) * COMPLETION_RING_BYTES;
  let size = MIN_COMPLETION_RING;
  while (size < want && size < most) size *= 2;
  return Math.min(size, most);
}

/**
 * The part of an inbound ring main keeps to while the worker keeps up (ring.ts, working set): 4 MiB
 * holds 174,000 records by reference, and going back early needs a backlog of at most 1 MiB. The
 * ring itself is sized for copies (main.ts), up to 64 MiB; writing round all of it touched a page
 * every 60 records for the first million, and kept all of it resident after.
 */
export const INBOUND_WORKING_SET = 4 * 1024 * 1024;

/**
 * Main: hand every published completion to `sink`, and count its partition's records out down by
 * one in `out`; returns how many (the caller ends the batch).
 */
export function drainCompletions(ring: RingReader, sink: CompletionSink, out: Int32Array): number {
  const words = ring.words;
  let n = 0;
  for (let at = ring.peek(); at >= 0; at = ring.peek()) {
    const i = at >> 2;
    const tag = words[i + CONNECTION]!;
    out[tag >>> CONNECTION_BITS]!--;
    sink.complete(tag & MAX_CONNECTION_ID, words[i + SEQUENCE]! >>> 0, words[i + OUTCOME]!);
    ring.next(at);
    n++;
  }
  if (n > 0) ring.release();
  return n;
}
