/**
 * One persistent, pipelined connection to a destination node.
 *
 *   requests:  reserve() + commit() append to the out chunk ──flush()──▶ socket (one write per batch)
 *   replies:   socket ─▶ Framer ─▶ result code ─▶ pending FIFO head ─▶ onReply
 *
 *   pending FIFO (power of two ≥ depth), one entry per request in flight:
 *     connection, seq, partition (Uint32)   the chunk holding its bytes, offset, length
 *     the LUT the write policy stripped from it (two Uint32 halves; 0 = none)
 *   a node answers one connection strictly in order, so the head is always the one answered.
 *
 * A connection has room while fewer than `depth` requests and fewer than PIPELINE_BYTES are
 * unanswered: small records fill the depth, big ones the bytes (2,048 records of 64 KiB would
 * otherwise be 128 MiB held for one connection).
 *
 * Each request's bytes stay referenced until it is answered: when the connection dies, every
 * pending request is handed back with its bytes (`lost`), so it can be sent again elsewhere.
 * With security on, a new connection sends AUTHENTICATE first and is ready only once it succeeds.
 */

import type { Socket } from 'node:net';
import { FrameError, Framer, type FrameSink, MessageType, isPermanentDestinationCode } from '../protocol/index.js';
import { spanCopier } from '../threads/index.js';
import { type LinkAddress, type TlsSettings, openSocket } from './node-link.js';

export interface ConnectionEvents {
  /**
   * The answer to a request. When the code rejects it for good (a dead letter): its bytes, and the
   * LUT stripped from it (null when none was).
   */
  reply(connection: number, seq: number, partition: number, code: number, rejected: Buffer | null, strippedLut: bigint | null): void;
  /** A request that got no reply: its bytes (and stripped LUT halves), to send again or to fail. */
  lost(connection: number, seq: number, partition: number, bytes: Buffer, timedOut: boolean, lutHi: number, lutLo: number): void;
  /** A batch of replies was handled (publish completions, unblock). */
  progress(): void;
  /** A connection is ready (connected, logged in): the node may still not answer. */
  up(addr: LinkAddress): void;
  /** The first reply to a write on a connection since it came up: the node answers. */
  answered(addr: LinkAddress): void;
  /** A ready connection closed; `reason` is null when it was closed for being idle. */
  down(addr: LinkAddress, reason: string | null): void;
  /** A connect (or its login) failed before the connection was ever ready. */
  failed(addr: LinkAddress, reason: string): void;
  /** AUTHENTICATE was refused: the session token needs renewing. */
  authRefused(result: number): void;
}

export interface ConnectionOptions {
  addr: LinkAddress;
  tls: TlsSettings | null;
  depth: number;
  connectTimeoutMs: number;
  /** AUTHENTICATE to send first, or null without security */
  greeting: () => Buffer | null;
}

const CHUNK = 256 * 1024;
/** Chunks a connection keeps for reuse: enough for a pipeline a few chunks deep. */
const SPARES = 4;
/** Unanswered bytes past which a connection takes no more requests (one always fits). */
export const PIPELINE_BYTES = 8 * 1024 * 1024;
const MAX_REPLY = 16 * 1024 * 1024;
const BACKOFF_MIN_MS = 50;
const BACKOFF_MAX_MS = 5000;

const enum State {
  Idle,
  Connecting,
  Authenticating,
  Ready,
  Backoff,
  Closed,
}

export class DestinationConnection implements FrameSink {
  private socket: Socket | null = null;
  private state = State.Idle;
  private framer = new Framer(MAX_REPLY);
  private readonly ids: Uint32Array;
  private readonly chunks: Array<Buffer | undefined>;
  private readonly offsets: Uint32Array;
  private readonly lengths: Uint32Array;
  private readonly luts: Uint32Array;
  private readonly mask: number;
  private head = 0;
  private tail = 0;
  /** bytes of the requests between head and tail */
  private pendingBytes = 0;
  private out: Buffer = Buffer.allocUnsafe(CHUNK);
  /**
   * The chunks before `out`, oldest first, each kept for reuse once no request in flight lies in
   * it (then the destination has answered all of it, so the socket has handed all of it to the
   * kernel). A steady load then writes into a few chunks in turn instead of allocating 256 KiB
   * outside the heap every 256 KiB, whose build-up made the collector run a full mark-compact
   * every second or so (in a worker at saturation into the double: 40–67 new chunks a second
   * when one spare was kept, reused one time in seven or fewer).
   */
  private readonly spares: Buffer[] = [];
  /** the pipeline position just past the last request of each of `spares` */
  private readonly spareEnds: number[] = [];
  private outPos = 0;
  private flushedPos = 0;
  private backoffMs = BACKOFF_MIN_MS;
  private reconnectTimer: NodeJS.Timeout | null = null;
  private timedOut = false;
  /** why the socket is closing: its error, or the reason Ferry destroyed it */
  private closeReason: string | null = null;
  /** closed because idle: reopen on demand, not after a backoff */
  private idleClosing = false;
  /** closed for good */
  private shutDown = false;
  /** a write was answered since the connection came up (told once: events.answered) */
  private answered = false;
  /** last time bytes arrived from the node or the pipeline went from empty to busy */
  lastProgress = 0;
  /** last time a request was committed, for idle close */
  lastUsed = 0;

