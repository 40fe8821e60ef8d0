/**
 * Ferry's metrics, all read at scrape time.
 *
 * The XDR Proxy's names, so existing dashboards keep working (both spellings the XDR Proxy has used):
 *   aerospike_xdr_proxy_connections{status=active|closed}         (also …_inbound_connections)
 *   aerospike_xdr_proxy_requests{status=success|retry|error|parse-error}   (also …_inbound_requests)
 * Ferry's own, prefixed ferry_; README.md lists each one.
 */

import { Registry, collectDefaultMetrics } from 'prom-client';
import { type DeadLetterTally, MAX_NAMESPACES, OUTCOME_SLOTS, Outcome, SKIP_REASON_NAMES, WorkerCounter } from '../threads/index.js';
import type { SourceStats } from '../source/source-stats.js';
import { type Sample, ScrapeMetric, histogramSamples } from './scrape-metric.js';

export interface WorkerView {
  counters: Float64Array;
  restarts: number;
  wakeups: number;
  ringUsedBytes: number;
  ringBytes: number;
  /** problems and errors the worker reported, by code */
  problems: ReadonlyMap<string, number>;
  /** problems active now */
  activeProblems: number;
  /** dead letters written, by source namespace and result code */
  deadLetters: DeadLetterTally;
}

/** What the metrics read from the running daemon. */
export interface MetricsSource {
  readonly stats: SourceStats;
  activeConnections(): number;
  inFlight(): number;
  maxInFlight(): number;
  paused(): boolean;
  workers(): WorkerView[];
  /** ms main waits between two looks at the workers' results (src/dispatch/poll-pace.ts) */
  completionLookMs(): number;
  /** workers new partitions' records go to, and partitions moved so far (src/dispatch/worker-spread.ts) */
  workersAtWork(): { active: number; moves: number };
  /** the source arena's slabs by state (src/dispatch/slab-pool.ts) */
  arenaSlabs(): { free: number; lent: number; retired: number };
  /** the destination's namespaces by partition-map index */
  namespaces(): readonly string[];
}

const OUTCOME_NAMES: Record<number, string> = {
  [Outcome.ConnectionLost]: 'connection-lost',
  [Outcome.Timeout]: 'timeout',
  [Outcome.NoConnection]: 'no-connection',
  [Outcome.StorageError]: 'storage-error',
  [Outcome.Expired]: 'expired-in-ring',
  [Outcome.TransformFailed]: 'transform-failed',
};

