/**
 * The configuration `ferry check-config` prints: the file's keys with every default filled in,
 * including the defaults computed at start-up rather than written in the schema (the worker count
 * from the CPUs, the connection minimum from connections-per-node, the dead-letter folder from
 * $STATE_DIRECTORY), so what is printed is what `ferry run` uses.
 */

import type { RunConfig } from './load-config.js';

function withKey(section: unknown, key: string, value: unknown): Record<string, unknown> {
  const s = section as Record<string, unknown>;
  return s[key] === undefined ? { ...s, [key]: value } : s;
}

export function effectiveConfig(config: RunConfig): Record<string, unknown> {
  const raw = config.raw as Record<string, unknown>;
  const xdr = config.xdr;
  if (xdr === null) return raw;
  const out: Record<string, unknown> = { ...raw, service: withKey(raw['service'], 'worker-threads', xdr.service.workerThreads) };
  const d = xdr.destination;
  if (d.kind === 'aerospike') {
    let a = withKey(raw['aerospike'], 'min-connections-per-node', d.minConnectionsPerNode);
    if (d.deadLetters !== null) a = { ...a, 'dead-letters': withKey(a['dead-letters'], 'path', d.deadLetters.path) };
    out['aerospike'] = a;
  }
  return out;
}
