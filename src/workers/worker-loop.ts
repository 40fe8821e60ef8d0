/**
 * A worker's loop: drain the inbound ring in batches into the destination sink, and post what the
 * sink reports to the completion ring.
 *
 *   inbound ring ─▶ drain(batch) ─▶ sink.offer(record) … ─▶ sink.flush()   (one send per batch)
 *   sink.done(conn, seq, outcome) ─▶ completion ring (published once per batch of results) ─▶ main
 *
 * When the sink has no room (a full pipeline, a full write batch), draining stops: the ring fills
 * and main stops reading the source. The sink's progress() resumes it.
 */

import type { ErrorShape } from '../errors.js';
import { AerospikeSink, FileSink, type RecordSink, type SinkEvents } from '../destination/index.js';
import { loadSystemdIntegration } from '../management/systemd.js';
import { ResultCode, ScanError, newScan, scanRecordMessage } from '../protocol/index.js';
import { FANOUT_CONNECTION, FanOuts, TransformStage } from '../transform/index.js';
import {
  DeadLetterTallyWriter,
  DiagnosticsWriter,
  type InboundBody,
  Outcome,
  SkipReason,
  type PolicySettings,
  RingReader,
  RingWriter,
  type SnapshotCell,
  SnapshotFormatError,
  WorkerControl,
  WorkerCounter,
  type WorkerTask,
  inboundArrival,
  inboundBody,
  inboundConnection,
  inboundSequence,
  policyCell,
  writeCompletion,
} from '../threads/index.js';

const BATCH = 512;
const TIMER_MS = 100;
/** How often a busy worker with writes out looks at its ring when no reply has come meanwhile. */
const POLL_MS = 1;

export class WorkerLoop implements SinkEvents {
  private readonly inbound: RingReader;
  /** the source arena: the bodies of records sent by reference */
  private readonly arena: Buffer;
  private readonly body: InboundBody;
  private readonly completions: RingWriter;
  private readonly control: WorkerControl;
  private readonly counters: Float64Array;
  private readonly diagnostics: DiagnosticsWriter;
  private readonly policy: SnapshotCell<PolicySettings>;
  private readonly tally: DeadLetterTallyWriter;
  private readonly sink: RecordSink;
  private readonly scan = newScan();
  /** the transform module's stage (off without one) and what it has yet to offer */
  private readonly transforms = new TransformStage();
  private readonly transformedScan = newScan();
  private pending: { records: Buffer[]; next: number; connection: number; seq: number } | null = null;
  private readonly fanOuts = new FanOuts();
  private readonly settled = { connection: 0, seq: 0, outcome: 0 };
  /** completions the ring had no room for (main is behind); retried before new ones */
  private overflow: number[] = [];
  /** the retry of `overflow`, every POLL_MS while it holds any (main drains as often) */
  private overflowTimer: NodeJS.Timeout | null = null;
  /** the sink refused a record: draining waits for its progress (or the next tick) */
  private blocked = false;
  private unblock: (() => void) | null = null;
  private pollTimer: NodeJS.Timeout | null = null;
  private recordsSeen = 0;
  /** records taken by the last tick, for the rate that sets control.prompt */
  private recordsAtTick = 0;
  /** the event loop's use at the last tick, for WorkerCounter.Busy */
  private useAtTick = performance.eventLoopUtilization();
  private publishScheduled = false;

  constructor(private readonly task: WorkerTask) {
    this.inbound = new RingReader(task.inbound);
    this.arena = Buffer.from(task.arena);
    this.body = { bytes: this.arena, start: 0, end: 0 };
    this.completions = new RingWriter(task.completions);
    this.control = new WorkerControl(task.control);
    this.counters = new Float64Array(task.counters);
    this.diagnostics = new DiagnosticsWriter(task.diagnostics);
    this.policy = policyCell(task.policy);
    this.tally = new DeadLetterTallyWriter(task.deadLetters);
    const d = task.destination;
    const policy = this.policy.poll();
    if (policy === undefined) throw new Error(`worker ${task.index}: no write policy was published`);
    this.sink = d.kind === 'file' ? new FileSink(d, this) : new AerospikeSink(d, policy, this, task.index);
    this.transforms.configure(policy.transform);
  }

