// Runs a double as its own process:
//   main.ts [--host H] [--port N] [--namespaces test,bar] [--node-id ID] [--cluster-name NAME]
// Prints {"port":N} as one JSON line on stdout once listening; closes on SIGTERM or SIGINT.
// A separate process is what the official client needs: its connect() tends the cluster
// synchronously on the JavaScript thread, so a double in the same thread could never answer.

import { parseArgs } from 'node:util';
import { AerospikeDouble, type DoubleOptions } from './server.js';

const { values } = parseArgs({
  options: {
    host: { type: 'string' },
    port: { type: 'string' },
    namespaces: { type: 'string' },
    'node-id': { type: 'string' },
    'cluster-name': { type: 'string' },
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

const double = await AerospikeDouble.start(opts);
process.stdout.write(`${JSON.stringify({ port: double.port })}\n`);

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
