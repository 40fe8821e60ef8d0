/**
 * Requests that read many records: a partition scan, and a batch read by digest (bins, or the
 * last-update time). Used off the hot path, by `ferry verify` (docs/wire.md §7).
 *
 *   scan := proto(3) header(22) fields, no ops
 *     header: info1 READ, info3 PARTITION_DONE (a server answers 16 without it)
 *     fields: namespace (0), [set (1)], PID_ARRAY (11), SOCKET_TIMEOUT (9), TASK_ID (7)
 *     PID_ARRAY := [u16 partition id, little-endian]{n}
 *   reply := as_msg{n} in one or more frames: records (fields namespace, digest, [set], [key]; READ
 *            ops, one per bin), a PARTITION_DONE marker with a non-zero result for each partition
 *            the node could not scan (generation = the partition id), then one as_msg with info3 LAST.
 *
 *   batch read := proto(3) header(22, info1 READ | BATCH) field BATCH_INDEX (41)
 *     BATCH_INDEX := [u32 rows][u8 flags = 0] row{rows}
 *     row         := [u32 index][20-byte digest][u8 row flags = 0][u8 read attr][u16 n_fields = 1]
 *                    [u16 n_ops] field namespace, op*
 *       bins:     read attr READ | GET_ALL, no op
 *       lut:      read attr READ, one EXP_READ (7) op named `lut` whose value is the msgpack
 *                 [[LAST_UPDATE], 0]: the record's last-update time, integer ns since the Unix epoch
 *   reply := one as_msg per row (transaction-ttl slot = the row index; result 2 when absent),
 *            then one with info3 LAST.
 *
 * A foreground scan refuses expression reads (4), so a record's last-update time only comes by
 * single or batch read. No records-per-second field (10) is sent: a server pacing a scan holds
 * its reply until a whole buffer (about 1 MB) is full, so a paced scan is silent for minutes at a
 * low rate (CE 8.1.2: 3,000 records at 200/s came as one frame after 15 s); the pace is kept on
 * the client side instead.
 */

import { AS_MSG_HEADER_SIZE, DIGEST_SIZE, FieldType, Info1, Info3, MessageType, OpType, PROTO_HEADER_SIZE, PROTO_VERSION, ParticleType } from './constants.js';
import { BufferWriter } from './buffer-writer.js';

/** Bin name the last-update time comes back under. */
export const LUT_BIN = 'lut';
/** msgpack [[LAST_UPDATE (66)], flags 0] */
const LAST_UPDATE_READ = Buffer.from([0x92, 0x91, 66, 0x00]);

export interface ScanRequest {
  namespace: string;
  set: string | undefined;
  partitions: readonly number[];
  /** how long the server waits on a client that does not read, ms */
  socketTimeoutMs: number;
  taskId: bigint;
}

function header(w: BufferWriter, info1: number, info3: number, nFields: number, nOps: number): void {
  w.u8(PROTO_VERSION).u8(MessageType.Record).u48(0);
  w.u8(AS_MSG_HEADER_SIZE).u8(info1).u8(0).u8(info3).u8(0).u8(0).u32(0).u32(0).u32(0).u16(nFields).u16(nOps);
}

function field(w: BufferWriter, type: number, data: Uint8Array): void {
  w.u32(1 + data.length).u8(type).bytes(data);
}

function finish(w: BufferWriter): Buffer {
  w.patchU48(2, w.length - PROTO_HEADER_SIZE);
  return w.finish();
}

export function encodeScanRequest(req: ScanRequest): Buffer {
  const w = new BufferWriter(128 + 2 * req.partitions.length);
  header(w, Info1.Read, Info3.PartitionDone, req.set === undefined ? 4 : 5, 0);
  field(w, FieldType.Namespace, Buffer.from(req.namespace, 'utf8'));
  if (req.set !== undefined) field(w, FieldType.Set, Buffer.from(req.set, 'utf8'));
  const pids = Buffer.allocUnsafe(2 * req.partitions.length);
  req.partitions.forEach((p, i) => pids.writeUInt16LE(p, 2 * i));
  field(w, FieldType.PidArray, pids);
  const timeout = Buffer.allocUnsafe(4);
  timeout.writeUInt32BE(req.socketTimeoutMs);
  field(w, FieldType.SocketTimeout, timeout);
  const task = Buffer.allocUnsafe(8);
  task.writeBigUInt64BE(req.taskId);
  field(w, FieldType.TransactionId, task);
  return finish(w);
}

export type BatchReadKind = 'bins' | 'lut';

export function encodeBatchRead(namespace: string, digests: readonly Buffer[], kind: BatchReadKind): Buffer {
  const ns = Buffer.from(namespace, 'utf8');
  const lutName = Buffer.from(LUT_BIN, 'utf8');
  const w = new BufferWriter(64 + digests.length * (48 + ns.length));
  header(w, Info1.Read | Info1.Batch, 0, 1, 0);
  const fieldAt = w.length;
  w.u32(0).u8(FieldType.Batch).u32(digests.length).u8(0);
  digests.forEach((digest, index) => {
    if (digest.length !== DIGEST_SIZE) throw new RangeError(`a digest is ${DIGEST_SIZE} bytes, got ${digest.length}`);
    w.u32(index).bytes(digest).u8(0);
    w.u8(kind === 'bins' ? Info1.Read | Info1.GetAll : Info1.Read)
      .u16(1)
      .u16(kind === 'bins' ? 0 : 1);
    field(w, FieldType.Namespace, ns);
    if (kind === 'lut') {
      w.u32(4 + lutName.length + LAST_UPDATE_READ.length).u8(OpType.ExpRead).u8(ParticleType.Blob).u8(0).u8(lutName.length).bytes(lutName).bytes(LAST_UPDATE_READ);
    }
  });
  w.patchU32(fieldAt, w.length - fieldAt - 4);
  return finish(w);
}
