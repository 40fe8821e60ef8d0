/**
 * The XDR service port: accepts source connections, owns their sessions (registering each where
 * completions find it: session-registry.ts), and enforces the ack deadline.
 *
 * The deadline sweep runs every `sweepMs`: a record not answered `ackDeadlineMs` after it arrived
 * is answered with the retry code in its turn. A late result for it is ignored; the source re-ships
 * the record's latest version.
 *
 * With `service.tls` the port speaks TLS only (node:tls). A connection becomes a session once its
 * handshake completes and its client certificate (if any is asked for) passes:
 *
 *   TCP accept ─▶ handshake ─┬─ secure ─▶ client certificate check ─┬─ ok ─▶ Session
 *                            │                                       └─ refused: logged, counted, closed
 *                            ├─ closed having sent nothing ─▶ a health check (debug only)
 *                            └─ failed (a plaintext client, a timeout)
 *                                 ─▶ logged with the peer, counted as a protocol error
 *
 * These warnings, and each session's (malformed input, too many failed logins, a slow reader), are
 * rate-limited per cause and peer host (`LogLimiter`): a client reconnecting in
 * a loop gets one line at once and then one per `WARN_INTERVAL_MS`, carrying how many were not
 * logged. The counters and metrics still count every connection.
 */

import { type Http2Session, createSecureServer as createH2sServer, createServer as createH2Server } from 'node:http2';
import { createServer, type Server, type Socket } from 'node:net';
import { type TLSSocket, createServer as createTlsServer } from 'node:tls';
import type { Logger } from 'pino';
import { LogLimiter } from '../management/logger.js';
import { hostPort } from '../host-port.js';
import { ResultCode } from '../protocol/index.js';
import { MAX_CONNECTION_ID, WORKER_CONNECTION } from '../threads/index.js';
import { listenOn } from '../startup.js';
import { ArenaInflater } from './arena-inflater.js';
import type { InFlightBudget } from './in-flight-budget.js';
import { H2Session } from './h2-session.js';
import { Session } from './session.js';
import type { SessionRegistry } from './session-registry.js';
import type { SourceStats } from './source-stats.js';
import { type SourceTls, clientCertProblem } from './source-tls.js';
import type { Clock, RecordRouter, SessionLimits } from './types.js';
import type { SessionContext, WindowedSession } from './windowed-session.js';

/** `service.protocol`: the XDR connector protocol over TCP, or HTTP/2 requests (the ESP connector's). */
export type ServiceProtocol = 'TCP' | 'HTTP_2';

export interface ListenerOptions {
  port: number;
  address: string;
  protocol: ServiceProtocol;
  ackDeadlineMs: number;
  limits: SessionLimits;
}

const SWEEP_MS = 50;

/**
 * HTTP/2 streams a source connection may have open at once (SETTINGS_MAX_CONCURRENT_STREAMS): its
 * in-flight cap, and never more than this, so the bodies one connection can hold stay bounded.
 */
const MAX_H2_STREAMS = 1024;
/**
 * How long a record is held before its retry code while Ferry is paused or has no destination at
 * all (capped at half the ack deadline): a source re-ships a retried record almost at once, so
 * answering at once would keep both sides busy for nothing.
 */
export const HOLD_MS = 1000;

/** At most one warning per cause and peer host this often (README "Logs"). */
export const WARN_INTERVAL_MS = 10_000;

/** A TLS connection whose handshake has not completed, keyed by its peer address. */
interface Handshake {
  secured: boolean;
  /** what the TLS layer reported, for the log line */
  error: string | null;
}

/** Connection ids are unique across every listener of the process: completions carry only the id. */
let nextConnectionId = 1;

export class SourceListener {
  private readonly server: Server;
  private readonly sessions = new Map<number, WindowedSession>();
  private sweepTimer: NodeJS.Timeout | null = null;
  private readonly handshakes = new Map<string, Handshake>();
  private readonly warnings = new LogLimiter(WARN_INTERVAL_MS);
  readonly clock: Clock = { now: performance.now(), epochMs: Date.now() };
  private draining = false;
  private readonly context: SessionContext;

