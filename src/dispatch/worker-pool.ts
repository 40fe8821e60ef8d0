/**
 * The main thread's side of dispatch: a piscina pool of long-lived workers, one inbound ring per
 * worker, one completion ring per worker, and the poll that drains completions.
 *
 *   main ──inbound ring[w]──▶ worker w ──completion ring[w]──▶ main
 *
 * Nobody is woken for a completion. Main knows when one can come (it has records out with a
 * worker), so while it does it drains the completion rings on its own: after each turn that read
 * from a source while a worker is at a light rate, and at each look otherwise (every 1 ms, or 4 ms
 * under a deep queue: poll-pace.ts). With nothing out it polls nothing and costs nothing.
 * A wake-up across threads costs a syscall on one side and an event-loop turn on the other (9–18
 * µs here); a 1 ms timer costs neither side anything extra while main has socket work anyway.
 *
 * Each worker runs one task that lasts as long as the pool. A task that ends with an error means its
 * thread died: its records are answered with the retry code at once (`workerLost`), its rings are
 * reset, and the task is started again on the thread piscina puts in its place.
 */

import { Piscina } from 'piscina';
import type { Logger } from 'pino';
import { copyBytes } from '../protocol/copy-bytes.js';
import {
  type CompletionSink,
  type DeadLetterTally,
  DiagnosticsReader,
  INBOUND_HEADER,
  INBOUND_REF_SIZE,
  INBOUND_WORKING_SET,
  type PolicySettings,
  RingReader,
  RingWriter,
  SLAB_BYTES,
  type SnapshotCell,
  WorkerControl,
  WorkerCounter,
  type WorkerTask,
  drainCompletions,
  deadLetterTallyCell,
  newControlBuffer,
  newCountersBuffer,
  newDeadLetterTallyBuffer,
  newArenaBuffer,
  newDiagnosticsBuffer,
  newPolicyBuffer,
  newRingBuffer,
  policyCell,
  recordTag,
  reserveInbound,
  writeInboundRef,
} from '../threads/index.js';
import { PartitionTable } from './partition-table.js';
import { POLL_MS, nextPollMs } from './poll-pace.js';
import { SPREAD_TICK_MS, WorkerSpread } from './worker-spread.js';
import { SlabPool } from './slab-pool.js';
import { WorkerHealth } from './worker-health.js';

export interface PoolOptions {
  threads: number;
  /** each worker's inbound ring */
  ringBytes: number;
  /** each worker's completion ring (threads/records.ts, completionRingCapacity) */
  completionBytes: number;
  /**
   * Least ms between two wake-ups of one worker (0 = wake at once): records for a worker that
   * went back to sleep within this window wait for its end. Light traffic is never delayed;
   * steady traffic costs a worker at most one wake-up per window instead of one per few records.
   */
  dispatchDelayMs: number;
  /** a worker taking fewer records a second than this asks for every batch at once (0 = never) */
  promptBelowPerS: number;
  /** the busy share of its time per worker at work before another is put to work (0 = every worker always; worker-spread.ts) */
  workerBusy: number;
  workerFile: URL;
  task: Pick<WorkerTask, 'destination' | 'faults'>;
  /** the write policy the workers start with (updatePolicy() replaces it) */
  policy: PolicySettings;
  /** CPUs per worker (worker i gets cpus[i % length]); empty = no pinning */
  cpus: number[];
  /** slabs in the source arena (threads/arena.ts) */
  arenaSlabs: number;
  /**
   * The largest record body a session hands on (service.max-frame-size): the arena ends in a run
   * this long (rounded up to slabs), through which a record too big for half a ring goes by
   * reference. Its pages are touched only by such records.
   */
  largestBody: number;
}

