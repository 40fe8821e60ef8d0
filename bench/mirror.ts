/**
 * `ferry mirror` against `etcdctl make-mirror`, in one run, on the same data: real etcd servers on
 * loopback (data on /dev/shm), one source, a fresh destination per tool.
 *
 *   npm run bench:mirror -- [--keys 50000] [--value-bytes 100] [--stream 20000] [--concurrency 32]
 *
 * For each tool: start it against a source holding --keys keys and time the initial sync until the
 * destination holds them all (keys/s); then write the same live stream (--stream single-key puts,
 * --concurrency in flight, then a marker key) and time until the destination has the marker
 * (changes/s, time to converge). The destination is then compared with the source, key by key.
 * CPU is the mirror process's user+sys time over both phases.
 *
 * Then the merge: two sources of --merge-keys keys each, one destination already holding
 * --own-keys keys of its own; two mirror processes per tool, no prefix, no other flags. Timed until
 * the destination holds every key of both sources plus its own, then checked key by key.
 */

import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import type { Etcd3 } from 'etcd3';
import { type EtcdServer, dump, etcdctlBinary, startEtcd } from '../test/support/etcd.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const { values } = parseArgs({
  options: {
    keys: { type: 'string', default: '50000' },
    'value-bytes': { type: 'string', default: '100' },
    stream: { type: 'string', default: '20000' },
    concurrency: { type: 'string', default: '32' },
    'merge-keys': { type: 'string', default: '25000' },
    'own-keys': { type: 'string', default: '1000' },
  },
});
const KEYS = Number(values.keys);
const VALUE_BYTES = Number(values['value-bytes']);
const STREAM = Number(values.stream);
const CONCURRENCY = Number(values.concurrency);
const PREFIX = 'bench/';
const MERGE_KEYS = Number(values['merge-keys']);
const OWN_KEYS = Number(values['own-keys']);

function cpuSeconds(pid: number): number {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return 0;
  }
}

async function countUnder(client: Etcd3, prefix: string): Promise<number> {
  const end = Buffer.from(prefix);
  end[end.length - 1]!++;
  const res = await client.kv.range({ key: Buffer.from(prefix), range_end: end, count_only: true });
  return Number(res.count);
}

