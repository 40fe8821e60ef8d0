/**
 * The write policy main hands the workers at start and on every reload: one seqlocked snapshot
 * (snapshot.ts) that all workers read, polled once per batch (one atomic load while it is unchanged).
 *
 *   SharedArrayBuffer (POLICY_BYTES): snapshot header, then JSON PolicySettings
 */

import { SnapshotCell, isRecord, isStringPairList, jsonCodec } from './snapshot.js';

const POLICY_BYTES = 256 * 1024;

export interface PolicySettings {
  stripLut: boolean;
  stripDurableDelete: boolean;
  /** source namespace → destination namespace; namespaces not listed pass unchanged */
  namespaceMap: ReadonlyArray<readonly [string, string]>;
  /** last-write-wins by the source's LUT (`aerospike.last-write-wins`); null = off */
  lastWriteWins: LastWriteWinsSettings | null;
}

export interface LastWriteWinsSettings {
  /** the bin holding each record's version */
  bin: string;
  /** seconds a delete's tombstone lives; 0 = deletes are not turned into tombstones */
  tombstoneTtl: number;
}

function lastWriteWinsOf(raw: unknown): LastWriteWinsSettings | null | string {
  if (raw === null) return null;
  if (!isRecord(raw)) return 'lastWriteWins must be null or a map';
  const { bin, tombstoneTtl } = raw;
  if (typeof bin !== 'string' || bin === '') return 'lastWriteWins.bin must be a bin name';
  if (typeof tombstoneTtl !== 'number' || !Number.isInteger(tombstoneTtl) || tombstoneTtl < 0 || tombstoneTtl > 0xfffffffd) return 'lastWriteWins.tombstoneTtl must be seconds (0 = off)';
  return { bin, tombstoneTtl };
}

const policyCodec = jsonCodec<PolicySettings>('write policy', (raw) => {
  if (!isRecord(raw)) return 'not a map';
  const { stripLut, stripDurableDelete, namespaceMap } = raw;
  if (typeof stripLut !== 'boolean' || typeof stripDurableDelete !== 'boolean') return 'stripLut and stripDurableDelete must be booleans';
  if (!isStringPairList(namespaceMap)) return 'namespaceMap must be a list of [from, to] names';
  const lastWriteWins = lastWriteWinsOf(raw.lastWriteWins);
  if (typeof lastWriteWins === 'string') return lastWriteWins;
  return { stripLut, stripDurableDelete, namespaceMap, lastWriteWins };
});

export function newPolicyBuffer(): SharedArrayBuffer {
  return new SharedArrayBuffer(POLICY_BYTES);
}

export function policyCell(sab: SharedArrayBuffer): SnapshotCell<PolicySettings> {
  return new SnapshotCell(sab, policyCodec);
}
