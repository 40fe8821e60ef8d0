/**
 * The Aerospike destination as a worker sees it: a pool of pipelined connections per node, writes
 * routed to each partition's master, the write policy applied while copying each record out.
 *
 *   record ─▶ partition p, destination namespace ─▶ master slot (shared partition map)
 *          ─▶ pool[slot]: its first connection with room ─▶ WritePolicy.write ─▶ out chunk
 *
 * Per-record order: a partition with writes in flight stays on the connection it used
 * (`pinned[p]`, `inflight[p]`) until they are answered; only then may it move (a new master, a
 * reconnected or lazily opened connection). So two changes to one digest never race on two
 * connections, whatever the map does.
 *
 * Failover: writes lost with a connection (node down, timeout) keep their place in `inflight[p]`
 * and wait in the retry queue, in order, to be sent again to the partition's master as the map
 * then names it, within `retryWindowMs`; past that they are answered ConnectionLost/Timeout (the
 * source gets the retry code). `held[p]` counts a partition's writes in the queue: while it is
 * above 0, new writes for the partition wait, even once some of its lost writes went out again
 * (a newer change must not overtake an older one still queued). A lost write goes out again on
 * the connection its partition's other writes are in flight on, if any (`inflight[p] − held[p]`
 * live writes, all on `pinned[p]`), so two writes of a partition are never on two connections.
 *
 * Each in-flight write carries a tag through its connection, so nothing else is kept per write:
 *
 *   bits 0–11   the partition
 *   bits 12–19  under last-write-wins, 1 + the destination namespace's map index (0 = not in the
 *               map): a stale answer (27) is counted by namespace
 *   bits 20–30  1 + the namespace mapping applied (0 = none), and bit 31: a delete written as a
 *               tombstone; what a dead letter needs to turn the write back into the record as XDR
 *               shipped it (dead-letter-record.ts)
 *
 * With `lut: strip`, the stripped LUT rides beside the write in the connection's pending entry (and
 * in a retry), for the same reason. A permanent rejection comes back with the write's bytes (kept
 * for resend anyway): the record is parked as a dead letter and answered once that is durable.
 */

import { AsMsg, Info2, PARTITIONS, PROTO_HEADER_SIZE, ResultCode, Scan, newScan, partitionOf, scanRecordMessage } from '../protocol/index.js';
import { type DestinationSettings, NO_NODE, Outcome, PartitionMapReader, type PolicySettings, SessionTokenShare, SkipReason, SnapshotFormatError, WorkerCounter } from '../threads/index.js';
import { hostPort } from '../host-port.js';
import type { ConnectionEvents, DestinationConnection } from './connection.js';
import { deadLetterOf, originalMessage } from './dead-letter-record.js';
import { DeadLetterWriter } from './dead-letters.js';
import { authenticateMessage } from './login.js';
import type { LinkAddress, TlsSettings } from './node-link.js';
import { NodePool } from './node-pool.js';
import type { RecordSink, SinkEvents } from './record-sink.js';
import { WritePolicy } from './write-policy.js';

export type AerospikeSettings = Extract<DestinationSettings, { kind: 'aerospike' }>;

const PARTITION_BITS = 12;
/** a route that keeps the source's namespace: the map index is looked up per record */
const KEEP_NAMESPACE = -2;
const PARTITION_MASK = PARTITIONS - 1;
const NAMESPACE_MASK = 0xff;
const MAPPING_SHIFT = 20;
const MAPPING_MASK = 0x7ff;
const TOMBSTONE = 0x80000000;
/** the LUT's value in its field: after the field's size word and type */
const LUT_VALUE_AT = 5;

interface Retry {
  connection: number;
  seq: number;
  /** partition and namespace tag (see the file comment) */
  tag: number;
  bytes: Buffer;
  deadline: number;
  timedOut: boolean;
  /** the LUT the write policy stripped (0, 0 = none), for a dead letter */
  lutHi: number;
  lutLo: number;
}

