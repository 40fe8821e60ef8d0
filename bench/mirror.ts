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
  },
});
const KEYS = Number(values.keys);
const VALUE_BYTES = Number(values['value-bytes']);
const STREAM = Number(values.stream);
const CONCURRENCY = Number(values.concurrency);
const PREFIX = 'bench/';

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

async function load(client: Etcd3): Promise<void> {
  const value = Buffer.alloc(VALUE_BYTES, 'v');
  for (let i = 0; i < KEYS; i += 100) {
    const ops = [];
    for (let j = i; j < Math.min(KEYS, i + 100); j++) ops.push({ request_put: { key: Buffer.from(`${PREFIX}key/${String(j).padStart(8, '0')}`), value } });
    await client.kv.txn({ success: ops });
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
  try {
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
  } finally {
    await source.close();
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  },
);
