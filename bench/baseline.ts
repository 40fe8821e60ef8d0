/**
 * Ferry against the floor it must beat: the same loads straight into the destination, answered by
 * the ack floor (bench/ack-floor.ts: one thread that reads and acknowledges, and stores nothing),
 * through the naive relay (bench/naive-relay.ts: one thread, one upstream socket per source
 * connection) and through Ferry, in one run, per destination.
 *
 *   npm run bench:baseline -- [--rounds 3] [--saturation-changes 300000] [--issue-changes 150000]
 *                             [--rate 20000] [--rate-seconds 8] [--rate-rounds 5] [--warmup 300000]
 *                             [--workers N (Ferry's default)] [--aerospike HOST:PORT] [--json FILE]
 *
 *   direct  xdr-load ─────────────────────▶ destination
 *   floor   xdr-load ──▶ ack-floor.ts          (acknowledged unread: the least a main thread spends)
 *   relay   xdr-load ──▶ naive-relay.ts ──▶ destination
 *   Ferry   xdr-load ──▶ ferry run ───────▶ destination
 *
 * Loads (256-byte blob records, -w RU,0):
 *   saturation  e2e's load: 8 connections × 256 in flight, as fast as the path goes
 *   issue       16 connections × 128 in flight, 20% of the records compressed: xdr-load compresses
 *               every write of a process or none, so it is two processes side by side, 13
 *               connections plain and 3 compressing, with 80% and 20% of the changes. Direct runs
 *               both uncompressed: Community Edition (and the double) refuse type-4 requests.
 *   rate        --rate changes/s (-g) over 8 connections, for --rate-seconds
 * Each load runs direct, floor, relay, Ferry in turn, for its rounds, so a disturbance on a shared
 * machine lands on all four; each figure is the median of its rounds. The warm-up (saturation load
 * on every path first) is long enough for the JIT: after 100,000 changes TurboFan was still
 * compiling Ferry's functions that run once per look or per batch, 0.8 and 0.38 µs of helper CPU
 * a record in the first two measured rounds (bench/RESULTS.md, eighth round). CPU is user+sys of the
 * floor's, the relay's or Ferry's process over the load (/proc), Ferry's also split by thread.
 */

import { writeFileSync } from 'node:fs';
import { FINE_BUCKETS, fineLowerMs, fineQuantileBucket, fineUpperMs } from '../src/cli/load/fine-latency.js';
import { percentileMs } from '../src/cli/xdr-load-command.js';
import { DEFAULT_WORKERS, intFlag, parseFlags } from './lib/args.js';
import { type SyscallCounts, type ThreadSplit, cpuSeconds, runMain, splitThreads, syscallCounts, threadCpu } from './lib/processes.js';
import { renderBaseline } from './lib/report.js';
import { AckFloor, Double, type Endpoint, Ferry, type LoadSummary, Relay, XDR_LOAD_COMMAND, XdrLoad, checkReachable, endpointText, parseEndpoint, scratchDir } from './lib/stack.js';
import { type BaselineDestination, type BaselineLoad, type BaselineResult, type BaselineSettings, PATHS, type Path, type PathResult } from './lib/types.js';

const values = parseFlags({
  rounds: { type: 'string', default: '3' },
  'saturation-changes': { type: 'string', default: '300000' },
  'issue-changes': { type: 'string', default: '150000' },
  rate: { type: 'string', default: '20000' },
  'rate-seconds': { type: 'string', default: '8' },
  'rate-rounds': { type: 'string', default: '5' },
  warmup: { type: 'string', default: '300000' },
  workers: { type: 'string', default: DEFAULT_WORKERS },
  aerospike: { type: 'string' },
  json: { type: 'string' },
});

const settings: BaselineSettings = {
  rounds: intFlag('rounds', values.rounds, 1),
  saturationChanges: intFlag('saturation-changes', values['saturation-changes'], 1000),
  issueChanges: intFlag('issue-changes', values['issue-changes'], 1000),
  rate: intFlag('rate', values.rate, 1),
  rateSeconds: intFlag('rate-seconds', values['rate-seconds'], 3),
  rateRounds: intFlag('rate-rounds', values['rate-rounds'], 1),
  warmup: intFlag('warmup', values.warmup, 0),
  workers: intFlag('workers', values.workers, 1),
};
const realServer = values.aerospike ?? process.env.FERRY_BENCH_AEROSPIKE;

