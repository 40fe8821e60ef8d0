/**
 * The same load into Ferry over TCP (XDR's connector protocol) and over HTTP/2 (the ESP
 * connector's: one POST per record), per destination: records/s and Ferry's CPU per record.
 *
 *   npm run bench:http2 -- [--changes 100000] [--rate 3000] [--rate-seconds 8] [--rounds 3]
 *                          [--connections 8] [--pipeline 256] [--workers N (Ferry's default)]
 *                          [--aerospike HOST:PORT]
 *
 *   xdr-load --protocol tcp   ──▶ ferry run (service.protocol TCP)    ──▶ destination
 *   xdr-load --protocol http2 ──▶ ferry run (service.protocol HTTP_2) ──▶ destination
 *
 * Two loads: as fast as each path goes (--changes), and the same fixed rate for both (--rate
 * changes/s for --rate-seconds), since a worker's wake-ups are amortised over fewer records at a
 * lower rate and CPU per record is only comparable at one rate.
 * Both Ferry processes run side by side for the whole bench; each round runs TCP then HTTP/2, so
 * a disturbance on a shared machine lands on both. CPU is user+sys of Ferry's process over the load
 * (/proc), divided by the records shipped; each figure is the median of its rounds. The destination
 * is the conformance double, and also the server named by --aerospike or FERRY_BENCH_AEROSPIKE.
 * It prints a Markdown section for bench/RESULTS.md.
 */

import { loadavg } from 'node:os';
import { DEFAULT_WORKERS, intFlag, parseFlags } from './lib/args.js';
import { cpuSeconds, runMain } from './lib/processes.js';
import { Double, type Endpoint, Ferry, XDR_LOAD_COMMAND, XdrLoad, checkReachable, endpointText, parseEndpoint, scratchDir } from './lib/stack.js';

const values = parseFlags({
  changes: { type: 'string', default: '100000' },
  rate: { type: 'string', default: '3000' },
  'rate-seconds': { type: 'string', default: '8' },
  rounds: { type: 'string', default: '3' },
  connections: { type: 'string', default: '8' },
  pipeline: { type: 'string', default: '256' },
  workers: { type: 'string', default: DEFAULT_WORKERS },
  aerospike: { type: 'string' },
});
const changes = intFlag('changes', values.changes, 1000);
const rate = intFlag('rate', values.rate, 1);
const rateSeconds = intFlag('rate-seconds', values['rate-seconds'], 1);
const rounds = intFlag('rounds', values.rounds, 1);
const connections = intFlag('connections', values.connections, 1);
const pipeline = intFlag('pipeline', values.pipeline, 1);
const workers = intFlag('workers', values.workers, 1);
const realServer = values.aerospike ?? process.env.FERRY_BENCH_AEROSPIKE;

const PROTOCOLS = ['tcp', 'http2'] as const;
type Protocol = (typeof PROTOCOLS)[number];