interface Lane {
  inbound: SharedArrayBuffer;
  completions: SharedArrayBuffer;
  controlSab: SharedArrayBuffer;
  control: WorkerControl;
  counters: SharedArrayBuffer;
  diagnosticsSab: SharedArrayBuffer;
  diagnostics: DiagnosticsReader;
  deadLettersSab: SharedArrayBuffer;
  deadLetters: SnapshotCell<DeadLetterTally>;
  /** the last tally read */
  tally: DeadLetterTally;
  writer: RingWriter;
  reader: RingReader;
  stats: Float64Array;
  running: Promise<void> | null;
  /** records handed to the worker and not yet completed (so completions may still come) */
  outstanding: number;
  restarts: number;
  /** when main last woke this worker (performance.now()), and how many times it has */
  lastWake: number;
  wakeups: number;
}

const DELAY_BATCH_BYTES = 64 * 1024;

export class WorkerPool {
  private readonly piscina: Piscina;
  private readonly table: PartitionTable;
  private readonly lanes: Lane[] = [];
  private readonly touched = new Set<number>();
  /** the worker last added to `touched` (-1 after each publish) */
  private lastTouched = -1;
  private readonly roomWaiters = new Set<{ tryResume(): void }>();
  private stopping = false;
  private publishScheduled = false;
  /** a timer will publish what waits for a worker's wake-up window */
  private publishTimer = false;
  private pollTimer: NodeJS.Timeout | null = null;
  private pollArmed = false;
  /** the wait between two looks at the completion rings (poll-pace.ts) */
  private pollMs = POLL_MS;
  /** how many workers the load needs at work (worker-spread.ts), judged on a timer */
  private readonly spread: WorkerSpread;
  private spreadTimer: NodeJS.Timeout | null = null;
  private readonly policySab = newPolicyBuffer();
  private readonly policy: SnapshotCell<PolicySettings> = policyCell(this.policySab);
  private readonly arenaSab: SharedArrayBuffer;
  /** the source arena's slabs: plain-TCP connections read into them, and records go out by reference */
  private readonly slabs: SlabPool;
  /** the arena as connections see it: a slab given back is freed as soon as the workers are past it */
  readonly arena: { readonly bytes: Buffer; readonly slabBytes: number; acquire(): number; retire(slab: number): void };
  readonly health: WorkerHealth;

  constructor(
    private readonly opts: PoolOptions,
    private readonly sink: CompletionSink,
    private readonly log: Logger,
  ) {
    this.spread = new WorkerSpread(opts.threads, opts.workerBusy);
    this.table = new PartitionTable(opts.threads, this.spread.initial());
    this.health = new WorkerHealth(opts.threads, log);
    this.piscina = new Piscina({
      filename: opts.workerFile.href,
      minThreads: opts.threads,
      maxThreads: opts.threads,
      idleTimeout: Number.MAX_SAFE_INTEGER,
      concurrentTasksPerWorker: 1,
      // Workers own sockets; they must never park in Atomics.wait between tasks.
      atomics: 'disabled',
    });
    this.policy.publish(opts.policy);
    const jumboSlabs = Math.ceil(opts.largestBody / SLAB_BYTES);
    this.arenaSab = newArenaBuffer(opts.arenaSlabs + jumboSlabs);
    const slabs = new SlabPool(this.arenaSab, opts.threads, jumboSlabs);
    this.slabs = slabs;
    this.arena = {
      bytes: slabs.bytes,
      slabBytes: slabs.slabBytes,
      acquire: () => slabs.acquire(),
      retire: (slab) => {
        slabs.retire(slab);
        if (slabs.waiting) this.reclaimSlabs();
      },
    };
    for (let i = 0; i < opts.threads; i++) {
      const inbound = newRingBuffer(opts.ringBytes);
      const completions = newRingBuffer(opts.completionBytes);
      const counters = newCountersBuffer();
      const controlSab = newControlBuffer();
      const diagnosticsSab = newDiagnosticsBuffer();
      const deadLettersSab = newDeadLetterTallyBuffer();
      this.lanes.push({
        inbound,
        completions,
        controlSab,
        control: new WorkerControl(controlSab),
        counters,
        diagnosticsSab,
        diagnostics: new DiagnosticsReader(diagnosticsSab),
        deadLettersSab,
        deadLetters: deadLetterTallyCell(deadLettersSab),
        tally: {},
        writer: new RingWriter(inbound, undefined, INBOUND_WORKING_SET),
        reader: new RingReader(completions),
        stats: new Float64Array(counters),
        running: null,
        outstanding: 0,
        restarts: 0,
        lastWake: Number.NEGATIVE_INFINITY,
        wakeups: 0,
      });
    }
  }

