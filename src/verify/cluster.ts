/**
 * One side of a verification: the cluster's nodes and which of them masters each partition, found
 * once at start, and a pool of scan links per node.
 *
 *   seed (first that answers) ─▶ node, peers-clear-std | peers-tls-std, replicas
 *   each peer                 ─▶ node, replicas
 *   namespace × 4096 partitions ─▶ the node whose first replica bitmap has the bit
 *
 * The map is read once: a verification runs while the cluster is stable. A partition a node no
 * longer masters comes back marked unavailable and fails the run (exit 3) rather than being
 * reported as missing.
 */

import { masters, parsePeers, parseReplicas } from '../destination/cluster-info.js';
import type { Credentials } from '../destination/login.js';
import { loginMessage } from '../destination/login.js';
import { type LinkAddress, NodeLink, type TlsSettings } from '../destination/node-link.js';
import { addFirstSeed } from '../destination/seeds.js';
import { PARTITIONS } from '../protocol/index.js';
import { VerifyClusterError, VerifyInputError } from './errors.js';
import { ScanLink } from './scan-link.js';

export interface ClusterOptions {
  /** how the cluster is called in messages: 'source' or 'destination' */
  role: string;
  seeds: LinkAddress[];
  tls: TlsSettings | null;
  credentials: Credentials | null;
  /** connect, info and scan silence limit, ms */
  timeoutMs: number;
}

export class ClusterNode {
  private readonly idle: ScanLink[] = [];

  constructor(
    readonly id: string,
    readonly addr: LinkAddress,
    private readonly opts: ClusterOptions,
  ) {}

  /** Run `fn` on a link of this node's pool; a link that failed is dropped, a good one kept. */
  async withLink<T>(fn: (link: ScanLink) => Promise<T>): Promise<T> {
    const link = this.idle.pop() ?? (await ScanLink.open(this.addr, this.opts.tls, this.opts.credentials, this.opts.timeoutMs));
    try {
      return await fn(link);
    } finally {
      if (link.dead) link.close();
      else this.idle.push(link);
    }
  }

  close(): void {
    for (const link of this.idle.splice(0)) link.close();
  }
}

export class VerifyCluster {
  private constructor(
    readonly role: string,
    private readonly nodes: ClusterNode[],
    /** namespace → owner node index per partition (-1: nobody) */
    private readonly owners: Map<string, Int16Array>,
  ) {}

  static async connect(opts: ClusterOptions): Promise<VerifyCluster> {
    const greeting = (): Buffer | null => (opts.credentials === null ? null : loginMessage(opts.credentials));
    const peersName = opts.tls === null ? 'peers-clear-std' : 'peers-tls-std';
    const found: Array<{ id: string; addr: LinkAddress; replicas: Map<string, Buffer> }> = [];
    let peers: LinkAddress[] = [];
    const failed = await addFirstSeed(opts.seeds, async (seed) => {
      const link = new NodeLink(seed, opts.tls, opts.timeoutMs, greeting);
      try {
        const info = await link.info(['node', peersName, 'replicas']);
        found.push({ id: info.get('node') ?? '', addr: seed, replicas: parseReplicas(info.get('replicas') ?? '') });
        peers = parsePeers(info.get(peersName) ?? '0,3000,[]').peers.flatMap((p) => {
          const a = p.addresses[0];
          return a === undefined ? [] : [{ host: a.host, port: a.port, tlsName: p.tlsName }];
        });
      } finally {
        link.close();
      }
    });
    if (failed !== null) throw new VerifyClusterError(`${opts.role}: no seed answered: ${failed.join('; ')}`);
    for (const addr of peers) {
      const link = new NodeLink(addr, opts.tls, opts.timeoutMs, greeting);
      try {
        const info = await link.info(['node', 'replicas']);
        found.push({ id: info.get('node') ?? '', addr, replicas: parseReplicas(info.get('replicas') ?? '') });
      } catch (err) {
        throw new VerifyClusterError(`${opts.role}: node ${addr.host}:${addr.port} did not answer: ${(err as Error).message}`, { cause: err });
      } finally {
        link.close();
      }
    }
    const owners = new Map<string, Int16Array>();
    found.forEach((node, index) => {
      for (const [ns, bitmap] of node.replicas) {
        let table = owners.get(ns);
        if (table === undefined) {
          table = new Int16Array(PARTITIONS).fill(-1);
          owners.set(ns, table);
        }
        for (let p = 0; p < PARTITIONS; p++) if (masters(bitmap, p)) table[p] = index;
      }
    });
    return new VerifyCluster(
      opts.role,
      found.map((n) => new ClusterNode(n.id, n.addr, opts)),
      owners,
    );
  }

  get nodeCount(): number {
    return this.nodes.length;
  }

  /** Throws an input error when the cluster has no such namespace. */
  checkNamespace(namespace: string): void {
    if (!this.owners.has(namespace)) throw new VerifyInputError(`the ${this.role} has no namespace '${namespace}' (it has ${[...this.owners.keys()].join(', ') || 'none'})`);
  }

  masterOf(namespace: string, partition: number): ClusterNode {
    const index = this.owners.get(namespace)?.[partition] ?? -1;
    const node = this.nodes[index];
    if (node === undefined) throw new VerifyClusterError(`${this.role}: no node masters partition ${partition} of '${namespace}'`);
    return node;
  }

  close(): void {
    for (const node of this.nodes) node.close();
  }
}
