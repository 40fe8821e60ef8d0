/**
 * The destination's partition map, shared from the main thread (the tender writes) to every worker
 * (routing reads), lock-free.
 *
 *   SharedArrayBuffer
 *   +-- Int32 header (64 bytes) ---------------------------------------------------------+
 *   | [0] generation: bumped after every change (workers compare it once per batch)        |
 *   | [1] length of the description text                                                  |
 *   +-- description (16 KiB): UTF-8 JSON {nodes: [{id, host, port, tlsName}] by slot,     |
 *   |                                      namespaces: [name] by index}                   |
 *   +-- owners: MAX_NAMESPACES × 4096 bytes: owner[ns][partition] = node slot, 255 = none  |
 *
 * A worker reads an owner byte per record without any synchronisation: a stale or half-updated
 * byte sends a write to a node that is no longer master, and a server forwards such a request to
 * the master itself, so a torn read costs a hop, never correctness. A node keeps its slot while it is
 * known; a freed slot may go to another node, which workers see as a changed address for that slot.
 */

export const MAX_NODES = 128;
export const MAX_NAMESPACES = 32;
export const NO_NODE = 255;
const PARTITIONS = 4096;
const HEADER = 64;
const TEXT = 16 * 1024;

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

export function newPartitionMapBuffer(): SharedArrayBuffer {
  return new SharedArrayBuffer(HEADER + TEXT + MAX_NAMESPACES * PARTITIONS);
}

/** Main thread: publishes the map. */
export class PartitionMapWriter {
  private readonly header: Int32Array;
  private readonly text: Uint8Array;
  readonly owners: Uint8Array;

  constructor(readonly sab: SharedArrayBuffer) {
    this.header = new Int32Array(sab, 0, HEADER / 4);
    this.text = new Uint8Array(sab, HEADER, TEXT);
    this.owners = new Uint8Array(sab, HEADER + TEXT, MAX_NAMESPACES * PARTITIONS);
    this.owners.fill(NO_NODE);
  }

  /** Write the whole map: description, then owners; then bump the generation. */
  publish(desc: MapDescription, owners: ReadonlyArray<Uint8Array>): void {
    const text = Buffer.from(JSON.stringify(desc), 'utf8');
    if (text.length > TEXT) throw new RangeError('partition map description too large');
    this.text.set(text);
    Atomics.store(this.header, 1, text.length);
    for (let ns = 0; ns < MAX_NAMESPACES; ns++) {
      const table = owners[ns];
      const at = ns * PARTITIONS;
      if (table === undefined) this.owners.fill(NO_NODE, at, at + PARTITIONS);
      else this.owners.set(table, at);
    }
    Atomics.add(this.header, 0, 1);
  }
}

/** Worker: reads the map. */
export class PartitionMapReader {
  private readonly header: Int32Array;
  private readonly text: Uint8Array;
  readonly owners: Uint8Array;
  private seen = -1;
  desc: MapDescription = { nodes: [], namespaces: [] };
  private readonly names: Buffer[] = [];

  constructor(sab: SharedArrayBuffer) {
    this.header = new Int32Array(sab, 0, HEADER / 4);
    this.text = new Uint8Array(sab, HEADER, TEXT);
    this.owners = new Uint8Array(sab, HEADER + TEXT, MAX_NAMESPACES * PARTITIONS);
  }

  /** Re-read the description if the generation moved; returns whether it did. */
  refresh(): boolean {
    const gen = Atomics.load(this.header, 0);
    if (gen === this.seen) return false;
    this.seen = gen;
    const len = Atomics.load(this.header, 1);
    if (len === 0) return true;
    this.desc = JSON.parse(Buffer.from(this.text.subarray(0, len)).toString('utf8')) as MapDescription;
    this.names.length = 0;
    for (const n of this.desc.namespaces) this.names.push(Buffer.from(n, 'utf8'));
    return true;
  }

  /** Index of the namespace whose name is `buf[off, off + len)`, or -1. No allocation. */
  namespaceIndex(buf: Uint8Array, off: number, len: number): number {
    outer: for (let i = 0; i < this.names.length; i++) {
      const n = this.names[i]!;
      if (n.length !== len) continue;
      for (let j = 0; j < len; j++) if (n[j] !== buf[off + j]) continue outer;
      return i;
    }
    return -1;
  }

  /** The node slot mastering `partition` of namespace index `ns`, or NO_NODE. */
  owner(ns: number, partition: number): number {
    return this.owners[ns * PARTITIONS + partition]!;
  }
}
