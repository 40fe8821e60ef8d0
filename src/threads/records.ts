/**
 * Record layouts in the rings (ring.ts); host byte order, every ring record 4-byte aligned, so the
 * fixed fields are read and written as Int32 words of the ring's `words` view.
 *
 *   inbound   (main → worker):  [u32 connection][u32 sequence][u32 arrival, epoch ms mod 2^32][i32 where]
 *                               where = INLINE (-1):  [as_msg body: header, fields, ops] follows
 *                               where ≥ 0:            [u32 body length]; the body is at `where` in
 *                                                     the source arena (arena.ts), where the source
 *                                                     connection's read put it
 *   completion (worker → main): [u32 connection][u32 sequence][u32 outcome (outcome.ts)]
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

/**
 * Connection id 0 names no source connection (main numbers them from 1 and skips 0 on wrap): a
 * worker uses it for writes of its own making (a transform module's fan-out).
 */
export const WORKER_CONNECTION = 0;

export const INBOUND_HEADER = 16;
/** An inbound record by reference: the header and the body's length. */
export const INBOUND_REF_SIZE = INBOUND_HEADER + 4;
export const COMPLETION_SIZE = 12;
/** `where` of an inline record: its body follows the header in the ring. */
const INLINE = -1;

const CONNECTION = 0;
const SEQUENCE = 1;
const ARRIVAL = 2;
const WHERE = 3;
const REF_LENGTH = 4;
const OUTCOME = 2;

/** Main: reserve an inbound record for a `length`-byte body; returns the body's offset, or -1. */
export function reserveInbound(ring: RingWriter, connection: number, seq: number, epochMs: number, length: number): number {
  const at = ring.reserve(INBOUND_HEADER + length);
  if (at < 0) return -1;
  const i = at >> 2;
  ring.words[i + CONNECTION] = connection;
  ring.words[i + SEQUENCE] = seq;
  ring.words[i + ARRIVAL] = epochMs % 0x100000000 | 0;
  ring.words[i + WHERE] = INLINE;
  return at + INBOUND_HEADER;
}

/** Main: append a record whose `length`-byte body stays at `where` in the source arena; false when full. */
export function writeInboundRef(ring: RingWriter, connection: number, seq: number, epochMs: number, where: number, length: number): boolean {
  const at = ring.reserve(INBOUND_REF_SIZE);
  if (at < 0) return false;
  const i = at >> 2;
  ring.words[i + CONNECTION] = connection;
  ring.words[i + SEQUENCE] = seq;
  ring.words[i + ARRIVAL] = epochMs % 0x100000000 | 0;
  ring.words[i + WHERE] = where;
  ring.words[i + REF_LENGTH] = length;
  return true;
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

/** Main: hand every published completion to `sink`; returns how many (the caller ends the batch). */
export function drainCompletions(ring: RingReader, sink: CompletionSink): number {
  const words = ring.words;
  let n = 0;
  for (let at = ring.peek(); at >= 0; at = ring.peek()) {
    const i = at >> 2;
    sink.complete(words[i + CONNECTION]! >>> 0, words[i + SEQUENCE]! >>> 0, words[i + OUTCOME]!);
    ring.next(at);
    n++;
  }
  if (n > 0) ring.release();
  return n;
}