  private get stopping(): boolean {
    return this.control.stopping;
  }

  async run(): Promise<void> {
    if (this.task.cpus.length > 0 && loadSystemdIntegration().setThreadAffinity(this.task.cpus)) this.counters[WorkerCounter.Pinned] = 1;
    this.sink.open();
    // The interval also keeps this thread's event loop alive: a pending Atomics.waitAsync does not.
    const timer = setInterval(() => {
      this.counters[WorkerCounter.Heartbeat]!++;
      // Below service.prompt-below (measured over each tick), a busy worker also sleeps on its
      // doorbell, and main rings it for each batch (control.prompt). At 20,000 records/s into a
      // real server that took the median ack from ~3.6 to ~1.5 ms, for 6–8 µs more CPU per record.
      // Above it, batches gathered over POLL_MS are worth more than the millisecond (done at every
      // rate, the wake-ups cost 5–14% more CPU at saturation and 4–5% of the throughput).
      const records = this.counters[WorkerCounter.Records]!;
      const below = this.task.promptBelowPerS;
      this.control.prompt = below > 0 && ((records - this.recordsAtTick) * 1000) / TIMER_MS < below;
      // Busy with records: a tick that took none (starting up, importing a transform module) asks
      // for no other worker.
      const use = performance.eventLoopUtilization();
      this.counters[WorkerCounter.Busy] = records > this.recordsAtTick ? performance.eventLoopUtilization(use, this.useAtTick).utilization : 0;
      this.useAtTick = use;
      this.recordsAtTick = records;
      // An idle worker takes a new policy too: a reloaded transform module is imported now, while
      // the file is as main checked it, not at the next record.
      this.checkPolicy();
      // Counted here too: a worker no longer at work still resends what a lost connection held.
      this.counters[WorkerCounter.BytesOut]! += this.sink.tick(performance.now());
      this.counters[WorkerCounter.Resent] = this.sink.resent ?? 0;
      // The tick may have made room (writes resent, connections timed out): try again.
      this.progressed();
    }, TIMER_MS);
    try {
      while (!this.stopping) {
        // A transform module being imported (at start, on a reload): records wait for it.
        const loading = this.transforms.loading;
        if (loading !== null) {
          await loading;
          continue;
        }
        if (!this.blocked && this.drain() > 0) {
          // Give socket events a turn between batches.
          await new Promise<void>((r) => setImmediate(r));
          continue;
        }
        if (this.blocked) {
          // Until the sink reports progress (a reply, a connection up or down) or the next tick;
          // progress that came while this thread was elsewhere has cleared the flag.
          await this.nextProgress(0);
          continue;
        }
        if (this.sink.inFlight > 0) {
          // Busy (writes out): their replies wake this thread anyway, and it looks at the ring
          // then, or within POLL_MS. At a light rate it sleeps on the doorbell too, so a new
          // batch is sent at once rather than at the next look.
          if (this.control.prompt) {
            if (!this.inbound.arm(this.progressed)) continue;
            await this.nextProgress(POLL_MS);
            this.inbound.disarm();
            continue;
          }
          await this.nextProgress(POLL_MS);
          continue;
        }
        // Idle: main's next publish wakes this thread; so does the pool's stop().
        if (!this.inbound.arm(this.progressed)) continue;
        await this.nextProgress(0);
        this.inbound.disarm();
      }
      await this.finishInFlight();
    } finally {
      clearInterval(timer);
      if (this.overflowTimer !== null) clearTimeout(this.overflowTimer);
      await this.sink.close();
      this.tally.publish();
    }
  }

