/**
 * A simulated XDR source: it ships changes to a connector node exactly the way XDR does
 * (docs/wire.md §3), so Ferry can be tested and measured without an Enterprise source.
 *
 *   changes ─▶ key state (latest version | deleted, dirty) ─▶ ship queue ─▶ connection lanes
 *   lane: socket, FIFO of (key, probe?, sent-at); replies are matched strictly in order
 *
 * - At most one ship per key is in flight (XDR serialises a record's shipments); a key that changes
 *   meanwhile is marked dirty and shipped again, at its latest version, once the reply arrives.
 * - Retry codes re-ship the key's latest version, `retryDelayMs` later (XDR retries on its next
 *   cycle). Abandon codes are counted as lost.
 * - A lane with requests in flight and no reply for `resetMs` is reset: the socket is destroyed
 *   and everything in flight is shipped again on a new connection.
 * - Every 5 s it opens and closes a connection without sending anything (XDR's health check).
 * - Order probe (optional): every Nth shipment goes to a namespace the destination lacks; it must
 *   come back with code 20 and no other shipment may, so any reordering of replies is caught.
 * - TLS (optional): each lane is a TLS connection that verifies the server's certificate against
 *   the given CA (and presents a client certificate when one is given). A certificate that does not
 *   verify fails the connection; it is counted and retried, as XDR does.
 * - Login (optional, with a user and password): each new connection sends LOGIN (user + bcrypt
 *   credential) before any record and ships once it is answered 0, keeping the session token. A
 *   record answered 80 (not authenticated) is re-shipped like any retry, and the lane logs in again
 *   first: AUTHENTICATE with the token, or LOGIN when there is none or it is refused (65/66). A
 *   refused LOGIN closes the lane; it reconnects a second later.
 * - The end: once the change budget or the duration is spent, the run waits for every shipment to be
 *   acknowledged. With `drainMs`, it gives up when nothing has been acknowledged for that long (a
 *   destination that cannot be reached, a TLS handshake or a login that keeps being refused) and
 *   reports what was left unacknowledged; `abort()` ends it at once.
 *
 *   lane: connect ─▶ [TLS handshake] ─▶ LOGIN ─(0)─▶ records … ─(80)─▶ AUTHENTICATE ─(0)─▶ records …
 *
 * - Several hosts (connector nodes): `connections` lanes to each, lane i to host i mod n; shipments
 *   go round-robin over the lanes, so consecutive shipments alternate hosts, as XDR spreads records
 *   over a DC's connector nodes.
 * - Hold-back (optional): a share of the shipments bound for the first host is held `holdBackMs`
 *   before it is written, and the source treats it as timed out at once: the key is shipped again,
 *   at its latest version, through the next lane. The held bytes still arrive later, on their own
 *   path, so an older version can reach the destination after a newer one. Their replies are only
 *   counted. A held shipment whose connection is gone by then is dropped.
 *
 *   pump ─▶ lane to host 0 ─(holdBackPct)─▶ held queue ──holdBackMs──▶ same socket, if still open
 *                                          └▶ key queued again ─▶ next lane (another host)
 *
 * - HTTP/2 (`protocol: 'http2'`), as the ESP outbound connector ships to an HTTP XDR Proxy
 *   (docs/wire.md §8): each lane is one HTTP/2 connection (h2c, or h2 over TLS), every shipment is
 *   its own POST, `pipeline` of them open at once per lane, each body one prefix byte and the
 *   message. Responses come in any order: 2xx is done, a retry status (408, 429, 5xx) re-ships
 *   the latest version, any other status abandons the change (counted as lost). A request with no
 *   response (a reset stream, a lost connection) or none within `resetMs` is shipped again. Order
 *   probes, hold-back and login are TCP-only.
 *
 *   lane: h2 connect ─▶ POST / [prefix][message] ─▶ :status ─▶ done | retry | abandon
 */

import { type ClientHttp2Session, type ClientHttp2Stream, connect as connectH2, constants as h2 } from 'node:http2';
import { type Socket, connect } from 'node:net';
import { connect as connectTls } from 'node:tls';
import bcrypt from 'bcryptjs';
import {
  BufferWriter,
  CREDENTIAL_SALT,
  FieldType,
  FrameError,
  Framer,
  Info1,
  Info2,
  Info3,
  MessageType,
  OpType,
  ResultCode,
  SecurityCommand,
  SecurityField,
  SourceAction,
  Ttl,
  compressRecordMessage,
  encodeRecordRequest,
  encodeSecurityMessage,
  frameErrorText,
  lutField,
  lutFromUnixMs,
  type RequestField,
  parseSecurityMessage,
  sourceActionOf,
  stringField,
} from '../../protocol/index.js';
import { type BinSpec, binsFor, integerKeyDigest, rng } from './record-factory.js';
import { FINE_BUCKETS, fineBucketOf } from './fine-latency.js';

