/**
 * Reads one side's records of some partitions into digest → fingerprint, straight from the reply
 * bytes: no record is decoded into values.
 *
 *   ops         := the record's bin ops sorted by name, each op's bytes as shipped
 *                  ([u32 size][op][particle][flags][name length][name][value])
 *   fingerprint := [0x00] ops                 when ops are at most RAW_LIMIT bytes (compared exactly)
 *                | [0x01] sha1(ops)           otherwise
 *
 * so two records are equal exactly when they hold the same bin names with the same particle types
 * and value bytes. Small records are kept whole because hashing costs more than copying them (a
 * sha1 object per record was a fifth of verify's CPU); large ones are hashed so a group's memory
 * stays bounded. On the destination side a last-write-wins version bin is left out of the
 * fingerprint and its value kept apart.
 */

import { createHash } from 'node:crypto';
import { DIGEST_SIZE, Info3, LUT_BIN, PARTITIONS, ParticleType, type ReplyCursor, ResultCode, encodeBatchRead, encodeScanRequest, replyOps } from '../protocol/index.js';
import type { ClusterNode, VerifyCluster } from './cluster.js';
import { VerifyClusterError } from './errors.js';

export interface SideRecord {
  fingerprint: Buffer;
  /** the version bin's value (destination, last-write-wins); undefined when absent or not asked */
  version: bigint | undefined;
}

export type PartitionRecords = Map<string, SideRecord>;

/** Records whose ops take at most this many bytes are fingerprinted by the bytes themselves. */
const RAW_LIMIT = 256;
const RAW = 0x00;
const HASHED = 0x01;

/** Most rows one batch request carries. */
const BATCH_ROWS = 5000;

export class RecordHasher {
  private readonly versionName: Buffer | undefined;

  constructor(versionBin: string | undefined) {
    this.versionName = versionBin === undefined ? undefined : Buffer.from(versionBin, 'utf8');
  }

  record(buf: Buffer, msg: ReplyCursor): SideRecord {
    const ops = replyOps(buf, msg.opsAt, msg.nOps);
    let version: bigint | undefined;
    const vn = this.versionName;
    const kept =
      vn === undefined
        ? ops
        : ops.filter((op) => {
            if (op.nameEnd - op.nameAt !== vn.length || buf.compare(vn, 0, vn.length, op.nameAt, op.nameEnd) !== 0) return true;
            if (op.particle === ParticleType.Integer && op.end - op.valueAt === 8) version = buf.readBigInt64BE(op.valueAt);
            return false;
          });
    if (kept.length > 1) kept.sort((a, b) => buf.compare(buf, a.nameAt, a.nameEnd, b.nameAt, b.nameEnd));
    let size = 0;
    for (const op of kept) size += op.end - (op.nameAt - 8);
    if (size <= RAW_LIMIT) {
      const fingerprint = Buffer.allocUnsafe(1 + size);
      fingerprint[0] = RAW;
      let at = 1;
      for (const op of kept) at += buf.copy(fingerprint, at, op.nameAt - 8, op.end);
      return { fingerprint, version };
    }
    const hash = createHash('sha1');
    for (const op of kept) hash.update(buf.subarray(op.nameAt - 8, op.end));
    return { fingerprint: Buffer.concat([Buffer.of(HASHED), hash.digest()]), version };
  }
}

function digestHex(buf: Buffer, msg: ReplyCursor, where: string): string {
  if (msg.digestAt < 0) throw new VerifyClusterError(`${where}: a record came without its digest`);
  return buf.toString('hex', msg.digestAt, msg.digestAt + DIGEST_SIZE);
}

export interface ScanSpec {
  namespace: string;
  /** sets to scan one after the other; [undefined] scans the whole namespace */
  sets: ReadonlyArray<string | undefined>;
  socketTimeoutMs: number;
}

let nextTaskId = BigInt(Date.now()) << 16n;

/**
 * Every record of these partitions on this side (of the sets asked for), by partition; a partition
 * without records maps to an empty map. One scan request per node (and set) covers all the
 * partitions that node masters; records of different partitions may come interleaved, so the
 * result is whole only once every request has ended.
 */