  /** Pick up a policy main published since the last batch (one atomic load while unchanged). */
  private checkPolicy(): void {
    if (!this.policy.changed()) return;
    try {
      const next = this.policy.poll();
      if (next === undefined) return;
      this.sink.setPolicy?.(next);
      this.transforms.configure(next.transform);
    } catch (err) {
      // Never expected (the snapshot is read whole); kept visible rather than applied.
      if (!(err instanceof SnapshotFormatError)) throw err;
      this.diagnostics.error('write policy', { code: err.code, message: err.message, retriable: false });
    }
  }

  /** Take up to BATCH records from the ring; returns how many were handled. */
  private drain(): number {
    this.checkPolicy();
    if (this.transforms.loading !== null) return 0;
    this.sink.beginBatch?.();
    const transforming = this.transforms.on;
    const ring = this.inbound;
    const body = this.body;
    const scan = this.scan;
    // Records past their ack deadline were answered 11 by main already: skip them rather than
    // send them (during a stall, this is what keeps the ring from filling with answered records).
    const deadline = this.control.ackDeadlineMs;
    const now = Date.now() % 0x100000000 | 0;
    let n = 0;
    for (; n < BATCH; n++) {
      const at = ring.peek();
      if (at < 0) break;
      // Ages as signed 32-bit differences: right across the wrap, and a record stamped a moment
      // "in the future" by main's clock (the threads' clocks differ slightly) is simply young.
      // A record partly offered (a fan-out) is past that point: its writes are out, it is not expired.
      if (deadline > 0 && this.pending === null && ((now - inboundArrival(ring, at)) | 0) > deadline) {
        this.done(inboundConnection(ring, at), inboundSequence(ring, at), Outcome.Expired);
        ring.next(at);
        continue;
      }
      inboundBody(ring, at, this.arena, body);
      const { bytes: data, start, end } = body;
      // Main validated it; what main kept of its scan was only what routing needed.
      if (scanRecordMessage(data, start, end, scan) !== ScanError.None) {
        throw new Error(`worker ${this.task.index}: corrupt record in the inbound ring`);
      }
      const offered = transforming ? this.offerTransformed(data, start, end, scan, inboundConnection(ring, at), inboundSequence(ring, at)) : this.sink.offer(data, start, end, scan, inboundConnection(ring, at), inboundSequence(ring, at));
      if (!offered) {
        this.blocked = true;
        break;
      }
      ring.next(at);
    }
    if (n > 0) {
      ring.release();
      this.counters[WorkerCounter.Records]! += n;
      this.counters[WorkerCounter.BytesOut]! += this.sink.flush();
      this.counters[WorkerCounter.Resent] = this.sink.resent ?? 0;
      this.completions.publish();
      this.maybeCrash(n);
    }
    return n;
  }

  /**
   * Offer what the transform module makes of a record; false when the sink has no room (what is
   * left of it waits in `pending`, and the record stays at the ring's head until it is all offered).
   */
  private offerTransformed(data: Buffer, start: number, end: number, scan: Int32Array, connection: number, seq: number): boolean {
    if (this.pending === null) {
      const made = this.transforms.run(data, start, end, scan);
      switch (made.kind) {
        case 'pass':
          return this.sink.offer(data, start, end, scan, connection, seq);
        case 'skip':
          this.counters[WorkerCounter.Skipped + SkipReason.Transform]!++;
          this.done(connection, seq, ResultCode.Ok);
          return true;
        case 'fail':
          this.diagnostics.error('transform', { code: made.error.code, message: made.error.message, retriable: true });
          this.done(connection, seq, Outcome.TransformFailed);
          return true;
        case 'write':
          if (made.records.length > 1) {
            this.counters[WorkerCounter.FannedOut]! += made.records.length - 1;
            this.pending = { records: made.records, next: 0, connection: FANOUT_CONNECTION, seq: this.fanOuts.open(connection, seq, made.records.length) };
          } else this.pending = { records: made.records, next: 0, connection, seq };
          break;
      }
    }
    const p = this.pending!;
    const s = this.transformedScan;
    for (; p.next < p.records.length; p.next++) {
      const r = p.records[p.next]!;
      if (scanRecordMessage(r, 0, r.length, s) !== ScanError.None) {
        // Encoded here, so never expected; answered like a module's failure rather than sent.
        this.done(p.connection, p.seq, Outcome.TransformFailed);
        continue;
      }
      if (!this.sink.offer(r, 0, r.length, s, p.connection, p.seq)) return false;
    }
    this.pending = null;
    return true;
  }

