/**
 * Composition root: configuration → destination checks → worker pool → service port → management.
 *
 *   config ─▶ Ferry.start(): Tender (cluster, login, partition map) ─▶ WorkerPool (piscina, rings)
 *            ─▶ SourceListener(s)  └▶ ManagementServer (metrics, health, control)
 *   completions: WorkerPool pump ─▶ SessionRegistry (source/) ─▶ the owning session
 *   worker diagnostics: WorkerPool.checkHealth() on the watch ─▶ log, count, readiness
 */

import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import { type AerospikeDestination, type FerryConfig, changedKeys, classifyChanges, managementToken } from './config/index.js';
import { destinationTender, writePolicyOf } from './destination-setup.js';
import { POLL_MS, WorkerPool } from './dispatch/index.js';
import { Tender } from './destination/index.js';
import {
  type DestinationSettings,
  PartitionMapReader,
  IDENTITY_RULE,
  type PolicySettings,
  SLAB_BYTES,
  WorkerCounter,
  type WorkerFaults,
  completionRingCapacity,
} from './threads/index.js';
import { ManagementServer, type ManagementTarget } from './management/http-server.js';
import { Logging } from './management/logger.js';
import { hostPort } from './host-port.js';
import { type MetricsSource, type WorkerView, createMetrics } from './management/metrics.js';
import { Ticker } from './management/ticker.js';
import { decodeRecordMessage, lutToUnixMs } from './protocol/index.js';
import { InFlightBudget } from './source/in-flight-budget.js';
import { SourceListener } from './source/listener.js';
import { SessionRegistry } from './source/session-registry.js';
import { loadSourceSecurity } from './source/source-security.js';
import { SourceStats } from './source/source-stats.js';
import type { SessionLimits } from './source/types.js';
import { StartAbortedError, waitForStartup } from './startup.js';
import { checkTransform } from './transform/index.js';

export interface FerryOptions {
  /** override the worker entry (tests that run from source point this at the built file) */
  workerFile?: URL;
  faults?: WorkerFaults;
  logging?: Logging;
  /** override each worker's completion ring capacity (tests that fill it) */
  completionRingBytes?: number;
}

/** What a reload changed: applied live, or waiting for a restart. */
export interface ReloadReport {
  applied: string[];
  needsRestart: string[];
}

export class Ferry implements MetricsSource, ManagementTarget {
  readonly logging: Logging;
  private readonly log: Logger;
  private pool: WorkerPool | null = null;
  private listeners: SourceListener[] = [];
  private management: ManagementServer | null = null;
  private ticker: Ticker | null = null;
  private tender: Tender | null = null;
  private watch: NodeJS.Timeout | null = null;
  /** destination answers counted at the last watch, and when that count last moved */
  private answered = 0;
  private answeredAt = performance.now();
  readonly stats = new SourceStats();
  private readonly sessions: SessionRegistry;
  readonly registry: Registry;
  readonly control = { pause: (): void => this.pause(), resume: (): void => this.resume(), paused: (): boolean => this.paused() };
  private readonly budget: InFlightBudget;
  private readonly limits: SessionLimits;
  private stopping: Promise<void> | null = null;
  private policy: PolicySettings = { stripLut: false, stripDurableDelete: false, routing: { fallback: IDENTITY_RULE, namespaces: [], skipSets: [] }, transform: null, lastWriteWins: null };
  /** loads of the transform module so far: each reload imports it afresh */
  private transformVersion = 0;
  /** the destination's namespaces by map index, for metrics labels */
  private map: PartitionMapReader | null = null;
  edition = '';
  managementAddress: { address: string; port: number } | null = null;

  /** The configuration as the last reload left it: what live keys read. */
  config: FerryConfig;
  /** The configuration this process started with: what restart keys read until the next start. */
  private readonly startedWith: FerryConfig;
  /** service.manage's bearer token, read at construction (a bad file is a ConfigError, exit 2) */
  private readonly managementToken: string | undefined;

