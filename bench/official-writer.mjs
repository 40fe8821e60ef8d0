// The baseline a user would build without Ferry: the same records written with the official
// `aerospike` client from one Node.js process, at the best settings we found.
//
//   node bench/official-writer.mjs --host 127.0.0.1 --port 3000 [--namespace test] [--set testset]
//        [--keys 200000] [--start-key 0] [--object B256] [--changes 200000] [--seed 1]
//        [--mode put|batch] [--concurrency 512] [--batch-size 64] [--send-key]
//
// Records are the ones `ferry xdr-load -w RU,0` ships: the same xorshift32 key sequence for the
// same seed, integer user keys (so the same digests), the same bins per (key, version) from
// record-factory, TTL never-expire. Each key's version counts its changes, as xdr-load's does.
//
//   put    one client.put() per change, `concurrency` in flight (the callback form: no promise
//          per record). Each in-flight command holds a socket of its own, so the pool is sized
//          to the window.
//   batch  client.batchWrite() of `batch-size` records, concurrency / batch-size batches in
//          flight; a record's latency is its batch's.
//
// Plain JavaScript, run by bare `node`: the package is a CommonJS native addon that loads in one
// thread per process only. It imports the built record factory from dist/ (npm run build first).
// Prints one JSON line on stdout; exits 1 on a failed connect or when any write failed.

import { createRequire } from 'node:module';
import { parseArgs } from 'node:util';

const require = createRequire(import.meta.url);
const Aerospike = require('aerospike');
// rng: the same generator and seeding as xdr-load's, so the key sequence is the same.
const { parseObjectSpec, expectedValue, rng } = await import('../dist/cli/load/record-factory.js');

const { values } = parseArgs({
  options: {
    host: { type: 'string', default: '127.0.0.1' },
    port: { type: 'string', default: '3000' },
    namespace: { type: 'string', default: 'test' },
    set: { type: 'string', default: 'testset' },
    keys: { type: 'string', default: '200000' },
    'start-key': { type: 'string', default: '0' },
    object: { type: 'string', default: 'B256' },
    changes: { type: 'string', default: '200000' },
    seed: { type: 'string', default: '1' },
    mode: { type: 'string', default: 'put' },
    concurrency: { type: 'string', default: '512' },
    'batch-size': { type: 'string', default: '64' },
    'send-key': { type: 'boolean', default: false },
  },
  strict: true,
});

function int(name, min) {
  const n = Number(values[name]);
  if (!Number.isInteger(n) || n < min) {
    process.stderr.write(`official-writer: --${name} must be an integer ≥ ${min}, got '${values[name]}'\n`);
    process.exit(2);
  }
  return n;
}

const port = int('port', 1);
const keys = int('keys', 1);
const startKey = int('start-key', 0);
const changes = int('changes', 1);
const concurrency = int('concurrency', 1);
const batchSize = int('batch-size', 1);
const mode = values.mode;
if (mode !== 'put' && mode !== 'batch') {
  process.stderr.write(`official-writer: --mode must be put or batch, got '${mode}'\n`);
  process.exit(2);
}
const specs = parseObjectSpec(values.object);
for (const s of specs) {
  if (!['I', 'D', 'S', 'B'].includes(s.kind)) {
    process.stderr.write(`official-writer: --object supports I, D, S and B bins, got ${s.kind}\n`);
    process.exit(2);
  }
}

const random = rng(int('seed', 0));
const version = new Int32Array(keys);

/** The next change: a random key, its version bumped, and its bins as client values. */
function nextChange() {
  const k = Math.floor(random() * keys);
  const v = ++version[k];
  const key = startKey + k;
  const bins = {};
  specs.forEach((spec, i) => {
    const value = expectedValue(spec, key, v);
    bins[`bin${i}`] = spec.kind === 'D' ? new Aerospike.Double(value) : value;
  });
  return { key: new Aerospike.Key(values.namespace, values.set, key), bins };
}

// Ack latency, the way xdr-load keeps it: bucket i counts latencies in [2^i, 2^(i+1)) µs, and a
// percentile is its bucket's upper edge, so the two tools' numbers compare bucket for bucket.
const latency = new Array(32).fill(0);
function record(us) {
  const v = Math.max(1, Math.round(us));
  latency[Math.min(31, 31 - Math.clz32(v))]++;
}
function percentileMs(p) {
  const total = latency.reduce((a, b) => a + b, 0);
  if (total === 0) return 0;
  let seen = 0;
  for (let i = 0; i < latency.length; i++) {
    seen += latency[i];
    if (seen >= total * p) return 2 ** (i + 1) / 1000;
  }
  return 2 ** latency.length / 1000;
}

