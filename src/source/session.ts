/**
 * One source connection: frames requests, numbers them, hands records to the router, and writes
 * replies strictly in request order, coalesced into one write per batch.
 *
 *   socket read into the arena ─▶ InPlaceReader ─▶ onFrame ─┬─ type 3 ─▶ scan ─▶ router.dispatch(worker ring)
 *                                        ├─ type 4 ─▶ inflate ─▶ (as type 3)
 *                                        ├─ type 2 ─▶ LOGIN / AUTHENTICATE reply (prepared, in its turn)
 *                                        └─ type 1 ─▶ info reply (prepared, in its turn)
 *   completions ─▶ window.complete ─▶ flush(): answered head run ─▶ one socket.write()
 *
 * A plain TCP socket reads straight into a slab of the source arena (`Session.adopt`), so records
 * go to the workers by reference; a TLS socket's decrypted chunks are copied into it.
 *
 * Reading stops (the reader keeps the unframed bytes) when the window is full, the global budget
 * is spent, the worker's ring is full, or the socket's reply buffer is over its mark; nothing is
 * ever dropped.
 *
 * With `service.security` on, a connection's records are taken only while it holds a session: a
 * LOGIN or AUTHENTICATE answered 0 opens one until the token's expiry. Before that (or after it),
 * each record is answered 80 "not authenticated" in its turn; that is a retry code, so the source
 * logs in again and re-ships. Three failed attempts in a row close the connection.
 */

import type { Socket } from 'node:net';
import {
  FrameError,
  type FrameSink,
  MessageType,
  PROTO_HEADER_SIZE,
  REPLY_SIZE,
  ResultCode,
  SecurityCommand,
  SecurityField,
  type SecurityMessage,
  encodeInfoReply,
  encodeSecurityMessage,
  frameErrorText,
  parseInfoRequest,
  parseSecurityMessage,
  writeReply,
} from '../protocol/index.js';
import { InPlaceReader } from './in-place-reader.js';
import { readInPlace } from './in-place-socket.js';
import { Intake, answerHere, takeRecord } from './record-intake.js';
import type { ReorderWindow } from './reorder-window.js';
import { type SessionContext, WindowedSession } from './windowed-session.js';

/** 1024 ready-made OK replies: a flush copies a run of them and patches the odd code. */
const OK_BLOCK_COUNT = 1024;
const OK_BLOCK = Buffer.alloc(OK_BLOCK_COUNT * REPLY_SIZE);
for (let i = 0; i < OK_BLOCK_COUNT; i++) writeReply(OK_BLOCK, i * REPLY_SIZE, ResultCode.Ok);
const RESULT_AT = PROTO_HEADER_SIZE + 5;


/**
 * Failed LOGIN / AUTHENTICATE attempts in a row (unknown user, wrong credential, invalid token)
 * after which the connection is closed. A source with the right password needs one attempt; this
 * caps guessing to three per connection (each new connection costs the guesser a TCP and, with TLS,
 * a handshake). An expired token does not count: it is the routine way back to LOGIN.
 */
export const MAX_FAILED_LOGINS = 3;

/** A user name as it may appear in a log line: printable, and short. */
function loggableUser(user: string): string {
  const clean = user.replace(/[^\x20-\x7e]/g, '?');
  return clean.length > 64 ? `${clean.slice(0, 64)}…` : clean;
}

export class Session extends WindowedSession implements FrameSink {
  private readonly reader: InPlaceReader;
  private bytesIn = 0;
  private readPaused = false;
  /** when the socket last refused more reply bytes (its buffer is over the mark); 0 = flowing */
  private repliesStuckSince = 0;
  /** set while draining on shutdown: read nothing more, but keep answering */
  private stopped = false;
  /** with security on: records are taken while clock.now < this (performance.now() time); Infinity when off */
  private authUntil: number;
  private failedLogins = 0;
  /** too many failed logins: end the connection once every reply is written */
  private ending = false;

