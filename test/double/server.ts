// The conformance double: an in-memory, single-node server speaking the Aerospike protocol the
// way Community Edition 8.1 does in everything a client and an XDR connector touch. Tests use
// it as the destination cluster; it shares no code with src/ so it can judge src/.
//
//   AerospikeDouble ── net.Server ──▶ DoubleConnection (one per socket: framing, order, timing)
//                                        └─▶ RequestHandler (info, security, records, batch)
//                                               └─▶ RecordExecutor ─▶ RecordStore

import net from 'node:net';
import { DoubleConnection } from './connection.js';
import { FaultState, type DoubleFaults } from './faults.js';
import type { InfoContext } from './info.js';
import { RequestHandler, emptyStats, type DoubleStats } from './request-handler.js';
import { RecordStore, type StoredRecord } from './store.js';

export type { DoubleFaults } from './faults.js';
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
}

export class AerospikeDouble implements InfoContext {
  readonly host: string;
  readonly namespaces: readonly string[];
  readonly clusterName: string | undefined;
  readonly stats: DoubleStats = emptyStats();
  readonly faults: DoubleFaults;
  /** Every info name asked, with how often and whether the double knew it. */
  readonly infoNames = new Map<string, { count: number; known: boolean }>();

  private readonly store: RecordStore;
  private readonly handler: RequestHandler;
  private readonly faultState: FaultState;
  private readonly connections = new Set<DoubleConnection>();
  private listener: net.Server | undefined;
  private boundPort = 0;
  private id = '';

  private constructor(opts: DoubleOptions) {
    this.host = opts.host ?? '127.0.0.1';
    this.namespaces = [...(opts.namespaces ?? ['test'])];
    this.clusterName = opts.clusterName;
    this.store = new RecordStore(this.namespaces);
    this.faultState = new FaultState(() => {
      for (const conn of this.connections) conn.pump();
    });
    this.faults = this.faultState;
    this.handler = new RequestHandler(this.store, this, this.stats, this.faultState, (name, known) => {
      const seen = this.infoNames.get(name);
      if (seen) seen.count++;
      else this.infoNames.set(name, { count: 1, known });
    });
  }

  static async start(opts: DoubleOptions = {}): Promise<AerospikeDouble> {
    const double = new AerospikeDouble(opts);
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

  objectCount(ns: string): number {
    return this.store.count(ns);
  }

  /** Destroys every open client socket now; the listener stays up. */
  dropConnections(): void {
    for (const conn of this.connections) conn.destroy();
  }

  /** Stops (true) or resumes (false) listening, on the same port; open sockets are untouched. */
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

  get(namespace: string, digest: Buffer): StoredRecord | undefined {
    return this.store.get(namespace, digest.toString('hex'));
  }

  /** The live records of a namespace, keyed by digest hex. */
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
    const listener = net.createServer((socket) => this.accept(socket));
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
    this.stats.connections++;
    const conn = new DoubleConnection(socket, this.handler, this.faultState, (closed) => {
      this.connections.delete(closed);
    });
    this.connections.add(conn);
  }
}
