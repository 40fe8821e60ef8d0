/**
 * The processes a benchmark is made of, each started the way a user would start it:
 *
 *   ferry xdr-load ──▶ [ ferry run | naive relay ] ──▶ destination (the conformance double, or a real server)
 *   ferry xdr-load ──▶ ack floor (answers by itself)
 *   official-writer.mjs ───────────────▶ destination
 *
 * Each runs as its own process so the bench can read its CPU and memory from /proc.
 */

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NODE_FLAGS } from '../../src/cli/node-flags.js';
import { BenchError, ROOT, Tracked } from './processes.js';

const FERRY = join(ROOT, 'dist/cli/ferry.js');
const XDR_LOAD = join(ROOT, 'bench/xdr-load-steady.mjs');

/** A scratch directory for configs and usage files, removed when the bench exits. */
export function scratchDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'ferry-bench-'));
  process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

export interface Endpoint {
  host: string;
  port: number;
}

export function parseEndpoint(text: string, what: string): Endpoint {
  const i = text.lastIndexOf(':');
  const port = Number(text.slice(i + 1));
  if (i <= 0 || !Number.isInteger(port) || port < 1 || port > 65535) throw new BenchError(`${what} must be host:port, got '${text}'`);
  return { host: text.slice(0, i), port };
}

export const endpointText = (e: Endpoint): string => `${e.host}:${e.port}`;

export class Double {
  private constructor(
    readonly proc: Tracked,
    readonly endpoint: Endpoint,
  ) {}

  /**
   * The conformance double in its own process (`test/double/main.ts`), with `--expose-gc` so that
   * `clear()` also collects what it forgets.
   */
  static async start(opts: { stall?: boolean; namespaces?: string[] } = {}): Promise<Double> {
    const proc = new Tracked('double', [
      '--expose-gc',
      '--import',
      'tsx',
      join(ROOT, 'test/double/main.ts'),
      '--port',
      '0',
      ...(opts.stall === true ? ['--stall'] : []),
      ...(opts.namespaces === undefined ? [] : ['--namespaces', opts.namespaces.join(',')]),
    ]);
    const { port } = await proc.waitForJson<{ port: number }>('its {"port":N} line', (v) => typeof v.port === 'number', 30_000);
    return new Double(proc, { host: '127.0.0.1', port });
  }

  /** Empty the double's store (SIGUSR2), collect it, and wait until the double says it has. */
  async clear(): Promise<void> {
    const ack = this.proc.waitForJson('the store cleared', (v) => v.cleared === true, 5_000);
    this.proc.child.kill('SIGUSR2');
    await ack;
  }

  /** Flip the double's stall (SIGUSR1 toggles it) and wait until it says it has. */
  async setStall(on: boolean): Promise<void> {
    const ack = this.proc.waitForJson('the stall toggle', (v) => v.stall === on, 5_000);
    this.proc.child.kill('SIGUSR1');
    await ack;
  }

  stop(): Promise<void> {
    return this.proc.stop();
  }
}

/** bench/naive-relay.ts in its own process, forwarding to the destination. */
export class Relay {
  private constructor(
    readonly proc: Tracked,
    readonly service: Endpoint,
  ) {}

  /** With Ferry's NODE_FLAGS, so the two differ in their code, not in how node runs it. */
  static async start(destination: Endpoint): Promise<Relay> {
    const proc = new Tracked('naive-relay', [...NODE_FLAGS, '--import', 'tsx', join(ROOT, 'bench/naive-relay.ts'), '--to', endpointText(destination)]);
    const { port } = await proc.waitForJson<{ port: number }>('its {"port":N} line', (v) => typeof v.port === 'number', 30_000);
    return new Relay(proc, { host: '127.0.0.1', port });
  }

  stop(): Promise<void> {
    return this.proc.stop();
  }
}

/** bench/ack-floor.ts in its own process: it acknowledges what it reads and forwards nothing. */
export class AckFloor {
  private constructor(
    readonly proc: Tracked,
    readonly service: Endpoint,
  ) {}

  /** With Ferry's NODE_FLAGS, as the relay. */
  static async start(): Promise<AckFloor> {
    const proc = new Tracked('ack-floor', [...NODE_FLAGS, '--import', 'tsx', join(ROOT, 'bench/ack-floor.ts')]);
    const { port } = await proc.waitForJson<{ port: number }>('its {"port":N} line', (v) => typeof v.port === 'number', 30_000);
    return new AckFloor(proc, { host: '127.0.0.1', port });
  }

  stop(): Promise<void> {
    return this.proc.stop();
  }
}