/**
 * First size of a lane's write buffer for one round (it doubles as needed). Small, so that it comes
 * from Node's shared pool: a throttled load ships a few records per lane per round, and 64 KiB a
 * lane a round was most of what this process allocated (and collected) at 20,000 changes/s.
 */
const LANE_WRITE_BYTES = 2 * 1024;

export interface XdrLoadOptions {
  /** the first host; `hosts` lists them all when there are several */
  host: string;
  port: number;
  hosts?: ReadonlyArray<{ host: string; port: number }>;
  /** percentage of shipments to the first host held back (see the file comment); 0 = none */
  holdBackPct?: number;
  holdBackMs?: number;
  namespace: string;
  set: string;
  keys: number;
  startKey: number;
  bins: BinSpec[];
  /** 'insert': each key once, in order; 'update': random keys */
  workload: 'insert' | 'update';
  /** percentage of transactions that are reads (not shipped; they only dilute the throttle) */
  readPct: number;
  connections: number;
  /** requests in flight per connection */
  pipeline: number;
  /** stop after this many changes (0 = no limit) */
  changes: number;
  /** stop after this many seconds (0 = no limit) */
  durationS: number;
  /** transactions per second, reads included (0 = unthrottled) */
  throttle: number;
  compress: boolean;
  deletePct: number;
  durableDeletes: boolean;
  sendKey: boolean;
  shipBinLuts: boolean;
  /** XDR's `bin-policy no-bins`: writes carry no bins at all */
  noBins: boolean;
  /** record TTL in seconds (0 = never expires) */
  ttl: number;
  resetMs: number;
  /** wait before re-shipping a record answered with a retry code (XDR's period-ms) */
  retryDelayMs: number;
  healthChecks: boolean;
  probeEvery: number;
  probeNamespace: string;
  seed: number;
  /** speak TLS: PEM texts (not paths); `servername` is the name the certificate must carry */
  tls?: { ca: string; cert?: string; key?: string; servername?: string };
  /** log in on every connection as this user (both or neither) */
  user?: string;
  password?: string;
  /** 'tcp' (XDR's connector protocol, the default) or 'http2' (the ESP connector's) */
  protocol?: 'tcp' | 'http2';
  /**
   * Once generating has stopped, end the run when nothing has been acknowledged for this long
   * (absent or 0: wait for every acknowledgement, however long the destination takes).
   */
  drainMs?: number;
}

export interface LoadStats {
  changes: number;
  ships: number;
  acks: number;
  retries: number;
  abandons: number;
  resets: number;
  probes: number;
  orderViolations: number;
  healthChecks: number;
  /** shipments held back, and those written when their time came */
  held: number;
  heldSent: number;
  /** record replies by code (LOGIN / AUTHENTICATE replies are in securityCodes) */
  byCode: Record<number, number>;
  /** LOGIN / AUTHENTICATE answered 0 */
  logins: number;
  /** LOGIN / AUTHENTICATE refused (expired or invalid tokens, which lead to a LOGIN, not counted) */
  loginFailures: number;
  /** LOGIN / AUTHENTICATE replies by code */
  securityCodes: Record<number, number>;
  /** connections that failed (refused, reset, TLS handshake, closed before replying) */
  connectErrors: number;
  /** of connectErrors, those that failed in or right after the TLS handshake */
  tlsFailures: number;
  /** changes whose latest version was never acknowledged when the run ended (0 unless aborted) */
  unacknowledged: number;
  /** the last connection error, e.g. "CERT_HAS_EXPIRED: certificate has expired" */
  lastConnectError: string;
  /** ack latency histogram: bucket i counts latencies in [2^i, 2^(i+1)) µs */
  latency: number[];
  /** the same latencies, each power of two cut in eighths (fine-latency.ts) */
  fineLatency: number[];
}

/**
 * Error codes of a failed TLS handshake or verification, as Node and OpenSSL name them
 * (ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED, ERR_TLS_CERT_ALTNAME_INVALID, UNABLE_TO_VERIFY_LEAF_SIGNATURE,
 * DEPTH_ZERO_SELF_SIGNED_CERT, CERT_HAS_EXPIRED, …).
 */
const TLS_ERROR_CODE = /^ERR_SSL_|^ERR_TLS_|CERT|^UNABLE_TO_|SELF_SIGNED/;
const CLOSED_BEFORE_REPLY = 'CLOSED';

/** The byte before the XDR message in an HTTP/2 body (docs/wire.md §8: Ferry does not read it). */
export const H2_BODY_PREFIX = 0;

/** HTTP statuses the connector retries; other non-2xx statuses abandon the record. */
function h2StatusAction(status: number): SourceAction {
  if (status >= 200 && status < 300) return SourceAction.Done;
  if (status === 408 || status === 429 || status >= 500) return SourceAction.Retry;
  return SourceAction.Abandon;
}

