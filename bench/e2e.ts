/**
 * End to end, in one run against one destination: how many records/s the destination absorbs
 * straight from an XDR-shaped source, how many of them make it through Ferry, and how many the
 * official `aerospike` client writes from one Node.js process.
 *
 *   npm run bench:e2e -- [--changes 300000] [--rounds 3] [--warmup 200000] [--official-changes 200000] [--half-seconds 15]
 *                        [--object B256] [--keys 200000] [--connections 8] [--workers N (Ferry's default)]
 *                        [--official-modes put,batch] [--official-put-concurrency 64]
 *                        [--official-batch-size 256] [--official-batch-concurrency 1024]
 *                        [--aerospike HOST:PORT] [--ferry-node-args "--cpu-prof"] [--json FILE]
 *
 *   direct         ferry xdr-load ──────────────▶ destination          (the destination's ceiling)
 *   through Ferry  ferry xdr-load ──▶ ferry run ──▶ destination        (same load, saturated)
 *                  (these two alternate for --rounds rounds; each is reported by its median)
 *   half rate      the same, throttled (-g) to half of the through-Ferry rate just measured, and
 *                  direct at that rate too (the latency floor of the generator and the destination)
 *   official       official-writer.mjs ─────────▶ destination          (put and batchWrite; best kept)
 *
 * The destination is the conformance double (its own process), and also a real server when
 * FERRY_BENCH_AEROSPIKE=host:port (or --aerospike) is given. Ferry's CPU is user+sys of every
 * thread from /proc/<pid>/stat over the measured run; its peak RSS is VmHWM. The load generator's
 * and the double's CPU are reported beside it, so it is clear where the cores went.
 *
 * Latency percentiles leave out each load's first seconds (--steady-after, see xdr-load-steady.mjs).
 * Prints the tables as Markdown on stdout; --json FILE writes every number for bench/run-all.ts.
 */

import { writeFileSync } from 'node:fs';
import { DEFAULT_WORKERS, intFlag, parseFlags, usageError } from './lib/args.js';
import { cpuSeconds, runMain, statusKiB } from './lib/processes.js';
import { renderE2e } from './lib/report.js';
import {
  Double,
  type Endpoint,
  Ferry,
  type LoadRun,
  type OfficialSummary,
  XDR_LOAD_COMMAND,
  XdrLoad,
  checkReachable,
  endpointText,
  ferryAckLatency,
  parseEndpoint,
  runOfficialWriter,
  scratchDir,
} from './lib/stack.js';
import type { DestinationResult, E2eResult, E2eSettings, Scenario } from './lib/types.js';

const values = parseFlags({
  changes: { type: 'string', default: '300000' },
  'official-changes': { type: 'string', default: '200000' },
  'half-seconds': { type: 'string', default: '15' },
  warmup: { type: 'string', default: '200000' },
  object: { type: 'string', default: 'B256' },
  keys: { type: 'string', default: '200000' },
  namespace: { type: 'string', default: 'test' },
  set: { type: 'string', default: 'testset' },
  connections: { type: 'string', default: '8' },
  pipeline: { type: 'string', default: '256' },
  workers: { type: 'string', default: DEFAULT_WORKERS },
  'official-modes': { type: 'string', default: 'put,batch' },
  'official-put-concurrency': { type: 'string', default: '64' },
  'official-batch-size': { type: 'string', default: '256' },
  'official-batch-concurrency': { type: 'string', default: '1024' },
  'steady-after': { type: 'string', default: '2' },
  rounds: { type: 'string', default: '3' },
  aerospike: { type: 'string' },
  'ferry-node-args': { type: 'string', default: '' },
  json: { type: 'string' },
});

const int = (name: keyof typeof values, min: number): number => intFlag(name, values[name], min);