  get threads(): number {
    return this.lanes.length;
  }

  /** Dead letters worker `w` wrote, by source namespace and code (as last published). */
  deadLetters(w: number): DeadLetterTally {
    const lane = this.lanes[w]!;
    lane.tally = lane.deadLetters.poll() ?? lane.tally;
    return lane.tally;
  }

  /** Shared counters of worker `w` (read-only for the main thread). */
  counters(w: number): Float64Array {
    return this.lanes[w]!.stats;
  }

  restarts(w: number): number {
    return this.lanes[w]!.restarts;
  }

  /** How long main waits now between two looks at the completion rings, in ms (poll-pace.ts). */
  get lookMs(): number {
    return this.pollMs;
  }

  /** Workers that new partitions' records go to (worker-spread.ts). */
  get activeWorkers(): number {
    return this.table.active;
  }

  /** Partitions that changed worker as the workers at work changed (partition-table.ts). */
  get partitionMoves(): number {
    return this.table.moves;
  }

  /** service.worker-busy: the busy share per worker at work (0 = every worker always). */
  setWorkerBusy(target: number): void {
    this.spread.target = target;
    this.judgeSpread();
  }

  /** Times main has woken worker `w` for records (see dispatchDelayMs). */
  wakeups(w: number): number {
    return this.lanes[w]!.wakeups;
  }

  /** Bytes waiting in worker `w`'s inbound ring. */
  backlog(w: number): number {
    return this.lanes[w]!.writer.used();
  }

  get ringBytes(): number {
    return this.opts.ringBytes;
  }

  /** Records older than this (ms) are no longer sent by the workers: main has answered them. */
  setAckDeadline(ms: number): void {
    for (const lane of this.lanes) lane.control.ackDeadlineMs = ms;
  }

  /** Take in what every worker reported since the last call (main's watch calls it). */
  checkHealth(): void {
    for (let w = 0; w < this.lanes.length; w++) this.lanes[w]!.diagnostics.drain((event) => this.health.record(w, event));
  }

  start(): void {
    for (let w = 0; w < this.lanes.length; w++) this.launch(w);
    if (this.lanes.length > 1) {
      this.spreadTimer = setInterval(this.judgeSpread, SPREAD_TICK_MS);
      this.spreadTimer.unref();
    }
  }

  /** Put as many workers at work as the workers' last busy shares ask for. */
  private readonly judgeSpread = (): void => {
    let busy = 0;
    for (const lane of this.lanes) busy += lane.stats[WorkerCounter.Busy]!;
    const from = this.table.active;
    const to = this.spread.next(from, busy);
    if (to === from) return;
    this.table.setActive(to);
    this.log.debug({ from, to, busy }, 'workers at work changed');
  };

  /**
   * Resolve once every worker has a destination connection up, or after `timeoutMs`: traffic that
   * arrives before then would only be answered with the retry code.
   */
  async waitForDestination(timeoutMs: number): Promise<boolean> {
    const until = performance.now() + timeoutMs;
    const allUp = (): boolean => this.lanes.every((l) => l.stats[WorkerCounter.ConnectionsUp]! > 0);
    while (!allUp() && performance.now() < until) await new Promise((r) => setTimeout(r, 10));
    return allUp();
  }