/** The result code an HTTP/2 status stands for in the stats: 0 done, 11 retry, 4 abandoned. */
function h2StatusCode(status: number): number {
  const action = h2StatusAction(status);
  return action === SourceAction.Done ? ResultCode.Ok : action === SourceAction.Retry ? ResultCode.Unavailable : ResultCode.Parameter;
}

/** In-flight FIFO slots that are not keys. */
const PROBE = -1;
const LOGIN = -2;
const AUTHENTICATE = -3;
const HELD = -4;

interface HeldShipment {
  lane: Lane;
  socket: Socket;
  bytes: Buffer;
  releaseAt: number;
}

interface Lane {
  index: number;
  socket: Socket | null;
  /** the lane's HTTP/2 connection (protocol 'http2'; `socket` stays null) */
  h2: ClientHttp2Session | null;
  /** HTTP/2 requests awaiting their response */
  streams: number;
  /** the lane's HTTP/2 connection has had a response */
  answered: boolean;
  /** connected (and logged in, when logging in): records may be shipped */
  ready: boolean;
  /** a LOGIN was refused: reconnect slowly */
  refused: boolean;
  framer: Framer;
  /** in-flight FIFO: key index (or PROBE, LOGIN, AUTHENTICATE) and send time */
  keys: number[];
  sentAt: number[];
  head: number;
  lastReply: number;
}

export class XdrSource {
  readonly stats: LoadStats = {
    changes: 0,
    ships: 0,
    acks: 0,
    retries: 0,
    abandons: 0,
    resets: 0,
    probes: 0,
    orderViolations: 0,
    healthChecks: 0,
    held: 0,
    heldSent: 0,
    byCode: {},
    logins: 0,
    loginFailures: 0,
    securityCodes: {},
    connectErrors: 0,
    tlsFailures: 0,
    unacknowledged: 0,
    lastConnectError: '',
    latency: new Array<number>(32).fill(0),
    fineLatency: new Array<number>(FINE_BUCKETS).fill(0),
  };
  /** latest version per key (0 = never changed), and whether its latest change is a delete */
  readonly version: Int32Array;
  readonly deleted: Uint8Array;
  private readonly inFlight: Uint8Array;
  private readonly dirty: Uint8Array;
  /** 1 while the key waits `retryDelayMs` to be shipped again */
  private readonly retryWaiting: Uint8Array;
  private readonly digests: Array<Buffer | undefined>;
  /** the namespace and set fields every shipment carries, encoded once */
  private readonly namespaceField: RequestField;
  private readonly setField: RequestField | null;
  private readonly queue: number[] = [];
  private queueHead = 0;
  private readonly lanes: Lane[] = [];
  private nextLane = 0;
  private readonly random: () => number;
  private insertCursor = 0;
  private shipCounter = 0;
  private stopped = false;
  /** when generating stopped, and when a shipment was last settled (acknowledged or abandoned) */
  private stoppedAt = 0;
  private lastSettled = 0;
  private started = 0;
  private timers: NodeJS.Timeout[] = [];
  private finish: (() => void) | null = null;
  private readonly stopAt: number;
  /** the LOGIN credential, computed once: bcrypt is slow on purpose */
  private readonly credential: Buffer | null;
  /** the session token from the last LOGIN, shared by every lane, and when it runs out */
  private token: Buffer | null = null;
  /** keys answered with a retry code and waiting `retryDelayMs` before they are queued again */
  private retriesWaiting = 0;
  private tokenExpiresAt = 0;
  private readonly hostList: ReadonlyArray<{ host: string; port: number }>;
  /** held-back shipments, in release order */
  private held: HeldShipment[] = [];

  constructor(readonly opts: XdrLoadOptions) {
    this.version = new Int32Array(opts.keys);
    this.deleted = new Uint8Array(opts.keys);
    this.inFlight = new Uint8Array(opts.keys);
    this.dirty = new Uint8Array(opts.keys);
    this.retryWaiting = new Uint8Array(opts.keys);
    this.digests = new Array<Buffer | undefined>(opts.keys);
    this.namespaceField = stringField(FieldType.Namespace, opts.namespace);
    this.setField = opts.set.length > 0 ? stringField(FieldType.Set, opts.set) : null;
    this.random = rng(opts.seed);
    this.stopAt = opts.changes > 0 ? opts.changes : Number.POSITIVE_INFINITY;
    this.hostList = opts.hosts !== undefined && opts.hosts.length > 0 ? opts.hosts : [{ host: opts.host, port: opts.port }];
    if ((opts.user === undefined) !== (opts.password === undefined)) throw new Error('XdrSource: give both user and password, or neither');
    this.credential = opts.password === undefined ? null : Buffer.from(bcrypt.hashSync(opts.password, CREDENTIAL_SALT), 'utf8');
  }

  get inFlightCount(): number {
    let n = 0;
    for (const l of this.lanes) n += l.keys.length - l.head + l.streams;
    return n;
  }