export interface FerryOptions {
  destination: Endpoint;
  workers: number;
  maxConcurrentRecords?: number;
  /** extra `node` flags for the Ferry process, e.g. --cpu-prof */
  nodeArgs?: string[];
  /** replaces NODE_FLAGS (the flags every launcher gives the daemon), to measure without them */
  nodeFlags?: readonly string[];
  /** the ferry command to run (another checkout's dist/cli/ferry.js); this checkout's by default */
  script?: string;
  /** extra lines for the `service:` and `aerospike:` sections, e.g. `dispatch-delay: 0` */
  service?: string[];
  aerospike?: string[];
  dir: string;
}

let configs = 0;

export class Ferry {
  private constructor(
    readonly proc: Tracked,
    readonly service: Endpoint,
    readonly management: string | null,
    readonly configText: string,
  ) {}

  /** `ferry run` with a config that points at the destination; resolves once it says "ferry started". */
  static async start(o: FerryOptions): Promise<Ferry> {
    const config = join(o.dir, `ferry-${++configs}.yml`);
    const configText = [
      'service:',
      '  port: 0',
      '  address: 127.0.0.1',
      `  worker-threads: ${o.workers}`,
      `  max-concurrent-records: ${o.maxConcurrentRecords ?? 32768}`,
      '  manage: { port: 0 }',
      ...(o.service ?? []).map((l) => `  ${l}`),
      'aerospike:',
      `  seeds: [ { ${o.destination.host}: { port: ${o.destination.port} } } ]`,
      ...(o.aerospike ?? []).map((l) => `  ${l}`),
      'logging:',
      '  levels: { root: info }',
      '',
    ].join('\n');
    writeFileSync(config, configText);
    const proc = new Tracked('ferry', [...(o.nodeFlags ?? NODE_FLAGS), ...(o.nodeArgs ?? []), o.script ?? FERRY, 'run', '--config', config]);
    const started = await proc.waitForJson<{ listening: string[]; management: string | null }>('"ferry started"', (v) => v.msg === 'ferry started', 30_000);
    const listening = started.listening[0];
    if (listening === undefined) throw new BenchError('ferry started without a service port');
    return new Ferry(proc, parseEndpoint(listening, 'ferry service address'), started.management, configText);
  }

  /** SIGTERM drains; anything but exit 0 is a failure worth reporting. */
  async stop(): Promise<void> {
    await this.proc.stop(15_000);
    const { code, signal } = await this.proc.exited;
    if (code !== 0) throw new BenchError(`ferry exited with ${signal ?? `code ${code}`} on SIGTERM${this.proc.describeOutput()}`);
  }

  /** Every sample of the Prometheus text at /metrics, keyed `name{labels}`; null without a management port. */
  async metrics(): Promise<Map<string, number> | null> {
    if (this.management === null) return null;
    const res = await fetch(`http://${this.management}/metrics`);
    if (!res.ok) throw new BenchError(`GET /metrics answered ${res.status}`);
    const out = new Map<string, number>();
    for (const line of (await res.text()).split('\n')) {
      if (line === '' || line.startsWith('#')) continue;
      const sp = line.lastIndexOf(' ');
      out.set(line.slice(0, sp), Number(line.slice(sp + 1)));
    }
    return out;
  }
}

/** The sum of every sample of a metric (all label sets). */
export function metricSum(m: Map<string, number>, name: string): number {
  let sum = 0;
  for (const [k, v] of m) if (k === name || k.startsWith(`${name}{`)) sum += v;
  return sum;
}

export interface LoadSummary {
  elapsedMs: number;
  changes: number;
  ships: number;
  shipsPerSecond: number;
  acks: number;
  retries: number;
  abandons: number;
  resets: number;
  orderViolations: number;
  byCode: Record<string, number>;
  connectErrors: number;
  lastConnectError?: string;
  latencyMs: { p50: number; p99: number; p999: number };
  /** from bench/xdr-load-steady.mjs: the run after its first seconds (null if it was shorter) */
  steady: { afterS: number; ships: number; shipsPerSecond: number; latencyMs: { p50: number; p99: number; p999: number }; histogram: number[]; fineHistogram: number[] } | null;
  /** the load process's own CPU over the run */
  cpuSeconds: number;
  /** replies per log2-µs bucket over the whole run (xdr-load's latency histogram) */
  histogram: number[];
  /** the same, per eighth of a log2 bucket (src/cli/load/fine-latency.ts) */
  fineHistogram: number[];
}

export interface LoadRun {
  summary: LoadSummary;
  args: string[];
}

/** The command line a scenario's load runs with (ports as the caller names them). */
export const XDR_LOAD_COMMAND = 'node bench/xdr-load-steady.mjs';

/** `ferry xdr-load` (by way of bench/xdr-load-steady.mjs) as a started process, so the caller can signal it. */
export class XdrLoad {
  readonly proc: Tracked;

