/** What bench/e2e.ts and bench/overload.ts write with --json, and bench/run-all.ts reads. */

export interface E2eSettings {
  changes: number;
  officialChanges: number;
  halfSeconds: number;
  warmup: number;
  object: string;
  keys: number;
  namespace: string;
  set: string;
  connections: number;
  pipeline: number;
  workers: number;
  officialModes: string[];
  officialPutConcurrency: number;
  officialBatchSize: number;
  officialBatchConcurrency: number;
  /** latency percentiles leave out each load's first seconds */
  steadyAfterS: number;
  /** direct and through-Ferry saturated runs, alternating */
  rounds: number;
}

export interface Scenario {
  name: string;
  /** the load command, ports shown as <double> / <ferry> */
  command: string;
  /** records written (xdr-load: shipments; a key changed while in flight ships once, at its latest) */
  records: number;
  changes: number;
  recordsPerSecond: number;
  elapsedMs: number;
  retries: number;
  resets: number;
  /** ack latency as the source saw it after its first seconds (see xdr-load-steady.mjs): upper edges of log2-µs buckets */
  latencyMs: { p50: number; p99: number; p999: number };
  /** the same over the whole run, the generator's cold start included */
  wholeRunLatencyMs: { p50: number; p99: number; p999: number };
  /** Ferry's own ack-latency histogram over the run (arrival to reply written) */
  ferryAck: { withinTenMsPct: number; p99UpperMs: number } | null;
  ferry: { cpuSeconds: number; cpuMicrosPerRecord: number; peakRssMiB: number } | null;
  /** the load generator's (xdr-load or official-writer) own CPU seconds */
  loadCpuSeconds: number;
  /** the double's CPU seconds over the run; null for a real server */
  destinationCpuSeconds: number | null;
  /** -g for the half-rate run */
  throttle?: number;
  /** records/s of every round, when this is the median of several */
  rounds?: number[];
  official?: { mode: string; concurrency: number; batchSize?: number; maxConnsPerNode: number; keyPolicy: string };
}

export interface DestinationResult {
  kind: 'double' | 'aerospike';
  destination: string;
  direct: Scenario;
  through: Scenario;
  half: Scenario;
  /** direct, at the half-rate run's throttle: the latency floor of the generator and destination */
  directHalf: Scenario;
  official: Scenario[];
  officialBest: string | null;
  ratios: { throughOverDirect: number; throughOverOfficial: number | null };
  /** the configuration Ferry ran with (the destination's port as started) */
  ferryConfig: string;
}

export interface E2eResult {
  startedAt: string;
  settings: E2eSettings;
  destinations: DestinationResult[];
}

export interface OverloadSettings {
  object: string;
  connections: number;
  pipeline: number;
  keys: number;
  maxConcurrentRecords: number;
  stallSeconds: number;
  workers: number;
}

export interface OverloadResult {
  startedAt: string;
  settings: OverloadSettings;
  command: string;
  /** Ferry's RSS before any load, the highest sample while stalled, and VmHWM at the end */
  rssMiB: { idle: number; peakStalled: number; hwm: number };
  /** ferry_records_in_flight: highest sample, the cap, and when the highest was first seen (s after the stall) */
  inFlight: { max: number; cap: number; maxAfterS: number };
  /** ferry_ring_used_bytes, all workers: the records read and not yet taken by a worker (MiB), highest sample */
  ringUsedMaxMiB: number;
  /** ferry_source_read_pauses_total over the stalled window */
  readPauses: number;
  /** records Ferry answered 11 because the ack deadline passed while stalled (the source re-ships) */
  deadlineRetries: number;
  samples: number;
  /** after the stall is released */
  drain: { seconds: number; inFlightAfter: number; ringBytesAfter: number; records: number; abandons: number; retries: number; resets: number };
  /** one point a second: [seconds since the stall, RSS MiB, records in flight, ring MiB] */
  trace: Array<[number, number, number, number]>;
}

export interface ThreadProfile {
  thread: string;
  /** the measured window as this thread's profile covers it */
  windowS: number;
  /** share of the window not idle (waiting in epoll) */
  busyPct: number;
  busyMicrosPerRecord: number;
  top: Array<{ fn: string; ms: number; pctOfBusy: number }>;
}

export interface ProfileCase {
  name: string;
  load: string;
  records: number;
  recordsPerSecond: number;
  /** from /proc, with the profiler on */
  ferryCpuMicrosPerRecord: number;
  threads: ThreadProfile[];
}

export interface ProfileResult {
  startedAt: string;
  cases: ProfileCase[];
}

/**
 * The ways a load is answered in bench/baseline.ts: by the destination (direct, through the relay,
 * through Ferry), or by the ack floor, which answers without a destination.
 */
export type Path = 'direct' | 'floor' | 'relay' | 'ferry';

export const PATHS: readonly Path[] = ['direct', 'floor', 'relay', 'ferry'];

/** One path through one load: each figure the median of its own rounds. */
export interface PathResult {
  path: Path;
  records: number;
  recordsPerSecond: number;
  /** ack latency as the source saw it (steady part; parallel loads' histograms merged): upper edges of log2 buckets */
  latencyMs: { p50: number; p99: number; p999: number };
  /** the p99 to within an eighth: the edges of its bucket in the finer histogram (src/cli/load/fine-latency.ts), median of the rounds */
  fineP99Ms: { lowMs: number; highMs: number };
  /** user+sys of the floor's, the relay's or Ferry's process over the load ÷ records; null for direct */
  cpuMicrosPerRecord: number | null;
  /** by thread (bench/lib/processes.ts splitThreads), µs per record; the floor and the relay have no workers */
  threads: { main: number; workers: number | null; helpers: number } | null;
  /** the floor's, the relay's or Ferry's read and write system calls and thread sleeps (bench/lib/processes.ts syscallCounts) per 100 records */
  per100Records: { reads: number; writes: number; sleeps: number } | null;
  /** every round's records/s and CPU µs per record, in the order run */
  rounds: Array<{ recordsPerSecond: number; cpuMicrosPerRecord: number | null }>;
  /** the load command(s), ports named <direct> / <floor> / <relay> / <ferry> */
  commands: string[];
}

export interface BaselineLoad {
  key: 'saturation' | 'issue' | 'rate';
  title: string;
  paths: PathResult[];
}

export interface BaselineDestination {
  kind: 'double' | 'aerospike';
  destination: string;
  loads: BaselineLoad[];
}

export interface BaselineSettings {
  rounds: number;
  saturationChanges: number;
  issueChanges: number;
  rate: number;
  rateSeconds: number;
  rateRounds: number;
  warmup: number;
  workers: number;
}

export interface BaselineResult {
  startedAt: string;
  settings: BaselineSettings;
  destinations: BaselineDestination[];
}
