// The conformance double: an in-memory server node speaking the Aerospike protocol the way
// Community Edition 8.1 does in everything a client and an XDR connector touch. Tests use it as
// the destination cluster; it shares no code with src/ so it can judge src/. On its own it is a
// one-node cluster; DoubleCluster (cluster.ts) runs several that share one store.
//
//   AerospikeDouble ── net.Server | tls.Server ──▶ DoubleConnection (one per socket: framing,
//        │                                            │              order, timing, auth state)
//        │                                            └─▶ RequestHandler (info, security,
//        │                                                   records, batch)
//        │                                                   └─▶ RecordExecutor ─▶ RecordStore
//        └── NodeTopology (peers, partitions, generations) and SecurityPolicy (users, sessions)

import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import tls from 'node:tls';
import { DoubleConnection } from './connection.js';
import { FaultState, type DoubleFaults } from './faults.js';
import type { InfoContext } from './info.js';
import { RequestHandler, emptyStats, type DoubleStats } from './request-handler.js';
import { SecurityPolicy, type DoubleSecurityOptions } from './security.js';
import { RecordStore, type StoredRecord, partitionOfHex } from './store.js';
import { SOLO_TOPOLOGY, type NodeTopology } from './topology.js';

export type { DoubleFaults } from './faults.js';
export type { DoubleSecurityOptions } from './security.js';
export type { DoubleStats } from './request-handler.js';
export type { StoredBin, StoredRecord } from './store.js';

export interface DoubleOptions {
  /** Address to listen on; default '127.0.0.1'. */
  host?: string;
  /** Port to listen on; default 0 (a free port). */
  port?: number;
  /** Node id answered by info `node`; default derived from the port, upper-case hex. */
  nodeId?: string;
  /** Namespaces served; default ['test']. Requests for others answer 20. */
  namespaces?: string[];
  /** Answered by info `cluster-name`; unset answers 'null' as a server does. */
  clusterName?: string;
  /** Namespaces' `allow-ttl-without-nsup` (their `nsup-period` is 0, as CE's default); default false. */
  allowTtlWithoutNsup?: boolean;
  /** Users and session TTL; unset, the double has no security (LOGIN answers 51) as CE. */
  security?: DoubleSecurityOptions;
  /** Listen with TLS instead of in clear. */
  tls?: DoubleTlsOptions;
  /** Set by DoubleCluster for its nodes; a stand-alone double leaves it unset. */
  member?: ClusterMember;
}

export interface DoubleTlsOptions {
  /** Private key: PEM text, or the path of a PEM file. */
  key: string;
  /** Certificate (chain): PEM text, or the path of a PEM file. */
  cert: string;
  /** CA that client certificates must chain to: PEM text or path. Needed with requestCert. */
  ca?: string;
  /** Require a client certificate signed by `ca` (mutual TLS); default false. */
  requestCert?: boolean;
  /** Name peers are listed with in `peers-tls-*`; default the certificate's CN. */
  tlsName?: string;
}

/** What a cluster shares with each of its nodes. */
export interface ClusterMember {
  readonly store: RecordStore;
  readonly topology: NodeTopology;
  readonly security: SecurityPolicy | undefined;
}

export class AerospikeDouble implements InfoContext {
  readonly host: string;
  readonly namespaces: readonly string[];
  readonly clusterName: string | undefined;
  readonly allowTtlWithoutNsup: boolean;
  readonly topology: NodeTopology;
  readonly tlsName: string | undefined;
  readonly stats: DoubleStats = emptyStats();
  readonly faults: DoubleFaults;
  /** Every info name asked, with how often and whether the double knew it. */
  readonly xdrCommands: string[] = [];
  xdrRefusals = 0;
  readonly infoNames = new Map<string, { count: number; known: boolean }>();

  private readonly store: RecordStore;
  private readonly handler: RequestHandler;
  private readonly faultState: FaultState;
  private readonly tlsContext: tls.TlsOptions | undefined;
  private readonly connections = new Set<DoubleConnection>();
  private listener: net.Server | undefined;
  private boundPort = 0;
  private id = '';

  /** Forget every stored record (a cluster's nodes share one store). */
  clearStore(): void {
    this.store.clear();
  }

  private constructor(opts: DoubleOptions, security: SecurityPolicy | undefined) {
    this.host = opts.host ?? '127.0.0.1';
    this.namespaces = [...(opts.namespaces ?? ['test'])];
    this.clusterName = opts.clusterName;
    this.allowTtlWithoutNsup = opts.allowTtlWithoutNsup ?? false;
    this.store = opts.member?.store ?? new RecordStore(this.namespaces);
    this.topology = opts.member?.topology ?? SOLO_TOPOLOGY;
    if (opts.tls) {
      const cert = pem(opts.tls.cert);
      this.tlsContext = {
        key: pem(opts.tls.key),
        cert,
        ...(opts.tls.ca === undefined ? {} : { ca: pem(opts.tls.ca) }),
        requestCert: opts.tls.requestCert ?? false,
        rejectUnauthorized: opts.tls.requestCert ?? false,
      };
      this.tlsName = opts.tls.tlsName ?? commonName(cert);
    } else {
      this.tlsName = undefined;
    }
    this.faultState = new FaultState(() => {
      for (const conn of this.connections) conn.pump();
    });
    this.faults = this.faultState;
    this.handler = new RequestHandler(
      this.store,
      this,
      this.stats,
      this.faultState,
      (name, known) => {
        const seen = this.infoNames.get(name);
        if (seen) seen.count++;
        else this.infoNames.set(name, { count: 1, known });
      },
      security,
    );
  }