  constructor(readonly args: string[]) {
    this.proc = new Tracked('xdr-load', [XDR_LOAD, ...args]);
  }

  /** Wait for the summary and the exit; abandons, order violations or a bad exit fail the bench. */
  async result(timeoutMs: number): Promise<LoadRun> {
    const summaryP = this.proc.waitForJson<LoadSummary>('the JSON summary', (v) => typeof v.shipsPerSecond === 'number', timeoutMs);
    // The summary's rejection (exit without one) is reported through `summaryP` below.
    summaryP.catch(() => undefined);
    const { code, signal } = await this.proc.finish(timeoutMs);
    const summary = await summaryP;
    if (summary.abandons > 0 || summary.orderViolations > 0 || code !== 0) {
      throw new BenchError(
        `xdr-load ${this.args.join(' ')}: exit ${signal ?? code}, ${summary.abandons} abandons, ${summary.orderViolations} order violations, codes ${JSON.stringify(summary.byCode)}${this.proc.describeOutput()}`,
      );
    }
    if (summary.ships === 0) throw new BenchError(`xdr-load shipped nothing: ${summary.lastConnectError ?? 'no error recorded'}`);
    return { summary, args: this.args };
  }
}

export interface OfficialSummary {
  mode: 'put' | 'batch';
  concurrency: number;
  batchSize?: number;
  batchesInFlight?: number;
  maxConnsPerNode: number;
  keyPolicy: string;
  records: number;
  elapsedMs: number;
  recordsPerSecond: number;
  errors: number;
  byCode: Record<string, number>;
  lastError?: string;
  latencyMs: { p50: number; p99: number; p999: number };
  cpuSeconds: number;
  maxRssMiB: number;
}

/** bench/official-writer.mjs against the destination; any failed write fails the bench. */
export async function runOfficialWriter(args: string[], timeoutMs: number): Promise<OfficialSummary> {
  const proc = new Tracked('official-writer', [join(ROOT, 'bench/official-writer.mjs'), ...args]);
  const summaryP = proc.waitForJson<OfficialSummary>('the JSON summary', (v) => typeof v.recordsPerSecond === 'number', timeoutMs);
  summaryP.catch(() => undefined);
  const { code, signal } = await proc.finish(timeoutMs);
  const summary = await summaryP;
  if (code !== 0) throw new BenchError(`official-writer ${args.join(' ')}: exit ${signal ?? code}, ${summary.errors} failed writes (${summary.lastError ?? ''})${proc.describeOutput()}`);
  return summary;
}

/** Cumulative counts of a Prometheus histogram by upper bound (`le`, +Inf as Infinity). */
export function histogram(m: Map<string, number>, name: string): Map<number, number> {
  const out = new Map<number, number>();
  const re = new RegExp(`^${name}_bucket\\{.*le="([^"]+)".*\\}$`);
  for (const [k, v] of m) {
    const le = re.exec(k)?.[1];
    if (le !== undefined) out.set(le === '+Inf' ? Number.POSITIVE_INFINITY : Number(le), v);
  }
  return out;
}

/**
 * Ferry's own ack latency (ferry_ack_latency_seconds: a request's arrival to its reply's write)
 * between two scrapes: the share within 10 ms and the bucket holding the p99 (upper bound, ms).
 */
export function ferryAckLatency(before: Map<string, number>, after: Map<string, number>): { withinTenMsPct: number; p99UpperMs: number } {
  const a = histogram(before, 'ferry_ack_latency_seconds');
  const b = histogram(after, 'ferry_ack_latency_seconds');
  const bounds = [...b.keys()].sort((x, y) => x - y);
  const delta = (le: number): number => (b.get(le) ?? 0) - (a.get(le) ?? 0);
  const total = delta(Number.POSITIVE_INFINITY);
  if (total <= 0) return { withinTenMsPct: Number.NaN, p99UpperMs: Number.NaN };
  const p99 = bounds.find((le) => delta(le) >= total * 0.99) ?? Number.POSITIVE_INFINITY;
  return { withinTenMsPct: Math.round((delta(0.01) / total) * 10000) / 100, p99UpperMs: p99 * 1000 };
}

/** Fail fast, and plainly, when nothing listens at a destination given by the user. */
export function checkReachable(e: Endpoint, what: string, timeoutMs = 3000): Promise<void> {
  return new Promise((resolve, reject) => {
    const s = connect({ host: e.host, port: e.port });
    const fail = (why: string): void => {
      s.destroy();
      reject(new BenchError(`${what} ${endpointText(e)} is not reachable: ${why}`));
    };
    s.setTimeout(timeoutMs, () => fail(`no connection within ${timeoutMs} ms`));
    s.once('error', (err) => fail(err.message));
    s.once('connect', () => {
      s.end();
      resolve();
    });
  });
}