  /** Run until the change budget or the duration is spent and every shipment is acknowledged. */
  async run(): Promise<LoadStats> {
    this.started = performance.now();
    // `finish` marks the run as live: lanes open only while it is set.
    const done = new Promise<void>((resolve) => (this.finish = resolve));
    for (let i = 0; i < this.opts.connections * this.hostList.length; i++) this.lanes.push(this.newLane(i));
    for (const l of this.lanes) this.open(l);
    this.timers.push(
      setInterval(() => {
        this.checkResets();
        this.checkDrain();
      }, 250),
    );
    if (this.opts.healthChecks) this.timers.push(setInterval(() => this.healthCheck(), 5000));
    if (this.opts.durationS > 0) this.timers.push(setTimeout(() => this.stopGenerating(), this.opts.durationS * 1000));
    this.timers.push(setInterval(() => this.pump(), 1));
    this.pump();
    await done;
    for (const t of this.timers) clearInterval(t);
    for (const l of this.lanes) {
      l.socket?.destroy();
      l.h2?.destroy();
    }
    this.stats.unacknowledged = this.countUnacknowledged();
    return this.stats;
  }

  /** Stop making new changes; the run ends once everything in flight is acknowledged. */
  stopGenerating(): void {
    this.stopGenerated();
    this.pump();
  }

  private stopGenerated(): void {
    if (this.stopped) return;
    this.stopped = true;
    this.stoppedAt = performance.now();
  }

  /** End the run now, acknowledged or not (e.g. when the server can never be reached). */
  abort(): void {
    this.stopGenerated();
    const f = this.finish;
    this.finish = null;
    f?.();
  }

  /**
   * After the stop, give up once nothing has been settled for `drainMs`; never before the duration
   * is over, so a destination that comes up late in a timed run still gets its changes.
   */
  private checkDrain(): void {
    const drainMs = this.opts.drainMs ?? 0;
    if (!this.stopped || drainMs <= 0) return;
    const durationEnd = this.started + this.opts.durationS * 1000;
    if (performance.now() - Math.max(this.stoppedAt, this.lastSettled, durationEnd) >= drainMs) this.abort();
  }

  private countUnacknowledged(): number {
    let n = 0;
    for (let k = 0; k < this.opts.keys; k++) if (this.dirty[k] === 1 || this.inFlight[k] === 1 || this.retryWaiting[k] === 1) n++;
    return n;
  }

  private newLane(index: number): Lane {
    return { index, socket: null, h2: null, streams: 0, answered: false, ready: false, refused: false, framer: new Framer(1 << 20), keys: [], sentAt: [], head: 0, lastReply: 0 };
  }

  /** The host a lane ships to: lanes take the hosts in turn. */
  private hostOf(lane: Lane): { host: string; port: number } {
    return this.hostList[lane.index % this.hostList.length]!;
  }

  private open(lane: Lane): void {
    // A reconnect timer that fires after the run ended opens nothing.
    if (this.finish === null) return;
    if (this.opts.protocol === 'http2') {
      this.openH2(lane);
      return;
    }
    const o = this.opts;
    const { host, port } = this.hostOf(lane);
    const socket =
      o.tls === undefined
        ? connect({ host, port, noDelay: true })
        : connectTls({ host, port, ca: o.tls.ca, cert: o.tls.cert, key: o.tls.key, servername: o.tls.servername });
    lane.socket = socket;
    lane.framer = new Framer(1 << 20);
    lane.refused = false;
    // A connection the server ends without a word (a refused client certificate, a TLS port spoken
    // to in plain TCP) fails as surely as one that errors: count both.
    let failed = false;
    let replied = false;
    // Where a TLS connection got to: a failure after the TCP connect and before the handshake ends
    // is a TLS failure. So is a TLS alert after it, or a close before any reply: with TLS 1.3 a
    // server refuses a client certificate only after the client's side of the handshake is done.
    let tcpUp = false;
    let secured = false;
    const fail = (reason: string, code: string): void => {
      failed = true;
      this.stats.connectErrors++;
      if (o.tls !== undefined && tcpUp && (!secured || TLS_ERROR_CODE.test(code) || code === CLOSED_BEFORE_REPLY)) this.stats.tlsFailures++;
      this.stats.lastConnectError = reason;
    };
    socket.setNoDelay(true);
    socket.on('connect', () => {
      tcpUp = true;
    });
    socket.on(o.tls === undefined ? 'connect' : 'secureConnect', () => {
      secured = true;
      lane.lastReply = performance.now();
      if (this.credential !== null) this.sendLogin(lane);
      else lane.ready = true;
      this.pump();
    });
    socket.on('data', (chunk: Buffer) => {
      const err = lane.framer.push(chunk, {
        onFrame: (type, buf, start, end) => {
          replied = true;
          if (type === MessageType.Security) this.onSecurityReply(lane, buf, start, end);
          else this.onReply(lane, type === MessageType.Record && end - start >= 22 ? buf[start + 5]! : -1);
          return true;
        },
      });
      if (err !== FrameError.None) {
        fail(`BAD_REPLY: ${frameErrorText(err)} (is the port TLS?)`, 'BAD_REPLY');
        socket.destroy();
      }
      this.pump();
    });
    socket.on('error', (err: Error & { code?: string }) => fail(`${err.code ?? 'ERROR'}: ${err.message.trim()}`, err.code ?? 'ERROR'));
    socket.on('close', () => {
      if (!failed && !replied && this.finish !== null) {
        const hint = o.tls !== undefined && secured ? ' (was the client certificate refused?)' : '';
        fail(`${CLOSED_BEFORE_REPLY}: the server closed the connection before replying${hint}`, CLOSED_BEFORE_REPLY);
      }
      if (lane.socket !== socket) return;
      lane.socket = null;
      lane.ready = false;
      this.requeueLane(lane);
      if (this.finish !== null) setTimeout(() => this.open(lane), lane.refused ? 1000 : 100);
    });
  }

