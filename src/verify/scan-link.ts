/**
 * One connection to one node for requests answered by many messages (scans, batch reads): one
 * request at a time; every as_msg of the answer goes to the caller's visitor, until the message
 * flagged LAST. Logs in first when credentials are set. A link that fails is dead: the pool
 * drops it.
 *
 *   request ─▶ frames ─▶ as_msg ─▶ visit(buf, cursor)   (buf valid only during the call)
 *                          └─ info3 LAST: result 0 or 2 resolves, anything else rejects
 */

import type { Socket } from 'node:net';
import { type Credentials, loginMessage } from '../destination/login.js';
import { type LinkAddress, type TlsSettings, openSocket } from '../destination/node-link.js';
import { FrameError, Framer, MessageType, ReplyCursor, ResultCode, frameErrorText } from '../protocol/index.js';
import { VerifyClusterError } from './errors.js';

const INFO3_LAST = 0x01;
/** A scan reply frame is a server's socket buffer or so; anything near this is not an answer. */
const MAX_FRAME = 128 * 1024 * 1024;

export type MessageVisitor = (buf: Buffer, msg: ReplyCursor) => void;

interface Pending {
  visit: MessageVisitor;
  resolve: () => void;
  reject: (err: Error) => void;
}

export class ScanLink {
  private readonly framer = new Framer(MAX_FRAME);
  private readonly cursor = new ReplyCursor();
  private pending: Pending | null = null;
  private timer: NodeJS.Timeout | null = null;
  private failure: Error | null = null;

  private constructor(
    private readonly socket: Socket,
    readonly where: string,
    private readonly idleMs: number,
  ) {}

  get dead(): boolean {
    return this.failure !== null;
  }

  static open(addr: LinkAddress, tls: TlsSettings | null, credentials: Credentials | null, idleMs: number): Promise<ScanLink> {
    const where = `${addr.host}:${addr.port}`;
    let link: ScanLink | undefined;
    return new Promise<ScanLink>((resolve, reject) => {
      let loginAnswer: ((body: Buffer) => void) | null = null;
      const socket = openSocket(addr, tls, (chunk) => {
        const err = link!.framer.push(chunk, {
          onFrame: (type, buf, start, end) => {
            if (type === MessageType.Security && loginAnswer !== null) loginAnswer(buf.subarray(start, end));
            else link!.onFrame(type, buf, start, end);
            return true;
          },
        });
        if (err !== FrameError.None) link!.fail(new VerifyClusterError(`${where}: ${frameErrorText(err)}`));
      });
      link = new ScanLink(socket, where, idleMs);
      const connectTimer = setTimeout(() => socket.destroy(new Error(`no connection within ${idleMs} ms`)), idleMs);
      socket.once(tls === null ? 'connect' : 'secureConnect', () => {
        clearTimeout(connectTimer);
        if (credentials === null) {
          resolve(link!);
          return;
        }
        loginAnswer = (body) => {
          loginAnswer = null;
          const result = body[1] ?? -1;
          if (result === ResultCode.Ok) resolve(link!);
          else {
            socket.destroy();
            reject(new VerifyClusterError(`${where}: login refused with result ${result}`));
          }
        };
        socket.write(loginMessage(credentials));
      });
      socket.on('error', (err) => {
        clearTimeout(connectTimer);
        const e = new VerifyClusterError(`${where}: ${err.message}`, { cause: err });
        link!.fail(e);
        reject(e);
      });
      socket.on('close', () => {
        clearTimeout(connectTimer);
        const e = new VerifyClusterError(`${where}: connection closed`);
        link!.fail(e);
        reject(e);
      });
    });
  }

  /** Send `msg`; resolves once the LAST message has arrived. */
  request(msg: Buffer, visit: MessageVisitor): Promise<void> {
    if (this.failure !== null) return Promise.reject(this.failure);
    if (this.pending !== null) return Promise.reject(new VerifyClusterError(`${this.where}: a request is already running on this link`));
    return new Promise<void>((resolve, reject) => {
      this.pending = { visit, resolve, reject };
      this.arm();
      this.socket.write(msg);
    });
  }

  close(): void {
    this.fail(new VerifyClusterError(`${this.where}: closed`));
  }

  private onFrame(type: number, buf: Buffer, start: number, end: number): void {
    const p = this.pending;
    if (p === null) {
      this.fail(new VerifyClusterError(`${this.where}: an answer nobody asked for`));
      return;
    }
    if (type !== MessageType.Record) {
      this.fail(new VerifyClusterError(`${this.where}: answered with message type ${type}`));
      return;
    }
    this.arm();
    const msg = this.cursor;
    for (let at = start; at < end; at = msg.end) {
      if (!msg.read(buf, at, end)) {
        this.fail(new VerifyClusterError(`${this.where}: malformed reply message`));
        return;
      }
      if (msg.info3 & INFO3_LAST) {
        this.pending = null;
        this.disarm();
        if (msg.resultCode === ResultCode.Ok || msg.resultCode === ResultCode.NotFound) p.resolve();
        else p.reject(new VerifyClusterError(`${this.where}: the request failed with result ${msg.resultCode}`));
        return;
      }
      try {
        p.visit(buf, msg);
      } catch (err) {
        this.fail(err as Error);
        return;
      }
    }
  }

  private arm(): void {
    this.disarm();
    this.timer = setTimeout(() => this.fail(new VerifyClusterError(`${this.where}: nothing received for ${this.idleMs} ms`)), this.idleMs);
  }

  private disarm(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
  }

  private fail(err: Error): void {
    if (this.failure !== null) return;
    this.failure = err;
    this.disarm();
    this.socket.destroy();
    const p = this.pending;
    this.pending = null;
    p?.reject(err);
  }
}