export class AerospikeSink implements RecordSink, ConnectionEvents {
  private policy: WritePolicy;
  private readonly map: PartitionMapReader;
  private readonly session: SessionTokenShare;
  private readonly tls: TlsSettings | null;
  private pools: Array<NodePool | null> = [];
  private readonly inflight = new Uint32Array(PARTITIONS);
  private readonly pinned: Array<DestinationConnection | null> = new Array<DestinationConnection | null>(PARTITIONS).fill(null);
  /** writes of each partition waiting in `retries` (counted in `inflight` too) */
  private readonly held = new Uint32Array(PARTITIONS);
  private retries: Retry[] = [];
  /** map namespace index per route, refreshed with the map; KEEP_NAMESPACE: the record's own */
  private mappedIndex: number[] = [];
  private readonly scan = newScan();
  /** set once per batch: the time used for this batch's commits */
  private now = performance.now();
  /** writes sent again after their connection was lost (for the counters) */
  resent = 0;
  private readonly deadLetters: DeadLetterWriter | null;

  constructor(
    private readonly settings: AerospikeSettings,
    policy: PolicySettings,
    private readonly events: SinkEvents,
    private readonly worker = 0,
  ) {
    this.policy = new WritePolicy(policy);
    const d = settings.deadLetters;
    this.deadLetters =
      d === null
        ? null
        : new DeadLetterWriter(d, worker, {
            done: (connection, seq, code) => events.done(connection, seq, code),
            parked: (namespace, code) => events.parked(namespace, code),
            dropped: () => events.count(WorkerCounter.DeadLettersDropped),
            problem: (key, error) => events.problem(key, error, false),
            cleared: (key) => events.cleared(key),
            progress: () => events.progress(),
          });
    this.map = new PartitionMapReader(settings.map);
    this.session = new SessionTokenShare(settings.session);
    const t = settings.tls;
    this.tls = t === null ? null : { ca: t.ca === undefined ? undefined : Buffer.from(t.ca), cert: t.cert === undefined ? undefined : Buffer.from(t.cert), key: t.key === undefined ? undefined : Buffer.from(t.key) };
  }

  setPolicy(policy: PolicySettings): void {
    this.policy = new WritePolicy(policy);
    this.refreshNamespaces();
  }

  get inFlight(): number {
    let n = this.retries.length + (this.deadLetters?.inFlight ?? 0);
    for (const p of this.pools) if (p !== null) n += p.inFlight;
    return n;
  }

  open(): void {
    this.refreshMap();
  }

  private greeting = (): Buffer | null => {
    let s: { user: string; token: Buffer } | null;
    try {
      s = this.session.current();
    } catch (err) {
      this.reportSnapshotError('session token', err);
      return null;
    }
    return s === null ? null : authenticateMessage(s.user, s.token);
  };

  /** A shared value that did not decode: kept visible, never applied (the old one stays). */
  private reportSnapshotError(what: string, err: unknown): void {
    if (!(err instanceof SnapshotFormatError)) throw err;
    this.events.problem(what, { code: err.code, message: err.message, retriable: false }, false);
  }

  /** Follow the tender: new nodes get pools, gone or moved ones are closed (their writes retried). */
  private refreshMap(): void {
    try {
      if (!this.map.refresh()) return;
    } catch (err) {
      this.reportSnapshotError('partition map', err);
      return;
    }
    const nodes = this.map.desc.nodes;
    const next: Array<NodePool | null> = [];
    for (let slot = 0; slot < Math.max(nodes.length, this.pools.length); slot++) {
      const n = nodes[slot] ?? null;
      const old = this.pools[slot] ?? null;
      const key = n === null ? '' : `${n.host}:${n.port}:${n.tlsName ?? ''}`;
      if (old !== null && old.key === key) {
        next.push(old);
        continue;
      }
      old?.close();
      next.push(
        n === null
          ? null
          : new NodePool(
              slot,
              { host: n.host, port: n.port, tlsName: n.tlsName },
              {
                max: this.settings.connectionsPerNode,
                min: this.settings.minConnectionsPerNode,
                idleMs: this.settings.idleTimeoutMs,
                depth: this.settings.pipelineDepth,
                connectTimeoutMs: this.settings.connectTimeoutMs,
                tls: this.tls,
                greeting: this.greeting,
              },
              this,
            ),
      );
    }
    this.pools = next;
    this.refreshNamespaces();
  }

