/**
 * Composition root: configuration → destination checks → worker pool → service port → signals.
 *
 *   config ─▶ Ferry.start(): probe destination ─▶ WorkerPool (piscina, rings) ─▶ SourceListener
 *   completions: WorkerPool pump ─▶ outcome → reply code ─▶ SourceListener.complete / flushDirty
 */

import type { Logger } from 'pino';
import type { AerospikeDestination, FerryConfig } from './config/index.js';
import { type CompletionSink, WorkerPool, type WorkerFaults } from './dispatch/index.js';
import { type DestinationSettings, OUTCOME_SLOTS, type PolicySettings, requestInfo } from './destination/index.js';
import { Logging } from './management/logger.js';
import { ResultCode, isTransientDestinationCode } from './protocol/index.js';
import { InFlightBudget } from './source/in-flight-budget.js';
import { SourceListener } from './source/listener.js';
import { SourceStats } from './source/source-stats.js';

export interface FerryOptions {
  /** override the worker entry (tests that run from source point this at the built file) */
  workerFile?: URL;
  faults?: WorkerFaults;
  logging?: Logging;
}

/**
 * Outcome → the code the source gets. Done codes pass; every transient outcome becomes 11 (the source
 * retries); a permanent rejection passes back as it is, and is counted.
 */
export function replyCodeFor(outcome: number): number {
  if (outcome >= 256) return ResultCode.Unavailable;
  if (isTransientDestinationCode(outcome)) return ResultCode.Unavailable;
  return outcome;
}

export class Ferry implements CompletionSink {
  readonly logging: Logging;
  private readonly log: Logger;
  private pool: WorkerPool | null = null;
  private listeners: SourceListener[] = [];
  readonly stats = new SourceStats();
  /** completions by outcome, counted on the main thread */
  readonly outcomes = new Float64Array(OUTCOME_SLOTS);
  private budget: InFlightBudget;
  private stopping: Promise<void> | null = null;
  edition = '';

  constructor(
    readonly config: FerryConfig,
    private readonly options: FerryOptions = {},
  ) {
    this.logging = options.logging ?? new Logging(config.logging);
    this.log = this.logging.get('server');
    this.budget = new InFlightBudget(config.service.maxConcurrentRecords);
  }

  async start(): Promise<Array<{ address: string; port: number }>> {
    const d = this.config.destination;
    const s = this.config.service;
    let destination: DestinationSettings;
    let policy: PolicySettings = { stripLut: false, stripDurableDelete: false, namespaceMap: [] };
    let connectWaitMs = 2000;
    if (d.kind === 'aerospike') {
      destination = {
        kind: 'aerospike',
        host: d.host,
        port: d.port,
        connectionsPerNode: d.connectionsPerNode,
        pipelineDepth: d.pipelineDepth,
        timeoutMs: d.writeTimeoutMs,
        connectTimeoutMs: d.connectTimeoutMs,
      };
      policy = { stripLut: d.lut === 'strip', stripDurableDelete: await this.probeDestination(d), namespaceMap: d.namespaceMap.map(([a, b]) => [a, b]) };
      connectWaitMs = d.connectTimeoutMs * 2;
    } else {
      destination = { kind: 'file', path: d.path, format: d.format, sync: d.sync };
      this.log.info({ file: d.path, format: d.format, sync: d.sync }, 'writing changes to a file');
    }

    this.pool = new WorkerPool(
      {
        threads: s.workerThreads,
        ringBytes: ringBytesFor(s.maxConcurrentRecords, s.workerThreads),
        workerFile: this.options.workerFile ?? new URL('./workers/worker-entry.js', import.meta.url),
        task: { destination, policy, faults: this.options.faults ?? {} },
      },
      this,
      this.logging.get('dispatch'),
    );
    this.pool.start();
    if (!(await this.pool.waitForDestination(connectWaitMs))) {
      this.log.warn('workers have no destination yet; records get the retry code until they do');
    }

    const bound: Array<{ address: string; port: number }> = [];
    for (const address of s.addresses) {
      for (const port of s.ports) {
        const listener = new SourceListener(
          {
            port,
            address,
            ackDeadlineMs: s.ackDeadlineMs,
            limits: { maxFrame: s.maxFrameSize, maxInFlightPerConnection: s.maxInFlightPerConnection, info: (name) => this.answerInfo(name) },
          },
          this.pool,
          this.budget,
          this.stats,
          this.log,
        );
        bound.push(await listener.listen());
        this.listeners.push(listener);
      }
    }
    this.log.info({ listening: bound.map((b) => `${b.address}:${b.port}`), workers: s.workerThreads }, 'ferry started');
    return bound;
  }

  /**
   * Ask the destination who it is. Returns whether to clear the durable-delete bit: under `auto`,
   * unless the node says it is Enterprise Edition (Community Edition answers 25 to it).
   */
  private async probeDestination(d: AerospikeDestination): Promise<boolean> {
    try {
      const info = await requestInfo(d.host, d.port, ['node', 'edition', 'build'], d.connectTimeoutMs + 1000);
      this.edition = info.get('edition') ?? '';
      const strip = d.durableDelete === 'strip' || (d.durableDelete === 'auto' && !/enterprise/i.test(this.edition));
      this.log.info({ destination: `${d.host}:${d.port}`, node: info.get('node'), edition: this.edition, build: info.get('build'), stripDurableDelete: strip }, 'destination reachable');
      return strip;
    } catch (err) {
      // Start anyway: the workers reconnect with backoff, and records get the retry code meanwhile.
      this.log.warn({ destination: `${d.host}:${d.port}`, err: (err as Error).message }, 'destination not reachable at start-up; will keep trying');
      return d.durableDelete !== 'keep';
    }
  }

  private answerInfo(name: string): string {
    switch (name) {
      case 'build':
        return 'ferry';
      case 'edition':
        return 'Ferry';
      default:
        return '';
    }
  }

  get inFlight(): number {
    return this.budget.inFlight;
  }

  get workerPool(): WorkerPool | null {
    return this.pool;
  }

  // ---- CompletionSink ------------------------------------------------------------------------

  complete(connection: number, seq: number, outcome: number): void {
    this.outcomes[outcome]!++;
    const code = replyCodeFor(outcome);
    // Connection ids are unique across listeners: each listener only knows its own.
    for (let i = 0; i < this.listeners.length; i++) this.listeners[i]!.complete(connection, seq, code);
  }

  batchEnd(): void {
    for (let i = 0; i < this.listeners.length; i++) this.listeners[i]!.flushDirty();
  }

  workerLost(worker: number): void {
    for (const l of this.listeners) l.failWorker(worker);
  }

  /** Drain: stop reading, answer everything in flight (within the ack deadline), stop workers. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      this.log.info({ inFlight: this.budget.inFlight }, 'draining');
      await Promise.all(this.listeners.map((l) => l.drain()));
      const d = this.config.destination;
      await this.pool?.stop((d.kind === 'aerospike' ? d.writeTimeoutMs : 5000) + 500);
      for (const l of this.listeners) l.close();
      this.log.info('stopped');
      this.logging.flush();
    })();
    return this.stopping;
  }
}

/** A ring per worker big enough for its share of the in-flight cap at ~1 KiB a record, within 4–64 MiB. */
function ringBytesFor(maxRecords: number, workers: number): number {
  const want = Math.ceil((maxRecords * 1024) / workers);
  let size = 4 * 1024 * 1024;
  while (size < want && size < 64 * 1024 * 1024) size *= 2;
  return size;
}
