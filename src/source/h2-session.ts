/**
 * One HTTP/2 connection to the service port (`service.protocol: HTTP_2`): the ESP outbound
 * connector shipping XDR, or a load balancer (HAProxy `proto h2`) carrying many sources' requests
 * on one connection. Each request is a POST whose body is a one-byte format prefix followed by
 * whole XDR messages (docs/wire.md §8); its response comes only once every record in it is answered.
 *
 *   stream 'data' ─▶ body (≤ 1 + max-frame-size) ─'end'─▶ countFrames ─┬─ malformed ─▶ 400 at once
 *                                                                      └▶ requests FIFO
 *   requests[fed] ─▶ Framer ─▶ onFrame per message ─▶ takeRecord ─▶ window seq ─▶ worker ring
 *   completions ─▶ window.complete ─▶ flush(): answered head run, request by request
 *                  ─▶ a request's last record answered ─▶ one response (status from the worst code)
 *
 * A request's records take consecutive sequence numbers (bodies are fed one after another, in
 * arrival order), so the window's in-order drain releases them together. Responses therefore leave
 * in request order too: a request waits for the ones before it, which the ack deadline bounds.
 *
 * Backpressure: when the window, the global budget or a worker's ring is full, the framer keeps the
 * rest of the current body, later bodies wait in the FIFO, and every stream still sending is paused,
 * so HTTP/2 flow control stops the peer. Bodies still arriving are held to twice the body cap
 * (1 + max-frame-size) per connection: past it only the oldest keeps sending, so one always
 * completes. What a paused stream may still send is bounded by its HTTP/2 flow-control window.
 */

import type { Http2Session, IncomingHttpHeaders, ServerHttp2Stream } from 'node:http2';
import type { Socket } from 'node:net';
import { gunzip } from 'node:zlib';
import { FrameError, Framer, type FrameSink, MessageType, ResultCode, SourceAction, countFrames, frameErrorText, sourceActionOf } from '../protocol/index.js';
import { Intake, answerHere, takeRecord } from './record-intake.js';
import type { ReorderWindow } from './reorder-window.js';
import { type SessionContext, WindowedSession } from './windowed-session.js';

/** The HTTP status a request is answered with (docs/wire.md §8). */
const HttpStatus = {
  /** every record in the request is done (0, 2, 28, or a stale version the destination refused) */
  Ok: 200,
  /** the body is not whole XDR record messages */
  BadRequest: 400,
  /** anything but POST */
  MethodNotAllowed: 405,
  /** a body over 1 + max-frame-size bytes */
  PayloadTooLarge: 413,
  /** a record the destination refused for good: the source abandons it */
  Unprocessable: 422,
  /** retry later: a record got a retry code (deadline, destination down, paused), or Ferry is draining */
  Unavailable: 503,
} as const;

/** The response header that carries the worst Aerospike result code of the request's records. */
const RESULT_CODE_HEADER = 'ferry-result-code';

/** Frames queued for the peer beyond which it counts as not reading (checked by the sweep). */
const SLOW_QUEUE_FRAMES = 1024;

interface H2Request {
  stream: ServerHttp2Stream;
  /** the body after its prefix byte; emptied once fed to the framer */
  body: Buffer;
  /** records not yet answered */
  left: number;
  /** the reply code that decides the status: retry over abandon over done */
  code: number;
  /** why a message in it was refused (answered 4 in the window), or null */
  malformed: string | null;
}

const EMPTY = Buffer.alloc(0);

/** Retry beats abandon beats done: a request is retried whole if any of its records must be. */
function rank(code: number): number {
  const action = sourceActionOf(code);
  return action === SourceAction.Retry ? 2 : action === SourceAction.Abandon ? 1 : 0;
}

function statusFor(code: number): number {
  const action = sourceActionOf(code);
  return action === SourceAction.Done ? HttpStatus.Ok : action === SourceAction.Retry ? HttpStatus.Unavailable : HttpStatus.Unprocessable;
}

export class H2Session extends WindowedSession implements FrameSink {
  private readonly framer: Framer;
  /** requests in arrival order: [head, fed) are in the window (the last maybe in part), [fed, …) wait */
  private requests: H2Request[] = [];
  private head = 0;
  private fed = 0;
  /** streams paused mid-body while this connection cannot take more */
  private readonly pausedStreams = new Set<ServerHttp2Stream>();
  /** streams whose bodies are arriving, oldest first, and the bytes of those bodies so far */
  private readonly arriving = new Set<ServerHttp2Stream>();
  private receiving = 0;
  private streamsSeen = 0;
  /** draining on shutdown: new requests are answered 503 */
  private stopped = false;
  private stuckSince = 0;