  constructor(
    config: FerryConfig,
    private readonly options: FerryOptions = {},
  ) {
    this.config = config;
    this.startedWith = config;
    this.logging = options.logging ?? new Logging(config.logging);
    this.log = this.logging.get('server');
    this.sessions = new SessionRegistry(this.stats, this.log);
    this.budget = new InFlightBudget(config.service.maxConcurrentRecords);
    this.limits = {
      maxFrame: config.service.maxFrameSize,
      maxInFlightPerConnection: config.service.maxInFlightPerConnection,
      paused: false,
      destinationDown: false,
      slowReaderMs: config.service.slowReaderMs,
      recordLog: null,
      info: (name) => this.answerInfo(name),
      ...loadSourceSecurity(config.service), // service.security and service.tls, files read now
    };
    this.managementToken = managementToken(config.raw);
    this.registry = createMetrics(this);
    this.refreshRecordLog();
  }

  /**
   * Start everything, or nothing: a failed step (a port in use, a destination that does not answer
   * within service.startup-timeout) or `aborted()` turning true (a stop signal) closes whatever was
   * already opened before the error is rethrown.
   */
  async start(aborted: () => boolean = () => false): Promise<Array<{ address: string; port: number }>> {
    try {
      return await this.open(aborted);
    } catch (err) {
      await this.release(0);
      throw err;
    }
  }

  private async open(aborted: () => boolean): Promise<Array<{ address: string; port: number }>> {
    const d = this.startedWith.destination;
    const s = this.startedWith.service;
    const deadline = { at: performance.now() + s.startupTimeoutMs, timeoutMs: s.startupTimeoutMs };
    const check = (): void => {
      if (aborted()) throw new StartAbortedError('stopped while starting');
    };
    let destination: DestinationSettings;
    let connectWaitMs = 2000;
    if (d.kind === 'aerospike') {
      const link = destinationTender(d, this.logging.get('tender'));
      const { mapSab, sessionSab, tlsText } = link;
      this.map = new PartitionMapReader(mapSab);
      this.tender = link.tender;
      // A wrong user or password throws here: a start-up error, not a retry loop.
      await this.tender.start();
      const tender = this.tender;
      await waitForStartup(() => tender.nodeCount > 0, deadline, aborted, () => `no destination node answered (aerospike.seeds: ${d.seeds.map((x) => `${x.host}:${x.port}`).join(', ')})`);
      this.edition = this.tender.edition;
      destination = {
        kind: 'aerospike',
        connectionsPerNode: d.connectionsPerNode,
        minConnectionsPerNode: d.minConnectionsPerNode,
        idleTimeoutMs: d.idleTimeoutMs,
        pipelineDepth: d.pipelineDepth,
        timeoutMs: d.writeTimeoutMs,
        connectTimeoutMs: d.connectTimeoutMs,
        retryWindowMs: s.ackDeadlineMs,
        tls: tlsText,
        map: mapSab,
        session: sessionSab,
        deadLetters: d.deadLetters,
      };
      if (d.deadLetters !== null) this.log.info({ path: d.deadLetters.path, maxBytes: d.deadLetters.maxBytes, maxFiles: d.deadLetters.maxFiles }, 'records the destination rejects for good are kept as dead letters');
      // A module that does not load is a configuration error (exit 2), found before any worker starts.
      if (d.transform !== null) await checkTransform(d.transform, this.transformVersion);
      this.policy = this.policyFor(d);
      connectWaitMs = d.connectTimeoutMs * 2;
    } else {
      destination = { kind: 'file', path: d.path, format: d.format, sync: d.sync };
      this.log.info({ file: d.path, format: d.format, sync: d.sync }, 'writing changes to a file');
    }

    const ringBytes = ringBytesFor(s.maxConcurrentRecords, s.workerThreads);
    this.pool = new WorkerPool(
      {
        threads: s.workerThreads,
        ringBytes,
        completionBytes: this.options.completionRingBytes ?? completionRingCapacity(s.maxConcurrentRecords, ringBytes),
        arenaSlabs: arenaSlabsFor(ringBytes, s.workerThreads),
        largestBody: s.maxFrameSize,
        dispatchDelayMs: s.dispatchDelayMs,
        promptBelowPerS: s.promptBelowPerS,
        workerBusy: s.workerBusy,
        workerFile: this.options.workerFile ?? new URL('./workers/worker-entry.js', import.meta.url),
        task: { destination, faults: this.options.faults ?? {} },
        policy: this.policy,
        cpus: [...s.cpus],
      },
      this.sessions,
      this.logging.get('dispatch'),
    );
    this.pool.setAckDeadline(s.ackDeadlineMs);
    this.pool.start();
    if (!(await this.pool.waitForDestination(connectWaitMs))) {
      this.log.warn('workers have no destination yet; records get the retry code until they do');
    }
    check();

    const manage = this.startedWith.raw.service.manage;
    if (manage.enabled) {
      this.management = new ManagementServer(this, this.managementToken, this.logging.get('management'));
      this.managementAddress = await this.management.listen(manage.port, manage.address);
    }

    const bound: Array<{ address: string; port: number }> = [];
    for (const address of s.addresses) {
      for (const port of s.ports) {
        const listener = new SourceListener({ port, address, protocol: s.protocol, ackDeadlineMs: s.ackDeadlineMs, limits: this.limits }, this.pool, this.budget, this.sessions, this.stats, this.log);
        // Kept before it listens, so a failure to listen still closes it.
        this.listeners.push(listener);
        bound.push(await listener.listen());
      }
    }
    check();
    this.watch = setInterval(() => this.watchDestination(), WATCH_MS);
    this.watch.unref();
    this.ticker = new Ticker(this, this.logging.get('ticker'));
    this.ticker.start(this.config.logging['ticker-interval']);
    this.log.info(
      {
        listening: bound.map((b) => hostPort(b.address, b.port)),
        management: this.managementAddress === null ? null : hostPort(this.managementAddress.address, this.managementAddress.port),
        workers: s.workerThreads,
      },
      'ferry started',
    );
    return bound;
  }

