import type { Resumable } from './in-flight-budget.js';
import type { SourceAuth } from './source-auth.js';
import type { SourceTls } from './source-tls.js';

/**
 * The source arena, seen from what writes into it (dispatch/slab-pool.ts): a connection reading, or
 * the inflater. Slabs are lent whole, and given back once their holder has moved on.
 */
export interface ReadArena {
  /** the whole arena */
  readonly bytes: Buffer;
  readonly slabBytes: number;
  /** A slab's index (its bytes start at index × slabBytes), or -1 when none is free. */
  acquire(): number;
  retire(slab: number): void;
}

/** Where sessions send records: the dispatcher, seen from the source side. */
export interface RecordRouter {
  /** where plain-TCP connections read; a record framed in it is dispatched by reference */
  readonly arena: ReadArena;
  /** The worker for a partition's next record (dispatch/partition-table.ts). */
  workerFor(partition: number): number;
  /** Whether the `length`-byte record in `buf` fits in `worker`'s ring now. */
  fits(worker: number, buf: Buffer, length: number): boolean;
  /**
   * Hand the record to `worker` (visible at the next publish()): by reference when `buf` is the
   * arena, else copied into the ring; `partition` is the one `worker` came from workerFor() for.
   */
  dispatch(worker: number, partition: number, connection: number, seq: number, epochMs: number, buf: Buffer, start: number, end: number): void;
  /** Make every dispatched record visible to the workers (once per socket read). */
  publish(): void;
  /** Call `s.tryResume()` once ring room may have been freed. */
  waitForRoom(s: Resumable): void;
}

/** A coarse clock: set once per socket read and per sweep, read per record. */
export interface Clock {
  now: number;
  /** the same instant as Unix ms (workers compare against it: their performance.now() differs) */
  epochMs: number;
}

export interface SessionLimits {
  maxFrame: number;
  maxInFlightPerConnection: number;
  /** while true, every record is answered with the retry code and nothing is dispatched */
  paused: boolean;
  /**
   * true while no worker has any destination connection: records are answered with the retry code
   * at once instead of making a round trip through a worker only to hear the same
   */
  destinationDown: boolean;
  /** close a connection whose peer has not read its replies for this long (ms) */
  slowReaderMs: number;
  /** logs each parsed record at debug level (the XDR Proxy's `record-parser` logger), when enabled */
  recordLog: ((buf: Buffer, start: number, end: number) => void) | null;
  /** answer an info name the way a connector node does */
  info(name: string): string;
  /**
   * `service.security`: when set, a connection must LOGIN or AUTHENTICATE before its records are
   * taken; absent or null, LOGIN is answered 52 ("security not configured").
   */
  auth?: SourceAuth | null;
  /** `service.tls`: when set, the listener speaks TLS only */
  tls?: SourceTls | null;
}

/**
 * What the listener's sweep and the completion registry need of a source connection, whatever its
 * protocol: a TCP session (session.ts) or an HTTP/2 connection (h2-session.ts).
 */
export interface SourceSession extends Resumable {
  readonly id: number;
  /** Record a result for `seq`; the caller flushes once per batch. Returns whether it was new. */
  complete(seq: number, code: number): boolean;
  /** Answer whatever is answered at the head of the window. */
  flush(): void;
  /** Answer `code` to every record past its deadline (arrived at or before `cutoff`). */
  expire(cutoff: number, code: number): number;
  /** Answer `code` to every held record that arrived at or before `cutoff`. */
  releaseHeld(cutoff: number, code: number): number;
  /** Answer `code` to every record a dead worker had. */
  failWorker(worker: number, code: number): number;
  /** Close the connection if its peer has left its replies unread too long; whether it did. */
  checkSlowReader(now: number): boolean;
  /** Read nothing more; answered requests still go out (draining on shutdown). */
  stopReading(): void;
  /** End the connection once every reply is written. */
  end(): void;
  destroy(): void;
}
