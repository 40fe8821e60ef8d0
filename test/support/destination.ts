/**
 * The destination for integration tests: a real Aerospike server when FERRY_TEST_AEROSPIKE names
 * one (`host:port`, with namespace `test`), otherwise a conformance double started on loopback.
 * Assertions that look inside the destination run only against the double; everything else is
 * checked through the official client, which works against both.
 */

import { AerospikeDouble } from '../double/server.js';

export interface TestDestination {
  host: string;
  port: number;
  /** present when the destination is the double */
  double: AerospikeDouble | undefined;
  close(): Promise<void>;
}

export function realServer(): { host: string; port: number } | undefined {
  const spec = process.env['FERRY_TEST_AEROSPIKE'];
  if (spec === undefined || spec === '') return undefined;
  const [host, port] = spec.split(':');
  if (host === undefined || port === undefined || !/^\d+$/.test(port)) throw new Error(`FERRY_TEST_AEROSPIKE must be host:port, got '${spec}'`);
  return { host, port: Number(port) };
}

export async function startDestination(): Promise<TestDestination> {
  const real = realServer();
  if (real !== undefined) return { ...real, double: undefined, close: async () => undefined };
  const double = await AerospikeDouble.start({ namespaces: ['test'] });
  return { host: double.host, port: double.port, double, close: () => double.close() };
}
