/**
 * Overload and memory: the destination stops answering while the source keeps shipping 1 KiB
 * records. Ferry must hold at most max-concurrent-records in flight, stop reading its source
 * connections, keep its RSS bounded, and, once the destination answers again, drain everything
 * with no abandon.
 *
 *   npm run bench:overload -- [--stall-seconds 30] [--connections 16] [--pipeline 4096]
 *                             [--object B1024] [--max-concurrent-records 32768] [--json FILE]
 *
 *   ferry xdr-load (16 × 4096 in flight offered) ──▶ ferry run (cap 32,768) ──▶ double (stalled)
 *        ▲                                              │ RSS from /proc every 100 ms
 *        └── 11 at the ack deadline, re-shipped ◀───────┘ /metrics every 100 ms
 *
 * The double is stalled before the load starts (SIGUSR1 toggles its stall), so no record is
 * answered until the release. Records in flight when the ack deadline (5 s) passes are answered
 * 11, as they must be; the source re-ships them, so the pressure never lets up.
 */

import { writeFileSync } from 'node:fs';
import { DEFAULT_WORKERS, intFlag, parseFlags } from './lib/args.js';
import { BenchError, runMain, sleep, statusKiB } from './lib/processes.js';
import { renderOverload } from './lib/report.js';
import { Double, Ferry, XDR_LOAD_COMMAND, XdrLoad, endpointText, metricSum, scratchDir } from './lib/stack.js';
import type { OverloadResult, OverloadSettings } from './lib/types.js';

const values = parseFlags({
  'stall-seconds': { type: 'string', default: '30' },
  connections: { type: 'string', default: '16' },
  pipeline: { type: 'string', default: '4096' },
  object: { type: 'string', default: 'B1024' },
  keys: { type: 'string', default: '1000000' },
  'max-concurrent-records': { type: 'string', default: '32768' },
  workers: { type: 'string', default: DEFAULT_WORKERS },
  json: { type: 'string' },
});

const int = (name: keyof typeof values, min: number): number => intFlag(name, values[name], min);

const settings: OverloadSettings = {
  object: values.object,
  connections: int('connections', 1),
  pipeline: int('pipeline', 1),
  keys: int('keys', 1),
  maxConcurrentRecords: int('max-concurrent-records', 1),
  stallSeconds: int('stall-seconds', 1),
  workers: int('workers', 1),
};

const log = (msg: string): void => void process.stderr.write(`[overload ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);
const mib = (kib: number): number => Math.round(kib / 1024);

runMain(async () => {
  const dir = scratchDir();
  const startedAt = new Date().toISOString();
  const double = await Double.start();
  const ferry = await Ferry.start({ destination: double.endpoint, workers: settings.workers, maxConcurrentRecords: settings.maxConcurrentRecords, dir });
  if (ferry.management === null) throw new BenchError('ferry started without a management port');
  const metrics = async (): Promise<Map<string, number>> => (await ferry.metrics())!;
  try {
    await sleep(500);
    const idleKiB = statusKiB(ferry.proc.pid, 'VmRSS');
    const before = await metrics();
    const pauses0 = metricSum(before, 'ferry_source_read_pauses_total');
    const deadline0 = before.get('ferry_records_total{outcome="deadline-retry"}') ?? 0;

    await double.setStall(true);
    log(`double stalled; shipping ${settings.object} over ${settings.connections} connections × ${settings.pipeline} in flight for ${settings.stallSeconds} s`);
    // -d 3600: the source runs until told to stop; SIGTERM after the release ends it once every
    // shipment is answered.
    const args = [
      '-h', endpointText(ferry.service),
      '-k', String(settings.keys),
      '-o', settings.object,
      '-w', 'RU,0',
      '-z', String(settings.connections),
      '--pipeline', String(settings.pipeline),
      '-d', '3600',
      '--no-health-checks',
      '--quiet',
    ];
    const load = new XdrLoad(args);
    const t0 = performance.now();
    let peakKiB = 0;
    let maxInFlight = 0;
    let maxAt = 0;
    let ringMax = 0;
    const trace: Array<[number, number, number, number]> = [];
    let samples = 0;
    const windowMs = settings.stallSeconds * 1000;
    while (performance.now() - t0 < windowMs) {
      if (!load.proc.running) throw new BenchError(`xdr-load ended while the destination was stalled${load.proc.describeOutput()}`);
      const t = performance.now() - t0;
      const rss = statusKiB(ferry.proc.pid, 'VmRSS');
      const m = await metrics();
      const inFlight = m.get('ferry_records_in_flight') ?? 0;
      const ring = metricSum(m, 'ferry_ring_used_bytes');
      samples++;
      peakKiB = Math.max(peakKiB, rss);
      ringMax = Math.max(ringMax, ring);
      if (inFlight > maxInFlight) {
        maxInFlight = inFlight;
        maxAt = t;
      }
      if (t >= trace.length * 1000) trace.push([Math.round(t / 1000), mib(rss), inFlight, Math.round(ring / 1048576)]);
      await sleep(100);
    }
    const stalled = await metrics();
    const pauses = metricSum(stalled, 'ferry_source_read_pauses_total') - pauses0;
    const deadlineRetries = (stalled.get('ferry_records_total{outcome="deadline-retry"}') ?? 0) - deadline0;
    log(`stalled window over: peak RSS ${mib(peakKiB)} MiB, max in flight ${maxInFlight} after ${(maxAt / 1000).toFixed(1)} s, rings ${Math.round(ringMax / 1048576)} MiB, ${pauses} read pauses`);

    await double.setStall(false);
    const released = performance.now();
    load.proc.child.kill('SIGTERM');
    const run = await load.result(120_000);
    let after = await metrics();
    const busy = (m: Map<string, number>): boolean => (m.get('ferry_records_in_flight') ?? 0) > 0 || metricSum(m, 'ferry_ring_used_bytes') > 0;
    for (let i = 0; i < 100 && busy(after); i++) {
      await sleep(100);
      after = await metrics();
    }
    const drainSeconds = (performance.now() - released) / 1000;
    const inFlightAfter = after.get('ferry_records_in_flight') ?? -1;
    const ringAfter = metricSum(after, 'ferry_ring_used_bytes');
    log(`released: drained in ${drainSeconds.toFixed(1)} s, ${inFlightAfter} in flight, ${ringAfter} bytes in the rings, ${run.summary.abandons} abandons`);
    const hwmKiB = statusKiB(ferry.proc.pid, 'VmHWM');
    await ferry.stop();

    const result: OverloadResult = {
      startedAt,
      settings,
      command: [XDR_LOAD_COMMAND, ...args.map((a) => (a === endpointText(ferry.service) ? '<ferry>' : a))].join(' '),
      rssMiB: { idle: mib(idleKiB), peakStalled: mib(peakKiB), hwm: mib(hwmKiB) },
      inFlight: { max: maxInFlight, cap: settings.maxConcurrentRecords, maxAfterS: Math.round(maxAt / 100) / 10 },
      ringUsedMaxMiB: Math.round(ringMax / 1048576),
      readPauses: pauses,
      deadlineRetries,
      samples,
      drain: { seconds: Math.round(drainSeconds * 10) / 10, inFlightAfter, ringBytesAfter: ringAfter, records: run.summary.ships, abandons: run.summary.abandons, retries: run.summary.retries, resets: run.summary.resets },
      trace,
    };
    if (values.json !== undefined) writeFileSync(values.json, `${JSON.stringify(result, null, 2)}\n`);
    process.stdout.write(`${renderOverload(result)}\n`);
  } finally {
    await ferry.proc.stop();
    await double.stop();
  }
});