  constructor(
    id: number,
    private readonly h2: Http2Session,
    ctx: SessionContext,
  ) {
    super(id, h2.socket as Socket, ctx);
    this.framer = new Framer(this.limits.maxFrame);
    h2.on('stream', (stream: ServerHttp2Stream, headers: IncomingHttpHeaders) => this.onStream(stream, headers));
    h2.on('error', (err) => this.log.debug({ peer: this.peer, err: err.message }, 'source connection error'));
    h2.on('close', () => this.finish());
  }

  private onStream(stream: ServerHttp2Stream, headers: IncomingHttpHeaders): void {
    this.streamsSeen++;
    stream.on('error', (err) => this.log.debug({ peer: this.peer, err: err.message }, 'source request error'));
    if (headers[':method'] !== 'POST') {
      this.refuse(stream, HttpStatus.MethodNotAllowed, `method ${String(headers[':method'])}`);
      return;
    }
    if (this.stopped) {
      this.answer(stream, HttpStatus.Unavailable, ResultCode.Unavailable);
      return;
    }
    const cap = 1 + this.limits.maxFrame;
    const gzipped = headers['content-encoding'] === 'gzip';
    const chunks: Buffer[] = [];
    let size = 0;
    /** this body's bytes still counted in `receiving` */
    let counted = 0;
    const release = (): void => {
      this.receiving -= counted;
      counted = 0;
      this.arriving.delete(stream);
      this.pausedStreams.delete(stream);
      this.resumeStreams();
    };
    stream.on('data', (chunk: Buffer) => {
      if (size < 0) return;
      size += chunk.length;
      if (size > cap) {
        size = -1;
        chunks.length = 0;
        release();
        this.refuse(stream, HttpStatus.PayloadTooLarge, frameErrorText(FrameError.TooLarge));
        return;
      }
      chunks.push(chunk);
      counted += chunk.length;
      this.receiving += chunk.length;
      this.arriving.add(stream);
      // Over the connection's share of half-received bodies, only the oldest keeps arriving.
      if (this.backlogged() || (this.receiving > 2 * cap && this.arriving.values().next().value !== stream)) this.pauseStream(stream);
    });
    stream.on('end', () => {
      release();
      if (size < 0) return;
      const body = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size);
      if (!gzipped) {
        this.onBody(stream, body);
        return;
      }
      // The connector's optional HTTP compression: inflated under the same cap as a plain body.
      gunzip(body, { maxOutputLength: cap }, (err, plain) => {
        if (err === null) this.onBody(stream, plain);
        else this.refuse(stream, (err as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE' ? HttpStatus.PayloadTooLarge : HttpStatus.BadRequest, `gzip body: ${err.message}`);
      });
    });
    // A stream reset before its end: its bytes are no longer held.
    stream.on('close', release);
  }

  private onBody(stream: ServerHttp2Stream, body: Buffer): void {
    if (this.stopped || this.closed) {
      this.answer(stream, HttpStatus.Unavailable, ResultCode.Unavailable);
      return;
    }
    // [u8 format prefix][message][message]…: the prefix is not interpreted (docs/wire.md §8).
    const n = body.length === 0 ? 0 : countFrames(body, 1, body.length, this.limits.maxFrame);
    if (n <= 0) {
      this.refuse(stream, HttpStatus.BadRequest, n === 0 ? 'no XDR message in the body' : frameErrorText(-n));
      return;
    }
    this.requests.push({ stream, body: body.subarray(1), left: n, code: ResultCode.Ok, malformed: null });
    this.clock.now = performance.now();
    this.clock.epochMs = performance.timeOrigin + this.clock.now;
    this.feed();
  }

  /** Whether bodies are waiting to be taken: streams still sending are paused. */
  private backlogged(): boolean {
    return this.fed < this.requests.length || this.framer.paused;
  }

  private pauseStream(stream: ServerHttp2Stream): void {
    if (this.pausedStreams.has(stream)) return;
    if (this.pausedStreams.size === 0) this.stats.readPauses++;
    this.pausedStreams.add(stream);
    stream.pause();
  }

  /** Take waiting bodies, in order, until something is full. */
  private feed(): void {
    if (this.closed) return;
    if (this.framer.paused) {
      // Bodies were checked whole by countFrames against the same maximum: the framer cannot fail.
      this.framer.resume(this);
      if (this.framer.paused) {
        this.router.publish();
        return;
      }
    }
    while (this.fed < this.requests.length) {
      const r = this.requests[this.fed++]!;
      const body = r.body;
      r.body = EMPTY;
      this.framer.push(body, this);
      if (this.framer.paused) break;
    }
    this.router.publish();
    this.resumeStreams();
  }

  /**
   * Let paused streams send again once bodies are being taken: all of them while the bodies half
   * received stay under twice the body cap, else only the oldest, which always gets to finish.
   */
  private resumeStreams(): void {
    if (this.pausedStreams.size === 0 || this.backlogged() || this.stopped) return;
    if (this.receiving <= 2 * (1 + this.limits.maxFrame)) {
      for (const s of this.pausedStreams) s.resume();
      this.pausedStreams.clear();
      return;
    }
    const oldest = this.arriving.values().next().value;
    if (oldest !== undefined && this.pausedStreams.delete(oldest)) oldest.resume();
  }

  onFrame(type: number, buf: Buffer, start: number, end: number): boolean {
    if (this.closed) return true;
    const window = this.openWindow();
    if (window.size >= this.limits.maxInFlightPerConnection || !this.budget.available) {
      if (!this.budget.available) this.budget.block(this);
      return false;
    }
    const request = this.requests[this.fed - 1]!;
    if (type !== MessageType.Record && type !== MessageType.Compressed) {
      this.malformed(request, window, 'not a record message');
      return true;
    }
    const r = takeRecord(this.intake, this, window, type, buf, start, end);
    if (typeof r === 'string') this.malformed(request, window, r);
    else if (r === Intake.Answered) this.flush();
    return r !== Intake.NoRoom;
  }

  /** A message that is no record: 4 in its turn, and the request is answered 400. */
  private malformed(request: H2Request, window: ReorderWindow, reason: string): void {
    request.malformed ??= reason;
    answerHere(this.intake, window, ResultCode.Parameter);
    this.flush();
  }

  flush(): void {
    const window = this.window;
    if (window === null || !window.headReady()) return;
    const replies = this.stats.replies;
    const ack = this.stats.ackLatency;
    const now = performance.now();
    const released = window.drain((code, _prepared, arrival) => {
      ack.observe((now - arrival) / 1000);
      replies[code & 0xff]!++;
      const r = this.requests[this.head]!;
      if (rank(code) > rank(r.code)) r.code = code;
      if (--r.left === 0) {
        this.head++;
        this.respond(r);
      }
    });
    this.budget.give(released);
    if (this.head > 1024 && this.head * 2 > this.requests.length) {
      this.requests = this.requests.slice(this.head);
      this.fed -= this.head;
      this.head = 0;
    }
    this.budget.wake();
    if (this.backlogged()) this.tryResume();
  }

  private respond(r: H2Request): void {
    if (r.malformed !== null) {
      this.refuse(r.stream, HttpStatus.BadRequest, r.malformed);
      return;
    }
    this.answer(r.stream, statusFor(r.code), r.code);
  }

  private answer(stream: ServerHttp2Stream, status: number, code: number): void {
    // A request its peer gave up on (a reset stream, a closed connection) is answered by nobody:
    // the source ships the record again.
    if (stream.closed || stream.destroyed) return;
    stream.respond({ ':status': status, [RESULT_CODE_HEADER]: String(code) }, { endStream: true });
  }

  /** Bad input closes only its request: other requests on this connection may be other sources'. */
  private refuse(stream: ServerHttp2Stream, status: number, reason: string): void {
    this.stats.protocolErrors++;
    this.warn(reason, { peer: this.peer, reason, status }, 'refusing source request: malformed input');
    if (stream.closed || stream.destroyed) return;
    stream.respond({ ':status': status }, { endStream: true });
  }

  tryResume(): void {
    if (this.closed || this.stopped) return;
    this.feed();
  }

  /** A peer that reads no responses: its outbound queue grows; closed after `slowReaderMs`. */
  checkSlowReader(now: number): boolean {
    if (this.closed) return false;
    if (this.h2.state.outboundQueueSize === undefined || this.h2.state.outboundQueueSize < SLOW_QUEUE_FRAMES) {
      this.stuckSince = 0;
      return false;
    }
    if (this.stuckSince === 0) this.stuckSince = now;
    if (now - this.stuckSince < this.limits.slowReaderMs) return false;
    this.stats.slowReaders++;
    this.warn('slow reader', { peer: this.peer, waitingMs: Math.round(now - this.stuckSince) }, 'closing source connection: it has not read its replies');
    this.destroy();
    return true;
  }

  stopReading(): void {
    this.stopped = true;
    // Bodies not yet taken never reached the window: the source retries them elsewhere.
    while (this.fed < this.requests.length) {
      const r = this.requests.pop()!;
      this.answer(r.stream, HttpStatus.Unavailable, ResultCode.Unavailable);
    }
    // A body taken in part (the framer holds its rest) will not be taken further: retry it whole.
    if (this.framer.paused) this.answer(this.requests[this.fed - 1]!.stream, HttpStatus.Unavailable, ResultCode.Unavailable);
    // Streams paused mid-body: answered now, and read to their end (their bodies are then dropped).
    for (const stream of this.pausedStreams) {
      this.answer(stream, HttpStatus.Unavailable, ResultCode.Unavailable);
      stream.resume();
    }
    this.pausedStreams.clear();
  }

  end(): void {
    if (!this.closed) this.h2.close();
  }

  destroy(): void {
    this.h2.destroy();
    this.finish();
  }

  private finish(): void {
    this.settleClose(this.streamsSeen === 0);
  }

}