const keyPolicy = values['send-key'] ? Aerospike.policy.key.SEND : Aerospike.policy.key.DIGEST;
const writePolicy = new Aerospike.WritePolicy({ key: keyPolicy, totalTimeout: 10000, socketTimeout: 5000, maxRetries: 2 });
const batchPolicy = new Aerospike.BatchPolicy({ totalTimeout: 10000, socketTimeout: 5000, maxRetries: 2 });
const batchWritePolicy = new Aerospike.BatchWritePolicy({ key: keyPolicy, ttl: Aerospike.ttl.NEVER_EXPIRE });
const meta = { ttl: Aerospike.ttl.NEVER_EXPIRE };
// put: every in-flight command needs its own socket (the C client does not pipeline); batch: one
// socket per batch in flight. A few spare for tending.
const batchesInFlight = Math.max(1, Math.ceil(concurrency / batchSize));
const conns = (mode === 'put' ? concurrency : batchesInFlight) + 8;
const config = {
  hosts: [{ addr: values.host, port }],
  connTimeoutMs: 5000,
  maxConnsPerNode: conns,
  minConnsPerNode: conns,
  policies: { write: writePolicy, batch: batchPolicy, batchWrite: batchWritePolicy },
  log: { level: Aerospike.log.WARN },
};

let client;
try {
  client = await Aerospike.connect(config);
} catch (err) {
  process.stderr.write(`official-writer: cannot connect to ${values.host}:${port}: ${err?.message ?? err}\n`);
  process.exit(1);
}

const byCode = {};
let done = 0;
let errors = 0;
let lastError = '';
function count(code) {
  byCode[code] = (byCode[code] ?? 0) + 1;
  if (code !== 0) errors++;
}

const cpu0 = process.cpuUsage();
const t0 = performance.now();

await new Promise((resolve) => {
  let issued = 0;
  let inFlight = 0;
  const finishIfDone = () => {
    if (issued >= changes && inFlight === 0) resolve();
  };
  if (mode === 'put') {
    const issue = () => {
      const { key, bins } = nextChange();
      const sent = performance.now();
      issued++;
      inFlight++;
      client.put(key, bins, meta, writePolicy, (err) => {
        inFlight--;
        done++;
        record((performance.now() - sent) * 1000);
        if (err) {
          count(typeof err.code === 'number' ? err.code : -1);
          lastError = err.message;
        } else count(0);
        if (issued < changes) issue();
        else finishIfDone();
      });
    };
    for (let i = 0; i < Math.min(concurrency, changes); i++) issue();
  } else {
    const issue = () => {
      const n = Math.min(batchSize, changes - issued);
      const batch = new Array(n);
      for (let i = 0; i < n; i++) {
        const { key, bins } = nextChange();
        batch[i] = {
          type: Aerospike.batchType.BATCH_WRITE,
          key,
          ops: Object.entries(bins).map(([name, value]) => Aerospike.operations.write(name, value)),
          policy: batchWritePolicy,
        };
      }
      const sent = performance.now();
      issued += n;
      inFlight += n;
      client.batchWrite(batch, batchPolicy, (err, results) => {
        inFlight -= n;
        done += n;
        const us = (performance.now() - sent) * 1000;
        for (let i = 0; i < n; i++) record(us);
        if (err) {
          for (let i = 0; i < n; i++) count(typeof err.code === 'number' ? err.code : -1);
          lastError = err.message;
        } else {
          for (const r of results) count(r.status);
        }
        if (issued < changes) issue();
        else finishIfDone();
      });
    };
    for (let i = 0; i < batchesInFlight && issued < changes; i++) issue();
  }
});

const elapsedMs = performance.now() - t0;
const cpu = process.cpuUsage(cpu0);
await client.close();

const summary = {
  mode,
  concurrency,
  ...(mode === 'batch' ? { batchSize, batchesInFlight } : {}),
  maxConnsPerNode: conns,
  keyPolicy: values['send-key'] ? 'SEND' : 'DIGEST',
  records: done,
  elapsedMs: Math.round(elapsedMs),
  recordsPerSecond: Math.round((done * 1000) / Math.max(1, elapsedMs)),
  errors,
  byCode,
  ...(lastError !== '' ? { lastError } : {}),
  latencyMs: { p50: percentileMs(0.5), p99: percentileMs(0.99), p999: percentileMs(0.999) },
  cpuSeconds: Math.round(((cpu.user + cpu.system) / 1e6) * 1000) / 1000,
  maxRssMiB: Math.round(process.resourceUsage().maxRSS / 1024),
};
process.stdout.write(`${JSON.stringify(summary)}\n`);
process.exit(errors > 0 ? 1 : 0);