  private launch(w: number): void {
    const lane = this.lanes[w]!;
    const task: WorkerTask = {
      destination: this.opts.task.destination,
      index: w,
      inbound: lane.inbound,
      arena: this.arenaSab,
      completions: lane.completions,
      control: lane.controlSab,
      counters: lane.counters,
      diagnostics: lane.diagnosticsSab,
      policy: this.policySab,
      deadLetters: lane.deadLettersSab,
      promptBelowPerS: this.opts.promptBelowPerS,
      cpus: this.opts.cpus.length === 0 ? [] : [this.opts.cpus[w % this.opts.cpus.length]!],
      // A replacement worker must not crash again on purpose.
      faults: lane.restarts === 0 ? this.opts.task.faults : {},
    };
    lane.running = (this.piscina.run(task) as Promise<void>).then(
      () => {
        lane.running = null;
      },
      (err: unknown) => {
        lane.running = null;
        if (this.stopping) return;
        const error = err instanceof Error ? err : new Error(String(err));
        this.log.error({ worker: w, err: error.message }, 'worker thread died; answering its records with retry and replacing it');
        // Results it posted before dying still count; everything else of its is answered retry.
        this.drainLane(lane);
        this.sink.batchEnd();
        lane.writer.reset();
        this.slabs.dropLane(w);
        lane.outstanding = 0;
        this.table.workerLost(w);
        lane.diagnostics.drain((event) => this.health.record(w, event));
        this.health.reset(w);
        this.sink.workerLost(w);
        this.sink.batchEnd();
        lane.restarts++;
        lane.control.stopping = false;
        this.launch(w);
        this.wakeRoomWaiters();
      },
    );
  }

  /**
   * Hand every worker a new write policy (namespace mapping, LUT, durable delete). Workers pick it
   * up at their next batch: one atomic load of the snapshot's version per batch, nothing per record.
   */
  updatePolicy(policy: PolicySettings): void {
    this.policy.publish(policy);
  }

  // ---- RecordRouter -------------------------------------------------------------------------

  workerFor(partition: number): number {
    return this.table.workerFor(partition);
  }

  fits(worker: number, buf: Buffer, length: number): boolean {
    const writer = this.lanes[worker]!.writer;
    if (buf === this.arena.bytes) return writer.fits(INBOUND_REF_SIZE);
    if (jumbo(writer, length)) {
      // One such record at a time: the run is free once its worker is past the last one.
      if (!this.slabs.jumboFree && this.slabs.waiting) this.reclaimSlabs();
      return this.slabs.jumboFree && writer.fits(INBOUND_REF_SIZE);
    }
    // A copy (a connection without a slab, an inflated message, an HTTP/2 body) waits while every
    // slab is held by records the workers have not passed: memory stays bounded by the arena and
    // the backlog, not by the arena plus rings full of copies. Lent slabs alone never stop it.
    if (this.slabs.freeSlabs === 0 && this.slabs.retired > 0) {
      this.reclaimSlabs();
      if (this.slabs.freeSlabs === 0) return false;
    }
    return writer.fits(INBOUND_HEADER + length);
  }

  dispatch(worker: number, partition: number, connection: number, seq: number, epochMs: number, buf: Buffer, start: number, end: number): void {
    const lane = this.lanes[worker]!;
    const w = lane.writer;
    const tag = recordTag(connection, partition);
    // The session checked fits() first, so the reservation succeeds.
    if (buf === this.arena.bytes) {
      // Read in place: the worker reads the body where the socket put it.
      writeInboundRef(w, tag, seq, epochMs, start, end - start);
      this.slabs.pin(start, worker, w.position);
    } else if (jumbo(w, end - start)) {
      // Too big for half the ring: copied to the arena's jumbo run, and handed on by reference.
      const where = this.slabs.acquireJumbo();
      copyBytes(buf, start, end, this.arena.bytes, where);
      writeInboundRef(w, tag, seq, epochMs, where, end - start);
      this.slabs.pin(where, worker, w.position);
      this.slabs.retireJumbo();
    } else copyBytes(buf, start, end, w.data, reserveInbound(w, tag, seq, epochMs, end - start));
    lane.outstanding++;
    this.table.out[partition]!++;
    if (this.lastTouched !== worker) {
      this.touched.add(worker);
      this.lastTouched = worker;
    }
  }

