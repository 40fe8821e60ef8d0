// Child process that drives the official `aerospike` client on behalf of a test.
//
// Why a separate process: the client's connect() runs the C client's first cluster tend
// synchronously on the JavaScript thread (AerospikeClient::Connect calls aerospike_connect
// directly). A double in the same thread therefore never gets to answer the tend and connect()
// fails with a timeout. The native addon also loads in one thread per process only, so a
// worker thread is no better home than a child process, which additionally contains any crash.
//
// Plain JavaScript because it runs under bare `node` (no TypeScript loader in the child). The
// protocol is Node IPC with 'advanced' serialisation (structured clone: Buffers arrive as
// Uint8Array, bigint and Map survive):
//   parent → child  { id, op, args }
//   child → parent  { id, ok: true, value } | { id, ok: false, error: { code, message } }
// Values the client needs as classes are tagged: { $double: n }, { $geo: object }.

import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const Aerospike = require('aerospike');
const ops = Aerospike.operations;

let client;

function toClientValue(v) {
  if (v instanceof Uint8Array) return Buffer.from(v);
  if (Array.isArray(v)) return v.map(toClientValue);
  if (v instanceof Map) return new Map([...v].map(([k, x]) => [k, toClientValue(x)]));
  if (v !== null && typeof v === 'object') {
    if ('$double' in v) return new Aerospike.Double(v.$double);
    if ('$geo' in v) return new Aerospike.GeoJSON(v.$geo);
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, toClientValue(x)]));
  }
  return v;
}

function fromClientValue(v) {
  if (v instanceof Aerospike.GeoJSON) return { $geo: v.toJSON() };
  if (Buffer.isBuffer(v)) return new Uint8Array(v);
  if (Array.isArray(v)) return v.map(fromClientValue);
  if (v instanceof Map) return new Map([...v].map(([k, x]) => [k, fromClientValue(x)]));
  if (v !== null && typeof v === 'object') {
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, fromClientValue(x)]));
  }
  return v;
}

function key([ns, set, userKey]) {
  return new Aerospike.Key(ns, set, userKey instanceof Uint8Array ? Buffer.from(userKey) : userKey);
}

function record(r) {
  return { bins: fromClientValue(r.bins ?? {}), gen: r.gen, ttl: r.ttl };
}

function operation(o) {
  switch (o.kind) {
    case 'read': return ops.read(o.bin);
    case 'write': return ops.write(o.bin, toClientValue(o.value));
    case 'incr': return ops.incr(o.bin, toClientValue(o.value));
    case 'append': return ops.append(o.bin, toClientValue(o.value));
    case 'prepend': return ops.prepend(o.bin, toClientValue(o.value));
    case 'touch': return ops.touch(o.ttl);
    case 'delete': return ops.delete();
    case 'list-append': return Aerospike.lists.append(o.bin, toClientValue(o.value));
    default: throw new Error(`unknown operation kind ${o.kind}`);
  }
}

function errorCode(err) {
  return typeof err?.code === 'number' ? err.code : -1;
}

async function inParallel(count, concurrency, task) {
  let next = 0;
  const worker = async () => {
    while (next < count) await task(next++);
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(concurrency ?? 64, count)) }, worker));
}

