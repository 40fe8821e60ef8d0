/**
 * Where Ferry's time goes: `node --cpu-prof` on the Ferry process (its main thread and each
 * worker write a profile), under the end-to-end load at saturation and at half that rate.
 *
 *   npm run bench:profile -- [--changes 300000] [--half-seconds 10] [--top 8] [--json FILE]
 *
 * Only the samples inside the measured load count: V8 stamps samples with the same monotonic
 * clock as process.hrtime(), so the window is cut to the load's start and end. For each thread:
 * how busy it was (not idle in epoll), that busy time per record, and the functions with the most
 * self time. Profiling slows Ferry somewhat; the shares matter here, not the totals.
 */

import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DEFAULT_WORKERS, intFlag, parseFlags } from './lib/args.js';
import { BenchError, cpuSeconds, runMain } from './lib/processes.js';
import { renderProfile } from './lib/report.js';
import { Double, Ferry, XdrLoad, endpointText, scratchDir } from './lib/stack.js';
import type { ProfileCase, ProfileResult, ThreadProfile } from './lib/types.js';

const values = parseFlags({
  changes: { type: 'string', default: '300000' },
  'half-seconds': { type: 'string', default: '10' },
  warmup: { type: 'string', default: '30000' },
  workers: { type: 'string', default: DEFAULT_WORKERS },
  top: { type: 'string', default: '8' },
  json: { type: 'string' },
});
const changes = intFlag('changes', values.changes, 1000);
const halfSeconds = intFlag('half-seconds', values['half-seconds'], 1);
const warmup = intFlag('warmup', values.warmup, 0);
const workers = intFlag('workers', values.workers, 1);
const top = intFlag('top', values.top, 1);

const log = (msg: string): void => void process.stderr.write(`[profile ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);
const nowMicros = (): number => Number(process.hrtime.bigint() / 1000n);

interface CpuProfile {
  nodes: Array<{ id: number; callFrame: { functionName: string; url: string; lineNumber: number } }>;
  startTime: number;
  samples: number[];
  timeDeltas: number[];
}

/** Self time per function inside [from, to] (µs, monotonic), and how much of it was not idle. */
function summarise(file: string, from: number, to: number, records: number): Omit<ThreadProfile, 'thread'> {
  const p = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const names = new Map<number, string>();
  for (const n of p.nodes) {
    const cf = n.callFrame;
    const where = cf.url === '' ? '' : ` (${cf.url.replace(/^file:\/\//, '').split('/').slice(-2).join('/')}:${cf.lineNumber + 1})`;
    names.set(n.id, `${cf.functionName === '' ? '(anonymous)' : cf.functionName}${where}`);
  }
  const self = new Map<string, number>();
  let t = p.startTime;
  let window = 0;
  let idle = 0;
  for (let i = 0; i < p.samples.length; i++) {
    t += p.timeDeltas[i] ?? 0;
    if (t < from || t > to) continue;
    // A sample's delta is the time since the previous one: charge it to this sample's frame.
    const d = p.timeDeltas[i] ?? 0;
    const name = names.get(p.samples[i]!) ?? '?';
    window += d;
    if (name === '(idle)') idle += d;
    else self.set(name, (self.get(name) ?? 0) + d);
  }
  const busy = window - idle;
  const topList = [...self]
    .sort((a, b) => b[1] - a[1])
    .slice(0, top)
    .map(([fn, us]) => ({ fn, ms: Math.round(us / 1000), pctOfBusy: busy > 0 ? Math.round((us / busy) * 1000) / 10 : 0 }));
  return {
    windowS: Math.round(window / 1e4) / 100,
    busyPct: window > 0 ? Math.round((busy / window) * 1000) / 10 : 0,
    busyMicrosPerRecord: records > 0 ? Math.round((busy / records) * 100) / 100 : 0,
    top: topList,
  };
}

async function profileCase(name: string, double: Double, dir: string, loadExtra: string[]): Promise<ProfileCase> {
  const profDir = join(dir, `prof-${name.replace(/\W+/g, '-')}`);
  const ferry = await Ferry.start({ destination: double.endpoint, workers, nodeArgs: ['--cpu-prof', `--cpu-prof-dir=${profDir}`], dir });
  const args = (extra: string[]): string[] => ['-h', endpointText(ferry.service), '-k', '200000', '-o', 'B256', '-w', 'RU,0', '-z', '8', ...extra, '--no-health-checks', '--quiet'];
  try {
    if (warmup > 0) await new XdrLoad(args(['--changes', String(warmup)])).result(120_000 + warmup * 2);
    log(`${name}: ${loadExtra.join(' ')}`);
    const c0 = cpuSeconds(ferry.proc.pid);
    const from = nowMicros();
    const run = await new XdrLoad(args(loadExtra)).result(600_000);
    const to = nowMicros();
    const cpu = cpuSeconds(ferry.proc.pid) - c0;
    await ferry.stop();
    const files = readdirSync(profDir).filter((f) => f.endsWith('.cpuprofile'));
    if (files.length === 0) throw new BenchError(`ferry wrote no profile into ${profDir}`);
    // CPU.<date>.<time>.<pid>.<thread id>.<seq>.cpuprofile: thread 0 is the main thread.
    const threadOf = (f: string): number => Number(f.split('.')[4]);
    files.sort((a, b) => threadOf(a) - threadOf(b));
    const records = run.summary.ships;
    return {
      name,
      load: loadExtra.join(' '),
      records,
      recordsPerSecond: run.summary.shipsPerSecond,
      ferryCpuMicrosPerRecord: Math.round((cpu / records) * 1e6 * 100) / 100,
      threads: files.map((f) => ({ thread: threadOf(f) === 0 ? 'main' : `worker (thread ${threadOf(f)})`, ...summarise(join(profDir, f), from, to, records) })),
    };
  } finally {
    await ferry.proc.stop();
  }
}

runMain(async () => {
  const dir = scratchDir();
  const double = await Double.start();
  try {
    const saturated = await profileCase('saturated', double, dir, ['--changes', String(changes)]);
    const rate = Math.max(1, Math.round(saturated.recordsPerSecond / 2));
    const half = await profileCase('half rate', double, dir, ['-g', String(rate), '-d', String(halfSeconds)]);
    const result: ProfileResult = { startedAt: new Date().toISOString(), cases: [saturated, half] };
    if (values.json !== undefined) writeFileSync(values.json, `${JSON.stringify(result, null, 2)}\n`);
    process.stdout.write(`${renderProfile(result)}\n`);
  } finally {
    await double.stop();
  }
});