  private refreshNamespaces(): void {
    this.mappedIndex = [];
    for (let m = 0; m < this.policy.routes; m++) {
      const target = this.policy.target(m);
      this.mappedIndex.push(target === null ? KEEP_NAMESPACE : this.map.namespaceIndex(target, 0, target.length));
    }
  }

  offer(data: Buffer, start: number, end: number, scan: Int32Array, connection: number, seq: number): boolean {
    const mapping = this.policy.routeOf(data, scan);
    let digest: Buffer | null = null;
    if (mapping >= 0) {
      const skip = this.policy.skipOf(mapping);
      if (skip >= 0) return this.skipped(connection, seq, skip);
      digest = this.policy.rekey(data, scan, mapping);
    }
    const length = this.policy.outputLength(data, start, end, scan, mapping);
    if (length === 0) return this.skipped(connection, seq, SkipReason.NoBins);
    const p = digest === null ? partitionOf(data, scan[Scan.DigestOffset]!) : partitionOf(digest, 0);
    const guarded = this.policy.guarded;
    // Under last-write-wins the namespace is needed for the tag, so it is looked up every time.
    let ns = guarded ? this.namespaceOf(data, scan, mapping) : -1;
    let conn: DestinationConnection | null;
    if (this.inflight[p]! > 0) {
      // Lost writes of the partition wait to go out again: this one waits behind them.
      if (this.held[p]! > 0) return false;
      // Pinned: stay on the connection the partition's writes are in flight on.
      conn = this.pinned[p]!;
      if (conn === null || !conn.hasRoom) return false;
    } else {
      if (!guarded) ns = this.namespaceOf(data, scan, mapping);
      conn = this.choose(p, ns);
      if (conn === null) {
        // Every connection busy (full pipelines) or still opening: wait for a reply or the connect.
        if (this.anyLive()) return false;
        // Nothing is up or coming up: answer now so the source retries later.
        this.events.done(connection, seq, Outcome.NoConnection);
        return true;
      }
      if (!conn.hasRoom) return false;
    }
    const at = conn.reserve(length);
    this.policy.write(data, start, end, scan, mapping, conn.buffer, at, length, digest);
    const lutAt = scan[Scan.LutFieldOffset]!;
    const tag = this.tagOf(p, ns, mapping, guarded && (data[start + AsMsg.Info2]! & Info2.Delete) !== 0 && lutAt >= 0);
    // A stripped LUT is kept beside the write, as two halves, so a dead letter can have it back.
    if (this.policy.stripsLut && lutAt >= 0) conn.commit(length, connection, seq, tag, this.now, data.readUInt32BE(lutAt + LUT_VALUE_AT), data.readUInt32BE(lutAt + LUT_VALUE_AT + 4));
    else conn.commit(length, connection, seq, tag, this.now);
    this.inflight[p]!++;
    this.pinned[p] = conn;
    // Without a LUT there is no version to compare: the record is written as it came.
    if (guarded && scan[Scan.LutFieldOffset]! < 0) this.events.count(WorkerCounter.Unversioned);
    return true;
  }

  /** The write's tag (see the file comment). */
  private tagOf(p: number, ns: number, mapping: number, guardedDelete: boolean): number {
    let tag = p | (((mapping + 1) & MAPPING_MASK) << MAPPING_SHIFT);
    if (this.policy.guarded) tag |= ((ns + 1) & NAMESPACE_MASK) << PARTITION_BITS;
    if (guardedDelete && this.policy.tombstones) tag |= TOMBSTONE;
    return tag >>> 0;
  }

