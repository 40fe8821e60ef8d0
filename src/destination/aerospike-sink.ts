/**
 * The Aerospike destination as a worker sees it: K pipelined connections to the node, the write
 * policy applied while copying each record into the chosen connection's out chunk.
 *
 *   partition p ─▶ connection[p % K] (or the next one up) ─▶ WritePolicy.write ─▶ out chunk
 *
 * A record's changes go out on one connection while it is up, so they reach the node in order.
 */

import { Scan, partitionOf } from '../protocol/index.js';
import { DestinationConnection } from './connection.js';
import { Outcome } from './outcome.js';
import type { RecordSink, SinkEvents } from './record-sink.js';
import type { DestinationSettings, PolicySettings } from './settings.js';
import { WritePolicy } from './write-policy.js';

export type AerospikeSettings = Extract<DestinationSettings, { kind: 'aerospike' }>;

export class AerospikeSink implements RecordSink {
  private policy: WritePolicy;
  private readonly connections: DestinationConnection[] = [];

  constructor(
    private readonly settings: AerospikeSettings,
    policy: PolicySettings,
    private readonly events: SinkEvents,
  ) {
    this.policy = new WritePolicy(policy);
    for (let i = 0; i < settings.connectionsPerNode; i++) {
      this.connections.push(
        new DestinationConnection(
          {
            host: settings.host,
            port: settings.port,
            depth: settings.pipelineDepth,
            connectTimeoutMs: settings.connectTimeoutMs,
            lostOutcome: Outcome.ConnectionLost,
            timeoutOutcome: Outcome.Timeout,
          },
          { reply: (c, s, code) => events.done(c, s, code), failed: (c, s, o) => events.done(c, s, o), progress: () => events.progress(), up: () => events.up(), down: (r) => events.down(r) },
        ),
      );
    }
  }

  setPolicy(policy: PolicySettings): void {
    this.policy = new WritePolicy(policy);
  }

  get inFlight(): number {
    let n = 0;
    for (const c of this.connections) n += c.inFlight;
    return n;
  }

  open(): void {
    for (const c of this.connections) c.open();
  }

  offer(data: Buffer, start: number, end: number, scan: Int32Array, connection: number, seq: number): boolean {
    const conn = this.pick(partitionOf(data, scan[Scan.DigestOffset]!));
    if (conn === null) {
      // Nothing is up: answer now so the source retries later, rather than hold the ring.
      this.events.done(connection, seq, Outcome.NoConnection);
      return true;
    }
    if (!conn.hasRoom) return false;
    const mapping = this.policy.mappingOf(data, scan);
    const length = this.policy.outputLength(start, end, scan, mapping);
    const at = conn.reserve(length);
    this.policy.write(data, start, end, scan, mapping, conn.buffer, at, length);
    conn.commit(length, connection, seq);
    return true;
  }

  /** The connection for a partition: its own if up, else the next one up, else null. */
  private pick(partition: number): DestinationConnection | null {
    const k = this.connections.length;
    const first = partition % k;
    for (let i = 0; i < k; i++) {
      const c = this.connections[(first + i) % k]!;
      if (c.isReady) return c;
    }
    return null;
  }

  flush(): number {
    let n = 0;
    for (const c of this.connections) n += c.flush();
    return n;
  }

  tick(now: number): void {
    for (const c of this.connections) c.checkTimeout(now, this.settings.timeoutMs);
  }

  async close(): Promise<void> {
    for (const c of this.connections) c.close();
  }
}
