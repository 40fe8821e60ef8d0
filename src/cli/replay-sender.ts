/**
 * Sends parked records into the configured destination the way a worker does: the tender finds
 * the cluster and its partition map, an AerospikeSink routes each record to its partition's master
 * and applies the write policy of the configuration as it is now (namespace mapping, LUT,
 * durable delete, last-write-wins). One thread, off the daemon's path.
 *
 *   records ─▶ sink.offer (pipelined) ─▶ done(seq, outcome) ─▶ outcomes[seq]
 *   transient outcomes (timeout, connection lost, 11…) are sent again, up to ROUNDS times
 */

import type { Logger } from 'pino';
import type { AerospikeDestination } from '../config/index.js';
import { type DestinationTender, destinationTender, writePolicyOf } from '../destination-setup.js';
import { AerospikeSink, type SinkEvents } from '../destination/index.js';
import type { ParkedRecord } from '../destination/dead-letter-record.js';
import type { ErrorShape } from '../errors.js';
import { ResultCode, ScanError, isTransientDestinationCode, newScan, scanRecordMessage } from '../protocol/index.js';
import { Outcome } from '../threads/index.js';

const ROUNDS = 5;
const ROUND_PAUSE_MS = 1000;
const TICK_MS = 100;
const OFFERS_PER_BATCH = 256;

/** Whether an outcome is worth another try (the destination was busy, unreachable, slow). */
export function isRetryOutcome(outcome: number): boolean {
  return outcome >= Outcome.ConnectionLost || isTransientDestinationCode(outcome);
}

export class ReplaySender implements SinkEvents {
  private readonly link: DestinationTender;
  private sink: AerospikeSink | null = null;
  private outcomes: Int32Array = new Int32Array(0);
  private pending = 0;
  private wake: (() => void) | null = null;
  private readonly reported = new Set<string>();
  /** called with the number of records answered so far */
  onAnswer: (answered: number) => void = () => undefined;
  private answered = 0;

  constructor(
    private readonly d: AerospikeDestination,
    log: Logger,
  ) {
    this.link = destinationTender(d, log);
  }

  /** Find the cluster; false when no node answered within `timeoutMs`. */
  async connect(timeoutMs: number): Promise<boolean> {
    const tender = this.link.tender;
    await tender.start();
    const until = performance.now() + timeoutMs;
    while (tender.nodeCount === 0 && performance.now() < until) await sleep(50);
    if (tender.nodeCount === 0) return false;
    const d = this.d;
    this.sink = new AerospikeSink(
      {
        kind: 'aerospike',
        connectionsPerNode: d.connectionsPerNode,
        minConnectionsPerNode: 1,
        idleTimeoutMs: d.idleTimeoutMs,
        pipelineDepth: d.pipelineDepth,
        timeoutMs: d.writeTimeoutMs,
        connectTimeoutMs: d.connectTimeoutMs,
        retryWindowMs: d.writeTimeoutMs,
        tls: this.link.tlsText,
        map: this.link.mapSab,
        session: this.link.sessionSab,
        deadLetters: null,
      },
      // Dead letters hold records as the source shipped them: the rules apply again, the transform
      // module (a worker's) does not.
      { ...writePolicyOf(d, tender.edition, 0), transform: null },
      this,
    );
    this.sink.open();
    return true;
  }

  /** Send every record; returns each one's last outcome (a result code, or an Outcome). */
  async send(records: readonly ParkedRecord[]): Promise<Int32Array> {
    const sink = this.sink;
    if (sink === null) throw new Error('replay: send before connect');
    this.outcomes = new Int32Array(records.length).fill(-1);
    const timer = setInterval(() => sink.tick(performance.now()), TICK_MS);
    try {
      let todo = records.map((_, i) => i);
      for (let round = 0; round < ROUNDS && todo.length > 0; round++) {
        if (round > 0) await sleep(ROUND_PAUSE_MS);
        await this.round(sink, records, todo);
        todo = todo.filter((i) => isRetryOutcome(this.outcomes[i]!));
      }
    } finally {
      clearInterval(timer);
    }
    return this.outcomes;
  }

  private async round(sink: AerospikeSink, records: readonly ParkedRecord[], todo: readonly number[]): Promise<void> {
    const scan = newScan();
    sink.beginBatch();
    let batch = 0;
    for (const i of todo) {
      const xdr = records[i]!.xdr;
      if (scanRecordMessage(xdr, 0, xdr.length, scan) !== ScanError.None) {
        // Not a record message: the destination would refuse it the same way.
        this.answer(i, ResultCode.Parameter);
        continue;
      }
      this.pending++;
      while (!sink.offer(xdr, 0, xdr.length, scan, 0, i)) {
        sink.flush();
        await this.next(5);
        sink.beginBatch();
      }
      if (++batch === OFFERS_PER_BATCH) {
        batch = 0;
        sink.flush();
        await this.next(0);
        sink.beginBatch();
      }
    }
    sink.flush();
    while (this.pending > 0) await this.next(TICK_MS);
  }

  private answer(seq: number, outcome: number): void {
    this.outcomes[seq] = outcome;
    this.answered++;
    this.onAnswer(this.answered);
  }

  /** Resolve at the sink's next progress, or after `ms`. */
  private next(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        this.wake = null;
        resolve();
      }, ms);
      this.wake = () => {
        clearTimeout(timer);
        this.wake = null;
        resolve();
      };
    });
  }

  async close(): Promise<void> {
    await this.sink?.close();
    this.link.tender.stop();
  }

  // ---- SinkEvents ----------------------------------------------------------------------------

  done(_connection: number, seq: number, outcome: number): void {
    this.pending--;
    // A record sent again in a later round counts once for progress.
    if (this.outcomes[seq] === -1) this.answer(seq, outcome);
    else this.outcomes[seq] = outcome;
    this.wake?.();
  }

  progress(): void {
    this.wake?.();
  }

  up(): void {}

  down(): void {}

  problem(key: string, error: ErrorShape): void {
    if (this.reported.has(key)) return;
    this.reported.add(key);
    process.stderr.write(`ferry replay: ${key}: ${error.message}\n`);
  }

  cleared(key: string): void {
    this.reported.delete(key);
  }

  count(): void {}

  parked(): void {}
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
