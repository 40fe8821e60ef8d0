/**
 * Records/s through Ferry and Ferry's CPU time per record, with `ferry xdr-load` as the source and
 * the conformance double as the destination, each in its own process.
 *
 *   npm run bench:through-ferry -- [--changes N] [--object B256] [--connections 8] [--workers 2]
 *
 * Ferry's CPU is user+sys from /proc/<pid>/stat over the load run; peak RSS is VmHWM.
 */

import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const root = fileURLToPath(new URL('..', import.meta.url));
const { values } = parseArgs({
  options: {
    changes: { type: 'string', default: '500000' },
    object: { type: 'string', default: 'B256' },
    connections: { type: 'string', default: '8' },
    workers: { type: 'string', default: '2' },
    keys: { type: 'string', default: '200000' },
  },
});

function firstLine(child: ChildProcess, match: (line: string) => boolean): Promise<string> {
  return new Promise((resolve, reject) => {
    let buf = '';
    child.stdout!.on('data', (c: Buffer) => {
      buf += c.toString();
      for (const line of buf.split('\n')) if (match(line)) resolve(line);
    });
    child.once('exit', (code) => reject(new Error(`process exited with ${code}`)));
  });
}

function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  // utime and stime are fields 14 and 15 of stat; after "pid (comm) " they are at 11 and 12.
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

async function main(): Promise<void> {
  const double = spawn(process.execPath, ['--import', 'tsx', join(root, 'test/double/main.ts'), '--port', '0'], { stdio: ['ignore', 'pipe', 'inherit'] });
  const doublePort = (JSON.parse(await firstLine(double, (l) => l.startsWith('{"port"'))) as { port: number }).port;
  const dir = mkdtempSync(join(tmpdir(), 'ferry-bench-'));
  const config = join(dir, 'ferry.yml');
  writeFileSync(
    config,
    `service: { port: 0, address: 127.0.0.1, worker-threads: ${values.workers} }\naerospike: { seeds: [ { 127.0.0.1: { port: ${doublePort} } } ] }\nlogging: { levels: { root: info } }\n`,
  );
  const ferry = spawn(process.execPath, [join(root, 'dist/cli/ferry.js'), 'run', '--config', config], { stdio: ['ignore', 'pipe', 'inherit'] });
  const started = JSON.parse(await firstLine(ferry, (l) => l.includes('"ferry started"'))) as { listening: string[] };
  const ferryPort = Number(started.listening[0]!.split(':').pop());

  const cpu0 = cpuSeconds(ferry.pid!);
  const load = spawn(
    process.execPath,
    [join(root, 'dist/cli/ferry.js'), 'xdr-load', '-h', `127.0.0.1:${ferryPort}`, '-k', values.keys, '-o', values.object, '-w', 'RU,0', '-z', values.connections, '--changes', values.changes, '--quiet', '--no-health-checks'],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const summary = JSON.parse(await firstLine(load, (l) => l.startsWith('{'))) as { ships: number; shipsPerSecond: number; abandons: number; latencyMs: Record<string, number> };
  const cpu = cpuSeconds(ferry.pid!) - cpu0;
  const rssKiB = Number(/VmHWM:\s+(\d+)/.exec(readFileSync(`/proc/${ferry.pid}/status`, 'utf8'))![1]);
  ferry.kill('SIGTERM');
  double.kill('SIGTERM');
  const result = {
    object: values.object,
    changes: Number(values.changes),
    records: summary.ships,
    recordsPerSecond: summary.shipsPerSecond,
    abandons: summary.abandons,
    ackLatencyMs: summary.latencyMs,
    ferryCpuSeconds: cpu,
    ferryCpuMicrosPerRecord: Math.round((cpu / summary.ships) * 1e6 * 100) / 100,
    ferryPeakRssMiB: Math.round(rssKiB / 1024),
  };
  process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`${String(err)}\n`);
  process.exit(1);
});