  /**
   * Make dispatched records visible. Called after every socket read; the publish itself (and the
   * wake-up it may cost) happens once per event-loop turn, after every read of that turn.
   */
  publish(): void {
    if (this.touched.size === 0 || this.publishScheduled) return;
    this.publishScheduled = true;
    setImmediate(this.publishNow);
  }

  /**
   * Publish every touched ring, except to a worker that sleeps and was woken less than
   * dispatchDelayMs ago (with less than DELAY_BATCH_BYTES waiting): its records wait for the
   * window to end, so a steady stream wakes each worker about once per window. A worker at a
   * light rate (control.prompt) is rung at once.
   *
   * While some worker is at a light rate, main also takes the results finished since its last look
   * (it is awake anyway, and replies go out up to a poll sooner). Above that rate results wait for
   * the poll: looking after every read as well cut replies into more, smaller writes. Measured at
   * saturation into the real server, 3 rounds each, in both orders of the runs: 0.76–0.95 →
   * 0.73–0.75 reply writes per 100 records; main's CPU per record moved within the noise.
   */
  private readonly publishNow = (): void => {
    this.publishScheduled = false;
    this.lastTouched = -1;
    if (this.anyPrompt()) this.drainCompletions();
    const delay = this.opts.dispatchDelayMs;
    const now = delay > 0 ? performance.now() : 0;
    let dueIn = Number.POSITIVE_INFINITY;
    for (const w of this.touched) {
      const lane = this.lanes[w]!;
      const writer = lane.writer;
      // A worker at a light rate asks for every batch at once (control.prompt).
      if (delay > 0 && writer.consumerSleeping() && !lane.control.prompt) {
        const wait = lane.lastWake + delay - now;
        if (wait > 0 && writer.unpublished() < DELAY_BATCH_BYTES) {
          dueIn = Math.min(dueIn, wait);
          continue;
        }
        lane.lastWake = now;
      }
      if (writer.publish()) lane.wakeups++;
      this.touched.delete(w);
      // `lastTouched` must never name a worker no longer in `touched`: a record dispatched to it
      // before the next publish would not be added, and not published. Readers resumed by the
      // results taken above dispatch while this runs.
      if (this.lastTouched === w) this.lastTouched = -1;
    }
    if (dueIn !== Number.POSITIVE_INFINITY && !this.publishTimer) {
      this.publishTimer = true;
      setTimeout(this.publishDue, Math.ceil(dueIn));
    }
    this.armPoll();
  };

  private readonly publishDue = (): void => {
    this.publishTimer = false;
    this.publishNow();
  };

  waitForRoom(s: { tryResume(): void }): void {
    this.roomWaiters.add(s);
  }

  private wakeRoomWaiters(): void {
    if (this.roomWaiters.size === 0) return;
    const all = [...this.roomWaiters];
    this.roomWaiters.clear();
    for (const s of all) s.tryResume();
  }

  // ---- completions ---------------------------------------------------------------------------

  private drainLane(lane: Lane): number {
    return drainCompletions(lane.reader, this.sink, this.table.out);
  }

  /** Drain every completion ring; flush replies and retry blocked readers when anything came. */
  private drainCompletions(): number {
    let n = 0;
    for (const lane of this.lanes) {
      const got = this.drainLane(lane);
      lane.outstanding -= got;
      n += got;
    }
    if (n > 0) {
      this.sink.batchEnd();
      // Nothing out is no deep queue, whichever look took the last results.
      if (this.outstanding() === 0) this.setPace(POLL_MS);
    }
    if (this.slabs.waiting) this.reclaimSlabs();
    // Ring room is freed by the workers' progress, which completions trail: a reader blocked on a
    // full ring tries again at each look.
    this.wakeRoomWaiters();
    return n;
  }

  private readonly laneConsumed = (w: number): number => this.lanes[w]!.writer.consumed();

  /** Free the retired arena slabs every worker is past. */
  private reclaimSlabs(): void {
    this.slabs.reclaim(this.laneConsumed);
  }