  constructor(
    readonly opts: ConnectionOptions,
    private readonly events: ConnectionEvents,
  ) {
    let cap = 16;
    while (cap < opts.depth) cap *= 2;
    this.mask = cap - 1;
    this.ids = new Uint32Array(cap * 3);
    this.chunks = new Array<Buffer | undefined>(cap);
    this.offsets = new Uint32Array(cap);
    this.lengths = new Uint32Array(cap);
    this.luts = new Uint32Array(cap * 2);
  }

  get isReady(): boolean {
    return this.state === State.Ready;
  }

  /** Opened and not given up on: connecting, authenticating or ready. */
  get isOpening(): boolean {
    return this.state === State.Connecting || this.state === State.Authenticating;
  }

  get isIdle(): boolean {
    return this.state === State.Idle;
  }

  get inFlight(): number {
    return (this.tail - this.head) >>> 0;
  }

  get hasRoom(): boolean {
    return this.state === State.Ready && this.inFlight < this.opts.depth && this.pendingBytes < PIPELINE_BYTES;
  }

  open(): void {
    if (this.state !== State.Idle && this.state !== State.Backoff) return;
    this.state = State.Connecting;
    this.lastUsed = performance.now();
    const socket = openSocket(this.opts.addr, this.opts.tls, (chunk) => {
      // One clock read per read of replies, not per reply.
      this.lastProgress = performance.now();
      const err = this.framer.push(chunk, this);
      if (err !== FrameError.None) socket.destroy(new Error('malformed reply from destination'));
      this.events.progress();
    });
    this.socket = socket;
    this.framer = new Framer(MAX_REPLY);
    this.timedOut = false;
    this.closeReason = null;
    const timer = setTimeout(() => socket.destroy(new Error(`no connection within ${this.opts.connectTimeoutMs} ms`)), this.opts.connectTimeoutMs);
    socket.once(this.opts.tls === null ? 'connect' : 'secureConnect', () => {
      clearTimeout(timer);
      const hello = this.opts.greeting();
      if (hello === null) this.becomeReady();
      else {
        this.state = State.Authenticating;
        socket.write(hello);
      }
    });
    socket.on('error', (err: Error & { code?: string }) => {
      // 'close' follows and reports it, with this reason.
      this.closeReason ??= err.code !== undefined && !err.message.includes(err.code) ? `${err.code}: ${err.message}` : err.message;
    });
    socket.on('close', () => {
      clearTimeout(timer);
      this.onClosed();
    });
  }

  private becomeReady(): void {
    this.state = State.Ready;
    this.answered = false;
    this.backoffMs = BACKOFF_MIN_MS;
    this.lastUsed = performance.now();
    this.events.up(this.opts.addr);
    this.events.progress();
  }

  onFrame(type: number, buf: Buffer, start: number, end: number): boolean {
    if (this.state === State.Authenticating) {
      const result = type === MessageType.Security && end - start >= 2 ? buf[start + 1]! : -1;
      if (result === 0) this.becomeReady();
      else {
        this.events.authRefused(result);
        this.socket?.destroy(new Error(`authentication refused with result ${result}`));
      }
      return true;
    }
    if (type !== MessageType.Record || end - start < 22 || this.head === this.tail) {
      this.socket?.destroy(new Error('unexpected message from destination'));
      return true;
    }
    if (!this.answered) {
      this.answered = true;
      this.events.answered(this.opts.addr);
    }
    const slot = this.head & this.mask;
    this.head = (this.head + 1) >>> 0;
    this.pendingBytes -= this.lengths[slot]!;
    const code = buf[start + 5]!;
    const chunk = this.chunks[slot]!;
    this.chunks[slot] = undefined;
    if (!isPermanentDestinationCode(code)) {
      this.events.reply(this.ids[slot * 3]!, this.ids[slot * 3 + 1]!, this.ids[slot * 3 + 2]!, code, null, null);
      return true;
    }
    const hi = this.luts[slot * 2]!;
    const lo = this.luts[slot * 2 + 1]!;
    const rejected = chunk.subarray(this.offsets[slot]!, this.offsets[slot]! + this.lengths[slot]!);
    this.events.reply(this.ids[slot * 3]!, this.ids[slot * 3 + 1]!, this.ids[slot * 3 + 2]!, code, rejected, hi === 0 && lo === 0 ? null : (BigInt(hi) << 32n) | BigInt(lo));
    return true;
  }