  private openH2(lane: Lane): void {
    const o = this.opts;
    const { host, port } = this.hostOf(lane);
    const tls = o.tls;
    const session =
      tls === undefined
        ? connectH2(`http://${host}:${port}`)
        : connectH2(`https://${host}:${port}`, { ca: tls.ca, cert: tls.cert, key: tls.key, servername: tls.servername });
    lane.h2 = session;
    lane.answered = false;
    let connected = false;
    let failed = false;
    session.on('connect', () => {
      connected = true;
      lane.ready = true;
      lane.lastReply = performance.now();
      this.pump();
    });
    session.on('error', (err: Error & { code?: string }) => {
      failed = true;
      this.stats.connectErrors++;
      if (tls !== undefined && !connected) this.stats.tlsFailures++;
      this.stats.lastConnectError = `${err.code ?? 'ERROR'}: ${err.message.trim()}`;
    });
    session.on('close', () => {
      if (!failed && !lane.answered && this.finish !== null) {
        // Closed without a word, as a TLS port does with a refused client certificate (TLS 1.3
        // refuses it only after the client's side of the handshake is done).
        this.stats.connectErrors++;
        if (tls !== undefined) this.stats.tlsFailures++;
        this.stats.lastConnectError = `${CLOSED_BEFORE_REPLY}: the server closed the connection before replying${tls !== undefined && connected ? ' (was the client certificate refused?)' : ''}`;
      }
      if (lane.h2 !== session) return;
      lane.h2 = null;
      lane.ready = false;
      // Its open requests close too, each shipped again by its own 'close'.
      if (this.finish !== null) setTimeout(() => this.open(lane), 100);
    });
  }

  /** Key k as one POST on the lane's HTTP/2 connection; settled by its status. */
  private shipH2(lane: Lane, k: number, now: number): void {
    const w = new BufferWriter(256);
    w.u8(H2_BODY_PREFIX);
    this.message(k, w);
    const stream: ClientHttp2Stream = lane.h2!.request({ ':method': 'POST', ':path': '/', 'content-type': 'application/octet-stream' });
    lane.streams++;
    let status = 0;
    stream.on('response', (headers) => {
      lane.answered = true;
      status = Number(headers[':status']);
    });
    stream.on('error', () => undefined);
    stream.setTimeout(this.opts.resetMs, () => {
      this.stats.resets++;
      stream.close(h2.NGHTTP2_CANCEL);
    });
    stream.on('close', () => {
      lane.streams--;
      if (status === 0) {
        // Never answered: shipped again, as XDR does with what was in flight on a reset.
        this.inFlight[k] = 0;
        this.enqueue(k);
      } else {
        const t = performance.now();
        lane.lastReply = t;
        this.count(h2StatusCode(status), now, t);
        this.settle(k, h2StatusCode(status), t);
      }
      this.pump();
    });
    stream.resume();
    stream.end(w.finish());
  }

  private sendSecurity(lane: Lane, slot: number, msg: Buffer): void {
    lane.ready = false;
    lane.keys.push(slot);
    lane.sentAt.push(performance.now());
    lane.socket!.write(msg);
  }

  private sendLogin(lane: Lane): void {
    this.sendSecurity(
      lane,
      LOGIN,
      encodeSecurityMessage(SecurityCommand.Login, 0, [
        [SecurityField.User, Buffer.from(this.opts.user!, 'utf8')],
        [SecurityField.Credential, this.credential!],
      ]),
    );
  }