  static async start(opts: DoubleOptions = {}): Promise<AerospikeDouble> {
    const security = opts.member ? opts.member.security : opts.security ? await SecurityPolicy.create(opts.security) : undefined;
    const double = new AerospikeDouble(opts, security);
    await double.listen(opts.port ?? 0);
    double.id = opts.nodeId ?? `BB9${double.boundPort.toString(16).toUpperCase().padStart(4, '0')}0011AC4202`;
    return double;
  }

  get port(): number {
    return this.boundPort;
  }

  get nodeId(): string {
    return this.id;
  }

  get tls(): boolean {
    return this.tlsContext !== undefined;
  }

  /** Whether the node accepts connections (false after close() or refuseConnections(true)). */
  get listening(): boolean {
    return this.listener !== undefined;
  }

  /** Records of `ns` in the partitions this node masters (all of them on a stand-alone double). */
  objectCount(ns: string): number {
    if (this.topology === SOLO_TOPOLOGY) return this.store.count(ns);
    let count = 0;
    for (const digestHex of this.store.records(ns).keys()) {
      if (this.topology.isMaster(partitionOfHex(digestHex))) count++;
    }
    return count;
  }

  /** Destroys every open client socket now; the listener stays up. */
  dropConnections(): void {
    for (const conn of this.connections) conn.destroy();
  }

  /**
   * Stops (true) or resumes (false) listening, on the same port; open sockets are untouched,
   * except TLS ones still in their handshake, which are dropped.
   */
  async refuseConnections(on: boolean): Promise<void> {
    if (on) {
      const listener = this.listener;
      this.listener = undefined;
      // close() releases the port at once; its callback would wait for every socket to end.
      listener?.close();
    } else if (!this.listener) {
      await this.listen(this.boundPort);
    }
  }

  /** A record by digest; a cluster node reads the store it shares with the other nodes. */
  get(namespace: string, digest: Buffer): StoredRecord | undefined {
    return this.store.get(namespace, digest.toString('hex'));
  }

  /** The last filter expression (field 43) a request carried, for tests that pin its bytes. */
  get lastFilterExpression(): Buffer | undefined {
    return this.store.lastFilterExpression;
  }

  set lastFilterExpression(v: Buffer | undefined) {
    this.store.lastFilterExpression = v;
  }

  /** The live records of a namespace, keyed by digest hex (a cluster node: the whole cluster's). */
  records(namespace: string): Map<string, StoredRecord> {
    return this.store.records(namespace);
  }

  async close(): Promise<void> {
    await this.refuseConnections(true);
    const closing = [...this.connections].map(
      (conn) => new Promise<void>((resolve) => {
        if (conn.socket.destroyed) resolve();
        else conn.socket.once('close', () => resolve());
        conn.destroy();
      }),
    );
    await Promise.all(closing);
  }

  private listen(port: number): Promise<void> {
    let listener: net.Server;
    if (this.tlsContext) {
      const server = tls.createServer(this.tlsContext, (socket) => this.accept(socket));
      // A failed handshake (untrusted or missing client certificate, plain bytes) ends that
      // socket only.
      server.on('tlsClientError', () => {
        this.stats.tlsFailures++;
      });
      listener = server;
    } else {
      listener = net.createServer((socket) => this.accept(socket));
    }
    return new Promise((resolve, reject) => {
      listener.once('error', reject);
      listener.listen({ host: this.host, port }, () => {
        listener.off('error', reject);
        const address = listener.address();
        if (address && typeof address === 'object') this.boundPort = address.port;
        this.listener = listener;
        resolve();
      });
    });
  }

  private accept(socket: net.Socket): void {
    // A TLS socket is handed over when its handshake ends, which can be after the listener
    // closed (a killed node): it must not come to life.
    if (!this.listener) {
      socket.destroy();
      return;
    }
    this.stats.connections++;
    const conn = new DoubleConnection(socket, this.handler, this.faultState, (closed) => {
      this.connections.delete(closed);
    });
    this.connections.add(conn);
  }
}

/** PEM text as is; anything else is the path of a PEM file. */
function pem(textOrPath: string): string {
  return textOrPath.includes('-----BEGIN') ? textOrPath : readFileSync(textOrPath, 'utf8');
}

/** The CN of a certificate's subject, the name clients verify it against by default. */
function commonName(certPem: string): string | undefined {
  const subject = new X509Certificate(certPem).subject;
  return /^CN=(.*)$/m.exec(subject)?.[1];
}
