// A cluster of doubles: N nodes on loopback ports that tend like an AP-mode Aerospike cluster
// with replication factor 1 as far as a client can see, and share one record store.
//
//   DoubleCluster ── owners[4096] (node index per partition, the same for every namespace)
//        │           alive[i], partitionGeneration[i], peersGeneration[i]
//        ├── node 0: AerospikeDouble ─┐
//        ├── node 1: AerospikeDouble ─┼── one RecordStore, one SecurityPolicy
//        └── node 2: AerospikeDouble ─┘
//
// Why one store: a real cluster keeps a second copy of every record (replication factor 2), so
// its data survives a node going down; ownership only decides which node masters a partition.
// A node that gets a request for a partition it does not master executes it on the shared store,
// which is what a server's proxying to the master amounts to, and counts it in stats.forwarded.
//
// Ownership follows per-partition succession lists, as a server's does: every partition ranks
// the nodes by a hash of (partition, node index), and its master is the first live node in that
// ranking. So a killed node's partitions spread over the survivors, and a restarted node takes
// back exactly the partitions it ranks first in (moves made by movePartitions survive unless
// the restarted node ranks first for them).
//
// Generations, per node, only ever grow (a restarted server would start its own from scratch;
// clients treat a lower peers generation as a quick restart and refetch anyway):
//   partition-generation  bumped when the node gains or loses a partition
//   peers-generation      bumped when one of its peers leaves or rejoins

import { createHash } from 'node:crypto';
import { AerospikeDouble, type DoubleTlsOptions } from './server.js';
import { SecurityPolicy, type DoubleSecurityOptions } from './security.js';
import { RecordStore, type StoredRecord } from './store.js';
import type { NodeTopology, PeerAddress } from './topology.js';
import { N_PARTITIONS } from './wire.js';

export interface DoubleClusterOptions {
  /** Number of nodes, 1 to 64. */
  nodes: number;
  /** Namespaces served by every node; default ['test']. */
  namespaces?: string[];
  /** Answered by info `cluster-name` on every node. */
  clusterName?: string;
  /** Users and session TTL, shared by every node: a session token is good on any of them. */
  security?: DoubleSecurityOptions;
  /** Every node listens with TLS, with this key and certificate. */
  tls?: DoubleTlsOptions;
  /** Address every node listens on; default '127.0.0.1'. */
  host?: string;
}

const MAX_NODES = 64;

export class DoubleCluster {
  /** Node i; a killed node keeps its place, its object and its port. */
  readonly nodes: AerospikeDouble[] = [];
  readonly namespaces: readonly string[];
  readonly security: SecurityPolicy | undefined;

  private readonly store: RecordStore;
  /** Master node index of each partition. */
  private readonly owners = new Uint8Array(N_PARTITIONS);
  /** Node indexes of each partition in succession order. */
  private readonly succession: Uint8Array[] = [];
  private readonly alive: boolean[];
  private readonly partitionGenerations: number[];
  private readonly peersGenerations: number[];
  /** Bumped on every membership change; the cluster key is derived from it. */
  private membershipGeneration = 1;

  private constructor(size: number, namespaces: readonly string[], security: SecurityPolicy | undefined) {
    this.namespaces = namespaces;
    this.security = security;
    this.store = new RecordStore(namespaces);
    this.alive = new Array<boolean>(size).fill(true);
    this.partitionGenerations = new Array<number>(size).fill(1);
    this.peersGenerations = new Array<number>(size).fill(1);
    for (let p = 0; p < N_PARTITIONS; p++) {
      const ranked = rankNodes(p, size);
      this.succession.push(ranked);
      this.owners[p] = ranked[0]!;
    }
  }

  static async start(opts: DoubleClusterOptions): Promise<DoubleCluster> {
    if (!Number.isInteger(opts.nodes) || opts.nodes < 1 || opts.nodes > MAX_NODES) {
      throw new Error(`nodes must be an integer between 1 and ${MAX_NODES}, got ${opts.nodes}`);
    }
    const namespaces = [...(opts.namespaces ?? ['test'])];
    const security = opts.security ? await SecurityPolicy.create(opts.security) : undefined;
    const cluster = new DoubleCluster(opts.nodes, namespaces, security);
    try {
      for (let i = 0; i < opts.nodes; i++) {
        const node = await AerospikeDouble.start({
          namespaces,
          ...(opts.host === undefined ? {} : { host: opts.host }),
          ...(opts.clusterName === undefined ? {} : { clusterName: opts.clusterName }),
          ...(opts.tls === undefined ? {} : { tls: opts.tls }),
          member: { store: cluster.store, topology: cluster.topologyOf(i), security },
        });
        cluster.nodes.push(node);
      }
    } catch (err) {
      await cluster.close();
      throw err;
    }
    return cluster;
  }

  /** Every node's address, live or not, as a client would be configured with them. */
  seeds(): Array<{ host: string; port: number }> {
    return this.nodes.map((node) => ({ host: node.host, port: node.port }));
  }

  isAlive(i: number): boolean {
    this.checkIndex(i);
    return this.alive[i]!;
  }

  /** Index of the node that masters `partition` of `namespace`. */
  masterOf(namespace: string, partition: number): number {
    if (!this.namespaces.includes(namespace)) throw new Error(`namespace ${namespace} is not configured on this cluster`);
    checkPartition(partition);
    return this.owners[partition]!;
  }

