/**
 * One source connection: frames requests, numbers them, hands records to the router, and writes
 * replies strictly in request order, coalesced into one write per batch.
 *
 *   socket 'data' ─▶ Framer ─▶ onFrame ─┬─ type 3 ─▶ scan ─▶ router.dispatch(worker ring)
 *                                        ├─ type 4 ─▶ inflate ─▶ (as type 3)
 *                                        ├─ type 2 ─▶ security reply (prepared, in its turn)
 *                                        └─ type 1 ─▶ info reply (prepared, in its turn)
 *   completions ─▶ window.complete ─▶ flush(): answered head run ─▶ one socket.write()
 *
 * Reading stops (the framer holds the rest of the chunk) when the window is full, the global budget
 * is spent, the worker's ring is full, or the socket's reply buffer is over its mark; nothing is
 * ever dropped.
 */

import type { Socket } from 'node:net';
import type { Logger } from 'pino';
import {
  CITRUSLEAF_EPOCH_MS,
  FrameError,
  Framer,
  type FrameSink,
  Info2,
  InflateError,
  MessageType,
  PROTO_HEADER_SIZE,
  REPLY_SIZE,
  ResultCode,
  Scan,
  ScanError,
  encodeInfoReply,
  encodeSecurityMessage,
  frameErrorText,
  inflateErrorText,
  inflateRecordMessage,
  newScan,
  parseInfoRequest,
  parseSecurityMessage,
  partitionOf,
  scanErrorText,
  scanRecordMessage,
  writeReply,
} from '../protocol/index.js';
import type { InFlightBudget, Resumable } from './in-flight-budget.js';
import { ReorderWindow } from './reorder-window.js';
import type { SourceStats } from './source-stats.js';
import type { Clock, RecordRouter, SessionLimits } from './types.js';

/** 1024 ready-made OK replies: a flush copies a run of them and patches the odd code. */
const OK_BLOCK_COUNT = 1024;
const OK_BLOCK = Buffer.alloc(OK_BLOCK_COUNT * REPLY_SIZE);
for (let i = 0; i < OK_BLOCK_COUNT; i++) writeReply(OK_BLOCK, i * REPLY_SIZE, ResultCode.Ok);
const RESULT_AT = PROTO_HEADER_SIZE + 5;

/** Shared scratch for scans: sessions run on one thread, one frame at a time. */
const scan = newScan();

export class Session implements FrameSink, Resumable {
  private readonly framer: Framer;
  private window: ReorderWindow | null = null;
  private bytesIn = 0;
  private closed = false;
  private readPaused = false;
  /** set while draining on shutdown: read nothing more, but keep answering */
  private stopped = false;
  readonly peer: string;

  constructor(
    readonly id: number,
    private readonly socket: Socket,
    private readonly limits: SessionLimits,
    private readonly router: RecordRouter,
    private readonly budget: InFlightBudget,
    private readonly stats: SourceStats,
    private readonly clock: Clock,
    private readonly log: Logger,
    private readonly onClose: (s: Session) => void,
  ) {
    this.peer = `${socket.remoteAddress ?? '?'}:${socket.remotePort ?? 0}`;
    this.framer = new Framer(limits.maxFrame);
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('drain', () => this.tryResume());
    socket.on('error', (err) => this.log.debug({ peer: this.peer, err: err.message }, 'source connection error'));
    socket.on('close', () => this.finish());
  }

  get inFlight(): number {
    return this.window?.size ?? 0;
  }

  private onData(chunk: Buffer): void {
    this.bytesIn += chunk.length;
    this.clock.now = performance.now();
    const err = this.framer.push(chunk, this);
    this.router.publish();
    if (err !== FrameError.None) {
      const header = this.framer.lastBadHeader?.toString('hex') ?? '';
      this.reject(`${frameErrorText(err)} (header ${header})`);
      return;
    }
    if (this.framer.paused) this.pauseReading();
  }

