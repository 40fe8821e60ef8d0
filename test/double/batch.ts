// Batch-index request reader (field 41 of a type-3 message with info1 BATCH).
//
//   batch field := [u32 row count][u8 batch flags] row{row count}
//   row         := [u32 index][20-byte digest][u8 row flags] row body
//   row body    := (nothing)                                     if row flags == REPEAT (0x01)
//                | [u8 read attr][u16 n_fields][u16 n_ops] fields ops         if row flags == 0
//                | [u8 info1][u8 info2][u8 info3]  if flags & INFO  (0x02)
//                  [u8 info4]                      if flags & INFO4 (0x10)
//                  [u16 generation]                if flags & GEN   (0x04)
//                  [u32 record ttl]                if flags & TTL   (0x08)
//                  [u16 n_fields][u16 n_ops] fields ops
//
// Fields and ops use the as_msg grammar (see message.ts). A REPEAT row reuses everything of the
// previous full row except index and digest. The namespace and set come as row fields.

import { MalformedMessageError, readFields, readOps, type MsgField, type MsgOp } from './message.js';
import { DIGEST_SIZE } from './wire.js';

export interface BatchRow {
  readonly index: number;
  readonly digest: Buffer;
  readonly info1: number;
  readonly info2: number;
  readonly info3: number;
  readonly info4: number;
  readonly generation: number;
  readonly ttl: number;
  readonly fields: MsgField[];
  readonly ops: MsgOp[];
}

const RowFlag = {
  REPEAT: 0x01,
  INFO: 0x02,
  GEN: 0x04,
  TTL: 0x08,
  INFO4: 0x10,
} as const;

export function readBatchField(data: Buffer): BatchRow[] {
  if (data.length < 5) throw new MalformedMessageError('batch field is shorter than its header');
  const count = data.readUInt32BE(0);
  const cursor = { offset: 5 };
  const need = (n: number): number => {
    const at = cursor.offset;
    if (at + n > data.length) throw new MalformedMessageError('batch row runs past the field');
    cursor.offset += n;
    return at;
  };
  const rows: BatchRow[] = [];
  let previous: BatchRow | undefined;
  for (let i = 0; i < count; i++) {
    const index = data.readUInt32BE(need(4));
    const digest = data.subarray(need(DIGEST_SIZE), cursor.offset);
    const flags = data[need(1)]!;
    if (flags === RowFlag.REPEAT) {
      if (!previous) throw new MalformedMessageError('the first batch row cannot repeat');
      rows.push({ ...previous, index, digest });
      continue;
    }
    let info1 = 0;
    let info2 = 0;
    let info3 = 0;
    let info4 = 0;
    let generation = 0;
    let ttl = 0;
    if (flags === 0) {
      info1 = data[need(1)]!;
    } else {
      if (flags & RowFlag.INFO) {
        const at = need(3);
        info1 = data[at]!;
        info2 = data[at + 1]!;
        info3 = data[at + 2]!;
      }
      if (flags & RowFlag.INFO4) info4 = data[need(1)]!;
      if (flags & RowFlag.GEN) generation = data.readUInt16BE(need(2));
      if (flags & RowFlag.TTL) ttl = data.readUInt32BE(need(4));
    }
    const at = need(4);
    const nFields = data.readUInt16BE(at);
    const nOps = data.readUInt16BE(at + 2);
    const fields = readFields(data, cursor, nFields);
    const ops = readOps(data, cursor, nOps);
    previous = { index, digest, info1, info2, info3, info4, generation, ttl, fields, ops };
    rows.push(previous);
  }
  return rows;
}
