// The official `aerospike` client scanning one namespace (or set), for comparison with
// `ferry verify`'s own scans: every record arrives as a JS object the addon builds.
//
//   node bench/official-scan.mjs --host 127.0.0.1 --port 3000 --namespace test [--set S]
//
// Prints one JSON line: { records, elapsedMs, recordsPerSecond, cpuSeconds }. Plain JavaScript
// run by bare `node`: the package is a CommonJS native addon.

import { createRequire } from 'node:module';
import { parseArgs } from 'node:util';

const require = createRequire(import.meta.url);
const Aerospike = require('aerospike');

const { values } = parseArgs({
  options: {
    host: { type: 'string', default: '127.0.0.1' },
    port: { type: 'string', default: '3000' },
    namespace: { type: 'string', default: 'test' },
    set: { type: 'string' },
  },
  strict: true,
});

const client = await Aerospike.connect({ hosts: [{ addr: values.host, port: Number(values.port) }], connTimeoutMs: 5000 });
const cpu0 = process.cpuUsage();
const started = performance.now();
let records = 0;
await new Promise((resolve, reject) => {
  const stream = client.scan(values.namespace, values.set).foreach({ socketTimeout: 10_000, totalTimeout: 0 });
  stream.on('data', () => {
    records++;
  });
  stream.on('error', reject);
  stream.on('end', resolve);
});
const elapsedMs = performance.now() - started;
const cpu = process.cpuUsage(cpu0);
await client.close();
process.stdout.write(`${JSON.stringify({ records, elapsedMs: Math.round(elapsedMs), recordsPerSecond: Math.round((records * 1000) / elapsedMs), cpuSeconds: (cpu.user + cpu.system) / 1e6 })}\n`);
