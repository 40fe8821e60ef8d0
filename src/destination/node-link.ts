/**
 * A persistent request/reply connection to one destination node, for the tender: info requests,
 * LOGIN, AUTHENTICATE. One request at a time, in order; a failure rejects what is queued, and the
 * next request reconnects. Plain TCP or TLS.
 */

import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { FrameError, Framer, MessageType, encodeInfoRequest, parseInfoReply } from '../protocol/index.js';
import { FerryError } from '../errors.js';

export interface TlsSettings {
  ca: Buffer | undefined;
  cert: Buffer | undefined;
  key: Buffer | undefined;
}

export interface LinkAddress {
  host: string;
  port: number;
  tlsName: string | undefined;
}

export class LinkError extends FerryError {
  readonly code = 'ERR_DESTINATION_LINK';
  readonly retriable = true;
}

interface Pending {
  msg: Buffer;
  resolve: (r: { type: number; body: Buffer }) => void;
  reject: (e: Error) => void;
}

/**
 * Where plain-TCP sockets opened with a reader receive: one buffer per thread, reused for every
 * read. A reader consumes its bytes before returning (the framer copies any partial frame), and
 * a thread runs one read callback at a time, so the sockets can share it.
 */
const READ_BUFFER = Buffer.allocUnsafe(64 * 1024);

/**
 * Open a connection to a node; every read is handed to `onData`, which must consume it before it
 * returns (plain TCP: a view of a buffer reused for the next read, so no allocation and no stream
 * machinery per read; TLS: the 'data' chunk).
 */
export function openSocket(addr: LinkAddress, tls: TlsSettings | null, onData: (chunk: Buffer) => void): Socket {
  if (tls === null) {
    return netConnect({
      host: addr.host,
      port: addr.port,
      noDelay: true,
      onread: {
        buffer: READ_BUFFER,
        callback: (n: number, buf: Uint8Array): boolean => {
          onData((buf as Buffer).subarray(0, n));
          return true;
        },
      },
    });
  }
  const socket = tlsConnect({
    host: addr.host,
    port: addr.port,
    // Without a TLS name Node sends the host as SNI (never an IP address, which SNI may not carry
    // and which Node warns about) and checks the certificate against the host, IP or name.
    ...(addr.tlsName === undefined ? {} : { servername: addr.tlsName }),
    ...(tls.ca === undefined ? {} : { ca: tls.ca }),
    ...(tls.cert === undefined ? {} : { cert: tls.cert }),
    ...(tls.key === undefined ? {} : { key: tls.key }),
  });
  socket.setNoDelay(true);
  socket.on('data', onData);
  return socket;
}

export class NodeLink {
  private socket: Socket | null = null;
  private ready: Promise<void> | null = null;
  private readonly queue: Pending[] = [];
  private busy: Pending | null = null;
  private framer = new Framer(64 * 1024 * 1024);
  private timer: NodeJS.Timeout | null = null;

  constructor(
    readonly addr: LinkAddress,
    private readonly tls: TlsSettings | null,
    private readonly timeoutMs: number,
    /** sent first on every new connection (AUTHENTICATE), and checked for result 0 */
    private readonly greeting: () => Buffer | null,
  ) {}

  async info(names: readonly string[]): Promise<Map<string, string>> {
    const r = await this.request(encodeInfoRequest(names));
    if (r.type !== MessageType.Info) throw new LinkError(`${this.where()}: info answered with message type ${r.type}`);
    return parseInfoReply(r.body, 0, r.body.length);
  }

  async request(msg: Buffer): Promise<{ type: number; body: Buffer }> {
    await this.connect();
    return this.send(msg);
  }

  private where(): string {
    return `${this.addr.host}:${this.addr.port}`;
  }

  private send(msg: Buffer): Promise<{ type: number; body: Buffer }> {
    return new Promise((resolve, reject) => {
      this.queue.push({ msg, resolve, reject });
      this.pump();
    });
  }

  private connect(): Promise<void> {
    this.ready ??= new Promise<void>((resolve, reject) => {
      // Each reply body is copied out before the read buffer is reused.
      const socket = openSocket(this.addr, this.tls, (chunk) => {
        const err = this.framer.push(chunk, {
          onFrame: (type, buf, start, end) => {
            const p = this.busy;
            this.busy = null;
            if (this.timer !== null) clearTimeout(this.timer);
            p?.resolve({ type, body: Buffer.from(buf.subarray(start, end)) });
            this.pump();
            return true;
          },
        });
        if (err !== FrameError.None) socket.destroy(new Error('malformed reply'));
      });
      this.socket = socket;
      this.framer = new Framer(64 * 1024 * 1024);
      const fail = (err: Error): void => {
        this.drop(new LinkError(`${this.where()}: ${err.message}`));
        reject(new LinkError(`${this.where()}: ${err.message}`));
      };
      const t = setTimeout(() => socket.destroy(new Error(`no connection within ${this.timeoutMs} ms`)), this.timeoutMs);
      socket.once(this.tls === null ? 'connect' : 'secureConnect', () => {
        clearTimeout(t);
        const hello = this.greeting();
        if (hello === null) {
          resolve();
          return;
        }
        this.send(hello).then((r) => {
          if (r.type === MessageType.Security && r.body.length >= 2 && r.body[1] === 0) resolve();
          else {
            const code = r.body[1] ?? -1;
            socket.destroy();
            reject(new LinkError(`${this.where()}: authentication refused with result ${code}`));
          }
        }, reject);
      });
      socket.on('error', (err) => {
        clearTimeout(t);
        fail(err);
      });
      socket.on('close', () => {
        clearTimeout(t);
        fail(new Error('connection closed'));
      });
    });
    return this.ready;
  }

  private pump(): void {
    if (this.busy !== null || this.socket === null) return;
    const next = this.queue.shift();
    if (next === undefined) return;
    this.busy = next;
    this.timer = setTimeout(() => this.socket?.destroy(new Error(`no answer within ${this.timeoutMs} ms`)), this.timeoutMs);
    this.socket.write(next.msg);
  }

  private drop(err: Error): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    this.socket?.destroy();
    this.socket = null;
    this.ready = null;
    const all = this.busy === null ? this.queue.splice(0) : [this.busy, ...this.queue.splice(0)];
    this.busy = null;
    for (const p of all) p.reject(err);
  }

  close(): void {
    this.drop(new LinkError(`${this.where()}: closed`));
  }
}
