/**
 * A dead letter: a record the destination rejected for good, kept whole so `ferry replay` can send
 * it again. The file destination's change record (change-record.ts) with what the rejection adds:
 *
 *   { …change record (namespace: the source's, lut: as XDR shipped it),
 *     code, message (the destination's), at (ISO time parked), instance, worker,
 *     xdr: the record message as XDR shipped it (as_msg without proto header; base64 in JSON) }
 *
 * The change-record fields are for people and filters; replay sends `xdr`, so the configuration as
 * it is at replay time (a namespace mapping added since, the write policy) applies to it.
 */

import { FieldType, Info2, type RequestField, decodeRecordMessage, encodeRecordRequest, lutField, resultCodeText } from '../protocol/index.js';
import { type ChangeRecord, toChangeRecord } from './change-record.js';
import type { WritePolicy } from './write-policy.js';

export interface DeadLetter extends ChangeRecord {
  code: number;
  message: string;
  at: string;
  instance: string;
  worker: number;
  xdr: Buffer;
}

/** What replay needs of a dead letter read back from a file. */
export interface ParkedRecord {
  namespace: string;
  set: string | null;
  code: number;
  /** Unix ms it was parked */
  at: number;
  xdr: Buffer;
}

/**
 * The record message as XDR shipped it, from the destination write Ferry made of it (proto header
 * included): the source namespace back in place of a mapped one, a stripped LUT (`strippedLut`, kept
 * beside the write) back as the last field, where XDR puts it, last-write-wins' guard field and
 * version bin taken out, a tombstone turned back into the delete it came from. A durable-delete bit
 * the policy cleared stays cleared.
 */
export function originalMessage(write: Buffer, policy: WritePolicy, mapping: number, tombstone: boolean, strippedLut: bigint | null): Buffer {
  const m = decodeRecordMessage(write, 8, write.length);
  const bin = policy.versionBin;
  const fields: RequestField[] = m.fields
    .filter((f) => !(bin !== null && f.type === FieldType.FilterExpression))
    .map((f) => {
      const source = f.type === FieldType.Namespace && mapping >= 0 && mapping < policy.routes ? policy.sourceNamespace(mapping) : null;
      return source === null ? f : { type: f.type, data: source };
    });
  if (strippedLut !== null && m.lut === undefined) fields.push(lutField(strippedLut));
  const ops = tombstone ? [] : m.ops.filter((op, i) => !(bin !== null && i === m.ops.length - 1 && op.name === bin));
  const message = encodeRecordRequest({
    info1: m.info1,
    info2: tombstone ? Info2.Write | Info2.Delete : m.info2,
    info3: tombstone ? 0 : m.info3,
    info4: m.info4,
    generation: m.generation,
    recordTtl: tombstone ? 0 : m.recordTtl,
    transactionTtl: m.transactionTtl,
    fields,
    ops: ops.map((op) => ({ op: op.op, particleType: op.particleType, name: op.name, value: op.value, binLut: op.binLut })),
  });
  return Buffer.from(message.subarray(8));
}

export function deadLetterOf(xdr: Buffer, code: number, instance: string, worker: number, nowMs: number): DeadLetter {
  return { ...toChangeRecord(xdr, 0, xdr.length, nowMs), code, message: resultCodeText(code), at: new Date(nowMs).toISOString(), instance, worker, xdr };
}

/** A dead letter read back (a parsed JSON line or MessagePack map), or why it is not one. */
export function parkedRecordOf(raw: unknown): ParkedRecord | string {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) return 'not a map';
  const r = raw as Record<string, unknown>;
  if (typeof r['namespace'] !== 'string') return 'no namespace';
  if (r['set'] !== null && typeof r['set'] !== 'string') return 'bad set';
  if (typeof r['code'] !== 'number' || !Number.isInteger(r['code'])) return 'no code';
  const at = typeof r['at'] === 'string' ? Date.parse(r['at']) : Number.NaN;
  if (Number.isNaN(at)) return 'no time (at)';
  const x = r['xdr'];
  const xdr = typeof x === 'string' ? Buffer.from(x, 'base64') : x instanceof Uint8Array ? Buffer.from(x) : null;
  if (xdr === null || xdr.length === 0) return 'no record (xdr)';
  return { namespace: r['namespace'], set: r['set'] as string | null, code: r['code'], at, xdr };
}
