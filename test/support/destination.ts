/**
 * The destination for integration tests: a real Aerospike server when FERRY_TEST_AEROSPIKE names
 * one (`host:port`, with namespace `test`), otherwise a conformance double started on loopback.
 * Assertions that look inside the destination run only against the double; everything else is
 * checked through the official client, which works against both.
 */

import { afterAll, beforeAll } from 'vitest';
import { OfficialClient } from '../double/official-client.js';
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

/** `namespaces`: the double's (the real test server has `test` and `bar`). */
export async function startDestination(namespaces: readonly string[] = ['test']): Promise<TestDestination> {
  const real = realServer();
  if (real !== undefined) return { ...real, double: undefined, close: async () => undefined };
  const double = await AerospikeDouble.start({ namespaces: [...namespaces] });
  return { host: double.host, port: double.port, double, close: () => double.close() };
}

/** A destination and an official client connected to it, for the enclosing block or file. */
export function useDestination(namespaces?: readonly string[]): { readonly dest: TestDestination; readonly client: OfficialClient } {
  const ctx = {} as { dest: TestDestination; client: OfficialClient };
  beforeAll(async () => {
    ctx.dest = await startDestination(namespaces);
    ctx.client = await OfficialClient.start();
    await ctx.client.connect(ctx.dest.port);
  });
  afterAll(async () => {
    await ctx.client?.stop();
    await ctx.dest?.close();
  });
  return ctx;
}
