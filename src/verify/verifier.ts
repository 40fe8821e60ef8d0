/**
 * The verification: partitions in order, in groups, a few groups at a time; each group read on
 * both sides, compared partition by partition, and its differences handed out in partition
 * order. Memory holds only the groups in flight.
 *
 *   group [p, p+k) ─┬─ source:      scan (or batch read of the listed digests) ─┐
 *                   └─ destination: scan (or batch read)                        ─┴─▶ compare each partition
 *      ─▶ last-write-wins: versions of equal records against the source LUTs (batch read)
 *      ─▶ --ignore-recent: differences whose record changed in the last N s are dropped
 *      ─▶ in partition order: onDifferences(p, differences)
 *   a request that fails ─▶ both partition maps read again ─▶ the group read again (3 times at most)
 */

import { setTimeout as sleep } from 'node:timers/promises';
import { PARTITIONS } from '../protocol/index.js';
import type { VerifyCluster } from './cluster.js';
import { type Difference, compareRecords, versionMatches } from './compare.js';
import { VerifyClusterError } from './errors.js';
import { RateLimiter } from './rate-limiter.js';
import { type PartitionRecords, RecordHasher, readLastUpdates, readPartitionDigests, scanPartitions } from './side-reader.js';

export interface VerifyOptions {
  namespace: string;
  destinationNamespace: string;
  /** sets to compare; empty: the whole namespace */
  sets: readonly string[];
  /** records/s read from each side; 0 = unlimited */
  rate: number;
  /** partition groups read at once */
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
  /** partitions first..last are read again after `err` */
  onRetry?(first: number, last: number, err: VerifyClusterError): void;
}

/**
 * A scan group holds about this many records per side (fewer under a rate): one request per node
 * then covers many partitions (a request per partition costs a round trip and a server job
 * each), while memory stays bounded whatever the namespace's size.
 */
const GROUP_RECORDS = 20_000;
/** Most partitions in one scan group. */
const GROUP_PARTITIONS = 256;
/** Times a failed group is read again, and the pause before the first retry (it grows). */
const RETRIES = 3;
const RETRY_PAUSE_MS = 500;

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

function countRecords(records: Map<number, PartitionRecords>): number {
  let count = 0;
  for (const r of records.values()) count += r.size;
  return count;
}