const log = (msg: string): void => void process.stderr.write(`[baseline ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);

const COMMON = ['-o', 'B256', '-w', 'RU,0', '--no-health-checks', '--quiet'];

interface LoadDef {
  key: BaselineLoad['key'];
  title: string;
  rounds: number;
  /** the xdr-load processes that run side by side, without -h */
  lanes(path: Path): string[][];
}

const saturationLane = (changes: number): string[] => ['-n', 'test', '-s', 'testset', '-k', '200000', '-z', '8', '--pipeline', '256', '--changes', String(changes), '--steady-after', '1'];

function loadDefs(): LoadDef[] {
  const compressed = Math.round(settings.issueChanges / 5);
  return [
    {
      key: 'saturation',
      title: `at saturation: ${settings.saturationChanges.toLocaleString('en-US')} changes, 8 connections × 256 in flight`,
      rounds: settings.rounds,
      lanes: () => [saturationLane(settings.saturationChanges)],
    },
    {
      key: 'issue',
      title: `16 connections × 128 in flight, ${settings.issueChanges.toLocaleString('en-US')} changes, 20% compressed (direct: none)`,
      rounds: settings.rounds,
      // Disjoint keys and seeds, so the two processes never ship the same record.
      lanes: (path) => [
        ['-n', 'test', '-s', 'issue', '-k', '120000', '-z', '13', '--pipeline', '128', '--changes', String(settings.issueChanges - compressed), '--steady-after', '1'],
        ['-n', 'test', '-s', 'issue', '-k', '30000', '-K', '120000', '--seed', '2', '-z', '3', '--pipeline', '128', '--changes', String(compressed), '--steady-after', '1', ...(path === 'direct' ? [] : ['--compress'])],
      ],
    },
    {
      key: 'rate',
      title: `at ${settings.rate.toLocaleString('en-US')} changes/s for ${settings.rateSeconds} s, 8 connections`,
      rounds: settings.rateRounds,
      lanes: () => [['-n', 'test', '-s', 'lat', '-k', '100000', '-z', '8', '-g', String(settings.rate), '-d', String(settings.rateSeconds), '--steady-after', '2']],
    },
  ];
}

/** The floor's, the relay's or Ferry's process, read from /proc around each load; `workers`: Ferry's worker threads, 0 for the others. */
interface Measured {
  pid: number;
  workers: number;
}

interface Reading {
  cpu: number;
  syscalls: SyscallCounts;
  threads: Map<number, number>;
}

const readProc = (pid: number): Reading => ({ cpu: cpuSeconds(pid), syscalls: syscallCounts(pid), threads: threadCpu(pid) });

interface Round {
  records: number;
  recordsPerSecond: number;
  histogram: number[];
  fineHistogram: number[];
  /** what the floor, the relay or Ferry spent on the load; null direct */
  used: { cpu: number; syscalls: SyscallCounts; threads: ThreadSplit } | null;
}

/** The replies' histogram after the first seconds, or the whole run's when it was shorter. */
const steadyHistogram = (s: LoadSummary): number[] => s.steady?.histogram ?? s.histogram;
const steadyFineHistogram = (s: LoadSummary): number[] => s.steady?.fineHistogram ?? s.fineHistogram;

async function runRound(lanes: string[][], target: Endpoint, measured: Measured | null): Promise<Round> {
  const before = measured === null ? null : readProc(measured.pid);
  const runs = await Promise.all(lanes.map((args) => new XdrLoad(['-h', endpointText(target), ...args, ...COMMON]).result(300_000)));
  let used: Round['used'] = null;
  if (measured !== null && before !== null) {
    const after = readProc(measured.pid);
    const d = (k: keyof SyscallCounts): number => after.syscalls[k] - before.syscalls[k];
    used = { cpu: after.cpu - before.cpu, syscalls: { reads: d('reads'), writes: d('writes'), sleeps: d('sleeps') }, threads: splitThreads(measured.pid, before.threads, after.threads, measured.workers) };
  }
  const records = runs.reduce((a, r) => a + r.summary.ships, 0);
  const elapsedMs = Math.max(...runs.map((r) => r.summary.elapsedMs));
  const histogram = new Array<number>(32).fill(0);
  for (const r of runs) steadyHistogram(r.summary).forEach((n, i) => (histogram[i] = histogram[i]! + n));
  const fineHistogram = new Array<number>(FINE_BUCKETS).fill(0);
  for (const r of runs) steadyFineHistogram(r.summary).forEach((n, i) => (fineHistogram[i] = fineHistogram[i]! + n));
  return { records, recordsPerSecond: Math.round((records * 1000) / elapsedMs), histogram, fineHistogram, used };
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)]!;

/** The bucket holding quantile `q` in the median round, as its edges in ms. */
function finePercentileBounds(histograms: number[][], q: number): { lowMs: number; highMs: number } {
  const bucket = median(histograms.map((h) => fineQuantileBucket(h, q)));
  return bucket < 0 ? { lowMs: 0, highMs: 0 } : { lowMs: fineLowerMs(bucket), highMs: fineUpperMs(bucket) };
}
// Exact: the report rounds what it shows and judges targets on the values themselves.
const perRecord = (seconds: number, records: number): number => (seconds * 1e6) / records;

function summarizeRounds(path: Path, rounds: Round[], commands: string[]): PathResult {
  const pct = (q: number): number => median(rounds.map((r) => percentileMs(r.histogram, q)));
  const cpu = (r: Round): number => perRecord(r.used?.cpu ?? Number.NaN, r.records);
  const thread = (k: keyof ThreadSplit): number => median(rounds.map((r) => perRecord(r.used?.threads[k] ?? Number.NaN, r.records)));
  const per100 = (k: keyof SyscallCounts): number => median(rounds.map((r) => Math.round(((r.used?.syscalls[k] ?? Number.NaN) * 1e4) / r.records) / 100));
  const measured = path !== 'direct';
  return {
    path,
    records: median(rounds.map((r) => r.records)),
    recordsPerSecond: median(rounds.map((r) => r.recordsPerSecond)),
    latencyMs: { p50: pct(0.5), p99: pct(0.99), p999: pct(0.999) },
    fineP99Ms: finePercentileBounds(rounds.map((r) => r.fineHistogram), 0.99),
    cpuMicrosPerRecord: measured ? median(rounds.map(cpu)) : null,
    threads: measured ? { main: thread('main'), workers: path === 'ferry' ? thread('workers') : null, helpers: thread('helpers') } : null,
    per100Records: measured ? { reads: per100('reads'), writes: per100('writes'), sleeps: per100('sleeps') } : null,
    rounds: rounds.map((r) => ({ recordsPerSecond: r.recordsPerSecond, cpuMicrosPerRecord: measured ? cpu(r) : null })),
    commands,
  };
}

async function runDestination(kind: 'double' | 'aerospike', dir: string): Promise<BaselineDestination> {
  const double = kind === 'double' ? await Double.start() : null;
  const destination = double?.endpoint ?? parseEndpoint(realServer!, 'FERRY_BENCH_AEROSPIKE');
  log(`destination: ${kind} at ${endpointText(destination)}`);
  const floor = await AckFloor.start();
  const relay = await Relay.start(destination);
  const ferry = await Ferry.start({ destination, workers: settings.workers, dir });
  const targets: Record<Path, { at: Endpoint; measured: Measured | null; shown: string }> = {
    direct: { at: destination, measured: null, shown: kind === 'double' ? '<double>' : endpointText(destination) },
    floor: { at: floor.service, measured: { pid: floor.proc.pid, workers: 0 }, shown: '<floor>' },
    relay: { at: relay.service, measured: { pid: relay.proc.pid, workers: 0 }, shown: '<relay>' },
    ferry: { at: ferry.service, measured: { pid: ferry.proc.pid, workers: settings.workers }, shown: '<ferry>' },
  };
  try {
    const defs = loadDefs();
    if (settings.warmup > 0) {
      log(`warm-up: ${settings.warmup} changes each way`);
      for (const path of PATHS) await runRound([saturationLane(settings.warmup)], targets[path].at, null);
    }
    const loads: BaselineLoad[] = [];
    for (const def of defs) {
      const rounds: Record<Path, Round[]> = { direct: [], floor: [], relay: [], ferry: [] };
      for (let r = 1; r <= def.rounds; r++) {
        for (const path of PATHS) {
          // The double keeps every record in its own heap, and its collector's pauses set the p99
          // of whichever path is running (traced at 20,000/s: scavenges of 5–24 ms every ~130 ms
          // while its store grows). Emptied and collected before every round of every path, each
          // starts from the same empty store; emptied once per load, direct ran first on an empty
          // store, every later path on a full one, and whoever ran first after an emptying paid
          // for collecting the old store.
          await double?.clear();
          rounds[path].push(await runRound(def.lanes(path), targets[path].at, targets[path].measured));
        }
        const line = PATHS.map((p) => {
          const last = rounds[p].at(-1)!;
          return `${p} ${last.recordsPerSecond}/s${last.used === null ? '' : ` ${perRecord(last.used.cpu, last.records)} µs`}`;
        });
        log(`${def.key} round ${r}/${def.rounds}: ${line.join(', ')}`);
      }
      const commands = (path: Path): string[] => def.lanes(path).map((args) => [XDR_LOAD_COMMAND, '-h', targets[path].shown, ...args, ...COMMON].join(' '));
      loads.push({ key: def.key, title: def.title, paths: PATHS.map((p) => summarizeRounds(p, rounds[p], commands(p))) });
    }
    await ferry.stop();
    return { kind, destination: kind === 'double' ? 'conformance double (test/double/main.ts)' : `Aerospike server at ${endpointText(destination)}`, loads };
  } finally {
    await ferry.proc.stop();
    await relay.stop();
    await floor.stop();
    await double?.stop();
  }
}

runMain(async () => {
  const dir = scratchDir();
  const started = new Date();
  const real = realServer !== undefined && realServer !== '';
  if (real) await checkReachable(parseEndpoint(realServer, 'FERRY_BENCH_AEROSPIKE'), 'the Aerospike server (FERRY_BENCH_AEROSPIKE)');
  const destinations = [await runDestination('double', dir)];
  if (real) destinations.push(await runDestination('aerospike', dir));
  const result: BaselineResult = { startedAt: started.toISOString(), settings, destinations };
  if (values.json !== undefined) writeFileSync(values.json, `${JSON.stringify(result, null, 2)}\n`);
  process.stdout.write(`${renderBaseline(result)}\n`);
});