  /** Log in again on a lane told 80: with the session token while it lasts, else with LOGIN. */
  private reauthenticate(lane: Lane): void {
    if (this.credential === null || !lane.ready || lane.socket === null) return;
    if (this.token !== null && performance.now() < this.tokenExpiresAt) {
      this.sendSecurity(
        lane,
        AUTHENTICATE,
        encodeSecurityMessage(SecurityCommand.Authenticate, 0, [
          [SecurityField.User, Buffer.from(this.opts.user!, 'utf8')],
          [SecurityField.SessionToken, this.token],
        ]),
      );
    } else this.sendLogin(lane);
  }

  private onSecurityReply(lane: Lane, buf: Buffer, start: number, end: number): void {
    const slot = lane.head < lane.keys.length ? lane.keys[lane.head]! : 0;
    if (slot !== LOGIN && slot !== AUTHENTICATE) {
      // A security reply where a record's reply belongs: replies are out of order.
      this.stats.orderViolations++;
      lane.socket?.destroy();
      return;
    }
    lane.head++;
    lane.lastReply = performance.now();
    const msg = parseSecurityMessage(buf, start, end);
    const code = msg?.result ?? -1;
    this.stats.securityCodes[code] = (this.stats.securityCodes[code] ?? 0) + 1;
    if (code === ResultCode.Ok) {
      if (slot === LOGIN) {
        const token = msg!.fields.get(SecurityField.SessionToken);
        const ttl = msg!.fields.get(SecurityField.SessionTtl);
        this.token = token ?? null;
        const ttlS = ttl !== undefined && ttl.length === 4 ? ttl.readUInt32BE(0) : 0;
        this.tokenExpiresAt = performance.now() + ttlS * 1000;
      }
      this.stats.logins++;
      lane.ready = true;
      return;
    }
    if (slot === AUTHENTICATE && (code === ResultCode.ExpiredSession || code === ResultCode.InvalidCredential)) {
      // The token is no good (it expired, or the server restarted): log in from scratch.
      this.token = null;
      this.sendLogin(lane);
      return;
    }
    this.stats.loginFailures++;
    this.stats.lastConnectError = `LOGIN_REFUSED: result ${code}`;
    lane.refused = true;
    lane.socket?.destroy();
  }

  /** Everything in flight on a lost lane is shipped again (the source re-ships on reset). */
  private requeueLane(lane: Lane): void {
    for (let i = lane.head; i < lane.keys.length; i++) {
      const k = lane.keys[i]!;
      if (k >= 0) {
        this.inFlight[k] = 0;
        this.enqueue(k);
      }
    }
    lane.keys = [];
    lane.sentAt = [];
    lane.head = 0;
  }

  private checkResets(): void {
    const now = performance.now();
    for (const lane of this.lanes) {
      if (lane.socket !== null && lane.keys.length > lane.head && now - lane.lastReply > this.opts.resetMs) {
        this.stats.resets++;
        lane.socket.destroy();
      }
    }
  }

  /** A bare TCP connect and close, also on a TLS port (it never reaches the handshake). */
  private healthCheck(): void {
    const s = connect({ host: this.opts.host, port: this.opts.port });
    s.on('connect', () => {
      this.stats.healthChecks++;
      s.end();
    });
    // A health check that cannot connect is a connect failure like a lane's, and counted as one.
    s.on('error', () => {
      this.stats.connectErrors++;
    });
  }

  private onReply(lane: Lane, code: number): void {
    if (lane.head >= lane.keys.length) {
      this.stats.orderViolations++;
      return;
    }
    const k = lane.keys[lane.head]!;
    const sent = lane.sentAt[lane.head]!;
    lane.head++;
    if (lane.head > 4096 && lane.head * 2 > lane.keys.length) {
      lane.keys = lane.keys.slice(lane.head);
      lane.sentAt = lane.sentAt.slice(lane.head);
      lane.head = 0;
    }
    const now = performance.now();
    lane.lastReply = now;
    this.count(code, sent, now);
    if (k === LOGIN || k === AUTHENTICATE) {
      // A record reply where the login's belongs: replies are out of order.
      this.stats.orderViolations++;
      lane.socket?.destroy();
      return;
    }
    if (k === HELD) return;
    if (k === PROBE) {
      // A probe: "namespace not found", or a retry code (Ferry may not have reached the destination
      // yet). Any other code belongs to some other shipment: the replies are out of order.
      if (code !== ResultCode.NamespaceNotFound && sourceActionOf(code) !== SourceAction.Retry) this.stats.orderViolations++;
      return;
    }
    if (code === ResultCode.NamespaceNotFound && this.opts.probeEvery > 0) this.stats.orderViolations++;
    this.settle(k, code, now);
    if (code === ResultCode.NotAuthenticated) this.reauthenticate(lane);
  }

  /** A reply's code and its latency, in the stats. */
  private count(code: number, sent: number, now: number): void {
    this.stats.byCode[code] = (this.stats.byCode[code] ?? 0) + 1;
    const us = Math.max(1, Math.round((now - sent) * 1000));
    this.stats.latency[Math.min(31, 31 - Math.clz32(us))]!++;
    this.stats.fineLatency[fineBucketOf(us)]!++;
  }

