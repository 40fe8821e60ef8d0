// Runs a double as its own process:
//   main.ts [--host H] [--port N] [--namespaces test,bar] [--node-id ID] [--cluster-name NAME]
//   main.ts --nodes N [--host H] [--namespaces test,bar] [--cluster-name NAME]
// Prints {"port":N} (with --nodes, {"port":<node 0>,"ports":[…]}) as one JSON line on stdout
// once listening; closes on SIGTERM or SIGINT. --nodes runs a DoubleCluster on free ports.
// --stall starts it with record requests held (faults.stall); SIGUSR1 toggles the stall and
// prints {"stall":true|false} once it has taken effect, so a benchmark in another process can
// stall and release the destination. SIGUSR2 forgets every stored record and prints
// {"cleared":true}, so a benchmark can start a load with an empty store; started with
// --expose-gc, it also collects the forgotten store before saying so, so that the next load does
// not pay for collecting the last one's records.
// A separate process is what the official client needs: its connect() tends the cluster
// synchronously on the JavaScript thread, so a double in the same thread could never answer.

import { parseArgs } from 'node:util';
import { DoubleCluster } from './cluster.js';
import { AerospikeDouble, type DoubleOptions } from './server.js';

const { values } = parseArgs({
  options: {
    host: { type: 'string' },
    port: { type: 'string' },
    namespaces: { type: 'string' },
    'node-id': { type: 'string' },
    'cluster-name': { type: 'string' },
    nodes: { type: 'string' },
    stall: { type: 'boolean' },
  },
  strict: true,
});

const opts: DoubleOptions = {};
if (values.host !== undefined) opts.host = values.host;
if (values.port !== undefined) {
  const port = Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    process.stderr.write(`--port must be an integer between 0 and 65535, got ${values.port}\n`);
    process.exit(2);
  }
  opts.port = port;
}
if (values.namespaces !== undefined) opts.namespaces = values.namespaces.split(',').filter((ns) => ns.length > 0);
if (values['node-id'] !== undefined) opts.nodeId = values['node-id'];
if (values['cluster-name'] !== undefined) opts.clusterName = values['cluster-name'];

let nodes: number | undefined;
if (values.nodes !== undefined) {
  nodes = Number(values.nodes);
  if (!Number.isInteger(nodes) || nodes < 1 || nodes > 64) {
    process.stderr.write(`--nodes must be an integer between 1 and 64, got ${values.nodes}\n`);
    process.exit(2);
  }
  if (opts.port !== undefined || opts.nodeId !== undefined) {
    process.stderr.write('--port and --node-id cannot be combined with --nodes: cluster nodes take free ports\n');
    process.exit(2);
  }
}

let double: { close(): Promise<void> };
let servers: AerospikeDouble[];
if (nodes === undefined) {
  const single = await AerospikeDouble.start(opts);
  servers = [single];
  double = single;
} else {
  const cluster = await DoubleCluster.start({ nodes, ...opts });
  servers = cluster.nodes;
  double = cluster;
}
let stalled = values.stall ?? false;
for (const s of servers) s.faults.stall = stalled;
process.stdout.write(`${JSON.stringify(nodes === undefined ? { port: servers[0]!.port } : { port: servers[0]!.port, ports: servers.map((s) => s.port) })}\n`);
process.on('SIGUSR1', () => {
  stalled = !stalled;
  for (const s of servers) s.faults.stall = stalled;
  process.stdout.write(`${JSON.stringify({ stall: stalled })}\n`);
});

process.on('SIGUSR2', () => {
  for (const s of servers) s.clearStore();
  (globalThis as { gc?: () => void }).gc?.();
  process.stdout.write(`${JSON.stringify({ cleared: true })}\n`);
});

let closing = false;
const shutdown = (): void => {
  if (closing) return;
  closing = true;
  double.close().then(
    () => process.exit(0),
    (err: unknown) => {
      process.stderr.write(`close failed: ${String(err)}\n`);
      process.exit(1);
    },
  );
};
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