export async function scanPartitions(cluster: VerifyCluster, spec: ScanSpec, partitions: readonly number[], hasher: RecordHasher): Promise<Map<number, PartitionRecords>> {
  const out = new Map<number, PartitionRecords>();
  const byNode = new Map<ClusterNode, number[]>();
  for (const p of partitions) {
    out.set(p, new Map());
    const node = cluster.masterOf(spec.namespace, p);
    const list = byNode.get(node);
    if (list === undefined) byNode.set(node, [p]);
    else list.push(p);
  }
  const scanNode = async (node: ClusterNode, pids: number[]): Promise<void> => {
    for (const set of spec.sets) {
      const request = encodeScanRequest({ namespace: spec.namespace, set, partitions: pids, socketTimeoutMs: spec.socketTimeoutMs, taskId: nextTaskId++ });
      await node.withLink((link) =>
        link.request(request, (buf, msg) => {
          if (msg.info3 & Info3.PartitionDone) {
            if (msg.resultCode !== ResultCode.Ok) throw new VerifyClusterError(`${cluster.role} ${link.where}: partition ${msg.generation} could not be scanned (result ${msg.resultCode}); is the cluster migrating?`);
            return;
          }
          if (msg.resultCode !== ResultCode.Ok) throw new VerifyClusterError(`${cluster.role} ${link.where}: scan record answered ${msg.resultCode}`);
          const digest = digestHex(buf, msg, link.where);
          const records = out.get(partitionOfDigest(buf, msg.digestAt));
          if (records === undefined) throw new VerifyClusterError(`${cluster.role} ${link.where}: a record of a partition not asked for`);
          records.set(digest, hasher.record(buf, msg));
        }),
      );
    }
  };
  await Promise.all([...byNode].map(([node, pids]) => scanNode(node, pids)));
  return out;
}

function partitionOfDigest(buf: Buffer, at: number): number {
  return (buf[at]! | (buf[at + 1]! << 8)) & (PARTITIONS - 1);
}

/** The records of these digests of one partition (absent ones are left out), by batch read. */
export async function readPartitionDigests(cluster: VerifyCluster, namespace: string, partition: number, digests: readonly Buffer[], hasher: RecordHasher): Promise<PartitionRecords> {
  const records: PartitionRecords = new Map();
  await batchRead(cluster, namespace, partition, digests, 'bins', (buf, msg, digest) => records.set(digest, hasher.record(buf, msg)));
  return records;
}

/** Last-update times (ns since the Unix epoch) of these digests; absent ones are left out. */
export async function readLastUpdates(cluster: VerifyCluster, namespace: string, partition: number, digests: readonly Buffer[]): Promise<Map<string, bigint>> {
  const luts = new Map<string, bigint>();
  await batchRead(cluster, namespace, partition, digests, 'lut', (buf, msg, digest) => {
    for (const op of replyOps(buf, msg.opsAt, msg.nOps)) {
      if (buf.toString('utf8', op.nameAt, op.nameEnd) === LUT_BIN && op.end - op.valueAt === 8) luts.set(digest, buf.readBigInt64BE(op.valueAt));
    }
  });
  return luts;
}

async function batchRead(cluster: VerifyCluster, namespace: string, partition: number, digests: readonly Buffer[], kind: 'bins' | 'lut', found: (buf: Buffer, msg: ReplyCursor, digest: string) => void): Promise<void> {
  const node = cluster.masterOf(namespace, partition);
  for (let from = 0; from < digests.length; from += BATCH_ROWS) {
    const chunk = digests.slice(from, from + BATCH_ROWS);
    await node.withLink((link) =>
      link.request(encodeBatchRead(namespace, chunk, kind), (buf, msg) => {
        const digest = chunk[msg.index];
        if (digest === undefined) throw new VerifyClusterError(`${cluster.role} ${link.where}: batch answered row ${msg.index} of ${chunk.length}`);
        if (msg.resultCode === ResultCode.Ok) found(buf, msg, digest.toString('hex'));
        else if (msg.resultCode !== ResultCode.NotFound) throw new VerifyClusterError(`${cluster.role} ${link.where}: batch read answered ${msg.resultCode}`);
      }),
    );
  }
}
