/**
 * What `ferry check-config` says about modes whose effect is not obvious from their keys.
 */

import type { RunConfig } from './load-config.js';

/** Lines explaining `aerospike.last-write-wins` for this configuration; empty when it is off. */
export function explainLastWriteWins(config: RunConfig): string[] {
  const d = config.xdr?.destination;
  if (d === undefined || d.kind !== 'aerospike' || d.lastWriteWins === null) return [];
  const { bin, tombstoneTtl } = d.lastWriteWins;
  return [
    `aerospike.last-write-wins is on: every write stores the record's version ((LUT ms << 16) | generation) in bin '${bin}'`,
    `  and every write and delete carries a filter expression: it applies only when the record is absent, has no '${bin}' bin,`,
    `  or holds an older or equal version. An older one is answered 27 by the destination: the source gets 0 (done),`,
    `  counted in ferry_records_stale_total. Any number of Ferry instances may serve one source DC.`,
    tombstoneTtl > 0
      ? `  Deletes become tombstones: a write of '${bin}' alone with a ${tombstoneTtl} s TTL, so an older write cannot bring a deleted record back.`
      : `  Deletes are plain deletes: a write older than a delete that already happened recreates the record (tombstones: true prevents it).`,
    `  Cost: ${28 + 2 * Buffer.byteLength(bin)} + ${16 + Buffer.byteLength(bin)} bytes more per write (guard field, version op), and an expression evaluated by the server.`,
    d.lut === 'keep' ? `  The LUT field is forwarded too (lut: keep); a Community Edition destination ignores it.` : `  The LUT field is stripped (lut: strip); the version is read from it before it is dropped.`,
  ];
}

/**
 * Lines naming each value Ferry lowers at start-up because another key bounds it, so a file that
 * asks for more than it gets says so where it is checked.
 */
export function explainClamps(config: RunConfig): string[] {
  const x = config.xdr;
  if (x === null) return [];
  const lines: string[] = [];
  const s = x.raw.service;
  if (s['max-in-flight-per-connection'] > s['max-concurrent-records']) {
    lines.push(`service.max-in-flight-per-connection ${s['max-in-flight-per-connection']} is lowered to service.max-concurrent-records, ${x.service.maxInFlightPerConnection}`);
  }
  const a = x.raw.aerospike;
  if (a !== undefined && x.destination.kind === 'aerospike') {
    if (a.timeouts.write > x.destination.writeTimeoutMs) lines.push(`aerospike.timeouts.write ${a.timeouts.write} is lowered to service.ack-deadline, ${x.destination.writeTimeoutMs} (a write must time out before the source's answer is due)`);
    const min = a['min-connections-per-node'];
    if (min !== undefined && min > a['connections-per-node']) lines.push(`aerospike.min-connections-per-node ${min} is lowered to aerospike.connections-per-node, ${x.destination.minConnectionsPerNode}`);
  }
  return lines;
}

/** What the XDR Proxy's `record-ordering` section means here; empty when the file has none. */
export function explainRecordOrdering(config: RunConfig): string[] {
  const r = config.raw['record-ordering'];
  if (r === undefined || !r.enable) return [];
  const d = config.xdr?.destination;
  const lww = d !== undefined && d.kind === 'aerospike' && d.lastWriteWins !== null;
  return [
    `record-ordering: Ferry writes each record's changes in the order they arrive, always; lut-cache-ttl-seconds is not used.`,
    lww
      ? `  A version older than one already written is turned away by aerospike.last-write-wins, across instances and without a time limit.`
      : `  A version older than one already written is still written: set aerospike.last-write-wins to turn it away (README, "Several Ferry instances").`,
  ];
}