  /** What a record's answer means: done, shipped again later, or abandoned (lost). */
  private settle(k: number, code: number, now: number): void {
    this.inFlight[k] = 0;
    const action = sourceActionOf(code);
    if (action !== SourceAction.Retry) this.lastSettled = now;
    if (action === SourceAction.Done) {
      this.stats.acks++;
      if (this.dirty[k] === 1) this.enqueue(k);
    } else if (action === SourceAction.Retry) {
      this.stats.retries++;
      // XDR retries a record on a later cycle of its DC (period-ms), not at once.
      if (this.opts.retryDelayMs > 0) {
        // Counted until it is queued again, so the run does not end while a retry waits.
        this.retriesWaiting++;
        this.retryWaiting[k] = 1;
        setTimeout(() => {
          this.retriesWaiting--;
          this.retryWaiting[k] = 0;
          this.enqueue(k);
          this.pump();
        }, this.opts.retryDelayMs);
      } else this.enqueue(k);
    } else {
      this.stats.abandons++;
      if (this.dirty[k] === 1) this.enqueue(k);
    }
  }

  private enqueue(k: number): void {
    this.dirty[k] = 1;
    this.queue.push(k);
  }

  private isFinished(): boolean {
    return this.stopped && this.retriesWaiting === 0 && this.held.length === 0 && this.queueHead >= this.queue.length && this.inFlightCount === 0;
  }

  /** Make changes (within the throttle), then ship queued keys onto lanes with room. */
  private pump(): void {
    if (this.finish === null) return;
    if (!this.stopped) this.makeChanges();
    this.releaseHeld();
    const batchSockets = new Set<Lane>();
    // Each lane's shipments of this round, encoded one after another into one buffer.
    const parts = new Map<Lane, BufferWriter>();
    while (this.queueHead < this.queue.length) {
      const lane = this.pickLane();
      if (lane === null) break;
      const k = this.queue[this.queueHead++]!;
      if (this.inFlight[k] === 1 || this.dirty[k] === 0) continue;
      this.dirty[k] = 0;
      const now = performance.now();
      if (lane.h2 !== null) {
        this.inFlight[k] = 1;
        this.stats.ships++;
        this.shipH2(lane, k, now);
        continue;
      }
      if (this.holdsBack(lane)) {
        this.holdBack(lane, k, now);
        continue;
      }
      this.inFlight[k] = 1;
      let out = parts.get(lane);
      if (out === undefined) parts.set(lane, (out = new BufferWriter(LANE_WRITE_BYTES)));
      if (this.opts.probeEvery > 0 && ++this.shipCounter % this.opts.probeEvery === 0) {
        this.probeMessage(out);
        lane.keys.push(PROBE);
        lane.sentAt.push(now);
        this.stats.probes++;
      }
      this.message(k, out);
      lane.keys.push(k);
      lane.sentAt.push(now);
      this.stats.ships++;
      batchSockets.add(lane);
    }
    if (this.queueHead > 65536 && this.queueHead * 2 > this.queue.length) {
      this.queue.splice(0, this.queueHead);
      this.queueHead = 0;
    }
    for (const lane of batchSockets) lane.socket!.write(parts.get(lane)!.finish());
    if (this.isFinished()) {
      const f = this.finish;
      this.finish = null;
      f();
    }
  }

  private holdsBack(lane: Lane): boolean {
    const pct = this.opts.holdBackPct ?? 0;
    return pct > 0 && lane.index % this.hostList.length === 0 && this.random() * 100 < pct;
  }

  /** Set the shipment of key k aside for its lane, and ship the key again at once (see HELD). */
  private holdBack(lane: Lane, k: number, now: number): void {
    const w = new BufferWriter(1024);
    this.message(k, w);
    this.held.push({ lane, socket: lane.socket!, bytes: w.finish(), releaseAt: now + (this.opts.holdBackMs ?? 0) });
    this.stats.held++;
    this.enqueue(k);
  }

  /** Write the held shipments whose time has come, on the connection they were held for. */
  private releaseHeld(): void {
    const now = performance.now();
    let n = 0;
    for (; n < this.held.length && this.held[n]!.releaseAt <= now; n++) {
      const h = this.held[n]!;
      if (h.lane.socket !== h.socket || !h.lane.ready) continue;
      h.lane.keys.push(HELD);
      h.lane.sentAt.push(now);
      h.socket.write(h.bytes);
      this.stats.heldSent++;
    }
    if (n > 0) this.held = this.held.slice(n);
  }

