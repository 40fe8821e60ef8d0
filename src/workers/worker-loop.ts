/**
 * A worker's loop: drain the inbound ring in batches, apply the write policy, send each record to
 * the destination over the partition's connection, and post results to the completion ring.
 *
 *   inbound ring ─▶ drain(batch) ─▶ WritePolicy.write ─▶ connection[partition % K] out chunk
 *                                                          └─ flush: one write per connection per batch
 *   destination replies ─▶ completion ring (published once per socket read) ─▶ main
 *
 * When the chosen connection's pipeline is full, draining stops (the ring fills, and main stops
 * reading the source); a reply frees room and resumes it. A connection that is down hands its
 * partitions to the next connection that is up; with none up, the record is answered NoConnection
 * at once, so the source retries it later.
 */

import { COMPLETION_SIZE, INBOUND_HEADER, Outcome, RingReader, RingWriter, WorkerCounter, type WorkerTask } from '../dispatch/index.js';
import { type ConnectionEvents, DestinationConnection, WritePolicy } from '../destination/index.js';
import { Scan, ScanError, newScan, partitionOf, scanRecordMessage } from '../protocol/index.js';

const BATCH = 512;
const IDLE_WAIT_MS = 100;
const TIMER_MS = 100;

export class WorkerLoop implements ConnectionEvents {
  private readonly inbound: RingReader;
  private readonly completions: RingWriter;
  private readonly control: Int32Array;
  private readonly counters: Float64Array;
  private readonly policy: WritePolicy;
  private readonly connections: DestinationConnection[];
  private readonly scan = newScan();
  /** completions the ring had no room for (main is behind); retried before new ones */
  private overflow: number[] = [];
  private blocked: (() => void) | null = null;
  private recordsSeen = 0;

  constructor(private readonly task: WorkerTask) {
    this.inbound = new RingReader(task.inbound);
    this.completions = new RingWriter(task.completions, { cells: new Int32Array(task.bell), index: 0 });
    this.control = new Int32Array(task.control);
    this.counters = new Float64Array(task.counters);
    this.policy = new WritePolicy(task.policy);
    const d = task.destination;
    this.connections = [];
    for (let i = 0; i < d.connectionsPerNode; i++) {
      this.connections.push(
        new DestinationConnection(
          { host: d.host, port: d.port, depth: d.pipelineDepth, connectTimeoutMs: d.connectTimeoutMs, lostOutcome: Outcome.ConnectionLost, timeoutOutcome: Outcome.Timeout },
          this,
        ),
      );
    }
  }

  private get stopping(): boolean {
    return Atomics.load(this.control, 0) === 1;
  }

  async run(): Promise<void> {
    for (const c of this.connections) c.open();
    const timer = setInterval(() => {
      const now = performance.now();
      for (const c of this.connections) c.checkTimeout(now, this.task.destination.timeoutMs);
    }, TIMER_MS);
    try {
      while (!this.stopping) {
        if (this.blocked === null && this.drain() > 0) {
          // Give socket events a turn between batches.
          await new Promise<void>((r) => setImmediate(r));
          continue;
        }
        if (this.blocked !== null) {
          await new Promise<void>((r) => {
            this.blocked = r;
            setTimeout(r, IDLE_WAIT_MS);
          });
          this.blocked = null;
          continue;
        }
        await this.inbound.waitForData(IDLE_WAIT_MS);
      }
      await this.finishInFlight();
    } finally {
      clearInterval(timer);
      for (const c of this.connections) c.close();
    }
  }

  /** Take up to BATCH records from the ring; returns how many were handled. */
  private drain(): number {
    const ring = this.inbound;
    const data = ring.data;
    const words = ring.words;
    const scan = this.scan;
    let n = 0;
    for (; n < BATCH; n++) {
      const at = ring.peek();
      if (at < 0) break;
      const length = ring.lengthAt(at);
      const connection = words[at >> 2]! >>> 0;
      const seq = words[(at >> 2) + 1]! >>> 0;
      const start = at + INBOUND_HEADER;
      const end = at + length;
      if (scanRecordMessage(data, start, end, scan) !== ScanError.None) {
        // Main validated it; a failure here means the ring is corrupt.
        throw new Error(`worker ${this.task.index}: corrupt record in the inbound ring`);
      }
      const conn = this.pick(partitionOf(data, scan[Scan.DigestOffset]!));
      if (conn === null) {
        this.post(connection, seq, Outcome.NoConnection);
        ring.next(at);
        continue;
      }
      if (!conn.hasRoom) {
        this.blocked = () => undefined;
        break;
      }
      const mapping = this.policy.mappingOf(data, scan);
      const outLen = this.policy.outputLength(start, end, scan, mapping);
      const off = conn.reserve(outLen);
      this.policy.write(data, start, end, scan, mapping, conn.buffer, off, outLen);
      conn.commit(outLen, connection, seq);
      this.counters[WorkerCounter.BytesOut]! += outLen;
      ring.next(at);
    }
    if (n > 0) {
      ring.release();
      this.counters[WorkerCounter.Records]! += n;
      for (const c of this.connections) c.flush();
      this.completions.publish();
      this.maybeCrash(n);
    }
    return n;
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

  private post(connection: number, seq: number, outcome: number): void {
    this.counters[outcome]!++;
    if (this.overflow.length === 0) {
      const at = this.completions.reserve(COMPLETION_SIZE);
      if (at >= 0) {
        const w = this.completions.words;
        w[at >> 2] = connection;
        w[(at >> 2) + 1] = seq;
        w[(at >> 2) + 2] = outcome;
        return;
      }
    }
    this.overflow.push(connection, seq, outcome);
  }

  private retryOverflow(): void {
    const pending = this.overflow;
    this.overflow = [];
    for (let i = 0; i < pending.length; i += 3) this.post(pending[i]!, pending[i + 1]!, pending[i + 2]!);
  }

  // ---- ConnectionEvents ----------------------------------------------------------------------

  reply(connection: number, seq: number, code: number): void {
    this.post(connection, seq, code);
  }

  failed(connection: number, seq: number, outcome: number): void {
    this.post(connection, seq, outcome);
  }

  progress(): void {
    if (this.overflow.length > 0) this.retryOverflow();
    this.completions.publish();
    if (this.blocked !== null) this.blocked();
  }

  up(): void {
    this.counters[WorkerCounter.ConnectsOpened]!++;
    this.counters[WorkerCounter.ConnectionsUp]!++;
  }

  down(): void {
    this.counters[WorkerCounter.ConnectsLost]!++;
    if (this.counters[WorkerCounter.ConnectionsUp]! > 0) this.counters[WorkerCounter.ConnectionsUp]!--;
  }

  /** On stop: wait (bounded by the write timeout) for replies to what is already sent. */
  private async finishInFlight(): Promise<void> {
    const until = performance.now() + this.task.destination.timeoutMs;
    while (this.connections.some((c) => c.inFlight > 0) && performance.now() < until) {
      await new Promise((r) => setTimeout(r, 5));
      if (this.overflow.length > 0) this.retryOverflow();
      this.completions.publish();
    }
  }

  private maybeCrash(n: number): void {
    const after = this.task.faults.crashAfterRecords;
    if (after === undefined) return;
    this.recordsSeen += n;
    if (this.recordsSeen >= after) {
      setImmediate(() => {
        throw new Error(`injected fault: worker ${this.task.index} crashes after ${this.recordsSeen} records`);
      });
    }
  }
}
