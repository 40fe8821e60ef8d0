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
}

export const policyCodec = jsonCodec<PolicySettings>('write policy', (raw) => {
  if (!isRecord(raw)) return 'not a map';
  const { stripLut, stripDurableDelete, namespaceMap } = raw;
  if (typeof stripLut !== 'boolean' || typeof stripDurableDelete !== 'boolean') return 'stripLut and stripDurableDelete must be booleans';
  if (!isStringPairList(namespaceMap)) return 'namespaceMap must be a list of [from, to] names';
  return { stripLut, stripDurableDelete, namespaceMap };
});

export function newPolicyBuffer(): SharedArrayBuffer {
  return new SharedArrayBuffer(POLICY_BYTES);
}

export function policyCell(sab: SharedArrayBuffer): SnapshotCell<PolicySettings> {
  return new SnapshotCell(sab, policyCodec);
}