  private pickLane(): Lane | null {
    for (let i = 0; i < this.lanes.length; i++) {
      const lane = this.lanes[(this.nextLane + i) % this.lanes.length]!;
      // An HTTP/2 connection is unusable from its GOAWAY or error on, before its 'close' comes.
      if (lane.h2 !== null && (lane.h2.closed || lane.h2.destroyed)) lane.ready = false;
      if (lane.ready && lane.keys.length - lane.head + lane.streams < this.opts.pipeline) {
        this.nextLane = (this.nextLane + i + 1) % this.lanes.length;
        return lane;
      }
    }
    return null;
  }

  private makeChanges(): void {
    const o = this.opts;
    let allowed = Number.POSITIVE_INFINITY;
    if (o.throttle > 0) {
      const elapsed = (performance.now() - this.started) / 1000;
      const shippedShare = 1 - o.readPct / 100;
      allowed = Math.floor(elapsed * o.throttle * shippedShare) - this.stats.changes;
    }
    // Do not run far ahead of what the lanes can take: the queue stays short.
    const room = o.connections * o.pipeline * 2 - (this.queue.length - this.queueHead);
    let n = Math.min(allowed, room, this.stopAt - this.stats.changes);
    for (; n > 0; n--) {
      let k: number;
      if (o.workload === 'insert') {
        if (this.insertCursor >= o.keys) {
          this.stopGenerated();
          break;
        }
        k = this.insertCursor++;
      } else {
        k = Math.floor(this.random() * o.keys);
      }
      const deleting = o.deletePct > 0 && this.version[k]! > 0 && this.deleted[k] === 0 && this.random() * 100 < o.deletePct;
      this.version[k]!++;
      this.deleted[k] = deleting ? 1 : 0;
      this.stats.changes++;
      if (this.dirty[k] === 0 && this.inFlight[k] === 0) this.enqueue(k);
      else this.dirty[k] = 1;
    }
    if (this.stats.changes >= this.stopAt) this.stopGenerated();
  }

  private digest(k: number): Buffer {
    let d = this.digests[k];
    if (d === undefined) this.digests[k] = d = integerKeyDigest(this.opts.set, this.opts.startKey + k);
    return d;
  }

  /** The shipment for key k at its latest state, as XDR builds it, appended to `w`. */
  private message(k: number, w: BufferWriter): void {
    const o = this.opts;
    const v = this.version[k]!;
    const key = o.startKey + k;
    const lut = lutFromUnixMs(Date.now());
    const fields = [this.namespaceField, { type: FieldType.Digest, data: this.digest(k) }];
    if (this.setField !== null) fields.push(this.setField);
    if (o.sendKey) {
      // Integer user key: [particle type 1][i64 BE]; keys here are ≥ 0 and below 2^53.
      const kb = Buffer.allocUnsafe(9);
      kb[0] = 1;
      kb.writeUInt32BE(Math.floor(key / 0x100000000), 1);
      kb.writeUInt32BE(key >>> 0, 5);
      fields.push({ type: FieldType.UserKey, data: kb });
    }
    fields.push(lutField(lut));
    if (this.deleted[k] === 1) {
      encodeRecordRequest(
        {
          info1: Info1.Xdr,
          info2: Info2.Write | Info2.Delete | (o.durableDeletes ? Info2.DurableDelete : 0),
          info3: 0,
          generation: 0,
          recordTtl: 0,
          fields,
          ops: [],
        },
        w,
      );
      return;
    }
    const ops = (o.noBins ? [] : binsFor(o.bins, key, v)).map((b) => ({
      op: OpType.Write,
      particleType: b.particleType,
      name: b.name,
      value: b.bytes,
      ...(o.shipBinLuts ? { binLut: lut } : {}),
    }));
    const start = w.length;
    const msg = encodeRecordRequest(
      {
        info1: Info1.Xdr,
        info2: Info2.Write | (o.shipBinLuts ? Info2.DurableDelete : 0),
        info3: Info3.CreateOrReplace,
        generation: v,
        recordTtl: o.ttl > 0 ? o.ttl : Ttl.NeverExpire,
        fields,
        ops,
      },
      w,
    );
    // XDR compresses writes above 128 bytes when the DC asks for compression.
    if (o.compress && msg.length > 128) {
      const compressed = compressRecordMessage(msg);
      w.truncate(start);
      w.bytes(compressed);
    }
  }

  /** An order probe (see PROBE), appended to `w`. */
  private probeMessage(w: BufferWriter): void {
    const d = Buffer.alloc(20);
    d.writeUInt32BE(this.stats.probes);
    encodeRecordRequest(
      {
        info1: Info1.Xdr,
        info2: Info2.Write,
        info3: Info3.CreateOrReplace,
        recordTtl: Ttl.NeverExpire,
        fields: [stringField(FieldType.Namespace, this.opts.probeNamespace), { type: FieldType.Digest, data: d }, lutField(lutFromUnixMs(Date.now()))],
        ops: [{ op: OpType.Write, particleType: 1, name: 'p', value: Buffer.alloc(8) }],
      },
      w,
    );
  }

  elapsedMs(): number {
    return performance.now() - this.started;
  }
}