export function createMetrics(src: MetricsSource): Registry {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'ferry_' });
  const s = src.stats;

  const connections = (): Sample[] => [
    { labels: { status: 'active' }, value: src.activeConnections() },
    { labels: { status: 'closed' }, value: s.connectionsClosed },
  ];
  const requests = (): Sample[] => {
    const t = s.replyTotals();
    return [
      { labels: { status: 'success' }, value: t.success },
      { labels: { status: 'retry' }, value: t.retry },
      { labels: { status: 'error' }, value: t.error },
      { labels: { status: 'parse-error' }, value: s.protocolErrors },
    ];
  };
  const all: ScrapeMetric[] = [
    new ScrapeMetric('aerospike_xdr_proxy_connections', 'XDR connections from the source, active now and closed so far.', 'gauge', connections),
    new ScrapeMetric('aerospike_xdr_proxy_inbound_connections', 'Same as aerospike_xdr_proxy_connections (the XDR Proxy’s other name).', 'gauge', connections),
    new ScrapeMetric('aerospike_xdr_proxy_requests', 'Requests answered, by what the source does with the reply; parse-error counts malformed input.', 'gauge', requests),
    new ScrapeMetric('aerospike_xdr_proxy_inbound_requests', 'Same as aerospike_xdr_proxy_requests (the XDR Proxy’s other name).', 'gauge', requests),
    new ScrapeMetric('ferry_records_total', 'Records received from the source, by how they were handled.', 'counter', () => [
      { labels: { outcome: 'received' }, value: s.records },
      { labels: { outcome: 'compressed' }, value: s.compressed },
      { labels: { outcome: 'no-bins' }, value: s.noBins },
      { labels: { outcome: 'deadline-retry' }, value: s.deadlineRetries },
      { labels: { outcome: 'worker-lost-retry' }, value: s.workerLostRetries },
      { labels: { outcome: 'paused-retry' }, value: s.pausedRetries },
      { labels: { outcome: 'destination-down-retry' }, value: s.destinationDownRetries },
    ]),
    new ScrapeMetric('ferry_records_stale_total', 'Records not applied under last-write-wins because the destination holds a newer version (answered done), by destination namespace.', 'counter', () => {
      const names = src.namespaces();
      const out: Sample[] = [];
      for (let i = 0; i <= MAX_NAMESPACES; i++) {
        let n = 0;
        for (const w of src.workers()) n += w.counters[WorkerCounter.Stale + i]!;
        if (n > 0) out.push({ labels: { namespace: i === 0 ? '(unknown)' : (names[i - 1] ?? `#${i - 1}`) }, value: n });
      }
      return out;
    }),
    new ScrapeMetric('ferry_records_unversioned_total', 'Records without a LUT field, written unguarded under last-write-wins.', 'counter', () => [
      { labels: {}, value: src.workers().reduce((n, w) => n + w.counters[WorkerCounter.Unversioned]!, 0) },
    ]),
    new ScrapeMetric('ferry_dead_letters_total', 'Records the destination rejected for good, written to a dead-letter file before the source got the code, by source namespace and result code.', 'counter', () => {
      const sums = new Map<string, { namespace: string; code: string; value: number }>();
      for (const w of src.workers()) {
        for (const [namespace, codes] of Object.entries(w.deadLetters)) {
          for (const [code, n] of Object.entries(codes)) {
            const key = `${namespace}\u0000${code}`;
            const s = sums.get(key) ?? { namespace, code, value: 0 };
            s.value += n;
            sums.set(key, s);
          }
        }
      }
      return [...sums.values()].map(({ namespace, code, value }) => ({ labels: { namespace, code }, value }));
    }),
    new ScrapeMetric('ferry_dead_letters_dropped_total', 'Records rejected for good whose dead letter could not be written (store full, disk full, folder not writable); answered with their code all the same.', 'counter', () => [
      { labels: {}, value: src.workers().reduce((n, w) => n + w.counters[WorkerCounter.DeadLettersDropped]!, 0) },
    ]),
    new ScrapeMetric('ferry_records_skipped_total', 'Records answered done without a destination write, by reason (routing mode skip, skip-sets, no bin left, the transform module).', 'counter', () =>
      SKIP_REASON_NAMES.map((reason, i) => ({ labels: { reason }, value: src.workers().reduce((n, w) => n + w.counters[WorkerCounter.Skipped + i]!, 0) })),
    ),
    new ScrapeMetric('ferry_transform_fanout_writes_total', 'Destination writes a transform module added by returning several records for one.', 'counter', () => [
      { labels: {}, value: src.workers().reduce((n, w) => n + w.counters[WorkerCounter.FannedOut]!, 0) },
    ]),
    new ScrapeMetric('ferry_replies_total', 'Replies written to the source, by result code.', 'counter', () => {
      const out: Sample[] = [];
      for (let code = 0; code < 256; code++) if (s.replies[code]! > 0) out.push({ labels: { code }, value: s.replies[code]! });
      return out;
    }),
    new ScrapeMetric('ferry_destination_results_total', 'Destination results, by result code or by Ferry’s own outcome when there was no answer.', 'counter', () => {
      const sums = new Float64Array(OUTCOME_SLOTS);
      for (const w of src.workers()) for (let i = 0; i < OUTCOME_SLOTS; i++) sums[i]! += w.counters[i]!;
      const out: Sample[] = [];
      for (let i = 0; i < OUTCOME_SLOTS; i++) if (sums[i]! > 0) out.push({ labels: { result: OUTCOME_NAMES[i] ?? String(i) }, value: sums[i]! });
      return out;
    }),
    new ScrapeMetric('ferry_replication_lag_seconds', 'Now minus the record’s last-update time, when Ferry received it.', 'histogram', () => histogramSamples('ferry_replication_lag_seconds', s.lag)),
    new ScrapeMetric('ferry_ack_latency_seconds', 'From a request’s arrival to its reply being written.', 'histogram', () => histogramSamples('ferry_ack_latency_seconds', s.ackLatency)),
    new ScrapeMetric('ferry_records_in_flight', 'Records accepted and not yet answered.', 'gauge', () => [{ labels: {}, value: src.inFlight() }]),
    new ScrapeMetric('ferry_records_in_flight_max', 'The in-flight cap (service.max-concurrent-records).', 'gauge', () => [{ labels: {}, value: src.maxInFlight() }]),
    new ScrapeMetric('ferry_paused', '1 while paused (every record answered with the retry code).', 'gauge', () => [{ labels: {}, value: src.paused() ? 1 : 0 }]),
    new ScrapeMetric('ferry_source_connections_total', 'Source connections opened, and those that were health checks (closed without sending).', 'counter', () => [
      { labels: { kind: 'opened' }, value: s.connectionsOpened },
      { labels: { kind: 'health-check' }, value: s.healthChecks },
    ]),
    new ScrapeMetric('ferry_source_logins_total', 'LOGIN and AUTHENTICATE from the source (service.security): ok, failed (unknown user, wrong password, invalid token), expired (session token past its TTL).', 'counter', () => [
      { labels: { result: 'ok' }, value: s.loginsOk },
      { labels: { result: 'failed' }, value: s.loginsFailed },
      { labels: { result: 'expired' }, value: s.loginsExpired },
    ]),
    new ScrapeMetric('ferry_source_slow_readers_total', 'Source connections closed because they stopped reading their replies.', 'counter', () => [{ labels: {}, value: s.slowReaders }]),
    new ScrapeMetric('ferry_source_read_pauses_total', 'Times a source connection stopped being read (a cap, a full ring, a slow reader).', 'counter', () => [{ labels: {}, value: s.readPauses }]),
    new ScrapeMetric('ferry_worker_records_total', 'Records each worker took from its ring.', 'counter', () =>
      src.workers().map((w, i) => ({ labels: { worker: i }, value: w.counters[WorkerCounter.Records]! })),
    ),
    new ScrapeMetric('ferry_worker_busy_ratio', 'Share of its last 100 ms each worker spent busy with records (service.worker-busy judges by it).', 'gauge', () =>
      src.workers().map((w, i) => ({ labels: { worker: i }, value: w.counters[WorkerCounter.Busy]! })),
    ),
    new ScrapeMetric('ferry_worker_restarts_total', 'Worker threads replaced after dying.', 'counter', () => src.workers().map((w, i) => ({ labels: { worker: i }, value: w.restarts }))),
    new ScrapeMetric('ferry_worker_problems_total', 'Problems and errors workers reported (destination unreachable, file cannot open, …), by code.', 'counter', () =>
      src.workers().flatMap((w, i) => [...w.problems].map(([code, value]) => ({ labels: { worker: i, code }, value }))),
    ),
    new ScrapeMetric('ferry_worker_problems_active', 'Problems a worker reports now and has not reported cleared.', 'gauge', () => src.workers().map((w, i) => ({ labels: { worker: i }, value: w.activeProblems }))),
    new ScrapeMetric('ferry_worker_wakeups_total', 'Times the main thread woke each sleeping worker for records (service.dispatch-delay spaces them).', 'counter', () =>
      src.workers().map((w, i) => ({ labels: { worker: i }, value: w.wakeups })),
    ),
    new ScrapeMetric('ferry_completion_look_seconds', 'How long the main thread waits between two looks at the workers’ results while records are out: 0.001, or 0.004 while they form a deep queue.', 'gauge', () => [
      { labels: {}, value: src.completionLookMs() / 1000 },
    ]),
    new ScrapeMetric('ferry_workers_active', 'Workers at work: those the records of new partitions go to (service.worker-busy); the others idle.', 'gauge', () => [
      { labels: {}, value: src.workersAtWork().active },
    ]),
    new ScrapeMetric('ferry_partition_moves_total', 'Partitions that moved to another worker as the workers at work changed (each once nothing of it was in flight).', 'counter', () => [
      { labels: {}, value: src.workersAtWork().moves },
    ]),
    new ScrapeMetric('ferry_ring_used_bytes', 'Bytes waiting in each worker’s inbound ring.', 'gauge', () => src.workers().map((w, i) => ({ labels: { worker: i }, value: w.ringUsedBytes }))),
    new ScrapeMetric('ferry_source_arena_slabs', 'Slabs of the source arena: free, lent to a connection reading into it (or to the inflater of compressed records), or retired and waiting for the workers to pass their records.', 'gauge', () => {
      const a = src.arenaSlabs();
      return [
        { labels: { state: 'free' }, value: a.free },
        { labels: { state: 'lent' }, value: a.lent },
        { labels: { state: 'retired' }, value: a.retired },
      ];
    }),
    new ScrapeMetric('ferry_ring_capacity_bytes', 'Size of each worker’s inbound ring.', 'gauge', () => src.workers().map((w, i) => ({ labels: { worker: i }, value: w.ringBytes }))),
    new ScrapeMetric('ferry_destination_connections', 'Destination connections up now, per worker (the file destination counts its open file).', 'gauge', () =>
      src.workers().map((w, i) => ({ labels: { worker: i }, value: w.counters[WorkerCounter.ConnectionsUp]! })),
    ),
    new ScrapeMetric('ferry_destination_connects_total', 'Destination connections opened and lost, per worker.', 'counter', () =>
      src.workers().flatMap((w, i) => [
        { labels: { worker: i, event: 'opened' }, value: w.counters[WorkerCounter.ConnectsOpened]! },
        { labels: { worker: i, event: 'lost' }, value: w.counters[WorkerCounter.ConnectsLost]! },
      ]),
    ),
    new ScrapeMetric('ferry_destination_resent_total', 'Writes sent again, to the partition’s master, after their destination connection was lost.', 'counter', () =>
      src.workers().map((w, i) => ({ labels: { worker: i }, value: w.counters[WorkerCounter.Resent]! })),
    ),
    new ScrapeMetric('ferry_destination_bytes_total', 'Bytes each worker handed to the destination.', 'counter', () =>
      src.workers().map((w, i) => ({ labels: { worker: i }, value: w.counters[WorkerCounter.BytesOut]! })),
    ),
  ];
  for (const m of all) registry.registerMetric(m as unknown as Parameters<Registry['registerMetric']>[0]);
  return registry;
}
