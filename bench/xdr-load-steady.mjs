// `ferry xdr-load`, the built one (dist/), with one addition for the benchmarks: a second latency
// histogram that leaves out the first seconds of the run.
//
//   node bench/xdr-load-steady.mjs [--steady-after S] <ferry xdr-load flags>
//
// Why: each scenario starts a fresh xdr-load process, and for its first second or so its own code
// is cold: at 20,000 changes/s into a warm destination, 8% of that second's replies take over
// 64 ms. In a 10-second run that alone sets the p99, whatever the path under test does. The
// summary is xdr-load's own (same flags, same fields, same exit code), plus
//   steady: { afterS, ships, shipsPerSecond, latencyMs: { p50, p99, p999 }, histogram, fineHistogram }
//           from S s to the end (histogram: replies per log2-µs bucket; fineHistogram: per eighth of
//           one, src/cli/load/fine-latency.ts; so runs of parallel loads can be merged)
//   cpuSeconds                                                              this process, over the run
//   histogram, fineHistogram                                                the whole run's, as in steady
// SIGTERM and SIGINT stop making changes; the run ends once everything in flight is answered.

import { parseXdrLoadArgs, percentileMs, summarize } from '../dist/cli/xdr-load-command.js';
import { XdrSource } from '../dist/cli/load/xdr-source.js';

const argv = process.argv.slice(2);
let steadyAfterS = 2;
const i = argv.indexOf('--steady-after');
if (i >= 0) {
  steadyAfterS = Number(argv[i + 1]);
  if (!Number.isFinite(steadyAfterS) || steadyAfterS < 0) {
    process.stderr.write(`xdr-load-steady: --steady-after takes seconds, got '${argv[i + 1]}'\n`);
    process.exit(2);
  }
  argv.splice(i, 2);
}

let parsed;
try {
  parsed = parseXdrLoadArgs(argv);
} catch (err) {
  process.stderr.write(`xdr-load-steady: ${err.message}\n`);
  process.exit(2);
}
const source = new XdrSource(parsed.opts);
const stop = () => source.stopGenerating();
process.once('SIGINT', stop);
process.once('SIGTERM', stop);

let mark = null;
const timer = setTimeout(() => {
  mark = { latency: [...source.stats.latency], fineLatency: [...source.stats.fineLatency], ships: source.stats.ships, atMs: source.elapsedMs() };
}, steadyAfterS * 1000);
const cpu0 = process.cpuUsage();
const stats = await source.run();
clearTimeout(timer);
const cpu = process.cpuUsage(cpu0);
const elapsedMs = source.elapsedMs();
const summary = summarize(stats, elapsedMs);
if (mark !== null) {
  const lat = stats.latency.map((n, b) => n - mark.latency[b]);
  const ships = stats.ships - mark.ships;
  summary.steady = {
    afterS: steadyAfterS,
    ships,
    shipsPerSecond: Math.round((ships * 1000) / Math.max(1, elapsedMs - mark.atMs)),
    latencyMs: { p50: percentileMs(lat, 0.5), p99: percentileMs(lat, 0.99), p999: percentileMs(lat, 0.999) },
    histogram: lat,
    fineHistogram: stats.fineLatency.map((n, b) => n - mark.fineLatency[b]),
  };
} else summary.steady = null;
summary.cpuSeconds = (cpu.user + cpu.system) / 1e6;
summary.histogram = stats.latency;
summary.fineHistogram = stats.fineLatency;
process.stdout.write(`${JSON.stringify(summary)}\n`);
process.exitCode = stats.abandons > 0 || stats.orderViolations > 0 ? 1 : 0;