  /** A record the rules say not to write: answered done at once (main keeps replies in order). */
  private skipped(connection: number, seq: number, reason: number): boolean {
    this.events.count(WorkerCounter.Skipped + reason);
    this.events.done(connection, seq, ResultCode.Ok);
    return true;
  }

  /** The map's index of the record's destination namespace, or -1. */
  private namespaceOf(data: Buffer, scan: Int32Array, mapping: number): number {
    const mapped = mapping >= 0 ? this.mappedIndex[mapping]! : KEEP_NAMESPACE;
    return mapped !== KEEP_NAMESPACE ? mapped : this.map.namespaceIndex(data, scan[Scan.NamespaceOffset]!, scan[Scan.NamespaceLength]!);
  }

  /**
   * The connection for a partition with nothing in flight: the master's first connection with
   * room (opening another when all are full); null while the master's connections are all full
   * or opening; then, with the master unreachable, any node's (a server forwards what it does not
   * master).
   */
  private choose(p: number, ns: number): DestinationConnection | null {
    const slot = ns < 0 ? NO_NODE : this.map.owner(ns, p);
    const pool = slot === NO_NODE ? null : (this.pools[slot] ?? null);
    if (pool !== null) {
      const c = pool.withRoom();
      if (c !== null) return c;
      pool.grow();
      // Wait for room on the master rather than send the write through another node.
      if (pool.live) return null;
    }
    for (const other of this.pools) {
      if (other === null || other === pool) continue;
      const c = other.withRoom();
      if (c !== null) return c;
    }
    return null;
  }

  /** Whether some connection is up (perhaps with a full pipeline) or on its way up. */
  private anyLive(): boolean {
    for (const pool of this.pools) if (pool?.live === true) return true;
    return false;
  }

  /** Send lost writes again, in order; returns false while some still wait for a route. */
  private resend(): boolean {
    if (this.retries.length === 0) return true;
    const keep: Retry[] = [];
    let blocked = false;
    for (const r of this.retries) {
      if (blocked) {
        keep.push(r);
        continue;
      }
      const partition = r.tag & PARTITION_MASK;
      if (this.now > r.deadline) {
        this.inflight[partition]!--;
        this.held[partition]!--;
        this.events.done(r.connection, r.seq, r.timedOut ? Outcome.Timeout : Outcome.ConnectionLost);
        continue;
      }
      // Writes of the partition already out again (or never lost) fix the connection.
      const live = this.inflight[partition]! - this.held[partition]! > 0;
      const conn = live ? this.pinned[partition]! : this.choose(partition, this.namespaceOfMessage(r.bytes));
      if (conn === null || !conn.hasRoom) {
        blocked = true;
        keep.push(r);
        continue;
      }
      const at = conn.reserve(r.bytes.length);
      r.bytes.copy(conn.buffer, at);
      conn.commit(r.bytes.length, r.connection, r.seq, r.tag, this.now, r.lutHi, r.lutLo);
      this.held[partition]!--;
      this.pinned[partition] = conn;
      this.resent++;
    }
    this.retries = keep;
    return keep.length === 0;
  }

  /** The map's namespace index of a destination message (proto header included). Off the hot path. */
  private namespaceOfMessage(bytes: Buffer): number {
    if (scanRecordMessage(bytes, PROTO_HEADER_SIZE, bytes.length, this.scan) !== 0) return -1;
    return this.map.namespaceIndex(bytes, this.scan[Scan.NamespaceOffset]!, this.scan[Scan.NamespaceLength]!);
  }

  /** Start of a batch: follow the map, and resend lost writes first. */
  beginBatch(): void {
    this.now = performance.now();
    this.refreshMap();
    this.resend();
  }

  flush(): number {
    let n = 0;
    for (const pool of this.pools) if (pool !== null) n += pool.flush();
    return n;
  }

