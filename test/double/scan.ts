// Partition scans: a type-3 message without a digest field, info1 READ, as Community Edition 8.1
// answers it.
//
//   request  := as_msg, info1 READ [| NO_BIN_DATA], info3 PARTITION_DONE (without it: 16)
//               fields: namespace (0), [set (1)], [PID_ARRAY (11) | DIGEST_ARRAY (12)],
//                       [MAX_RECORDS (13)], [RECORDS_PER_SECOND (10)], SOCKET_TIMEOUT (9), TASK_ID (7)
//               ops:    READ ops naming the bins to return (none: every bin); any other op is 4
//   PID_ARRAY    := [u16 partition id, little-endian]{n}
//   DIGEST_ARRAY := [20-byte digest]{n}   resume: the digest's partition, after that digest
//   reply    := frames of as_msgs, one per record:
//                 header: result 0, generation, void time; fields namespace, digest, [set], [key];
//                 ops: READ results, one per bin
//               then, per partition the node cannot scan (it does not master it):
//                 header: info3 PARTITION_DONE, result 11, generation = the partition id
//               then one as_msg with info3 LAST and result 0 (or the error that ended the scan)
//
// A partition the node scans gets no marker of its own: a server marks only the ones it could not
// scan (a client retries those elsewhere). Within a partition records come in digest order.
// Request fields the double does not act on (rate, timeout, task id) are accepted and ignored.

import { findField, namespaceOf, type AsMsg, type MsgField } from './message.js';
import { writeProtoHeader } from './framer.js';
import type { RecordStore, StoredRecord } from './store.js';
import { partitionOf, type NodeTopology } from './topology.js';
import { DIGEST_SIZE, FieldType, Info1, Info3, MSG_HEADER_SIZE, N_PARTITIONS, OpType, PROTO_HEADER_SIZE, ProtoType, ResultCode } from './wire.js';

/** Frames are cut at about this many bytes, as a server fills its socket buffer. */
const FRAME_BYTES = 128 * 1024;

/** Whether a record message is a scan: no digest to act on, a read. */
export function isScanRequest(msg: AsMsg): boolean {
  return (msg.info1 & Info1.READ) !== 0 && (msg.info1 & Info1.BATCH) === 0 && msg.info2 === 0 && findField(msg.fields, FieldType.DIGEST) === undefined;
}

interface ScanPlan {
  namespace: string;
  set: string | undefined;
  /** partition → scan records after this digest (hex), or '' for the whole partition */
  partitions: Map<number, string>;
  maxRecords: number;
  bins: string[] | null;
  noBins: boolean;
}

type PlanResult = ScanPlan | { resultCode: number };

function planScan(msg: AsMsg, store: RecordStore): PlanResult {
  const namespace = namespaceOf(msg.fields);
  if (namespace === undefined || !store.hasNamespace(namespace)) return { resultCode: ResultCode.NAMESPACE };
  if ((msg.info3 & Info3.PARTITION_DONE) === 0) return { resultCode: ResultCode.UNSUPPORTED_FEATURE };
  const setField = findField(msg.fields, FieldType.SET);
  if (setField !== undefined && setField.length === 0) return { resultCode: ResultCode.PARAMETER };
  const partitions = readPartitions(msg.fields);
  if (partitions === null) return { resultCode: ResultCode.PARAMETER };
  const max = findField(msg.fields, FieldType.MAX_RECORDS);
  if (max !== undefined && max.length !== 8) return { resultCode: ResultCode.PARAMETER };
  for (const op of msg.ops) if (op.op !== OpType.READ) return { resultCode: ResultCode.PARAMETER };
  return {
    namespace,
    set: setField?.toString('utf8'),
    partitions,
    maxRecords: max === undefined ? 0 : Number(max.readBigUInt64BE(0)),
    bins: msg.ops.length === 0 ? null : msg.ops.map((op) => op.name),
    noBins: (msg.info1 & Info1.NO_BIN_DATA) !== 0,
  };
}

/** The partitions asked for, in order; no PID or digest array means all of them. Null: malformed. */
function readPartitions(fields: readonly MsgField[]): Map<number, string> | null {
  const pids = findField(fields, FieldType.PID_ARRAY);
  const digests = findField(fields, FieldType.DIGEST_ARRAY);
  const out = new Map<number, string>();
  if (pids === undefined && digests === undefined) {
    for (let p = 0; p < N_PARTITIONS; p++) out.set(p, '');
    return out;
  }
  if (pids !== undefined) {
    if (pids.length % 2 !== 0) return null;
    for (let at = 0; at < pids.length; at += 2) {
      const p = pids.readUInt16LE(at);
      if (p >= N_PARTITIONS) return null;
      out.set(p, '');
    }
  }
  if (digests !== undefined) {
    if (digests.length % DIGEST_SIZE !== 0) return null;
    for (let at = 0; at < digests.length; at += DIGEST_SIZE) {
      const digest = digests.subarray(at, at + DIGEST_SIZE);
      out.set(partitionOf(digest), digest.toString('hex'));
    }
  }
  return out;
}

