import { parseObjectSpec } from '../../src/cli/load/record-factory.js';
import type { XdrLoadOptions } from '../../src/cli/load/xdr-source.js';

/** Load options for tests: loopback, deterministic, with order probes on. */
export function loadOptions(port: number, over: Partial<Omit<XdrLoadOptions, 'bins'>> & { object?: string } = {}): XdrLoadOptions {
  const { object, ...rest } = over;
  return {
    host: '127.0.0.1',
    port,
    namespace: 'test',
    set: 'demo',
    keys: 20_000,
    startKey: 0,
    bins: parseObjectSpec(object ?? 'all'),
    workload: 'update',
    readPct: 0,
    connections: 8,
    pipeline: 256,
    changes: 100_000,
    durationS: 0,
    throttle: 0,
    compress: false,
    deletePct: 0,
    durableDeletes: false,
    sendKey: true,
    shipBinLuts: false,
    noBins: false,
    ttl: 0,
    resetMs: 10_000,
    retryDelayMs: 20,
    healthChecks: true,
    probeEvery: 101,
    probeNamespace: 'ferry-order-probe',
    seed: 11,
    ...rest,
  };
}