const settings: E2eSettings = {
  changes: int('changes', 1000),
  officialChanges: int('official-changes', 1000),
  halfSeconds: int('half-seconds', 1),
  warmup: int('warmup', 0),
  object: values.object,
  keys: int('keys', 1),
  namespace: values.namespace,
  set: values.set,
  connections: int('connections', 1),
  pipeline: int('pipeline', 1),
  workers: int('workers', 1),
  officialModes: values['official-modes'].split(',').filter((m) => m !== ''),
  officialPutConcurrency: int('official-put-concurrency', 1),
  officialBatchSize: int('official-batch-size', 1),
  officialBatchConcurrency: int('official-batch-concurrency', 1),
  steadyAfterS: int('steady-after', 0),
  rounds: int('rounds', 1),
};
for (const m of settings.officialModes) if (m !== 'put' && m !== 'batch') usageError(`--official-modes: put and/or batch, got '${m}'`);
const ferryNodeArgs = values['ferry-node-args'].split(' ').filter((a) => a !== '');
const realServer = values.aerospike ?? process.env.FERRY_BENCH_AEROSPIKE;

const log = (msg: string): void => void process.stderr.write(`[e2e ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);
const round = (n: number, digits: number): number => Math.round(n * 10 ** digits) / 10 ** digits;

/** The xdr-load flags every scenario shares: the record shape and the workload. */
function loadArgs(target: Endpoint, extra: string[]): string[] {
  return [
    '-h', endpointText(target),
    '-n', settings.namespace,
    '-s', settings.set,
    '-k', String(settings.keys),
    '-o', settings.object,
    '-w', 'RU,0',
    '-z', String(settings.connections),
    '--pipeline', String(settings.pipeline),
    ...extra,
    '--no-health-checks',
    '--quiet',
    '--steady-after',
    String(settings.steadyAfterS),
  ];
}

/** The command a reader can run, with the ports named rather than numbered. */
function shownCommand(args: string[], names: Map<string, string>): string {
  return [XDR_LOAD_COMMAND, ...args.map((a) => names.get(a) ?? a)].join(' ');
}

interface Measured {
  run: LoadRun;
  ferryCpu: number | null;
  destinationCpu: number | null;
  ferryAck: { withinTenMsPct: number; p99UpperMs: number } | null;
}

async function measureLoad(args: string[], ferry: Ferry | null, double: Double | null, timeoutMs: number): Promise<Measured> {
  const m0 = ferry === null ? null : await ferry.metrics();
  const f0 = ferry === null ? 0 : cpuSeconds(ferry.proc.pid);
  const d0 = double === null ? 0 : cpuSeconds(double.proc.pid);
  const run = await new XdrLoad(args).result(timeoutMs);
  const ferryCpu = ferry === null ? null : cpuSeconds(ferry.proc.pid) - f0;
  const destinationCpu = double === null ? null : cpuSeconds(double.proc.pid) - d0;
  const m1 = ferry === null ? null : await ferry.metrics();
  return { run, ferryCpu, destinationCpu, ferryAck: m0 === null || m1 === null ? null : ferryAckLatency(m0, m1) };
}

function scenario(name: string, command: string, m: Measured, ferry: Ferry | null, throttle?: number): Scenario {
  const s = m.run.summary;
  return {
    name,
    command,
    records: s.ships,
    changes: s.changes,
    recordsPerSecond: s.shipsPerSecond,
    elapsedMs: s.elapsedMs,
    retries: s.retries,
    resets: s.resets,
    latencyMs: s.steady?.latencyMs ?? s.latencyMs,
    wholeRunLatencyMs: s.latencyMs,
    ferryAck: m.ferryAck,
    ferry:
      ferry === null || m.ferryCpu === null
        ? null
        : { cpuSeconds: round(m.ferryCpu, 2), cpuMicrosPerRecord: round((m.ferryCpu / s.ships) * 1e6, 2), peakRssMiB: Math.round(statusKiB(ferry.proc.pid, 'VmHWM') / 1024) },
    loadCpuSeconds: round(s.cpuSeconds, 2),
    destinationCpuSeconds: m.destinationCpu === null ? null : round(m.destinationCpu, 2),
    ...(throttle !== undefined ? { throttle } : {}),
  };
}

/** The run with the median records/s (the lower middle one for an even count), with every round's rate. */
function medianRun(runs: Scenario[]): Scenario {
  const sorted = [...runs].sort((a, b) => a.recordsPerSecond - b.recordsPerSecond);
  const mid = sorted[Math.floor((sorted.length - 1) / 2)]!;
  return runs.length > 1 ? { ...mid, rounds: runs.map((r) => r.recordsPerSecond) } : mid;
}

async function runDestination(kind: 'double' | 'aerospike', endpointArg: string | undefined, dir: string): Promise<DestinationResult> {
  const double = kind === 'double' ? await Double.start() : null;
  const destination = double?.endpoint ?? parseEndpoint(endpointArg!, 'FERRY_BENCH_AEROSPIKE');
  log(`destination: ${kind} at ${endpointText(destination)}`);
  const loadTimeout = (n: number): number => 120_000 + n * 2;
  const ferry = await Ferry.start({ destination, workers: settings.workers, nodeArgs: ferryNodeArgs, dir });
  const names = new Map([
    [endpointText(destination), kind === 'double' ? '<double>' : endpointText(destination)],
    [endpointText(ferry.service), '<ferry>'],
  ]);
  try {
    if (settings.warmup > 0) {
      log(`warm-up: ${settings.warmup} changes direct, then through Ferry`);
      await new XdrLoad(loadArgs(destination, ['--changes', String(settings.warmup)])).result(loadTimeout(settings.warmup));
      await new XdrLoad(loadArgs(ferry.service, ['--changes', String(settings.warmup)])).result(loadTimeout(settings.warmup));
    }

    // Direct and through Ferry alternate, round after round, so a disturbance on a shared machine
    // lands on both; each is reported by its median round.
    const directArgs = loadArgs(destination, ['--changes', String(settings.changes)]);
    const ferryArgs = loadArgs(ferry.service, ['--changes', String(settings.changes)]);
    const directRuns: Scenario[] = [];
    const throughRuns: Scenario[] = [];
    for (let r = 1; r <= settings.rounds; r++) {
      log(`round ${r}/${settings.rounds}: ${settings.changes} changes direct, then through Ferry`);
      directRuns.push(scenario('direct', shownCommand(directArgs, names), await measureLoad(directArgs, null, double, loadTimeout(settings.changes)), null));
      throughRuns.push(scenario('through Ferry', shownCommand(ferryArgs, names), await measureLoad(ferryArgs, ferry, double, loadTimeout(settings.changes)), ferry));
      log(`round ${r}: direct ${directRuns.at(-1)!.recordsPerSecond} records/s, through Ferry ${throughRuns.at(-1)!.recordsPerSecond} records/s, ${throughRuns.at(-1)!.ferry?.cpuMicrosPerRecord} µs CPU/record`);
    }
    const direct = medianRun(directRuns);
    const through = medianRun(throughRuns);

    const throttle = Math.max(1, Math.round(through.recordsPerSecond / 2));
    log(`half rate: -g ${throttle} for ${settings.halfSeconds} s`);
    const halfArgs = loadArgs(ferry.service, ['-g', String(throttle), '-d', String(settings.halfSeconds)]);
    const halfTimeout = 120_000 + settings.halfSeconds * 3000;
    const half = scenario('through Ferry, half rate', shownCommand(halfArgs, names), await measureLoad(halfArgs, ferry, double, halfTimeout), ferry, throttle);
    log(`half rate: ${half.recordsPerSecond} records/s, p99 ≤ ${half.latencyMs.p99} ms (Ferry's own: ${half.ferryAck?.withinTenMsPct}% within 10 ms)`);

    await ferry.stop();

    log(`direct at the same rate: -g ${throttle} for ${settings.halfSeconds} s`);
    const directHalfArgs = loadArgs(destination, ['-g', String(throttle), '-d', String(settings.halfSeconds)]);
    const directHalf = scenario('direct, half rate', shownCommand(directHalfArgs, names), await measureLoad(directHalfArgs, null, double, halfTimeout), null, throttle);
    log(`direct at the same rate: p99 ≤ ${directHalf.latencyMs.p99} ms`);

    const official: Scenario[] = [];
    for (const mode of settings.officialModes) {
      const args = [
        '--host', destination.host,
        '--port', String(destination.port),
        '--namespace', settings.namespace,
        '--set', settings.set,
        '--keys', String(settings.keys),
        '--object', settings.object,
        '--changes', String(settings.officialChanges),
        '--mode', mode,
        ...(mode === 'put'
          ? ['--concurrency', String(settings.officialPutConcurrency)]
          : ['--concurrency', String(settings.officialBatchConcurrency), '--batch-size', String(settings.officialBatchSize)]),
      ];
      log(`official client, ${mode}: ${settings.officialChanges} changes`);
      const d0 = double === null ? 0 : cpuSeconds(double.proc.pid);
      const w: OfficialSummary = await runOfficialWriter(args, loadTimeout(settings.officialChanges * 5));
      const dCpu = double === null ? null : cpuSeconds(double.proc.pid) - d0;
      const shownArgs = args.map((a, i) => (args[i - 1] === '--port' && kind === 'double' ? '<double port>' : a));
      official.push({
        name: `official client, ${mode}`,
        command: `node bench/official-writer.mjs ${shownArgs.join(' ')}`,
        records: w.records,
        changes: w.records,
        recordsPerSecond: w.recordsPerSecond,
        elapsedMs: w.elapsedMs,
        retries: 0,
        resets: 0,
        latencyMs: w.latencyMs,
        wholeRunLatencyMs: w.latencyMs,
        ferryAck: null,
        ferry: null,
        loadCpuSeconds: w.cpuSeconds,
        destinationCpuSeconds: dCpu === null ? null : round(dCpu, 2),
        official: {
          mode: w.mode,
          concurrency: w.concurrency,
          ...(w.batchSize !== undefined ? { batchSize: w.batchSize } : {}),
          maxConnsPerNode: w.maxConnsPerNode,
          keyPolicy: w.keyPolicy,
        },
      });
      log(`official client, ${mode}: ${w.recordsPerSecond} records/s`);
    }
    const officialBest = official.reduce<Scenario | null>((best, s) => (best === null || s.recordsPerSecond > best.recordsPerSecond ? s : best), null);
    return {
      kind,
      destination: kind === 'double' ? 'conformance double (test/double/main.ts)' : `Aerospike server at ${endpointText(destination)}`,
      direct,
      through,
      half,
      directHalf,
      official,
      officialBest: officialBest?.name ?? null,
      // Exact: targets are judged on the ratio, never on its rounding (bench/lib/report.ts).
      ratios: {
        throughOverDirect: through.recordsPerSecond / direct.recordsPerSecond,
        throughOverOfficial: officialBest === null ? null : through.recordsPerSecond / officialBest.recordsPerSecond,
      },
      ferryConfig: kind === 'double' ? ferry.configText.replace(`{ ${destination.host}: { port: ${destination.port} } }`, '{ 127.0.0.1: { port: <double port> } }') : ferry.configText,
    };
  } finally {
    await ferry.proc.stop();
    await double?.stop();
  }
}

runMain(async () => {
  const dir = scratchDir();
  const started = new Date();
  // A wrong address should fail now, not after the double's scenarios.
  if (realServer !== undefined && realServer !== '') await checkReachable(parseEndpoint(realServer, 'FERRY_BENCH_AEROSPIKE'), 'the Aerospike server (FERRY_BENCH_AEROSPIKE)');
  const destinations: DestinationResult[] = [await runDestination('double', undefined, dir)];
  if (realServer !== undefined && realServer !== '') destinations.push(await runDestination('aerospike', realServer, dir));
  const result: E2eResult = { startedAt: started.toISOString(), settings, destinations };
  if (values.json !== undefined) writeFileSync(values.json, `${JSON.stringify(result, null, 2)}\n`);
  process.stdout.write(`${renderE2e(result)}\n`);
});
