/**
 * One side of a verification: the cluster's nodes and which of them masters each partition, found
 * once at start, and a pool of scan links per node.
 *
 *   seed (first that answers) ─▶ node, peers-clear-std | peers-tls-std, replicas
 *   each peer                 ─▶ node, replicas
 *   namespace × 4096 partitions ─▶ the node whose first replica bitmap has the bit
 *
 * The map is read at start, and again whenever a request fails (a node gone, a partition moved:
 * the old master marks it unavailable); the verifier then retries the partition group.
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

interface FoundNode {
  id: string;
  addr: LinkAddress;
  replicas: Map<string, Buffer>;
}

export class VerifyCluster {
  private nodes: ClusterNode[] = [];
  /** namespace → owner node index per partition (-1: nobody) */
  private owners = new Map<string, Int16Array>();

  private constructor(private readonly opts: ClusterOptions) {}

  get role(): string {
    return this.opts.role;
  }

  static async connect(opts: ClusterOptions): Promise<VerifyCluster> {
    const cluster = new VerifyCluster(opts);
    cluster.adopt(await discover(opts, opts.seeds));
    return cluster;
  }

  /**
   * Read the nodes and the partition map again (after a node failed or a partition moved), from
   * the seeds and every node known so far. Nodes still there keep their links.
   */
  async refresh(): Promise<void> {
    const known = this.nodes.map((n) => n.addr);
    this.adopt(await discover(this.opts, [...known, ...this.opts.seeds]));
  }

  private adopt(found: FoundNode[]): void {
    const previous = new Map(this.nodes.map((n) => [`${n.id}@${n.addr.host}:${n.addr.port}`, n]));
    const nodes = found.map((f) => {
      const key = `${f.id}@${f.addr.host}:${f.addr.port}`;
      const node = previous.get(key) ?? new ClusterNode(f.id, f.addr, this.opts);
      previous.delete(key);
      return node;
    });
    for (const gone of previous.values()) gone.close();
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
    this.nodes = nodes;
    this.owners = owners;
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

/** The first seed that answers, then each of its peers: id, address and master bitmaps. */
async function discover(opts: ClusterOptions, seeds: readonly LinkAddress[]): Promise<FoundNode[]> {
  const greeting = (): Buffer | null => (opts.credentials === null ? null : loginMessage(opts.credentials));
  const peersName = opts.tls === null ? 'peers-clear-std' : 'peers-tls-std';
  const found: FoundNode[] = [];
  let peers: LinkAddress[] = [];
  const failed = await addFirstSeed(seeds, async (seed) => {
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
  return found;
}
