/**
 * Classifies one partition's records, source against destination:
 *
 *   missing    at the source, not at the destination
 *   extra      at the destination only
 *   different  at both, with other bins (names, types or values)
 *
 * and lists the records equal in bins whose destination holds a last-write-wins version: their
 * versions are checked against the source's last-update time afterwards (compareVersion), as the
 * LUT does not come with a scan.
 */

import { CITRUSLEAF_EPOCH_MS } from '../protocol/index.js';
import type { PartitionRecords } from './side-reader.js';

export type DifferenceKind = 'missing' | 'extra' | 'different';

export interface Difference {
  digest: string;
  kind: DifferenceKind;
}

export interface PartitionComparison {
  differences: Difference[];
  /** equal in bins, destination versioned: digest → version */
  versioned: Map<string, bigint>;
}

export function compareRecords(source: PartitionRecords, destination: PartitionRecords): PartitionComparison {
  const differences: Difference[] = [];
  const versioned = new Map<string, bigint>();
  for (const [digest, s] of source) {
    const d = destination.get(digest);
    if (d === undefined) differences.push({ digest, kind: 'missing' });
    else if (!d.fingerprint.equals(s.fingerprint)) differences.push({ digest, kind: 'different' });
    else if (d.version !== undefined) versioned.set(digest, d.version);
  }
  for (const digest of destination.keys()) if (!source.has(digest)) differences.push({ digest, kind: 'extra' });
  differences.sort((a, b) => (a.digest < b.digest ? -1 : a.digest > b.digest ? 1 : 0));
  return { differences, versioned };
}

/**
 * Whether a destination version `(ms since 2010 << 16) | generation` carries the source record's
 * last-update time (`lutNs`, ns since the Unix epoch, as LAST_UPDATE reads it).
 */
export function versionMatches(version: bigint, lutNs: bigint): boolean {
  const sourceMs = lutNs / 1_000_000n - BigInt(CITRUSLEAF_EPOCH_MS);
  return version >> 16n === sourceMs;
}
