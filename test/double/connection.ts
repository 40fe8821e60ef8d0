// One client connection: frames in, replies out, strictly in request order.
//
//   socket ──data──▶ Framer ──frames──▶ queue[head..] ──handle──▶ replies ──one write──▶ socket
//
// Like a server node, a connection serves one request at a time: a delayed or stalled record
// request holds back everything queued behind it, which keeps replies in order. Without
// faults the whole queue is answered synchronously and the replies of one read go out in one
// write(). When write() reports a full buffer the socket stops reading until 'drain'.

import type { Socket } from 'node:net';
import type { FaultState } from './faults.js';
import { FrameError, Framer, type Frame } from './framer.js';
import { RequestHandler } from './request-handler.js';
import { newConnectionAuth } from './security.js';

/** Compact the queue once this many answered frames sit at its front. */
const COMPACT_AFTER = 4096;

export class DoubleConnection {
  private readonly framer = new Framer();
  /** Set by a successful LOGIN or AUTHENTICATE on this connection. */
  private readonly auth = newConnectionAuth();
  private queue: Frame[] = [];
  private head = 0;
  private delayTimer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(
    readonly socket: Socket,
    private readonly handler: RequestHandler,
    private readonly faults: FaultState,
    onClose: (conn: DoubleConnection) => void,
  ) {
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('drain', () => socket.resume());
    // Resets are routine (an XDR source's health check opens and drops connections); the
    // 'close' that follows is what matters.
    socket.on('error', () => undefined);
    socket.on('close', () => {
      this.closed = true;
      clearTimeout(this.delayTimer);
      this.queue = [];
      onClose(this);
    });
  }

  destroy(): void {
    this.socket.destroy();
  }

  /** Answers whatever the current faults allow; called on data, after a delay and on release. */
  pump(): void {
    if (this.closed || this.delayTimer) return;
    const out: Buffer[] = [];
    while (this.head < this.queue.length) {
      const frame = this.queue[this.head]!;
      if (RequestHandler.isRecordFrame(frame)) {
        if (this.faults.stall) break;
        if (this.faults.delayMs > 0) {
          this.delayTimer = setTimeout(() => this.answerDelayed(frame), this.faults.delayMs);
          break;
        }
      }
      this.head++;
      out.push(this.handler.handle(frame, this.auth));
    }
    this.compact();
    this.send(out);
  }

  private answerDelayed(frame: Frame): void {
    this.delayTimer = undefined;
    if (this.closed) return;
    this.head++;
    this.send([this.handler.handle(frame, this.auth)]);
    this.pump();
  }

  private onData(chunk: Buffer): void {
    try {
      this.framer.push(chunk, (frame) => this.queue.push(frame));
    } catch (err) {
      if (!(err instanceof FrameError)) throw err;
      // A server drops a connection that breaks framing; nothing more is read from it.
      this.socket.destroy();
      return;
    }
    this.pump();
  }

  private compact(): void {
    if (this.head === this.queue.length) {
      this.queue = [];
      this.head = 0;
    } else if (this.head >= COMPACT_AFTER) {
      this.queue = this.queue.slice(this.head);
      this.head = 0;
    }
  }

  private send(replies: Buffer[]): void {
    if (replies.length === 0 || this.closed) return;
    const bytes = replies.length === 1 ? replies[0]! : Buffer.concat(replies);
    if (!this.socket.write(bytes)) this.socket.pause();
  }
}