export async function verify(source: VerifyCluster, destination: VerifyCluster, opts: VerifyOptions, events: VerifyEvents): Promise<VerifyReport> {
  source.checkNamespace(opts.namespace);
  destination.checkNamespace(opts.destinationNamespace);
  const items = workItems(opts.digests);
  const report: VerifyReport = { partitionsDone: 0, partitionsTotal: items.length, sourceRecords: 0, destinationRecords: 0, missing: 0, extra: 0, different: 0, ignoredRecent: 0 };
  // The first failure stops every worker: no new requests go to clusters about to be closed.
  let failed = false;
  const sourceHasher = new RecordHasher(undefined);
  const destinationHasher = new RecordHasher(opts.versionBin);
  const limits = { source: new RateLimiter(opts.rate), destination: new RateLimiter(opts.rate) };
  const sets = opts.sets.length === 0 ? [undefined] : opts.sets;
  // Under a rate, a group is a quarter second of one worker's share: reads come in small bursts,
  // each followed by its wait, rather than 20,000 records at full speed and then a long pause.
  const groupRecords = opts.rate > 0 ? Math.max(1, Math.min(GROUP_RECORDS, Math.floor(opts.rate / (4 * Math.max(1, opts.concurrency))))) : GROUP_RECORDS;

  /** Each partition's records on one side: one scan for the group, or a batch read per partition. */
  const read = async (side: 'source' | 'destination', group: readonly WorkItem[]): Promise<Map<number, PartitionRecords>> => {
    const cluster = side === 'source' ? source : destination;
    const namespace = side === 'source' ? opts.namespace : opts.destinationNamespace;
    const hasher = side === 'source' ? sourceHasher : destinationHasher;
    let records: Map<number, PartitionRecords>;
    if (opts.digests === undefined) {
      records = await scanPartitions(cluster, { namespace, sets, socketTimeoutMs: opts.socketTimeoutMs }, group.map((i) => i.partition), hasher);
    } else {
      records = new Map();
      for (const item of group) records.set(item.partition, await readPartitionDigests(cluster, namespace, item.partition, item.digests ?? [], hasher));
    }
    await limits[side].take(countRecords(records));
    return records;
  };

  const check = async (group: readonly WorkItem[]): Promise<Difference[][]> => {
    const [src, dst] = await Promise.all([read('source', group), read('destination', group)]);
    const out: Difference[][] = [];
    let ignored = 0;
    for (const { partition } of group) {
      const { differences, ignoredRecent } = await comparePartition(partition, src.get(partition) ?? new Map(), dst.get(partition) ?? new Map());
      out.push(differences);
      ignored += ignoredRecent;
    }
    // Counted once the group has succeeded, so a retried group is not counted twice.
    report.sourceRecords += countRecords(src);
    report.destinationRecords += countRecords(dst);
    report.ignoredRecent += ignored;
    return out;
  };

  /**
   * A group whose requests failed (a node gone, a partition moved away from the node asked) is
   * read again, after both partition maps are: up to RETRIES times, a pause growing each time.
   */
  const checkWithRetries = async (group: readonly WorkItem[]): Promise<Difference[][]> => {
    for (let attempt = 1; ; attempt++) {
      try {
        return await check(group);
      } catch (err) {
        if (!(err instanceof VerifyClusterError) || attempt > RETRIES || failed) throw err;
        events.onRetry?.(group[0]!.partition, group[group.length - 1]!.partition, err);
        await sleep(RETRY_PAUSE_MS * attempt);
        await Promise.all([source.refresh(), destination.refresh()]);
      }
    }
  };

  const comparePartition = async (partition: number, src: PartitionRecords, dst: PartitionRecords): Promise<{ differences: Difference[]; ignoredRecent: number }> => {
    const { differences, versioned } = compareRecords(src, dst);
    if (versioned.size > 0) {
      const luts = await readLastUpdates(source, opts.namespace, partition, [...versioned.keys()].map((d) => Buffer.from(d, 'hex')));
      for (const [digest, version] of versioned) {
        const lut = luts.get(digest);
        // A record gone from the source since the scan is left to the next run.
        if (lut !== undefined && !versionMatches(version, lut)) differences.push({ digest, kind: 'different' });
      }
      differences.sort((a, b) => (a.digest < b.digest ? -1 : a.digest > b.digest ? 1 : 0));
    }
    if (opts.ignoreRecentSeconds <= 0 || differences.length === 0) return { differences, ignoredRecent: 0 };
    const kept = await dropRecent(partition, differences);
    return { differences: kept, ignoredRecent: differences.length - kept.length };
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
      return lut === undefined || lut <= since;
    });
  };

  // Groups are cut in partition order, sized from the records per partition seen so far; their
  // results wait here until every group before theirs has been handed out.
  let cut = 0;
  const nextGroup = (): WorkItem[] => {
    let size = 1;
    if (opts.digests === undefined && report.partitionsDone > 0) {
      const perPartition = Math.max(report.sourceRecords, report.destinationRecords) / report.partitionsDone;
      size = Math.max(1, Math.min(GROUP_PARTITIONS, Math.floor(groupRecords / Math.max(1, perPartition))));
    }
    const group = items.slice(cut, cut + size);
    cut += group.length;
    return group;
  };
  const done = new Map<number, { group: WorkItem[]; differences: Difference[][] }>();
  let flushed = 0;
  let started = 0;
  const flush = (): void => {
    for (let next = done.get(flushed); next !== undefined; next = done.get(flushed)) {
      done.delete(flushed);
      next.group.forEach((item, i) => {
        const differences = next.differences[i]!;
        for (const d of differences) report[d.kind]++;
        events.onDifferences(item.partition, differences);
      });
      report.partitionsDone += next.group.length;
      flushed++;
    }
    events.onProgress?.(report);
  };
  const worker = async (): Promise<void> => {
    for (let group = nextGroup(); group.length > 0 && !failed; group = nextGroup()) {
      const at = started++;
      try {
        done.set(at, { group, differences: await checkWithRetries(group) });
      } catch (err) {
        failed = true;
        throw err;
      }
      flush();
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, opts.concurrency) }, worker));
  flush();
  return report;
}
