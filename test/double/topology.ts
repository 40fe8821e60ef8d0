// What one node knows about the cluster it belongs to: who its peers are, which partitions it
// masters, and the two generations a client polls to learn that either has changed.
//
//   partition id := (digest[0] | digest[1] << 8) & 0x0FFF          4096 partitions
//   bitmap       := 512 bytes, partition p is bit (0x80 >> (p & 7)) of byte (p >> 3)
//
// A stand-alone double is a one-node cluster (SOLO_TOPOLOGY): no peers, every partition, and
// generations that never move. DoubleCluster (cluster.ts) gives each of its nodes a live view.

import { N_PARTITIONS } from './wire.js';

/** A peer as `peers-*` lists it: `[<node id>,<tls name>,[<address>:<port>]]`. */
export interface PeerAddress {
  readonly nodeId: string;
  readonly host: string;
  readonly port: number;
}

export interface NodeTopology {
  /** Bumped whenever the set of partitions this node masters changes. */
  partitionGeneration(): number;
  /** Bumped whenever the set of live peers of this node changes. */
  peersGeneration(): number;
  /** The other live nodes of the cluster. */
  peers(): readonly PeerAddress[];
  /** Live nodes, this one included. */
  clusterSize(): number;
  /** Same on every node of one cluster, and changes when its membership does. */
  clusterKey(): string;
  /** Whether this node masters `partition`; the same for every namespace. */
  isMaster(partition: number): boolean;
}

export const SOLO_TOPOLOGY: NodeTopology = {
  partitionGeneration: () => 1,
  peersGeneration: () => 1,
  peers: () => [],
  clusterSize: () => 1,
  clusterKey: () => '',
  isMaster: () => true,
};

/** The partition a digest falls in. */
export function partitionOf(digest: Buffer): number {
  return (digest[0]! | (digest[1]! << 8)) & (N_PARTITIONS - 1);
}

/** This node's master bitmap: one bit per partition, MSB first. */
export function masterBitmap(topology: NodeTopology): Buffer {
  const bits = Buffer.alloc(N_PARTITIONS / 8);
  for (let p = 0; p < N_PARTITIONS; p++) {
    if (topology.isMaster(p)) bits[p >> 3]! |= 0x80 >> (p & 7);
  }
  return bits;
}