  /**
   * A plain TCP connection, accepted paused: it reads straight into the source arena. Null when it
   * closed before it could be taken over.
   */
  static adopt(id: number, raw: Socket, ctx: SessionContext): Session | null {
    const reader = new InPlaceReader(ctx.router.arena, ctx.limits.maxFrame);
    let session: Session | null = null;
    const socket = readInPlace(
      raw,
      () => reader.readBuffer(),
      (n) => session!.onRead(n),
    );
    if (socket === null) {
      reader.close();
      return null;
    }
    session = new Session(id, socket, ctx, reader);
    socket.resume();
    return session;
  }

  /** A connection read through 'data' events (TLS): each chunk is copied into the reader. */
  static streamed(id: number, socket: Socket, ctx: SessionContext): Session {
    const session = new Session(id, socket, ctx, new InPlaceReader(ctx.router.arena, ctx.limits.maxFrame));
    socket.on('data', (chunk: Buffer) => session.onData(chunk));
    return session;
  }

  private constructor(id: number, socket: Socket, ctx: SessionContext, reader: InPlaceReader) {
    super(id, socket, ctx);
    this.reader = reader;
    this.authUntil = (this.limits.auth ?? null) === null ? Number.POSITIVE_INFINITY : 0;
    socket.setNoDelay(true);
    socket.on('drain', () => {
      this.repliesStuckSince = 0;
      this.tryResume();
    });
    socket.on('error', (err) => this.log.debug({ peer: this.peer, err: err.message }, 'source connection error'));
    socket.on('close', () => this.finish());
  }

  /** `n` bytes were read into the reader's room; false stops reading. */
  private onRead(n: number): boolean {
    this.bytesIn += n;
    this.clock.now = performance.now();
    this.clock.epochMs = performance.timeOrigin + this.clock.now;
    return this.afterRead(this.reader.received(n, this));
  }

  private onData(chunk: Buffer): void {
    this.bytesIn += chunk.length;
    this.clock.now = performance.now();
    this.clock.epochMs = performance.timeOrigin + this.clock.now;
    this.afterRead(this.reader.push(chunk, this));
  }

  /** Publish what the read dispatched; close on a malformed stream, pause on a refusal. */
  private afterRead(err: FrameError): boolean {
    this.router.publish();
    if (err !== FrameError.None) {
      const header = this.reader.lastBadHeader?.toString('hex') ?? '';
      this.reject(`${frameErrorText(err)} (header ${header})`);
      return false;
    }
    if (this.reader.paused) {
      this.pauseReading();
      return false;
    }
    return !this.closed;
  }