const commands = {
  async connect({ port, hosts, clusterName, user, password, tls, timeoutMs }) {
    const seeds = hosts ?? [{ host: '127.0.0.1', port }];
    const config = {
      hosts: seeds.map((h) => (h.tlsName ? { addr: h.host, port: h.port, tlsname: h.tlsName } : { addr: h.host, port: h.port })),
      connTimeoutMs: 5000,
    };
    if (clusterName) config.clusterName = clusterName;
    if (user !== undefined) {
      config.user = user;
      config.password = password;
    }
    if (tls) config.tls = { enable: true, ...tls };
    if (timeoutMs !== undefined) {
      const timeouts = { totalTimeout: timeoutMs, socketTimeout: timeoutMs };
      config.policies = { read: timeouts, write: timeouts };
    }
    client = await Aerospike.connect(config);
    return null;
  },
  async nodes() {
    return client.getNodes().map((node) => node.name);
  },
  // Many puts (or gets), `concurrency` in flight at once; one IPC round trip for all of them.
  async putMany({ items, concurrency }) {
    const failures = [];
    await inParallel(items.length, concurrency, async (i) => {
      try {
        await client.put(key(items[i].key), toClientValue(items[i].bins));
      } catch (err) {
        failures.push({ index: i, code: errorCode(err), message: String(err?.message ?? err) });
      }
    });
    return { failures };
  },
  async getMany({ keys, concurrency }) {
    const results = new Array(keys.length);
    await inParallel(keys.length, concurrency, async (i) => {
      try {
        results[i] = { bins: fromClientValue((await client.get(key(keys[i]))).bins ?? {}) };
      } catch (err) {
        results[i] = { code: errorCode(err) };
      }
    });
    return results;
  },
  async put({ key: k, bins, ttl, exists }) {
    const meta = ttl === undefined ? undefined : { ttl };
    const policy = exists === undefined ? undefined : new Aerospike.WritePolicy({ exists: Aerospike.policy.exists[exists] });
    await client.put(key(k), toClientValue(bins), meta, policy);
    return null;
  },
  async putGuarded({ key: k, bins, bin, version }) {
    const exp = Aerospike.exp;
    const filterExpression = exp.or(exp.eq(exp.binType(bin), exp.int(0)), exp.le(exp.binInt(bin), exp.int(version)));
    await client.put(key(k), toClientValue(bins), undefined, new Aerospike.WritePolicy({ filterExpression }));
    return null;
  },
  async get({ key: k }) {
    return record(await client.get(key(k)));
  },
  async select({ key: k, bins }) {
    return record(await client.select(key(k), bins));
  },
  async exists({ key: k }) {
    return client.exists(key(k));
  },
  async remove({ key: k }) {
    await client.remove(key(k));
    return null;
  },
  async operate({ key: k, ops: list }) {
    return record(await client.operate(key(k), list.map(operation)));
  },
  async batchRead({ keys, bins }) {
    const results = await client.batchRead(keys.map((k) => (bins ? { key: key(k), bins } : { key: key(k), readAllBins: true })));
    return results.map((r) => ({ status: r.status, bins: r.record?.bins ? fromClientValue(r.record.bins) : null }));
  },
  async batchWrite({ rows }) {
    const results = await client.batchWrite(rows.map((r) => ({ type: Aerospike.batchType.BATCH_WRITE, key: key(r.key), ops: r.ops.map(operation) })));
    return results.map((r) => ({ status: r.status }));
  },
  async batchRemove({ keys }) {
    const results = await client.batchRemove(keys.map(key));
    return results.map((r) => ({ status: r.status }));
  },
  // A whole scan (the client scans partition by partition); digests as hex.
  async scan({ namespace, set }) {
    const records = await client.scan(namespace, set).results();
    return records.map((r) => ({ digest: r.key.digest.toString('hex'), bins: fromClientValue(r.bins ?? {}), gen: r.gen }));
  },
  async info({ command }) {
    return client.infoAny(command);
  },
  async close() {
    if (client) await client.close();
    client = undefined;
    return null;
  },
};

process.on('message', async ({ id, op, args }) => {
  try {
    const command = commands[op];
    if (!command) throw new Error(`unknown command ${op}`);
    const value = await command(args ?? {});
    process.send({ id, ok: true, value });
  } catch (err) {
    process.send({ id, ok: false, error: { code: errorCode(err), message: String(err?.message ?? err) } });
  }
});

process.on('disconnect', () => {
  if (client) client.close();
  process.exit(0);
});

process.send({ ready: true });