  constructor(
    private readonly opts: ListenerOptions,
    router: RecordRouter,
    private readonly budget: InFlightBudget,
    private readonly registry: SessionRegistry,
    readonly stats: SourceStats,
    private readonly log: Logger,
  ) {
    this.context = { limits: opts.limits, router, budget, stats, clock: this.clock, inflater: new ArenaInflater(router.arena), log, warn: this.warn, onClose: this.forget };
    const tls = opts.limits.tls ?? null;
    if (opts.protocol === 'HTTP_2') {
      // h2c with prior knowledge (what a load balancer speaks to its backends with `proto h2`), or
      // h2 negotiated by ALPN on a TLS port.
      const settings = { maxConcurrentStreams: Math.min(opts.limits.maxInFlightPerConnection, MAX_H2_STREAMS) };
      const server = tls === null ? createH2Server({ settings }) : this.trackTls(createH2sServer({ ...tls.server, settings, allowHTTP1: false }));
      server.on('session', (h2: Http2Session) => this.acceptH2(h2, tls));
      this.server = server;
    } else if (tls === null) {
      // Accepted paused: each connection is taken over by a socket that reads into the arena.
      this.server = createServer({ noDelay: true, pauseOnConnect: true }, (socket) => this.adopt(socket));
    } else {
      this.server = this.trackTls(createTlsServer({ ...tls.server, noDelay: true }, (socket) => this.acceptSecure(socket, tls)));
    }
  }

  /** Watch every handshake on a TLS port (see the file comment). */
  private trackTls<T extends Server>(server: T): T {
    server.on('connection', (raw: Socket) => this.trackHandshake(raw));
    server.on('tlsClientError', (err: Error, socket: TLSSocket) => {
      const h = this.handshakes.get(peerOf(socket));
      if (h !== undefined) h.error = (err as { code?: string }).code ?? err.message;
      // node reports the failure but leaves the connection open until the handshake timeout:
      // a client that sent garbage (plaintext, say) would hold it for 10 s. Close it now.
      socket.destroy();
    });
    return server;
  }

  get ackDeadlineMs(): number {
    return this.opts.ackDeadlineMs;
  }

  set ackDeadlineMs(ms: number) {
    this.opts.ackDeadlineMs = ms;
  }

  get connections(): number {
    return this.sessions.size;
  }

  get inFlight(): number {
    return this.budget.inFlight;
  }

  async listen(): Promise<{ address: string; port: number }> {
    // A failure to listen is the caller's start-up error; errors after that are logged here.
    const addr = await listenOn(this.server, this.opts.port, this.opts.address, 'service.port');
    this.server.on('error', (err) => this.log.error({ err: err.message }, 'service port error'));
    this.sweepTimer = setInterval(() => this.sweep(), SWEEP_MS);
    const tls = this.opts.limits.tls ?? null;
    const auth = this.opts.limits.auth ?? null;
    if (tls !== null || auth !== null) {
      const o = tls?.server;
      this.log.info(
        {
          port: hostPort(addr.address, addr.port),
          tls: o === undefined ? false : { protocols: `${o.minVersion}-${o.maxVersion}`, clientCertificates: tls!.requireClientCert ? 'required' : o.requestCert === true ? 'verified when presented' : 'not asked for', allowedPeerNames: tls!.allowedPeerNames },
          authentication: auth === null ? false : { sessionTtl: auth.sessionTtlS },
        },
        'service port security',
      );
    }
    return { address: addr.address, port: addr.port };
  }

  /**
   * Every TCP connection on a TLS port: if it closes before its handshake completes, it was either a
   * health check (closed without sending a byte) or a failed handshake. Decided a turn after the
   * close, so the TLS layer's error (which may come just after) is in the log line.
   */
  private trackHandshake(raw: Socket): void {
    if (this.draining) {
      raw.destroy();
      return;
    }
    const peer = peerOf(raw);
    const h: Handshake = { secured: false, error: null };
    this.handshakes.set(peer, h);
    raw.once('close', () =>
      setImmediate(() => {
        if (this.handshakes.get(peer) === h) this.handshakes.delete(peer);
        if (h.secured) return;
        this.stats.connectionsOpened++;
        this.stats.connectionsClosed++;
        if (raw.bytesRead === 0 && h.error === null) {
          this.stats.healthChecks++;
          this.log.debug({ peer, bytes: 0 }, 'health-check connection closed');
          return;
        }
        this.stats.protocolErrors++;
        const reason = h.error ?? 'closed during the handshake';
        this.warn(raw, reason, { peer, reason, bytes: raw.bytesRead }, 'closing source connection: TLS handshake failed');
      }),
    );
  }