  onFrame(type: number, buf: Buffer, start: number, end: number): boolean {
    if (this.closed) return true;
    if (this.ending) return false;
    const window = this.openWindow();
    // Replies over the socket's mark (its last write returned false, no 'drain' yet): read no more.
    if (window.size >= this.limits.maxInFlightPerConnection || !this.budget.available || this.repliesStuckSince !== 0) {
      if (!this.budget.available) this.budget.block(this);
      return false;
    }
    // One comparison per frame: Infinity when security is off. Refused before inflating or scanning,
    // so nothing from an unauthenticated peer is decoded or logged.
    if (this.clock.now >= this.authUntil && (type === MessageType.Record || type === MessageType.Compressed)) {
      this.refuseUnauthenticated(window);
      return true;
    }
    switch (type) {
      case MessageType.Record:
      case MessageType.Compressed:
        return this.acceptRecord(window, type, buf, start, end);
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

  private acceptRecord(window: ReorderWindow, type: number, buf: Buffer, start: number, end: number): boolean {
    const r = takeRecord(this.intake, this, window, type, buf, start, end);
    if (typeof r === 'string') {
      this.reject(r);
      return true;
    }
    if (r === Intake.Answered) this.flush();
    return r !== Intake.NoRoom;
  }

  /** 80 in its turn: the source logs in again and re-ships the record. */
  private refuseUnauthenticated(window: ReorderWindow): void {
    this.stats.notAuthenticated++;
    answerHere(this.intake, window, ResultCode.NotAuthenticated);
    this.flush();
  }


  private acceptSecurity(window: ReorderWindow, buf: Buffer, start: number, end: number): boolean {
    this.stats.securityMessages++;
    const msg = parseSecurityMessage(buf, start, end);
    if (msg === null) {
      this.reject('malformed security message');
      return true;
    }
    const auth = this.limits.auth ?? null;
    // Without source authentication, a source treats 52 as "security not configured" and carries on
    // without a session token.
    const reply = auth === null ? encodeSecurityMessage(msg.command, ResultCode.SecurityNotConfigured, []) : this.answerSecurity(msg);
    this.budget.take();
    window.openPrepared(this.clock.now, reply);
    this.flush();
    return true;
  }

  /**
   * LOGIN and AUTHENTICATE against `service.security`. The session (and so whether records are
   * taken) changes here, in request order: records after a successful LOGIN on the same connection
   * are taken, records before it were answered 80. Nothing secret (credential, token, clear
   * password) is ever logged: only the user name and the result code.
   */
  private answerSecurity(msg: SecurityMessage): Buffer {
    const auth = this.limits.auth!;
    const user = msg.fields.get(SecurityField.User)?.toString('utf8') ?? '';
    let code: number;
    let reply: Buffer;
    let expiresAtMs = 0;
    if (msg.command === SecurityCommand.Login) {
      const r = auth.login(user, msg.fields.get(SecurityField.Credential));
      code = r.code;
      if (r.code === ResultCode.Ok) {
        const ttl = Buffer.allocUnsafe(4);
        ttl.writeUInt32BE(r.ttlS);
        expiresAtMs = r.expiresAtMs;
        reply = encodeSecurityMessage(msg.command, ResultCode.Ok, [
          [SecurityField.SessionToken, r.token],
          [SecurityField.SessionTtl, ttl],
        ]);
      } else reply = encodeSecurityMessage(msg.command, code, []);
    } else if (msg.command === SecurityCommand.Authenticate) {
      const r = auth.authenticate(user, msg.fields.get(SecurityField.SessionToken));
      code = r.code;
      if (r.code === ResultCode.Ok) expiresAtMs = r.expiresAtMs;
      // The source expects exactly the 24-byte reply: header and result, no fields.
      reply = encodeSecurityMessage(msg.command, code, []);
    } else {
      // User and role administration is not something a connector serves.
      this.log.debug({ peer: this.peer, command: msg.command }, 'security command not supported');
      return encodeSecurityMessage(msg.command, ResultCode.SecurityNotSupported, []);
    }
    const command = msg.command === SecurityCommand.Login ? 'login' : 'authenticate';
    if (code === ResultCode.Ok) {
      this.stats.loginsOk++;
      this.failedLogins = 0;
      // The session runs until the token expires; kept in the clock's time base so the per-record
      // check is one comparison with no Date.now().
      this.authUntil = this.clock.now + (expiresAtMs - Date.now());
      this.log.debug({ peer: this.peer, user: loggableUser(user), command, result: code }, 'source logged in');
      return reply;
    }
    // A failed attempt ends any session this connection had.
    this.authUntil = 0;
    if (code === ResultCode.ExpiredSession) {
      this.stats.loginsExpired++;
      this.log.debug({ peer: this.peer, user: loggableUser(user), command, result: code }, 'source session expired');
      return reply;
    }
    this.stats.loginsFailed++;
    this.failedLogins++;
    this.log.debug({ peer: this.peer, user: loggableUser(user), command, result: code, attempt: this.failedLogins }, 'source login refused');
    if (this.failedLogins >= MAX_FAILED_LOGINS) {
      this.warn(String(code), { peer: this.peer, user: loggableUser(user), attempts: this.failedLogins, result: code }, 'closing source connection: too many failed logins');
      this.endAfterReplies();
    }
    return reply;
  }

  /** Read nothing more; once every reply (the last refusal included) is written, close. */
  private endAfterReplies(): void {
    this.ending = true;
    this.stopped = true;
    this.readPaused = true;
    this.socket.pause();
  }

  /** While ending: once nothing is left to answer, flush the socket and close it. */
  private endIfAnswered(): void {
    if (this.closed || (this.window?.size ?? 0) > 0 || this.socket.writableEnded) return;
    this.socket.end(() => this.socket.destroy());
  }

  private answerInfo(names: string[]): Buffer {
    const values = new Map<string, string>();
    for (const name of names) values.set(name, this.limits.info(name));
    return encodeInfoReply(values);
  }

  /**
   * Write every answered request at the head of the window, in order, in one write. The run of
   * replies is filled from ready-made OK replies in bulk; only other codes are patched in, and a
   * prepared message (security, info) is spliced in where its request stood.
   */
  flush(): void {
    const window = this.window;
    if (window === null || !window.headReady()) {
      if (this.ending) this.endIfAnswered();
      return;
    }
    const ready = window.readyCount();
    const out = Buffer.allocUnsafe(ready * REPLY_SIZE);
    for (let done = 0; done < ready; done += OK_BLOCK_COUNT) {
      const n = Math.min(OK_BLOCK_COUNT, ready - done);
      OK_BLOCK.copy(out, done * REPLY_SIZE, 0, n * REPLY_SIZE);
    }
    let parts: Buffer[] | null = null;
    let segment = 0;
    let i = 0;
    const replies = this.stats.replies;
    const ack = this.stats.ackLatency;
    const now = performance.now();
    const released = window.drain((code, prepared, arrival) => {
      ack.observe((now - arrival) / 1000);
      if (prepared !== undefined) {
        parts ??= [];
        parts.push(out.subarray(segment * REPLY_SIZE, i * REPLY_SIZE), prepared);
        segment = i + 1;
      } else {
        if (code !== ResultCode.Ok) out[i * REPLY_SIZE + RESULT_AT] = code;
        replies[code & 0xff]!++;
      }
      i++;
    });
    this.budget.give(released);
    if (this.closed) return;
    let data = out;
    if (parts !== null) {
      (parts as Buffer[]).push(out.subarray(segment * REPLY_SIZE));
      data = Buffer.concat(parts);
    }
    if (!this.socket.write(data) && this.repliesStuckSince === 0) this.repliesStuckSince = performance.now();
    this.budget.wake();
    if (this.ending) this.endIfAnswered();
    else if (this.readPaused) this.tryResume();
  }

  /**
   * A source that stops reading its replies: reading from it has stopped already (so its reply
   * buffer is bounded by its window); after `slowReaderMs` the connection is closed, once, with a
   * clear log line. Returns whether it was closed.
   */
  checkSlowReader(now: number): boolean {
    if (this.closed || this.repliesStuckSince === 0 || now - this.repliesStuckSince < this.limits.slowReaderMs) return false;
    this.stats.slowReaders++;
    this.warn('slow reader', { peer: this.peer, waitingMs: Math.round(now - this.repliesStuckSince), unread: this.socket.writableLength }, 'closing source connection: it has not read its replies');
    this.destroy();
    return true;
  }

  /** Read again if whatever stopped this session has cleared. */
  tryResume(): void {
    if (this.closed || this.stopped) return;
    if (this.reader.paused) {
      const err = this.reader.resume(this);
      this.router.publish();
      if (err !== FrameError.None) {
        this.reject(frameErrorText(err));
        return;
      }
      if (this.reader.paused) return;
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
    this.warn(reason, { peer: this.peer, reason }, 'closing source connection: malformed input');
    this.socket.destroy();
    this.finish();
  }

  private finish(): void {
    this.reader.close();
    this.settleClose(this.bytesIn === 0);
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
