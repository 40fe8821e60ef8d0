/**
 * A client socket, clear or TLS, that cuts what it receives into whole proto frames, for raw
 * protocol tests. Test files extend it with their own request helpers.
 */

import * as net from 'node:net';
import * as tls from 'node:tls';

export interface Frame {
  version: number;
  type: number;
  body: Buffer;
  /** Whole frame length, header included. */
  size: number;
}

export class FrameSocket {
  private buffered = Buffer.alloc(0);
  private readonly frames: Frame[] = [];
  private wake: (() => void) | undefined;
  readonly closed: Promise<void>;

  constructor(readonly socket: net.Socket) {
    socket.on('data', (chunk: Buffer) => {
      this.buffered = Buffer.concat([this.buffered, chunk]);
      while (this.buffered.length >= 8) {
        const size = 8 + this.buffered.readUIntBE(2, 6);
        if (this.buffered.length < size) break;
        const frame = this.buffered.subarray(0, size);
        this.frames.push({ version: frame[0]!, type: frame[1]!, body: Buffer.from(frame.subarray(8)), size });
        this.buffered = this.buffered.subarray(size);
      }
      this.wake?.();
    });
    socket.on('error', () => undefined);
    this.closed = new Promise((resolve) =>
      socket.once('close', () => {
        resolve();
        this.wake?.();
      }),
    );
  }

  static open<T extends FrameSocket>(this: new (socket: net.Socket) => T, port: number): Promise<T> {
    return new Promise((resolve, reject) => {
      const socket = net.connect({ host: '127.0.0.1', port }, () => resolve(new this(socket)));
      socket.once('error', reject);
    });
  }

  static openTls<T extends FrameSocket>(this: new (socket: net.Socket) => T, port: number, opts: tls.ConnectionOptions): Promise<T> {
    return new Promise((resolve, reject) => {
      const socket = tls.connect({ host: '127.0.0.1', port, ...opts }, () => resolve(new this(socket)));
      socket.once('error', reject);
    });
  }

  send(bytes: Buffer): void {
    this.socket.write(bytes);
  }

  /** Waits for `n` frames and takes them. */
  async take(n: number, timeoutMs = 10_000): Promise<Frame[]> {
    const deadline = Date.now() + timeoutMs;
    while (this.frames.length < n) {
      const left = deadline - Date.now();
      if (left <= 0 || this.socket.destroyed) throw new Error(n === 1 ? 'expected a frame, got none' : `expected ${n} frames, got ${this.frames.length}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.min(left, 100));
        this.wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
    return this.frames.splice(0, n);
  }

  async one(timeoutMs = 10_000): Promise<Frame> {
    const [frame] = await this.take(1, timeoutMs);
    return frame!;
  }

  pendingFrames(): number {
    return this.frames.length;
  }

  close(): void {
    this.socket.destroy();
  }
}