const log = (msg: string): void => void process.stderr.write(`[http2 ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)]!;
const LOADS = {
  saturation: { title: `${changes.toLocaleString('en-US')} changes, as fast as it goes`, args: ['--changes', String(changes)] },
  rate: { title: `${rate.toLocaleString('en-US')} changes/s for ${rateSeconds} s`, args: ['-g', String(rate), '-d', String(rateSeconds)] },
} as const;
type Load = keyof typeof LOADS;
const loadArgs = (protocol: Protocol, load: Load): string[] => ['--protocol', protocol, '-n', 'test', '-s', `bench-${protocol}`, '-k', '100000', '-o', 'B256', '-w', 'RU,0', '-z', String(connections), '--pipeline', String(pipeline), ...LOADS[load].args, '--no-health-checks', '--quiet'];

interface Round {
  recordsPerSecond: number;
  cpuMicrosPerRecord: number;
  /** the load generator's own CPU per record: whether it, not Ferry, set the pace */
  loadCpuMicrosPerRecord: number;
}

async function runRound(protocol: Protocol, load: Load, at: Endpoint, pid: number): Promise<Round> {
  const before = cpuSeconds(pid);
  const { summary } = await new XdrLoad(['-h', endpointText(at), ...loadArgs(protocol, load)]).result(600_000);
  const cpu = cpuSeconds(pid) - before;
  const perRecord = (seconds: number): number => Math.round((seconds * 1e8) / summary.ships) / 100;
  return { recordsPerSecond: summary.shipsPerSecond, cpuMicrosPerRecord: perRecord(cpu), loadCpuMicrosPerRecord: perRecord(summary.cpuSeconds) };
}

async function runDestination(kind: 'double' | 'aerospike', dir: string): Promise<string[]> {
  const double = kind === 'double' ? await Double.start() : null;
  const destination = double?.endpoint ?? parseEndpoint(realServer!, 'FERRY_BENCH_AEROSPIKE');
  log(`destination: ${kind} at ${endpointText(destination)}`);
  const ferries = {
    tcp: await Ferry.start({ destination, workers, dir }),
    http2: await Ferry.start({ destination, workers, dir, service: ['protocol: HTTP_2'] }),
  };
  try {
    const title = kind === 'double' ? 'conformance double (test/double/main.ts)' : `Aerospike server at ${endpointText(destination)}`;
    const lines = [`### Into the ${title}`, '', '| load | protocol | records/s (each round) | Ferry CPU µs / record (each round) | xdr-load CPU µs / record |', '|---|---|---|---|---|'];
    for (const load of Object.keys(LOADS) as Load[]) {
      const results: Record<Protocol, Round[]> = { tcp: [], http2: [] };
      for (let r = 1; r <= rounds; r++) {
        for (const p of PROTOCOLS) results[p].push(await runRound(p, load, ferries[p].service, ferries[p].proc.pid));
        log(`${load} round ${r}/${rounds}: ${PROTOCOLS.map((p) => `${p} ${results[p].at(-1)!.recordsPerSecond}/s ${results[p].at(-1)!.cpuMicrosPerRecord} µs`).join(', ')}`);
      }
      for (const p of PROTOCOLS) {
        const rs = results[p];
        const each = (f: (x: Round) => number): string => rs.map((x) => f(x).toLocaleString('en-US')).join(' / ');
        lines.push(
          `| ${p === 'tcp' ? LOADS[load].title : ''} | ${p === 'tcp' ? 'TCP' : 'HTTP/2'} | ${median(rs.map((x) => x.recordsPerSecond)).toLocaleString('en-US')} (${each((x) => x.recordsPerSecond)}) | ${median(rs.map((x) => x.cpuMicrosPerRecord))} (${each((x) => x.cpuMicrosPerRecord)}) | ${median(rs.map((x) => x.loadCpuMicrosPerRecord))} |`,
        );
      }
    }
    lines.push('');
    return lines;
  } finally {
    await Promise.all([ferries.tcp.stop(), ferries.http2.stop()]);
    await double?.stop();
  }
}

runMain(async () => {
  const dir = scratchDir();
  const real = realServer !== undefined && realServer !== '';
  if (real) await checkReachable(parseEndpoint(realServer, 'FERRY_BENCH_AEROSPIKE'), 'the Aerospike server (FERRY_BENCH_AEROSPIKE)');
  const started = new Date();
  const load = loadavg()[0]!.toFixed(2);
  const lines = [
    '## HTTP/2 against TCP ingress',
    '',
    `Run ${started.toISOString().slice(0, 16).replace('T', ' ')} UTC; load average when it started: ${load} on this machine's cores, shared with other work, so these numbers are noisy. The xdr-load column is the load generator's own CPU per record: where it nears a core's worth at the measured rate, the generator, not Ferry, set the pace.`,
    '',
    `The same loads into two Ferry processes (${workers} worker threads each), one with \`service.protocol: TCP\`, one with \`HTTP_2\`: 256-byte blobs over ${connections} connections × ${pipeline} in flight (TCP: pipelined requests; HTTP/2: concurrent streams, one POST per record), as fast as each goes and at one fixed rate for both. Each round runs TCP then HTTP/2; figures are medians of ${rounds} rounds. CPU is user+sys of the Ferry process (/proc/<pid>/stat) over the load ÷ records shipped.`,
    '',
    '```sh',
    `npm run bench:http2 -- --changes ${changes} --rate ${rate} --rate-seconds ${rateSeconds} --rounds ${rounds} --connections ${connections} --pipeline ${pipeline} --workers ${workers}`,
    ...(Object.keys(LOADS) as Load[]).map((load) => `# ${load}: ${XDR_LOAD_COMMAND} -h <ferry> ${loadArgs('http2', load).join(' ')}`),
    '```',
    '',
    ...(await runDestination('double', dir)),
  ];
  if (real) lines.push(...(await runDestination('aerospike', dir)));
  process.stdout.write(`${lines.join('\n')}\n`);
});