  /** The arena's slabs by state, for the metrics. */
  arenaSlabs(): { free: number; lent: number; retired: number } {
    const { freeSlabs, retired, total } = this.slabs;
    return { free: freeSlabs, lent: total - freeSlabs - retired, retired };
  }

  /**
   * While records are out with the workers, look at the completion rings again in POLL_MS, or in
   * DEEP_POLL_MS while they form a deep queue (poll-pace.ts). Main is awake for its sources anyway,
   * and results gathered for a millisecond go out in fewer, larger writes. Measured at 20,000
   * records/s into the real server, against polling on both sides (median ack inside Ferry 2.5–5
   * ms, 13–15 µs of CPU per record):
   *   - main woken for each publish of results, and each worker for each of main's even with
   *     writes out: median ≤ 0.5 ms, but 36 µs per record (more, smaller reads and writes on
   *     every socket) and no better p99; at saturation every batch got smaller and dearer;
   *   - the workers woken, main polling: median ~1 ms at 23 µs per record.
   */
  private armPoll(): void {
    if (this.stopping || this.pollArmed || this.outstanding() === 0) return;
    this.pollArmed = true;
    // One timer object per pace, re-armed in place: no allocation per poll.
    if (this.pollTimer === null) this.pollTimer = setTimeout(this.poll, this.pollMs);
    else this.pollTimer.refresh();
  }

  private anyPrompt(): boolean {
    for (const lane of this.lanes) if (lane.control.prompt) return true;
    return false;
  }

  /** Records out with the workers, all lanes. */
  private outstanding(): number {
    let n = 0;
    for (const lane of this.lanes) n += lane.outstanding;
    return n;
  }

  private readonly poll = (): void => {
    this.pollArmed = false;
    const taken = this.drainCompletions();
    this.setPace(nextPollMs(this.pollMs, taken, this.outstanding()));
    this.armPoll();
  };

  /**
   * Look every `ms` from now on. A timer re-armed in place keeps its duration, so a new pace needs
   * a new timer (rare: the pace changes when a deep queue forms or goes); an armed look stays armed.
   */
  private setPace(ms: number): void {
    if (ms === this.pollMs) return;
    this.pollMs = ms;
    if (this.pollTimer !== null) clearTimeout(this.pollTimer);
    this.pollTimer = this.pollArmed ? setTimeout(this.poll, ms) : null;
  }

  /** Ask every worker to finish what it has in flight and return, then stop the pool. */
  async stop(graceMs: number): Promise<void> {
    // Records held back for a wake-up window go out now, not with the timer.
    for (const w of this.touched) this.lanes[w]!.writer.publish();
    this.touched.clear();
    this.lastTouched = -1;
    for (const lane of this.lanes) {
      lane.control.stopping = true;
      lane.writer.wake();
    }
    const running = this.lanes.map((l) => l.running).filter((p): p is Promise<void> => p !== null);
    // The grace timer is cleared once the workers are done: left pending, it would hold the
    // process open for the rest of the ack deadline after everything had stopped.
    let grace: NodeJS.Timeout | undefined;
    await Promise.race([Promise.all(running), new Promise((r) => (grace = setTimeout(r, graceMs)))]);
    clearTimeout(grace);
    // Deliver the last results, then stop looking.
    this.drainCompletions();
    this.stopping = true;
    if (this.spreadTimer !== null) clearInterval(this.spreadTimer);
    this.spreadTimer = null;
    if (this.pollTimer !== null) clearTimeout(this.pollTimer);
    this.pollTimer = null;
    this.pollArmed = false;
    await this.piscina.destroy();
  }
}

/**
 * Whether a copied record of `length` bytes goes by the arena's jumbo run rather than into the
 * ring: when its ring record would take more than half the ring. A ring record must lie in one
 * piece, so one bigger than that cannot be placed while the free space is split across the end
 * of the ring, even in an empty ring; up to half, it always can be once the ring has drained.
 */
function jumbo(ring: RingWriter, length: number): boolean {
  // its ring record: the length word, the header and the body, padded to 4 bytes
  return 8 + INBOUND_HEADER + length > ring.capacity / 2;
}
