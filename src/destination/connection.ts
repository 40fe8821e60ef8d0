/**
 * One persistent, pipelined connection to a destination node.
 *
 *   requests:  reserve() + commit() append to the out chunk ──flush()──▶ socket (one write per batch)
 *   replies:   socket ─▶ Framer ─▶ result code ─▶ pending FIFO head (connection, seq) ─▶ onReply
 *
 *   pending FIFO (Uint32 pairs, power of two ≥ depth):
 *     [ (conn, seq) oldest ] ... [ (conn, seq) newest ]   a node answers one connection in order
 *
 * At most `depth` requests are in flight. When the socket closes, every pending request is failed
 * with ConnectionLost (or Timeout when the silence timer closed it), and the connection reconnects
 * with exponential backoff.
 */

import { type Socket, connect } from 'node:net';
import { FrameError, Framer, type FrameSink, MessageType } from '../protocol/index.js';

export interface ConnectionEvents {
  /** A destination reply for one request. */
  reply(connection: number, seq: number, code: number): void;
  /** A request that will get no reply; `outcome` says why. */
  failed(connection: number, seq: number, outcome: number): void;
  /** A batch of replies was handled (publish completions, unblock). */
  progress(): void;
  up(): void;
  down(reason: string): void;
}

export interface ConnectionOptions {
  host: string;
  port: number;
  depth: number;
  connectTimeoutMs: number;
  /** outcome codes to use when failing pending requests */
  lostOutcome: number;
  timeoutOutcome: number;
}

const CHUNK = 256 * 1024;
const MAX_REPLY = 16 * 1024 * 1024;
const BACKOFF_MIN_MS = 50;
const BACKOFF_MAX_MS = 5000;

export class DestinationConnection implements FrameSink {
  private socket: Socket | null = null;
  private ready = false;
  private closedForGood = false;
  private framer = new Framer(MAX_REPLY);
  private readonly fifo: Uint32Array;
  private readonly fifoMask: number;
  private fifoHead = 0;
  private fifoTail = 0;
  private out: Buffer = Buffer.allocUnsafe(CHUNK);
  private outPos = 0;
  private flushedPos = 0;
  private backoffMs = BACKOFF_MIN_MS;
  private reconnectTimer: NodeJS.Timeout | null = null;
  private failReason: 'lost' | 'timeout' = 'lost';
  /** last time a reply arrived or the pipeline went from empty to busy */
  lastProgress = 0;

  constructor(
    private readonly opts: ConnectionOptions,
    private readonly events: ConnectionEvents,
  ) {
    let cap = 16;
    while (cap < opts.depth) cap *= 2;
    this.fifo = new Uint32Array(cap * 2);
    this.fifoMask = cap - 1;
  }

  get isReady(): boolean {
    return this.ready;
  }

  get inFlight(): number {
    return (this.fifoTail - this.fifoHead) >>> 0;
  }

  get hasRoom(): boolean {
    return this.ready && this.inFlight < this.opts.depth;
  }

  open(): void {
    if (this.closedForGood || this.socket !== null) return;
    const socket = connect({ host: this.opts.host, port: this.opts.port, noDelay: true });
    this.socket = socket;
    this.framer = new Framer(MAX_REPLY);
    this.failReason = 'lost';
    const timer = setTimeout(() => socket.destroy(new Error('connect timeout')), this.opts.connectTimeoutMs);
    socket.once('connect', () => {
      clearTimeout(timer);
      this.ready = true;
      this.backoffMs = BACKOFF_MIN_MS;
      this.events.up();
    });
    socket.on('data', (chunk: Buffer) => {
      const err = this.framer.push(chunk, this);
      if (err !== FrameError.None) socket.destroy(new Error('malformed reply from destination'));
      this.events.progress();
    });
    socket.on('error', () => {
      // 'close' follows and does the work.
    });
    socket.on('close', () => {
      clearTimeout(timer);
      this.onClosed();
    });
  }

  onFrame(type: number, buf: Buffer, start: number, end: number): boolean {
    if (type !== MessageType.Record || end - start < 22 || this.fifoHead === this.fifoTail) {
      this.socket?.destroy(new Error('unexpected message from destination'));
      return true;
    }
    const i = (this.fifoHead & this.fifoMask) * 2;
    this.fifoHead = (this.fifoHead + 1) >>> 0;
    this.lastProgress = performance.now();
    this.events.reply(this.fifo[i]!, this.fifo[i + 1]!, buf[start + 5]!);
    return true;
  }

  /** Room for `length` bytes in the out chunk; returns the offset to write at in `buffer`. */
  reserve(length: number): number {
    if (this.outPos + length > this.out.length) {
      // The socket may still hold views of the old chunk: start a new one, never reuse it.
      this.flush();
      this.out = Buffer.allocUnsafe(Math.max(CHUNK, length));
      this.outPos = 0;
      this.flushedPos = 0;
    }
    return this.outPos;
  }

  get buffer(): Buffer {
    return this.out;
  }

  /** The request of `length` bytes written at reserve()'s offset belongs to (connection, seq). */
  commit(length: number, connection: number, seq: number): void {
    if (this.fifoHead === this.fifoTail) this.lastProgress = performance.now();
    const i = (this.fifoTail & this.fifoMask) * 2;
    this.fifo[i] = connection;
    this.fifo[i + 1] = seq;
    this.fifoTail = (this.fifoTail + 1) >>> 0;
    this.outPos += length;
  }

  /** Send everything committed since the last flush, in one write. */
  flush(): number {
    const n = this.outPos - this.flushedPos;
    if (n === 0 || this.socket === null) return 0;
    this.socket.write(this.out.subarray(this.flushedPos, this.outPos));
    this.flushedPos = this.outPos;
    return n;
  }

  /** Close the connection if requests wait longer than `timeoutMs` for a reply. */
  checkTimeout(now: number, timeoutMs: number): void {
    if (this.inFlight > 0 && now - this.lastProgress > timeoutMs && this.socket !== null) {
      this.failReason = 'timeout';
      this.socket.destroy(new Error('destination timeout'));
    }
  }

  private onClosed(): void {
    const wasReady = this.ready;
    this.socket = null;
    this.ready = false;
    const outcome = this.failReason === 'timeout' ? this.opts.timeoutOutcome : this.opts.lostOutcome;
    while (this.fifoHead !== this.fifoTail) {
      const i = (this.fifoHead & this.fifoMask) * 2;
      this.fifoHead = (this.fifoHead + 1) >>> 0;
      this.events.failed(this.fifo[i]!, this.fifo[i + 1]!, outcome);
    }
    this.outPos = 0;
    this.flushedPos = 0;
    this.events.down(wasReady ? `connection ${this.failReason}` : 'connect failed');
    this.events.progress();
    if (this.closedForGood) return;
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = null;
      this.open();
    }, this.backoffMs);
    this.backoffMs = Math.min(this.backoffMs * 2, BACKOFF_MAX_MS);
  }

  close(): void {
    this.closedForGood = true;
    if (this.reconnectTimer !== null) clearTimeout(this.reconnectTimer);
    this.socket?.destroy();
  }
}
