/**
 * Ferry's CPU per record in a steady state, split by thread, for comparing settings back to back:
 * each variant gets its own Ferry, a warm-up, then a measured load; the variants alternate, run
 * after run, so a disturbance on a shared machine lands on all of them.
 *
 *   npm run bench:steady -- [--throttle N] [--changes 600000] [--warmup 300000] [--runs 3]
 *                           [--variant 'NAME: service.KEY=V,aerospike.KEY=V,node=FLAGS,build=DIR'] ...
 *
 * A value may be YAML flow with commas inside its brackets (`aerospike.skip-sets=[a, b]`). `build=DIR`
 * runs the Ferry built in another checkout (DIR/dist/cli/ferry.js, after `npm ci` there), to compare
 * two commits on one load: `git worktree add /tmp/old <commit> && (cd /tmp/old && npm ci)`.
 *
 * Destination: FERRY_BENCH_AEROSPIKE=host:port, else the conformance double. The load is the
 * e2e bench's (-w RU,0 -o B256 over 200,000 keys, 8 connections × 256), saturated or throttled to
 * N changes/s. Threads, from /proc/<pid>/task: main (the process's own), workers (the N busiest
 * others, N = worker threads), helpers (the rest: V8's compiler and garbage-collector threads,
 * libuv's pool). Without --variant: Ferry's defaults against dispatch-delay 0 and against node
 * started without NODE_FLAGS.
 */

import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { DEFAULT_WORKERS, intFlag, parseFlags, usageError } from './lib/args.js';
import { runMain, splitThreads, threadCpu } from './lib/processes.js';
import { Double, type Endpoint, Ferry, XdrLoad, parseEndpoint, scratchDir } from './lib/stack.js';

const values = parseFlags({
  throttle: { type: 'string', default: '0' },
  changes: { type: 'string', default: '600000' },
  warmup: { type: 'string', default: '300000' },
  runs: { type: 'string', default: '3' },
  workers: { type: 'string', default: DEFAULT_WORKERS },
  variant: { type: 'string', multiple: true, default: [] },
});
const throttle = intFlag('throttle', values.throttle, 0);
const changes = intFlag('changes', values.changes, 1000);
const warmup = intFlag('warmup', values.warmup, 0);
const runs = intFlag('runs', values.runs, 1);
const workers = intFlag('workers', values.workers, 1);

interface Variant {
  name: string;
  service: string[];
  aerospike: string[];
  nodeFlags: string[] | undefined;
  /** the ferry command of another checkout (its dist/cli/ferry.js), run instead of this one's */
  build: string | undefined;
}

/** Comma-separated parts, keeping together a value written as YAML flow: `{a: 1, b: [x, y]}`. */
function topLevelParts(text: string): string[] {
  const open = (p: string): number => p.split(/[{[]/).length - p.split(/[}\]]/).length;
  const parts: string[] = [];
  for (const piece of text.split(',')) {
    if (parts.length > 0 && open(parts[parts.length - 1]!) > 0) parts[parts.length - 1] += `,${piece}`;
    else parts.push(piece);
  }
  return parts.map((p) => p.trim()).filter((p) => p !== '');
}

/** 'NAME: service.dispatch-delay=0,aerospike.connections-per-node=1,aerospike.namespaces={a: {…}, b: {…}},node=--flag --flag,build=/tmp/old' */
function parseVariant(text: string): Variant {
  const colon = text.indexOf(':');
  const v: Variant = { name: colon < 0 ? text : text.slice(0, colon).trim(), service: [], aerospike: [], nodeFlags: undefined, build: undefined };
  for (const part of topLevelParts(colon < 0 ? '' : text.slice(colon + 1))) {
    const eq = part.indexOf('=');
    const key = part.slice(0, eq);
    const value = part.slice(eq + 1);
    if (eq < 0) usageError(`--variant: '${part}' is not KEY=VALUE`);
    if (key === 'node') v.nodeFlags = value.split(' ').filter((f) => f !== '');
    else if (key === 'build') v.build = checkoutScript(value);
    else if (key.startsWith('service.')) v.service.push(`${key.slice(8)}: ${value}`);
    else if (key.startsWith('aerospike.')) v.aerospike.push(`${key.slice(10)}: ${value}`);
    else usageError(`--variant: '${key}' must start with service., aerospike. or be node or build`);
  }
  return v;
}