  /**
   * The write policy for an Aerospike destination. Under durable-delete `auto`, the bit is cleared
   * unless the cluster said it is Enterprise Edition (Community Edition answers 25 to it); a cluster
   * not reached yet is treated as Community Edition, which is the safe side.
   */
  private policyFor(d: AerospikeDestination): PolicySettings {
    const policy = writePolicyOf(d, this.edition, this.transformVersion);
    if (d.durableDelete === 'auto') this.log.info({ edition: this.edition || 'unknown', stripDurableDelete: policy.stripDurableDelete }, 'durable-delete policy');
    return policy;
  }

  /**
   * Every WATCH_MS: is any destination connection up at all (if not, sessions answer 11 at once),
   * and is the destination still answering (for readiness)?
   */
  private watchDestination(): void {
    const pool = this.pool;
    if (pool === null) return;
    pool.checkHealth();
    let up = 0;
    let answered = 0;
    for (let w = 0; w < pool.threads; w++) {
      const c = pool.counters(w);
      up += c[WorkerCounter.ConnectionsUp]!;
      for (let code = 0; code < 256; code++) answered += c[code]!;
    }
    this.limits.destinationDown = up === 0;
    if (answered !== this.answered || this.budget.inFlight === 0) {
      this.answered = answered;
      this.answeredAt = performance.now();
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

  get inFlightCount(): number {
    return this.budget.inFlight;
  }

  get workerPool(): WorkerPool | null {
    return this.pool;
  }

  // ---- MetricsSource and ManagementTarget ---------------------------------------------------

  activeConnections(): number {
    return this.sessions.size;
  }

  inFlight(): number {
    return this.budget.inFlight;
  }

  maxInFlight(): number {
    return this.budget.cap;
  }

  paused(): boolean {
    return this.limits.paused;
  }

  pause(): void {
    this.limits.paused = true;
  }

  resume(): void {
    this.limits.paused = false;
  }

  namespaces(): readonly string[] {
    const map = this.map;
    if (map === null) return [];
    map.refresh();
    return map.desc.namespaces;
  }

  completionLookMs(): number {
    return this.pool?.lookMs ?? POLL_MS;
  }

  workersAtWork(): { active: number; moves: number } {
    return { active: this.pool?.activeWorkers ?? 0, moves: this.pool?.partitionMoves ?? 0 };
  }

  arenaSlabs(): { free: number; lent: number; retired: number } {
    return this.pool?.arenaSlabs() ?? { free: 0, lent: 0, retired: 0 };
  }

  workers(): WorkerView[] {
    const pool = this.pool;
    if (pool === null) return [];
    const out: WorkerView[] = [];
    for (let w = 0; w < pool.threads; w++) {
      out.push({
        counters: pool.counters(w),
        restarts: pool.restarts(w),
        wakeups: pool.wakeups(w),
        ringUsedBytes: pool.backlog(w),
        ringBytes: pool.ringBytes,
        problems: pool.health.counts[w]!,
        activeProblems: pool.health.activeCount(w),
        deadLetters: pool.deadLetters(w),
      });
    }
    return out;
  }

  ready(): { ready: boolean; reasons: string[]; warnings: string[] } {
    const reasons: string[] = [];
    if (this.listeners.length === 0) reasons.push('not listening yet');
    if (this.stopping !== null) reasons.push('draining');
    // Paused, every record is answered with the retry code: a load balancer should send them elsewhere.
    if (this.paused()) reasons.push('paused');
    const pool = this.pool;
    if (pool === null) reasons.push('no workers yet');
    else {
      reasons.push(...pool.health.blocking());
      for (let w = 0; w < pool.threads; w++) {
        if (pool.counters(w)[WorkerCounter.ConnectionsUp]! === 0) reasons.push(`worker ${w} has no destination connection`);
      }
      // Connections up but nothing answered while records wait: a stalled destination.
      const d = this.startedWith.destination;
      const stallMs = d.kind === 'aerospike' ? d.writeTimeoutMs : 2000;
      const silent = performance.now() - this.answeredAt;
      if (this.budget.inFlight > 0 && silent > stallMs) reasons.push(`the destination has not answered for ${Math.round(silent)} ms`);
    }
    return { ready: reasons.length === 0, reasons, warnings: this.pool?.health.warnings() ?? [] };
  }

  private heartbeats: number[] = [];

  /**
   * For the systemd watchdog: true while the main loop runs (it is asking) and every worker's event
   * loop has beaten since the last call.
   */
  healthy(): boolean {
    const pool = this.pool;
    if (pool === null) return true;
    let ok = true;
    for (let w = 0; w < pool.threads; w++) {
      const beat = pool.counters(w)[WorkerCounter.Heartbeat]!;
      if (beat === this.heartbeats[w]) ok = false;
      this.heartbeats[w] = beat;
    }
    return ok;
  }

  levels(): Record<string, string> {
    return this.logging.levels();
  }

  setLevels(levels: Record<string, unknown>): string[] {
    const problems = this.logging.setLevels(levels);
    this.refreshRecordLog();
    return problems;
  }

  /** The `record-parser` debug line for each record, as operators debug the XDR Proxy today. */
  private refreshRecordLog(): void {
    const log = this.logging.get('record-parser');
    if (!log.isLevelEnabled('debug')) {
      this.limits.recordLog = null;
      return;
    }
    this.limits.recordLog = (buf, start, end) => {
      const m = decodeRecordMessage(buf, start, end);
      const k = m.userKey;
      log.debug(
        {
          namespace: m.namespace,
          set: m.set,
          digest: m.digest?.toString('hex'),
          digestBase64: m.digest?.toString('base64'),
          userKey: k === undefined ? null : k.particleType === 1 ? k.bytes.readBigInt64BE(0).toString() : k.particleType === 3 ? k.bytes.toString('utf8') : k.bytes.toString('base64'),
          lut: m.lut === undefined ? null : lutToUnixMs(m.lut),
          generation: m.generation,
          ttl: m.recordTtl,
          ops: m.ops.length,
          info1: m.info1,
          info2: m.info2,
          info3: m.info3,
        },
        'parsed record',
      );
    };
  }

  // ---- reload and stop ----------------------------------------------------------------------

  /**
   * Apply what can change live from `next`; never half-applies (the caller validated `next`). Every
   * changed key is classified by RELOAD_KEYS (src/config/reload-keys.ts): a live one is applied
   * here, any other is reported under needsRestart.
   */
  async reload(next: FerryConfig): Promise<ReloadReport> {
    const nd = next.destination;
    // A reload always imports the transform module again (its file may have changed, not the
    // configuration), first here: one that no longer loads refuses the whole reload, before
    // anything is applied.
    const reloadTransform = nd.kind === 'aerospike' && nd.transform !== null;
    if (reloadTransform) await checkTransform(nd.transform, this.transformVersion + 1);
    // Live keys are compared with what the last reload applied; restart keys with what this
    // process started with, so one stays reported until a restart takes it (and stops being
    // reported once the file says again what is running).
    const { live } = classifyChanges(changedKeys(this.config.raw, next.raw));
    const { restart } = classifyChanges(changedKeys(this.startedWith.raw, next.raw));
    const changed = (...keys: string[]): boolean => keys.some((k) => live.includes(k));
    if (changed('logging.levels')) {
      this.logging.replaceLevels(next.logging.levels);
      this.refreshRecordLog();
    }
    if (changed('logging.ticker-interval')) this.ticker?.start(next.logging['ticker-interval']);
    if (changed('service.max-concurrent-records')) {
      this.budget.cap = next.service.maxConcurrentRecords;
      this.budget.wake();
    }
    if (changed('service.ack-deadline')) {
      for (const l of this.listeners) l.ackDeadlineMs = next.service.ackDeadlineMs;
      this.pool?.setAckDeadline(next.service.ackDeadlineMs);
    }
    if (changed('service.worker-busy')) this.pool?.setWorkerBusy(next.service.workerBusy);
    // Sessions read it at each slow-reader check.
    if (changed('service.slow-reader-timeout')) this.limits.slowReaderMs = next.service.slowReaderMs;
    if (nd.kind === 'aerospike' && (reloadTransform || changed(...POLICY_KEYS))) {
      if (reloadTransform) this.transformVersion++;
      this.policy = this.policyFor(nd);
      this.pool?.updatePolicy(this.policy);
    }
    // What is live takes the new values; what needs a restart keeps running as it started
    // (read from startedWith).
    this.config = next;
    return { applied: live, needsRestart: restart };
  }

  /**
   * Drain: stop reading, answer everything in flight, stop workers. Every record is answered by
   * the ack deadline (with 11 if need be), and the workers get what is left of it plus
   * DRAIN_MARGIN_MS: a destination that takes nothing cannot hold the exit back.
   */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      this.log.info({ inFlight: this.budget.inFlight }, 'draining');
      const until = performance.now() + this.config.service.ackDeadlineMs + DRAIN_MARGIN_MS;
      this.ticker?.stop();
      if (this.watch !== null) clearInterval(this.watch);
      await Promise.all(this.listeners.map((l) => l.drain()));
      await this.release(Math.max(0, until - performance.now()));
      this.log.info('stopped');
      this.logging.flush();
    })();
    return this.stopping;
  }

  /** Close whatever is open: workers (given `graceMs` to finish), ports, tending. */
  private async release(graceMs: number): Promise<void> {
    this.ticker?.stop();
    if (this.watch !== null) clearInterval(this.watch);
    await this.pool?.stop(graceMs);
    for (const l of this.listeners) l.close();
    await this.management?.close();
    this.tender?.stop();
  }
}