  /** The partitions node i masters, in ascending order. */
  partitionsOf(i: number): number[] {
    this.checkIndex(i);
    const owned: number[] = [];
    for (let p = 0; p < N_PARTITIONS; p++) if (this.owners[p] === i) owned.push(p);
    return owned;
  }

  /** Makes node `toNode` master of `partitions`; bumps partition-generation where that changes anything. */
  movePartitions(partitions: number[], toNode: number): void {
    this.checkIndex(toNode);
    if (!this.alive[toNode]) throw new Error(`node ${toNode} is down; partitions cannot move to it`);
    for (const p of partitions) checkPartition(p);
    const changed = new Set<number>();
    for (const p of partitions) this.assign(p, toNode, changed);
    this.bumpPartitionGenerations(changed);
  }

  /**
   * Stops node i listening and drops its connections. Its partitions move to the next live node
   * in their succession lists; every survivor's peers-generation moves on.
   */
  async kill(i: number): Promise<void> {
    this.checkIndex(i);
    if (!this.alive[i]) return;
    await this.nodes[i]!.close();
    this.alive[i] = false;
    this.membershipGeneration++;
    for (let j = 0; j < this.nodes.length; j++) if (this.alive[j]) this.peersGenerations[j]!++;
    const changed = new Set<number>([i]);
    for (let p = 0; p < N_PARTITIONS; p++) {
      if (this.owners[p] !== i) continue;
      const next = this.firstAlive(p);
      if (next !== undefined) this.assign(p, next, changed);
    }
    this.bumpPartitionGenerations(changed);
  }

  /**
   * Node i listens again on the same port, with the same node id, and takes back the partitions
   * it ranks first in (and any left on nodes that are down).
   */
  async restart(i: number): Promise<void> {
    this.checkIndex(i);
    if (this.alive[i]) return;
    await this.nodes[i]!.refuseConnections(false);
    this.alive[i] = true;
    this.membershipGeneration++;
    for (let j = 0; j < this.nodes.length; j++) if (this.alive[j]) this.peersGenerations[j]!++;
    const changed = new Set<number>([i]);
    for (let p = 0; p < N_PARTITIONS; p++) {
      const owner = this.owners[p]!;
      if (this.firstAlive(p) === i || !this.alive[owner]) this.assign(p, this.firstAlive(p)!, changed);
    }
    this.bumpPartitionGenerations(changed);
  }

  /** The record, read from the shared store (so from whichever node masters it). */
  get(namespace: string, digest: Buffer): StoredRecord | undefined {
    return this.store.get(namespace, digest.toString('hex'));
  }

  /** The live records of a namespace, keyed by digest hex. */
  records(namespace: string): Map<string, StoredRecord> {
    return this.store.records(namespace);
  }

  async close(): Promise<void> {
    await Promise.all(this.nodes.map((node) => node.close()));
    this.alive.fill(false);
  }

  /** The view node i answers info from. */
  private topologyOf(i: number): NodeTopology {
    return {
      partitionGeneration: () => this.partitionGenerations[i]!,
      peersGeneration: () => this.peersGenerations[i]!,
      peers: () => this.livePeersOf(i),
      clusterSize: () => this.alive.filter(Boolean).length,
      clusterKey: () => (0x5eed_0000_0000 + this.membershipGeneration).toString(16).toUpperCase(),
      isMaster: (partition) => this.owners[partition] === i,
    };
  }

  private livePeersOf(i: number): PeerAddress[] {
    const peers: PeerAddress[] = [];
    for (let j = 0; j < this.nodes.length; j++) {
      const node = this.nodes[j]!;
      if (j !== i && this.alive[j]) peers.push({ nodeId: node.nodeId, host: node.host, port: node.port });
    }
    return peers;
  }

  private firstAlive(partition: number): number | undefined {
    for (const node of this.succession[partition]!) if (this.alive[node]) return node;
    return undefined;
  }

  private assign(partition: number, toNode: number, changed: Set<number>): void {
    const from = this.owners[partition]!;
    if (from === toNode) return;
    this.owners[partition] = toNode;
    changed.add(from);
    changed.add(toNode);
  }

  private bumpPartitionGenerations(changed: Set<number>): void {
    for (const i of changed) this.partitionGenerations[i]!++;
  }

  private checkIndex(i: number): void {
    if (!Number.isInteger(i) || i < 0 || i >= this.alive.length) {
      throw new Error(`node index must be an integer between 0 and ${this.alive.length - 1}, got ${i}`);
    }
  }
}

function checkPartition(p: number): void {
  if (!Number.isInteger(p) || p < 0 || p >= N_PARTITIONS) {
    throw new Error(`partition must be an integer between 0 and ${N_PARTITIONS - 1}, got ${p}`);
  }
}

/** Node indexes ranked for one partition: highest hash of (partition, node) first. */
function rankNodes(partition: number, size: number): Uint8Array {
  const scores: { node: number; score: number }[] = [];
  for (let node = 0; node < size; node++) {
    const score = createHash('sha1').update(`${partition}:${node}`).digest().readUInt32BE(0);
    scores.push({ node, score });
  }
  scores.sort((a, b) => b.score - a.score || a.node - b.node);
  return Uint8Array.from(scores.map((s) => s.node));
}