  tick(now: number): number {
    this.now = now;
    this.refreshMap();
    for (const pool of this.pools) pool?.tick(now, this.settings.timeoutMs);
    this.resend();
    return this.flush();
  }

  async close(): Promise<void> {
    for (const pool of this.pools) pool?.close();
    // Writes still waiting for a route get no second chance now.
    for (const r of this.retries) this.events.done(r.connection, r.seq, Outcome.ConnectionLost);
    this.retries = [];
    this.held.fill(0);
    await this.deadLetters?.close();
  }

  // ---- ConnectionEvents ----------------------------------------------------------------------

  reply(connection: number, seq: number, tag: number, code: number, rejected: Buffer | null, strippedLut: bigint | null): void {
    this.inflight[tag & PARTITION_MASK]!--;
    if (code === ResultCode.NotAuthenticated || code === ResultCode.ExpiredSession) this.session.requestRelogin();
    // 27 comes only from the last-write-wins guard: the destination holds a newer version.
    else if (code === ResultCode.FilteredOut) this.events.count(WorkerCounter.Stale + ((tag >>> PARTITION_BITS) & NAMESPACE_MASK));
    else if (rejected !== null && this.deadLetters !== null) {
      // Rejected for good: answered once its dead letter is durable.
      this.park(connection, seq, tag, code, rejected, strippedLut);
      return;
    }
    this.events.done(connection, seq, code);
  }

  private park(connection: number, seq: number, tag: number, code: number, write: Buffer, strippedLut: bigint | null): void {
    const letters = this.deadLetters!;
    let xdr: Buffer;
    try {
      xdr = originalMessage(write, this.policy, ((tag >>> MAPPING_SHIFT) & MAPPING_MASK) - 1, (tag & TOMBSTONE) !== 0, strippedLut);
    } catch (err) {
      // Never expected (Ferry built the write); the record is answered, not lost silently.
      this.events.problem('dead letters', { code: 'ERR_DEAD_LETTERS', message: `cannot rebuild a rejected record: ${(err as Error).message}`, retriable: false }, false);
      this.events.count(WorkerCounter.DeadLettersDropped);
      this.events.done(connection, seq, code);
      return;
    }
    letters.park(connection, seq, deadLetterOf(xdr, code, this.settings.deadLetters!.instance, this.worker, Date.now()));
  }

  lost(connection: number, seq: number, tag: number, bytes: Buffer, timedOut: boolean, lutHi: number, lutLo: number): void {
    // Still counted in inflight[partition], and held: later writes for the partition wait until
    // every held one is sent again (resend() pins the partition to its new connection). Every
    // live write of the partition was on this connection, so none is left in flight elsewhere.
    this.pinned[tag & PARTITION_MASK] = null;
    this.held[tag & PARTITION_MASK]!++;
    this.retries.push({ connection, seq, tag, bytes, deadline: performance.now() + this.settings.retryWindowMs, timedOut, lutHi, lutLo });
  }

  progress(): void {
    this.events.progress();
  }

  up(): void {
    this.events.up();
  }

  /**
   * A node's problem (connection lost, cannot connect) ends when it answers a write, not when a
   * connection comes up: a stalled node accepts connections and answers nothing.
   */
  answered(addr: LinkAddress): void {
    this.events.cleared(nodeKey(addr));
  }

  down(addr: LinkAddress, reason: string | null): void {
    this.events.down();
    if (reason !== null) this.events.problem(nodeKey(addr), { code: 'ERR_DESTINATION_CONNECTION', message: `connection lost: ${reason}`, retriable: true }, false);
  }

  failed(addr: LinkAddress, reason: string): void {
    this.events.problem(nodeKey(addr), { code: 'ERR_DESTINATION_CONNECT', message: `cannot connect: ${reason}`, retriable: true }, false);
  }

  authRefused(): void {
    this.session.requestRelogin();
  }
}

/** The diagnostics key of a destination node. */
function nodeKey(addr: LinkAddress): string {
  return `node ${hostPort(addr.host, addr.port)}`;
}