/** Beyond the ack deadline, what the drain gives workers and sockets to wind down. */
const DRAIN_MARGIN_MS = 1000;

/** Keys whose change makes a new write policy for the workers. */
const POLICY_KEYS = [
  'aerospike.namespace-mapping',
  'aerospike.lut',
  'aerospike.durable-delete',
  'aerospike.last-write-wins',
  'aerospike.routing',
  'aerospike.bin-transforms',
  'aerospike.namespaces',
  'aerospike.skip-sets',
  'aerospike.transform',
];

const WATCH_MS = 100;

/**
 * A ring per worker big enough for its share of the in-flight cap at ~1.2 KiB a record (a 1 KiB
 * record plus its fields and ring header), within 4–64 MiB: the cap, not the ring, should bind.
 */
function ringBytesFor(maxRecords: number, workers: number): number {
  const want = Math.ceil((maxRecords * 1200) / workers);
  let size = 4 * 1024 * 1024;
  while (size < want && size < 64 * 1024 * 1024) size *= 2;
  return size;
}

/**
 * The source arena half as big as the rings together, within 16–64 slabs. It holds the backlog the
 * rings would have held as copies (a slab is freed only once the workers are past its last record,
 * so it holds a little more), plus one slab per connection reading. When every slab is held by
 * records the workers have not passed, intake waits (as at a full ring), which bounds memory; a
 * connection that finds no slab free only because others are reading reads into its own buffer
 * and has its records copied instead. Pages nobody reads into are never touched.
 */
function arenaSlabsFor(ringBytes: number, workers: number): number {
  return Math.min(64, Math.max(16, Math.ceil((ringBytes * workers) / 2 / SLAB_BYTES)));
}