/** Every reply frame of one scan, concatenated. */
export function answerScan(msg: AsMsg, store: RecordStore, topology: NodeTopology): Buffer {
  const plan = planScan(msg, store);
  const frames = new FrameCutter();
  if ('resultCode' in plan) {
    frames.add(marker(Info3.LAST, plan.resultCode, 0));
    return frames.finish();
  }
  let sent = 0;
  for (const [partition, after] of plan.partitions) {
    if (!topology.isMaster(partition)) {
      frames.add(marker(Info3.PARTITION_DONE, ResultCode.PARTITION_UNAVAILABLE, partition));
      continue;
    }
    for (const [digestHex, record] of store.partitionRecords(plan.namespace, partition)) {
      if (after !== '' && digestHex <= after) continue;
      if (plan.set !== undefined && record.set !== plan.set) continue;
      if (plan.maxRecords > 0 && sent >= plan.maxRecords) break;
      frames.add(recordMessage(plan, digestHex, record));
      sent++;
    }
  }
  frames.add(marker(Info3.LAST, ResultCode.OK, 0));
  return frames.finish();
}

/** A message without fields or ops: a partition marker or the closing LAST. */
function marker(info3: number, resultCode: number, generation: number): Buffer {
  const msg = Buffer.alloc(MSG_HEADER_SIZE);
  msg[0] = MSG_HEADER_SIZE;
  msg[3] = info3;
  msg[5] = resultCode;
  msg.writeUInt32BE(generation, 6);
  return msg;
}

function recordMessage(plan: ScanPlan, digestHex: string, record: StoredRecord): Buffer {
  const fields: Array<[number, Buffer]> = [
    [FieldType.NAMESPACE, Buffer.from(plan.namespace, 'utf8')],
    [FieldType.DIGEST, Buffer.from(digestHex, 'hex')],
  ];
  if (record.set !== undefined) fields.push([FieldType.SET, Buffer.from(record.set, 'utf8')]);
  if (record.key !== undefined) fields.push([FieldType.USER_KEY, record.key]);
  const bins: Array<[Buffer, number, Buffer]> = [];
  if (!plan.noBins) {
    for (const [name, bin] of record.bins) {
      if (plan.bins === null || plan.bins.includes(name)) bins.push([Buffer.from(name, 'utf8'), bin.type, bin.value]);
    }
  }
  let size = MSG_HEADER_SIZE;
  for (const [, data] of fields) size += 5 + data.length;
  for (const [name, , value] of bins) size += 8 + name.length + value.length;
  const msg = Buffer.alloc(size);
  msg[0] = MSG_HEADER_SIZE;
  msg.writeUInt32BE(record.generation, 6);
  msg.writeUInt32BE(record.voidTime, 10);
  msg.writeUInt16BE(fields.length, 18);
  msg.writeUInt16BE(bins.length, 20);
  let at = MSG_HEADER_SIZE;
  for (const [type, data] of fields) {
    msg.writeUInt32BE(1 + data.length, at);
    msg[at + 4] = type;
    at += 5 + data.copy(msg, at + 5);
  }
  for (const [name, particle, value] of bins) {
    msg.writeUInt32BE(4 + name.length + value.length, at);
    msg[at + 4] = OpType.READ;
    msg[at + 5] = particle;
    msg[at + 7] = name.length;
    at += 8 + name.copy(msg, at + 8);
    at += value.copy(msg, at);
  }
  return msg;
}

/** Gathers as_msgs into proto frames of about FRAME_BYTES each. */
class FrameCutter {
  private readonly frames: Buffer[] = [];
  private pending: Buffer[] = [];
  private pendingBytes = 0;

  add(msg: Buffer): void {
    this.pending.push(msg);
    this.pendingBytes += msg.length;
    if (this.pendingBytes >= FRAME_BYTES) this.cut();
  }

  finish(): Buffer {
    this.cut();
    return Buffer.concat(this.frames);
  }

  private cut(): void {
    if (this.pending.length === 0) return;
    const header = Buffer.allocUnsafe(PROTO_HEADER_SIZE);
    writeProtoHeader(header, 0, ProtoType.MESSAGE, this.pendingBytes);
    this.frames.push(header, ...this.pending);
    this.pending = [];
    this.pendingBytes = 0;
  }
}