  onFrame(type: number, buf: Buffer, start: number, end: number): boolean {
    if (this.closed) return true;
    const window = (this.window ??= new ReorderWindow(this.limits.maxInFlightPerConnection));
    if (window.size >= this.limits.maxInFlightPerConnection || !this.budget.available || this.socket.writableNeedDrain) {
      if (!this.budget.available) this.budget.block(this);
      return false;
    }
    switch (type) {
      case MessageType.Record:
        return this.acceptRecord(window, buf, start, end);
      case MessageType.Compressed: {
        const res = inflateRecordMessage(buf, start, end, this.limits.maxFrame);
        if (res.error !== InflateError.None) {
          this.reject(inflateErrorText(res.error));
          return true;
        }
        this.stats.compressed++;
        return this.acceptRecord(window, res.message, PROTO_HEADER_SIZE, res.message.length);
      }
      case MessageType.Security:
        return this.acceptSecurity(window, buf, start, end);
      default:
        this.stats.infoMessages++;
        this.budget.take();
        window.openPrepared(this.clock.now, this.answerInfo(parseInfoRequest(buf, start, end)));
        this.flush();
        return true;
    }
  }

  private acceptRecord(window: ReorderWindow, buf: Buffer, start: number, end: number): boolean {
    const err = scanRecordMessage(buf, start, end, scan);
    if (err !== ScanError.None) {
      this.reject(scanErrorText(err));
      return true;
    }
    const lutAt = scan[Scan.LutFieldOffset]!;
    if (lutAt >= 0) {
      // Field: [u32 size][u8 type][u64 LUT]; the low 40 bits (bytes 3..7 of the u64) are ms since
      // 2010-01-01. Read them without a BigInt.
      const ms = buf[lutAt + 8]! * 0x100000000 + buf.readUInt32BE(lutAt + 9);
      this.stats.lag.observe((performance.timeOrigin + this.clock.now - CITRUSLEAF_EPOCH_MS - ms) / 1000);
    }
    if (this.limits.recordLog !== null) this.limits.recordLog(buf, start, end);
    const info2 = buf[start + 2]!;
    if (this.limits.paused) {
      // Paused: the source keeps the record and ships it again later.
      this.stats.records++;
      this.stats.pausedRetries++;
      this.budget.take();
      window.complete(window.open(this.clock.now, -1), ResultCode.Unavailable);
      this.flush();
      return true;
    }
    if ((info2 & Info2.Write) !== 0 && (info2 & Info2.Delete) === 0 && scan[Scan.OpCount] === 0) {
      // A no-bins write carries nothing a destination can store (it answers 4): acknowledge it here.
      this.stats.records++;
      this.stats.noBins++;
      this.budget.take();
      window.complete(window.open(this.clock.now, -1), ResultCode.Ok);
      this.flush();
      return true;
    }
    const worker = this.router.workerFor(partitionOf(buf, scan[Scan.DigestOffset]!));
    if (!this.router.fits(worker, end - start)) {
      this.router.waitForRoom(this);
      return false;
    }
    this.stats.records++;
    this.budget.take();
    const seq = window.open(this.clock.now, worker);
    this.router.dispatch(worker, this.id, seq, buf, start, end);
    return true;
  }

  private acceptSecurity(window: ReorderWindow, buf: Buffer, start: number, end: number): boolean {
    this.stats.securityMessages++;
    const msg = parseSecurityMessage(buf, start, end);
    if (msg === null) {
      this.reject('malformed security message');
      return true;
    }
    // No source authentication is configured: a source treats 52 as "security not configured" and
    // carries on without a session token.
    this.budget.take();
    window.openPrepared(this.clock.now, encodeSecurityMessage(msg.command, ResultCode.SecurityNotConfigured, []));
    this.flush();
    return true;
  }

  private answerInfo(names: string[]): Buffer {
    const values = new Map<string, string>();
    for (const name of names) values.set(name, this.limits.info(name));
    return encodeInfoReply(values);
  }