/** The ferry command of the checkout at `dir`, which must have been built. */
function checkoutScript(dir: string): string {
  const script = resolve(dir, 'dist/cli/ferry.js');
  if (!existsSync(script)) usageError(`--variant: build=${dir}: no ${script} (run npm ci there first)`);
  return script;
}

const variants: Variant[] =
  values.variant.length > 0
    ? values.variant.map(parseVariant)
    : [parseVariant('defaults'), parseVariant('dispatch-delay 0: service.dispatch-delay=0'), parseVariant('without NODE_FLAGS: node=')];

const log = (msg: string): void => void process.stderr.write(`[steady ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);

interface Sample {
  variant: string;
  recordsPerSecond: number;
  p50: number;
  p99: number;
  total: number;
  main: number;
  workers: number;
  helpers: number;
}

function loadArgs(target: Endpoint, n: number): string[] {
  return [
    '-h', `${target.host}:${target.port}`, '-n', 'test', '-s', 'testset', '-k', '200000', '-o', 'B256', '-w', 'RU,0',
    '-z', '8', '--pipeline', '256', '--changes', String(n), ...(throttle > 0 ? ['-g', String(throttle)] : []),
    '--no-health-checks', '--quiet',
  ];
}

async function measure(v: Variant, destination: Endpoint, dir: string): Promise<Sample> {
  const ferry = await Ferry.start({
    destination,
    workers,
    dir,
    service: v.service,
    aerospike: v.aerospike,
    ...(v.nodeFlags === undefined ? {} : { nodeFlags: v.nodeFlags }),
    ...(v.build === undefined ? {} : { script: v.build }),
  });
  try {
    if (warmup > 0) await new XdrLoad(loadArgs(ferry.service, warmup)).result(600_000);
    const before = threadCpu(ferry.proc.pid);
    const { summary } = await new XdrLoad(loadArgs(ferry.service, changes)).result(600_000);
    const { main, workers: worker, helpers } = splitThreads(ferry.proc.pid, before, threadCpu(ferry.proc.pid), workers);
    const per = (s: number): number => Math.round((s * 1e8) / summary.ships) / 100;
    return {
      variant: v.name,
      recordsPerSecond: Math.round(summary.shipsPerSecond),
      p50: summary.latencyMs.p50,
      p99: summary.latencyMs.p99,
      total: per(main + worker + helpers),
      main: per(main),
      workers: per(worker),
      helpers: per(helpers),
    };
  } finally {
    await ferry.stop();
  }
}

runMain(async () => {
  const dir = scratchDir();
  const real = process.env.FERRY_BENCH_AEROSPIKE;
  const double = real === undefined ? await Double.start() : null;
  const destination = double?.endpoint ?? parseEndpoint(real!, 'FERRY_BENCH_AEROSPIKE');
  const samples: Sample[] = [];
  try {
    for (let r = 1; r <= runs; r++) {
      for (const v of variants) {
        const s = await measure(v, destination, dir);
        log(`run ${r}, ${v.name}: ${s.recordsPerSecond} records/s, ${s.total} µs CPU/record (main ${s.main}, workers ${s.workers}, helpers ${s.helpers})`);
        samples.push(s);
      }
    }
  } finally {
    await double?.stop();
  }
  // Each variant by its median run (by CPU per record), with every run's total beside it.
  const rows = variants.map((v) => {
    const mine = samples.filter((s) => s.variant === v.name);
    const m = [...mine].sort((a, b) => a.total - b.total)[Math.floor(mine.length / 2)]!;
    return { variant: v.name, 'records/s': m.recordsPerSecond, 'µs/record': m.total, main: m.main, workers: m.workers, helpers: m.helpers, 'ack p50 (ms)': m.p50, 'ack p99 (ms)': m.p99, runs: mine.map((s) => s.total).join(' / ') };
  });
  console.table(rows);
  process.stdout.write(`${JSON.stringify({ destination: double === null ? real : 'double', throttle, changes, warmup, rows })}\n`);
});