  // ---- SinkEvents ----------------------------------------------------------------------------

  done(connection: number, seq: number, outcome: number): void {
    this.counters[outcome]!++;
    if (connection === FANOUT_CONNECTION) {
      // One write of a fan-out: the source's record is answered once all of them are.
      const r = this.settled;
      if (!this.fanOuts.settle(seq, outcome, r)) return;
      this.post(r.connection, r.seq, r.outcome);
      return;
    }
    this.post(connection, seq, outcome);
  }

  /** Post a completion to main (or keep it until the ring has room). */
  private post(connection: number, seq: number, outcome: number): void {
    if (this.overflow.length === 0 && writeCompletion(this.completions, connection, seq, outcome)) return;
    this.overflow.push(connection, seq, outcome);
    // Retried on a timer, not only when the next result comes: there may be none.
    this.overflowTimer ??= setTimeout(this.retryHeld, POLL_MS);
  }

  private readonly retryHeld = (): void => {
    this.overflowTimer = null;
    this.publishNow();
  };

  count(slot: number): void {
    this.counters[slot]!++;
  }

  parked(namespace: string, code: number): void {
    this.tally.add(namespace, code);
  }

  private retryOverflow(): void {
    const pending = this.overflow;
    this.overflow = [];
    for (let i = 0; i < pending.length; i += 3) this.post(pending[i]!, pending[i + 1]!, pending[i + 2]!);
  }

  /** Resolve at the sink's next progress (or the inbound doorbell, when armed), or after `pollMs` (0: no timer). */
  private nextProgress(pollMs: number): Promise<void> {
    return new Promise<void>((r) => {
      this.unblock = r;
      if (pollMs > 0) this.pollTimer = setTimeout(this.progressed, pollMs);
    });
  }

  /** The sink may have room again: let the loop drain (at once if it waits for this). */
  private readonly progressed = (): void => {
    this.blocked = false;
    if (this.pollTimer !== null) {
      clearTimeout(this.pollTimer);
      this.pollTimer = null;
    }
    const wake = this.unblock;
    if (wake === null) return;
    this.unblock = null;
    wake();
  };

  /** Results arrived (per socket read): publish them once per event-loop turn, not per read. */
  progress(): void {
    this.progressed();
    if (this.publishScheduled) return;
    this.publishScheduled = true;
    setImmediate(this.publishNow);
  }

  private readonly publishNow = (): void => {
    this.publishScheduled = false;
    if (this.overflow.length > 0) this.retryOverflow();
    this.completions.publish();
    this.tally.publish();
  };

  up(): void {
    this.counters[WorkerCounter.ConnectsOpened]!++;
    this.counters[WorkerCounter.ConnectionsUp]!++;
  }

  down(): void {
    this.counters[WorkerCounter.ConnectsLost]!++;
    if (this.counters[WorkerCounter.ConnectionsUp]! > 0) this.counters[WorkerCounter.ConnectionsUp]!--;
  }

  problem(key: string, error: ErrorShape, blocksTraffic: boolean): void {
    this.diagnostics.problem(key, error, blocksTraffic);
  }

  cleared(key: string): void {
    this.diagnostics.cleared(key);
  }

  /** On stop: wait (bounded) for results of what is already sent. */
  private async finishInFlight(): Promise<void> {
    const d = this.task.destination;
    const until = performance.now() + (d.kind === 'aerospike' ? d.timeoutMs : 5000);
    this.sink.flush();
    while (this.sink.inFlight > 0 && performance.now() < until) {
      await new Promise((r) => setTimeout(r, 5));
      if (this.overflow.length > 0) this.retryOverflow();
      this.completions.publish();
    }
    this.completions.publish();
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
