/**
 * The destination's partition map, published by the tender (main thread) and read by every worker.
 *
 *   SharedArrayBuffer
 *   +-- description: a seqlocked snapshot (snapshot.ts) of 16 KiB ----------------------------------+
 *   |   JSON {nodes: [{id, host, port, tlsName} | null] by slot, namespaces: [name] by index}  |
 *   +-- owners: MAX_NAMESPACES × 4096 bytes: owner[ns][partition] = node slot, NO_NODE = none ------+
 *
 * The description is read whole or not at all (workers poll its version once per batch). The owner
 * bytes are read per record without any synchronisation, on purpose: a stale or half-updated byte
 * sends a write to a node that is no longer master, and a server forwards such a request to the
 * master itself, so a torn owner byte costs a hop, never correctness. The writer stores the owners
 * before it publishes the description, so a reader that sees a new description sees owners at
 * least that new. A node keeps its slot while it is known; a freed slot may go to another node,
 * which workers see as a changed address for that slot.
 */

import { indexOfName } from '../protocol/index.js';
import { SnapshotCell, isRecord, jsonCodec, snapshotBytes } from './snapshot.js';

export const MAX_NODES = 128;
export const MAX_NAMESPACES = 32;
export const NO_NODE = 255;
const PARTITIONS = 4096;
const DESCRIPTION = 16 * 1024;
const OWNERS_AT = snapshotBytes(DESCRIPTION);

export interface NodeAddress {
  id: string;
  host: string;
  port: number;
  tlsName: string | undefined;
}

export interface MapDescription {
  /** by slot; null where a slot is free */
  nodes: Array<NodeAddress | null>;
  /** by index into the owner tables */
  namespaces: string[];
}

function checkNode(v: unknown): NodeAddress | null | string {
  if (v === null) return null;
  if (!isRecord(v)) return 'a node is not a map';
  const { id, host, port, tlsName } = v;
  if (typeof id !== 'string' || typeof host !== 'string' || typeof port !== 'number' || !Number.isInteger(port) || port < 0 || port > 65535) return 'a node lacks id, host or port';
  if (tlsName !== undefined && tlsName !== null && typeof tlsName !== 'string') return 'a node has a bad tlsName';
  // JSON has no undefined: a node without a TLS name comes back without the key.
  return { id, host, port, tlsName: typeof tlsName === 'string' ? tlsName : undefined };
}

const mapDescriptionCodec = jsonCodec<MapDescription>('partition map', (raw) => {
  if (!isRecord(raw) || !Array.isArray(raw.nodes) || !Array.isArray(raw.namespaces)) return 'not {nodes, namespaces}';
  if (raw.nodes.length > MAX_NODES || raw.namespaces.length > MAX_NAMESPACES) return 'too many nodes or namespaces';
  const nodes: Array<NodeAddress | null> = [];
  for (const n of raw.nodes) {
    const node = checkNode(n);
    if (typeof node === 'string') return node;
    nodes.push(node);
  }
  if (!raw.namespaces.every((n): n is string => typeof n === 'string')) return 'a namespace is not a string';
  return { nodes, namespaces: raw.namespaces };
});

export function newPartitionMapBuffer(): SharedArrayBuffer {
  return new SharedArrayBuffer(OWNERS_AT + MAX_NAMESPACES * PARTITIONS);
}

/** Main thread: publishes the map. */
export class PartitionMapWriter {
  private readonly description: SnapshotCell<MapDescription>;
  readonly owners: Uint8Array;

  constructor(readonly sab: SharedArrayBuffer) {
    this.description = new SnapshotCell(sab, mapDescriptionCodec, 0, DESCRIPTION);
    this.owners = new Uint8Array(sab, OWNERS_AT, MAX_NAMESPACES * PARTITIONS);
    this.owners.fill(NO_NODE);
  }

  /** Write the owners, then publish the description (which readers poll). */
  publish(desc: MapDescription, owners: ReadonlyArray<Uint8Array>): void {
    for (let ns = 0; ns < MAX_NAMESPACES; ns++) {
      const table = owners[ns];
      const at = ns * PARTITIONS;
      if (table === undefined) this.owners.fill(NO_NODE, at, at + PARTITIONS);
      else this.owners.set(table, at);
    }
    this.description.publish(desc);
  }
}

/** Worker: reads the map. */
export class PartitionMapReader {
  private readonly description: SnapshotCell<MapDescription>;
  readonly owners: Uint8Array;
  desc: MapDescription = { nodes: [], namespaces: [] };
  private readonly names: Buffer[] = [];

  constructor(sab: SharedArrayBuffer) {
    this.description = new SnapshotCell(sab, mapDescriptionCodec, 0, DESCRIPTION);
    this.owners = new Uint8Array(sab, OWNERS_AT, MAX_NAMESPACES * PARTITIONS);
  }

  /** Take a newly published description; returns whether there was one. */
  refresh(): boolean {
    if (!this.description.changed()) return false;
    const desc = this.description.poll();
    if (desc === undefined) return false;
    this.desc = desc;
    this.names.length = 0;
    for (const n of desc.namespaces) this.names.push(Buffer.from(n, 'utf8'));
    return true;
  }

  /** Index of the namespace whose name is `buf[off, off + len)`, or -1. No allocation. */
  namespaceIndex(buf: Uint8Array, off: number, len: number): number {
    return indexOfName(this.names, buf, off, len);
  }

  /** The node slot mastering `partition` of namespace index `ns`, or NO_NODE. */
  owner(ns: number, partition: number): number {
    return this.owners[ns * PARTITIONS + partition]!;
  }
}