  /** Record a result for `seq`; the caller flushes once per batch. Returns whether it was new. */
  complete(seq: number, code: number): boolean {
    return this.window !== null && this.window.complete(seq, code);
  }

  /** Answer `code` to every record past its deadline (arrived at or before `cutoff`). */
  expire(cutoff: number, code: number): number {
    if (this.window === null || this.window.size === 0) return 0;
    const n = this.window.expire(cutoff, code);
    if (n > 0) this.flush();
    return n;
  }

  failWorker(worker: number, code: number): number {
    if (this.window === null) return 0;
    const n = this.window.failWorker(worker, code);
    if (n > 0) this.flush();
    return n;
  }

  /** Write every answered request at the head of the window, in order, in one write. */
  flush(): void {
    const window = this.window;
    if (window === null || !window.headReady()) return;
    const ready = window.readyCount();
    const parts: Buffer[] = [];
    let run = Buffer.allocUnsafe(Math.min(ready, OK_BLOCK_COUNT) * REPLY_SIZE);
    let used = 0;
    const replies = this.stats.replies;
    const ack = this.stats.ackLatency;
    const now = performance.now();
    const released = window.drain((code, prepared, arrival) => {
      ack.observe((now - arrival) / 1000);
      if (prepared !== undefined) {
        if (used > 0) parts.push(run.subarray(0, used));
        parts.push(prepared);
        run = run.subarray(used);
        used = 0;
        return;
      }
      if (used + REPLY_SIZE > run.length) {
        parts.push(run.subarray(0, used));
        run = Buffer.allocUnsafe(OK_BLOCK.length);
        used = 0;
      }
      OK_BLOCK.copy(run, used, 0, REPLY_SIZE);
      if (code !== ResultCode.Ok) run[used + RESULT_AT] = code;
      replies[code & 0xff]!++;
      used += REPLY_SIZE;
    });
    if (used > 0) parts.push(run.subarray(0, used));
    this.budget.give(released);
    if (this.closed) return;
    const out = parts.length === 1 ? parts[0]! : Buffer.concat(parts);
    this.socket.write(out);
    this.budget.wake();
    if (this.readPaused) this.tryResume();
  }

  /** Read again if whatever stopped this session has cleared. */
  tryResume(): void {
    if (this.closed || this.stopped) return;
    if (this.framer.paused) {
      const err = this.framer.resume(this);
      this.router.publish();
      if (err !== FrameError.None) {
        this.reject(frameErrorText(err));
        return;
      }
      if (this.framer.paused) return;
    }
    if (this.readPaused) {
      this.readPaused = false;
      this.socket.resume();
    }
  }

  private pauseReading(): void {
    if (this.readPaused) return;
    this.readPaused = true;
    this.stats.readPauses++;
    this.socket.pause();
  }

  /** A malformed stream: logged once with the peer, counted, and only this connection closed. */
  private reject(reason: string): void {
    if (this.closed) return;
    this.stats.protocolErrors++;
    this.log.warn({ peer: this.peer, reason }, 'closing source connection: malformed input');
    this.socket.destroy();
    this.finish();
  }

  private finish(): void {
    if (this.closed) return;
    this.closed = true;
    this.budget.forget(this);
    const pending = this.window?.size ?? 0;
    this.budget.give(pending);
    if (this.bytesIn === 0) this.stats.healthChecks++;
    this.stats.connectionsClosed++;
    this.log.debug({ peer: this.peer, bytes: this.bytesIn, unanswered: pending }, this.bytesIn === 0 ? 'health-check connection closed' : 'source connection closed');
    this.onClose(this);
    this.budget.wake();
  }

  /** Stop reading for good; answered requests still flush (used while draining on shutdown). */
  stopReading(): void {
    this.stopped = true;
    this.readPaused = true;
    this.socket.pause();
  }

  destroy(): void {
    this.socket.destroy();
    this.finish();
  }

  /** End the connection once every reply is written. */
  end(): void {
    if (!this.closed) this.socket.end();
  }
}