  private acceptSecure(socket: TLSSocket, tls: SourceTls): void {
    if (!this.secured(socket, tls)) {
      socket.destroy();
      return;
    }
    const id = this.nextId();
    if (id === null) {
      socket.destroy();
      return;
    }
    this.track(Session.streamed(id, socket, this.context));
  }

  /**
   * A completed handshake: whether its client certificate (if any is asked for) passes. The caller
   * closes a refused one (an HTTP/2 session's socket may only be closed through the session).
   */
  private secured(socket: TLSSocket, tls: SourceTls): boolean {
    const peer = peerOf(socket);
    const h = this.handshakes.get(peer);
    if (h !== undefined) {
      h.secured = true;
      this.handshakes.delete(peer);
    }
    const problem = clientCertProblem(tls, socket.authorized, socket.authorizationError ?? null, socket.getPeerCertificate());
    if (problem === null) return true;
    this.stats.connectionsOpened++;
    this.stats.connectionsClosed++;
    this.stats.protocolErrors++;
    this.warn(socket, problem, { peer, reason: problem }, 'closing source connection: client certificate refused');
    return false;
  }

  /** A warning, unless one for the same message, cause and peer host was logged lately. */
  private readonly warn = (socket: Socket, cause: string, fields: Record<string, unknown>, msg: string): void => {
    const suppressed = this.warnings.admit(`${msg}\0${cause}\0${socket.remoteAddress ?? '?'}`);
    if (suppressed === null) return;
    this.log.warn(suppressed > 0 ? { ...fields, suppressed } : fields, msg);
  };

  private nextId(): number | null {
    if (this.draining) return null;
    // Ids fit a record's tag (MAX_CONNECTION_ID, threads/records.ts) and come round again; one still
    // in use is skipped (an id comes round after 262,143 connections, far longer than any record
    // stays with a worker). 0 is the workers' own (WORKER_CONNECTION).
    const after = (id: number): number => (id >= MAX_CONNECTION_ID ? WORKER_CONNECTION + 1 : id + 1);
    let id = nextConnectionId;
    while (this.registry.has(id)) id = after(id);
    nextConnectionId = after(id);
    this.stats.connectionsOpened++;
    return id;
  }

  private readonly forget = (s: WindowedSession): void => {
    this.sessions.delete(s.id);
    this.registry.remove(s);
  };

  private track(session: WindowedSession): void {
    this.sessions.set(session.id, session);
    this.registry.add(session);
  }

  private adopt(raw: Socket): void {
    const id = this.nextId();
    if (id === null) {
      raw.destroy();
      return;
    }
    const session = Session.adopt(id, raw, this.context);
    if (session !== null) this.track(session);
    else this.stats.connectionsClosed++;
  }

  private acceptH2(h2: Http2Session, tls: SourceTls | null): void {
    if (tls !== null && !this.secured(h2.socket as TLSSocket, tls)) {
      h2.destroy();
      return;
    }
    const id = this.nextId();
    if (id === null) {
      h2.destroy();
      return;
    }
    this.track(new H2Session(id, h2, this.context));
  }

  private sweep(): void {
    this.clock.now = performance.now();
    this.clock.epochMs = performance.timeOrigin + this.clock.now;
    const cutoff = this.clock.now - this.opts.ackDeadlineMs;
    for (const s of this.sessions.values()) {
      this.stats.deadlineRetries += s.expire(cutoff, ResultCode.Unavailable);
      s.releaseHeld(this.clock.now - Math.min(HOLD_MS, this.opts.ackDeadlineMs / 2), ResultCode.Unavailable);
      s.checkSlowReader(this.clock.now);
    }
  }

  /**
   * Stop accepting and reading; wait until every accepted record is answered (the deadline bounds
   * that wait), then end the connections.
   */
  async drain(): Promise<void> {
    this.draining = true;
    this.server.close();
    for (const s of this.sessions.values()) s.stopReading();
    const until = performance.now() + this.opts.ackDeadlineMs + 2 * SWEEP_MS;
    while (this.budget.inFlight > 0 && performance.now() < until) {
      await new Promise((r) => setTimeout(r, 10));
    }
    for (const s of this.sessions.values()) s.end();
  }

  close(): void {
    if (this.sweepTimer !== null) clearInterval(this.sweepTimer);
    this.sweepTimer = null;
    this.server.close();
    for (const s of [...this.sessions.values()]) s.destroy();
    this.context.inflater.close();
  }
}

function peerOf(socket: Socket): string {
  return `${socket.remoteAddress ?? '?'}:${socket.remotePort ?? 0}`;
}