/** Poll until `done()` (the bench measures the moment, so it looks often). */
async function until(done: () => Promise<boolean>, timeoutMs: number): Promise<number> {
  const start = performance.now();
  while (!(await done())) {
    if (performance.now() - start > timeoutMs) throw new Error(`not converged within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
  return performance.now() - start;
}

async function load(client: Etcd3, prefix = `${PREFIX}key/`, count = KEYS): Promise<void> {
  const value = Buffer.alloc(VALUE_BYTES, 'v');
  for (let i = 0; i < count; i += 100) {
    const ops = [];
    for (let j = i; j < Math.min(count, i + 100); j++) ops.push({ request_put: { key: Buffer.from(`${prefix}${String(j).padStart(8, '0')}`), value } });
    await client.kv.txn({ success: ops });
  }
}

/** Ferry's bookkeeping keys in a destination: checkpoints and ownership markers. */
async function bookkeepingKeys(client: Etcd3): Promise<number> {
  return Number((await client.kv.range({ key: Buffer.from('__ferry/'), range_end: Buffer.from('__ferry0'), count_only: true })).count);
}

/** Keys outside Ferry's bookkeeping. */
async function dataKeys(client: Etcd3): Promise<number> {
  const all = Number((await client.kv.range({ key: Buffer.from([0]), range_end: Buffer.from([0]), count_only: true })).count);
  return all - (await bookkeepingKeys(client));
}

interface MergeResult {
  tool: string;
  ms: number;
  cpuS: number;
  equal: boolean;
  /** the destination's bookkeeping keys after the merge (checkpoints and ownership markers) */
  bookkeeping: number;
}

/** Two sources (already loaded) into one fresh destination holding OWN_KEYS keys of its own. */
async function runMerge(tool: string, sources: [EtcdServer, EtcdServer], spawnTool: (source: EtcdServer, dest: EtcdServer) => ChildProcess): Promise<MergeResult> {
  const dest = await startEtcd({ name: `merge-${tool.split(' ')[0]}` });
  try {
    await load(dest.client, 'local/', OWN_KEYS);
    const total = 2 * MERGE_KEYS + OWN_KEYS;
    const t0 = performance.now();
    const children = sources.map((s) => spawnTool(s, dest));
    let stderr = '';
    for (const c of children) c.stderr?.on('data', (d: Buffer) => (stderr += d.toString('utf8')));
    const exits = children.map((c) => new Promise<void>((resolve) => c.once('exit', () => resolve())));
    try {
      await until(async () => (await dataKeys(dest.client)) >= total, 600_000);
      const ms = performance.now() - t0;
      const cpuS = children.reduce((n, c) => n + cpuSeconds(c.pid!), 0);
      const [a, b, own, got] = await Promise.all([dump(sources[0].client, 'merge/'), dump(sources[1].client, 'merge/'), dump(dest.client, 'local/'), dump(dest.client, 'merge/')]);
      const equal = got.size === a.size + b.size && [...a, ...b].every(([k, v]) => got.get(k) === v) && own.size === OWN_KEYS;
      const bookkeeping = await bookkeepingKeys(dest.client);
      return { tool, ms, cpuS, equal, bookkeeping };
    } catch (err) {
      throw new Error(`${tool} (merge): ${(err as Error).message}\n${stderr.slice(-2000)}`);
    } finally {
      for (const c of children) c.kill('SIGTERM');
      await Promise.all(exits);
    }
  } finally {
    await dest.close();
  }
}

/** The live stream: STREAM single-key puts over 5,000 keys, CONCURRENCY in flight, then a marker. */
async function stream(client: Etcd3, round: string): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < STREAM) {
      const i = next++;
      await client.put(`${PREFIX}live/${i % 5000}`).value(`${round}-${i}`);
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  await client.put(`${PREFIX}live/marker`).value(round);
}

interface Result {
  tool: string;
  syncMs: number;
  streamMs: number;
  /** from the last write of the stream to the destination having it */
  tailMs: number;
  cpuS: number;
  equal: boolean;
}

async function runTool(tool: string, source: EtcdServer, spawnTool: (dest: EtcdServer) => ChildProcess): Promise<Result> {
  const dest = await startEtcd({ name: `dest-${tool.split(' ')[0]}` });
  try {
    const t0 = performance.now();
    const child = spawnTool(dest);
    let stderr = '';
    child.stderr?.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    try {
      await until(async () => (await countUnder(dest.client, `${PREFIX}key/`)) >= KEYS, 600_000);
      const syncMs = performance.now() - t0;
      const round = `${tool.split(' ')[0]}-${Date.now()}`;
      const s0 = performance.now();
      await stream(source.client, round);
      const written = performance.now();
      await until(async () => (await dest.client.get(`${PREFIX}live/marker`).string()) === round, 600_000);
      const streamMs = performance.now() - s0;
      const tailMs = performance.now() - written;
      const cpuS = cpuSeconds(child.pid!);
      const [want, got] = await Promise.all([dump(source.client, PREFIX), dump(dest.client, PREFIX)]);
      const equal = want.size === got.size && [...want].every(([k, v]) => got.get(k) === v);
      return { tool, syncMs, streamMs, tailMs, cpuS, equal };
    } catch (err) {
      throw new Error(`${tool}: ${(err as Error).message}\n${stderr.slice(-2000)}`);
    } finally {
      child.kill('SIGTERM');
      await exited;
    }
  } finally {
    await dest.close();
  }
}

async function main(): Promise<void> {
  const etcdctl = etcdctlBinary();
  const version = await new Promise<string>((resolve) => {
    const p = spawn(etcdctl, ['version'], { env: { ...process.env, ETCDCTL_API: '3' } });
    let out = '';
    p.stdout.on('data', (c: Buffer) => (out += c.toString()));
    p.once('exit', () => resolve(out.split('\n')[0] ?? ''));
  });
  const source = await startEtcd({ name: 'source' });
  const mergeSources: [EtcdServer, EtcdServer] = await Promise.all([startEtcd({ name: 'merge-a' }), startEtcd({ name: 'merge-b' })]);
  try {
    await Promise.all([load(mergeSources[0].client, 'merge/a/', MERGE_KEYS), load(mergeSources[1].client, 'merge/b/', MERGE_KEYS)]);
    await load(source.client);
    const results: Result[] = [];
    results.push(
      await runTool('ferry mirror', source, (dest) =>
        spawn(process.execPath, [`${root}dist/cli/ferry.js`, 'mirror', '--endpoints', source.endpoint, '--prefix', PREFIX, '--quiet', dest.endpoint], { stdio: ['ignore', 'ignore', 'pipe'] }),
      ),
    );
    results.push(
      await runTool('etcdctl make-mirror', source, (dest) =>
        spawn(etcdctl, ['--endpoints', source.endpoint, 'make-mirror', '--prefix', PREFIX, dest.endpoint], {
          stdio: ['ignore', 'ignore', 'pipe'],
          env: { ...process.env, ETCDCTL_API: '3' },
        }),
      ),
    );
    const n = (v: number): string => Math.round(v).toLocaleString('en-US');
    process.stdout.write(`\n${version}; ${KEYS} keys of ${VALUE_BYTES} bytes; stream of ${STREAM} puts (${CONCURRENCY} in flight) + marker\n\n`);
    process.stdout.write('| tool | initial sync | keys/s | live stream converged | changes/s | behind the last write | CPU (s) | destination equals source |\n|---|---|---|---|---|---|---|---|\n');
    for (const r of results) {
      process.stdout.write(
        `| ${r.tool} | ${(r.syncMs / 1000).toFixed(2)} s | ${n((KEYS * 1000) / r.syncMs)} | ${(r.streamMs / 1000).toFixed(2)} s | ${n(((STREAM + 1) * 1000) / r.streamMs)} | ${Math.round(r.tailMs)} ms | ${r.cpuS.toFixed(2)} | ${r.equal ? 'yes' : 'NO'} |\n`,
      );
    }

    const merges: MergeResult[] = [];
    merges.push(
      await runMerge('ferry mirror ×2', mergeSources, (src, dest) =>
        spawn(process.execPath, [`${root}dist/cli/ferry.js`, 'mirror', '--endpoints', src.endpoint, '--quiet', dest.endpoint], { stdio: ['ignore', 'ignore', 'pipe'] }),
      ),
    );
    merges.push(
      await runMerge('etcdctl make-mirror ×2', mergeSources, (src, dest) =>
        spawn(etcdctl, ['--endpoints', src.endpoint, 'make-mirror', dest.endpoint], { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, ETCDCTL_API: '3' } }),
      ),
    );
    process.stdout.write(`\nmerge: two sources of ${MERGE_KEYS} keys each into one destination holding ${OWN_KEYS} keys of its own, no prefix\n\n`);
    process.stdout.write('| tools | destination holds all | keys/s | CPU (s, both) | own keys kept, sources equal | bookkeeping keys |\n|---|---|---|---|---|---|\n');
    for (const r of merges) {
      process.stdout.write(`| ${r.tool} | ${(r.ms / 1000).toFixed(2)} s | ${n((2 * MERGE_KEYS * 1000) / r.ms)} | ${r.cpuS.toFixed(2)} | ${r.equal ? 'yes' : 'NO'} | ${n(r.bookkeeping)} |\n`);
    }
  } finally {
    await Promise.all([source.close(), ...mergeSources.map((s) => s.close())]);
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  },
);
