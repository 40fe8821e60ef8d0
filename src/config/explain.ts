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