  /** Room for `length` bytes in the out chunk; returns the offset to write at in `buffer`. */
  reserve(length: number): number {
    if (this.outPos + length > this.out.length) {
      // Pending requests and the socket may keep views of the old chunk: it waits among the spares.
      this.flush();
      const old = this.out;
      if (old.length === CHUNK) {
        this.spares.push(old);
        this.spareEnds.push(this.tail);
        if (this.spares.length > SPARES) {
          this.spares.shift();
          this.spareEnds.shift();
        }
      }
      this.out = (length <= CHUNK ? this.takeSpare() : null) ?? Buffer.allocUnsafe(Math.max(CHUNK, length));
      this.outPos = 0;
      this.flushedPos = 0;
    }
    return this.outPos;
  }

  /** The oldest spare chunk, if nothing refers to it any more. */
  private takeSpare(): Buffer | null {
    // Requests are answered in order: a spare is free of them once the head has passed its last.
    if (this.spares.length === 0 || ((this.head - this.spareEnds[0]!) | 0) < 0) return null;
    this.spareEnds.shift();
    return this.spares.shift()!;
  }

  get buffer(): Buffer {
    return this.out;
  }

  /**
   * The request of `length` bytes written at reserve()'s offset belongs to (connection, seq);
   * `lutHi`/`lutLo`: the LUT the write policy stripped from it (0 = none), kept for a dead letter.
   */
  commit(length: number, connection: number, seq: number, partition: number, now: number, lutHi = 0, lutLo = 0): void {
    if (this.head === this.tail) this.lastProgress = now;
    this.lastUsed = now;
    const slot = this.tail & this.mask;
    this.ids[slot * 3] = connection;
    this.ids[slot * 3 + 1] = seq;
    this.ids[slot * 3 + 2] = partition;
    this.luts[slot * 2] = lutHi;
    this.luts[slot * 2 + 1] = lutLo;
    this.chunks[slot] = this.out;
    this.offsets[slot] = this.outPos;
    this.lengths[slot] = length;
    this.tail = (this.tail + 1) >>> 0;
    this.pendingBytes += length;
    this.outPos += length;
  }

  /**
   * Send everything committed since the last flush, in one write. Copies still queued into the
   * out chunk (span-copier.ts) are made first, sent or not: reserve() may move on to a new chunk.
   */
  flush(): number {
    spanCopier.finish();
    const n = this.outPos - this.flushedPos;
    if (n === 0 || this.socket === null || this.state !== State.Ready) return 0;
    this.socket.write(this.out.subarray(this.flushedPos, this.outPos));
    this.flushedPos = this.outPos;
    return n;
  }

  /** Close the connection if requests wait longer than `timeoutMs` for a reply. */
  checkTimeout(now: number, timeoutMs: number): void {
    if (this.inFlight > 0 && now - this.lastProgress > timeoutMs && this.socket !== null) {
      this.timedOut = true;
      this.socket.destroy(new Error('destination timeout'));
    }
  }

  /** Close an idle connection (nothing in flight); it reopens when next needed. */
  closeIdle(): void {
    if (this.inFlight > 0 || this.state !== State.Ready) return;
    this.idleClosing = true;
    this.socket?.destroy();
  }

  private onClosed(): void {
    const wasReady = this.state === State.Ready;
    this.socket = null;
    while (this.head !== this.tail) {
      const slot = this.head & this.mask;
      this.head = (this.head + 1) >>> 0;
      const chunk = this.chunks[slot]!;
      this.chunks[slot] = undefined;
      const off = this.offsets[slot]!;
      this.events.lost(this.ids[slot * 3]!, this.ids[slot * 3 + 1]!, this.ids[slot * 3 + 2]!, chunk.subarray(off, off + this.lengths[slot]!), this.timedOut, this.luts[slot * 2]!, this.luts[slot * 2 + 1]!);
    }
    this.pendingBytes = 0;
    // The lost requests keep views of these chunks (they are sent again from them): never reused.
    this.out = Buffer.allocUnsafe(CHUNK);
    this.spares.length = 0;
    this.spareEnds.length = 0;
    this.outPos = 0;
    this.flushedPos = 0;
    const reason = this.closeReason ?? (this.timedOut ? 'destination timeout' : 'closed by the destination');
    if (wasReady) this.events.down(this.opts.addr, this.idleClosing || this.shutDown ? null : reason);
    else if (!this.shutDown) this.events.failed(this.opts.addr, reason);
    if (this.shutDown) this.state = State.Closed;
    else if (this.idleClosing) {
      this.idleClosing = false;
      this.state = State.Idle;
    } else {
      this.state = State.Backoff;
      this.reconnectTimer = setTimeout(() => {
        this.reconnectTimer = null;
        if (this.state === State.Backoff) this.open();
      }, this.backoffMs);
      this.backoffMs = Math.min(this.backoffMs * 2, BACKOFF_MAX_MS);
    }
    this.events.progress();
  }

  close(): void {
    this.shutDown = true;
    if (this.reconnectTimer !== null) clearTimeout(this.reconnectTimer);
    this.reconnectTimer = null;
    this.state = State.Closed;
    this.socket?.destroy();
  }
}
