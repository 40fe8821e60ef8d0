/**
 * The verification: partitions in order, a few at a time, each one read on both sides, compared,
 * and its differences handed out in partition order. Memory holds only the partitions in flight.
 *
 *   partition p ─┬─ source:      scan (or batch read of the listed digests) ─┐
 *                └─ destination: scan (or batch read)                        ─┴─▶ compare
 *      ─▶ last-write-wins: versions of equal records against the source LUTs (batch read)
 *      ─▶ --ignore-recent: differences whose record changed in the last N s are dropped
 *      ─▶ in partition order: onDifferences(p, differences)
 */

import { PARTITIONS } from '../protocol/index.js';
import type { VerifyCluster } from './cluster.js';
import { type Difference, compareRecords, versionMatches } from './compare.js';
import { RateLimiter } from './rate-limiter.js';
import { type PartitionRecords, RecordHasher, readLastUpdates, readPartitionDigests, scanPartition } from './side-reader.js';

export interface VerifyOptions {
  namespace: string;
  destinationNamespace: string;
  /** sets to compare; empty: the whole namespace */
  sets: readonly string[];
  /** records/s read from each side; 0 = unlimited */
  rate: number;
  /** partitions read at once */
  concurrency: number;
  /** the destination's last-write-wins version bin, if it keeps one */
  versionBin: string | undefined;
  /** differences whose record changed less than this many seconds ago are not reported */
  ignoreRecentSeconds: number;
  /** re-check only these digests (by batch read) instead of scanning */
  digests: readonly Buffer[] | undefined;
  socketTimeoutMs: number;
}

export interface VerifyProgress {
  partitionsDone: number;
  partitionsTotal: number;
  sourceRecords: number;
  destinationRecords: number;
}

export interface VerifyReport extends VerifyProgress {
  missing: number;
  extra: number;
  different: number;
  /** differences left out by --ignore-recent */
  ignoredRecent: number;
}

export interface VerifyEvents {
  onDifferences(partition: number, differences: readonly Difference[]): void;
  onProgress?(progress: VerifyProgress): void;
}

interface WorkItem {
  partition: number;
  digests: Buffer[] | undefined;
}

function workItems(digests: readonly Buffer[] | undefined): WorkItem[] {
  if (digests === undefined) return Array.from({ length: PARTITIONS }, (_, partition) => ({ partition, digests: undefined }));
  const byPartition = new Map<number, Buffer[]>();
  for (const d of digests) {
    const p = (d[0]! | (d[1]! << 8)) & (PARTITIONS - 1);
    const list = byPartition.get(p);
    if (list === undefined) byPartition.set(p, [d]);
    else list.push(d);
  }
  return [...byPartition.keys()].sort((a, b) => a - b).map((partition) => ({ partition, digests: byPartition.get(partition) }));
}

export async function verify(source: VerifyCluster, destination: VerifyCluster, opts: VerifyOptions, events: VerifyEvents): Promise<VerifyReport> {
  source.checkNamespace(opts.namespace);
  destination.checkNamespace(opts.destinationNamespace);
  const items = workItems(opts.digests);
  const report: VerifyReport = { partitionsDone: 0, partitionsTotal: items.length, sourceRecords: 0, destinationRecords: 0, missing: 0, extra: 0, different: 0, ignoredRecent: 0 };
  const sourceHasher = new RecordHasher(undefined);
  const destinationHasher = new RecordHasher(opts.versionBin);
  const limits = { source: new RateLimiter(opts.rate), destination: new RateLimiter(opts.rate) };
  const sets = opts.sets.length === 0 ? [undefined] : opts.sets;

  const read = async (side: 'source' | 'destination', item: WorkItem): Promise<PartitionRecords> => {
    const cluster = side === 'source' ? source : destination;
    const namespace = side === 'source' ? opts.namespace : opts.destinationNamespace;
    const hasher = side === 'source' ? sourceHasher : destinationHasher;
    const records =
      item.digests === undefined
        ? await scanPartition(cluster, { namespace, sets, socketTimeoutMs: opts.socketTimeoutMs }, item.partition, hasher)
        : await readPartitionDigests(cluster, namespace, item.partition, item.digests, hasher);
    if (side === 'source') report.sourceRecords += records.size;
    else report.destinationRecords += records.size;
    await limits[side].take(records.size);
    return records;
  };

  const check = async (item: WorkItem): Promise<Difference[]> => {
    const [src, dst] = await Promise.all([read('source', item), read('destination', item)]);
    const { differences, versioned } = compareRecords(src, dst);
    if (versioned.size > 0) {
      const luts = await readLastUpdates(source, opts.namespace, item.partition, [...versioned.keys()].map((d) => Buffer.from(d, 'hex')));
      for (const [digest, version] of versioned) {
        const lut = luts.get(digest);
        // A record gone from the source since the scan is left to the next run.
        if (lut !== undefined && !versionMatches(version, lut)) differences.push({ digest, kind: 'different' });
      }
      differences.sort((a, b) => (a.digest < b.digest ? -1 : a.digest > b.digest ? 1 : 0));
    }
    if (opts.ignoreRecentSeconds <= 0 || differences.length === 0) return differences;
    return dropRecent(item.partition, differences);
  };

  const dropRecent = async (partition: number, differences: Difference[]): Promise<Difference[]> => {
    // The source's LUT when the source has the record, the destination's for an extra one.
    const atSource = differences.filter((d) => d.kind !== 'extra').map((d) => Buffer.from(d.digest, 'hex'));
    const atDestination = differences.filter((d) => d.kind === 'extra').map((d) => Buffer.from(d.digest, 'hex'));
    const [sourceLuts, destinationLuts] = await Promise.all([
      atSource.length === 0 ? new Map<string, bigint>() : readLastUpdates(source, opts.namespace, partition, atSource),
      atDestination.length === 0 ? new Map<string, bigint>() : readLastUpdates(destination, opts.destinationNamespace, partition, atDestination),
    ]);
    const since = (BigInt(Date.now()) - BigInt(Math.round(opts.ignoreRecentSeconds * 1000))) * 1_000_000n;
    return differences.filter((d) => {
      const lut = (d.kind === 'extra' ? destinationLuts : sourceLuts).get(d.digest);
      const recent = lut !== undefined && lut > since;
      if (recent) report.ignoredRecent++;
      return !recent;
    });
  };

  // Results wait here until every partition before theirs has been handed out.
  const done = new Map<number, Difference[]>();
  let flushed = 0;
  let next = 0;
  const flush = (): void => {
    for (let item = items[flushed]; item !== undefined && done.has(flushed); item = items[flushed]) {
      const differences = done.get(flushed)!;
      done.delete(flushed);
      for (const d of differences) report[d.kind]++;
      events.onDifferences(item.partition, differences);
      flushed++;
      report.partitionsDone = flushed;
    }
    events.onProgress?.(report);
  };
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const at = next++;
      done.set(at, await check(items[at]!));
      flush();
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(opts.concurrency, items.length)) }, worker));
  flush();
  return report;
}
