// Single-record transactions against the store, with the result codes Community Edition 8.1
// gives. Both plain messages and batch rows come through here; bytes are already decoded by
// message.ts / batch.ts, and this file only interprets them.

import { ExpressionError, passesFilter, readExpression } from './expression.js';
import { findField, namespaceOf, type MsgField, type MsgOp, type ReplyBin } from './message.js';
import { citrusNow, nowNs, type RecordStore, type StoredBin, type StoredRecord } from './store.js';
import {
  DIGEST_SIZE,
  FieldType,
  Info1,
  Info2,
  Info3,
  MAX_BIN_NAME,
  OpType,
  ParticleType,
  ResultCode,
  Ttl,
} from './wire.js';

export interface RecordRequest {
  readonly info1: number;
  readonly info2: number;
  readonly info3: number;
  readonly generation: number;
  readonly ttl: number;
  readonly fields: readonly MsgField[];
  readonly ops: readonly MsgOp[];
  /** Batch rows carry the digest outside the fields. */
  readonly digest?: Buffer;
  /** False inside a batch: the server clears the XDR bit on batch sub-transactions. */
  readonly honourXdr: boolean;
}

export type OutcomeKind = 'read' | 'write' | 'delete' | 'rejected';

export interface RecordOutcome {
  readonly kind: OutcomeKind;
  readonly resultCode: number;
  readonly generation: number;
  readonly voidTime: number;
  readonly bins: ReplyBin[];
  /** The write carried the XDR bit and it was honoured. */
  readonly xdr: boolean;
}

const EMPTY = Buffer.alloc(0);

function rejected(resultCode: number): RecordOutcome {
  return { kind: 'rejected', resultCode, generation: 0, voidTime: 0, bins: [], xdr: false };
}

/** Generations are 16 bits in a server's index; they wrap to 1, never to 0. */
function nextGeneration(generation: number): number {
  return generation >= 0xffff ? 1 : generation + 1;
}

/** Void time for a record TTL sent by a client; the namespace default is "never expire". */
function voidTimeFor(ttl: number, existing: StoredRecord | undefined): number {
  if (ttl === Ttl.NAMESPACE_DEFAULT || ttl === Ttl.NEVER_EXPIRE) return 0;
  if (ttl === Ttl.DONT_UPDATE) return existing?.voidTime ?? 0;
  return citrusNow() + ttl;
}

function binsOf(record: StoredRecord): ReplyBin[] {
  const bins: ReplyBin[] = [];
  for (const [name, bin] of record.bins) bins.push({ name, particle: bin.type, value: bin.value });
  return bins;
}

/** An EXP_READ op's result as an integer bin under the op's name, or PARAMETER. */
function expressionBin(op: MsgOp, record: StoredRecord): ReplyBin | number {
  try {
    const value = Buffer.allocUnsafe(8);
    value.writeBigInt64BE(BigInt.asIntN(64, readExpression(op.value, record)), 0);
    return { name: op.name, particle: ParticleType.INTEGER, value };
  } catch (err) {
    if (err instanceof ExpressionError) return ResultCode.PARAMETER;
    throw err;
  }
}

function generationCheckFails(info2: number, requested: number, existing: StoredRecord): boolean {
  if (info2 & Info2.GENERATION) return existing.generation !== requested;
  if (info2 & Info2.GENERATION_GT) return requested <= existing.generation;
  return false;
}

export class RecordExecutor {
  constructor(private readonly store: RecordStore) {}

  execute(req: RecordRequest): RecordOutcome {
    const ns = namespaceOf(req.fields);
    if (ns === undefined || !this.store.hasNamespace(ns)) return rejected(ResultCode.NAMESPACE);
    const digest = req.digest ?? findField(req.fields, FieldType.DIGEST);
    if (!digest || digest.length !== DIGEST_SIZE) return rejected(ResultCode.PARAMETER);
    const digestHex = digest.toString('hex');

    if (req.info2 & Info2.DELETE) return this.remove(ns, digestHex, req);
    if (req.info2 & Info2.WRITE) return this.write(ns, digestHex, req);
    if (req.info1 & Info1.READ) return this.read(ns, digestHex, req);
    return rejected(ResultCode.PARAMETER);
  }

  private read(ns: string, digestHex: string, req: RecordRequest): RecordOutcome {
    for (const op of req.ops) if (op.op !== OpType.READ && op.op !== OpType.EXP_READ) return rejected(ResultCode.PARAMETER);
    const record = this.store.get(ns, digestHex);
    if (!record) return rejected(ResultCode.NOT_FOUND);
    let bins: ReplyBin[] = [];
    if (req.info1 & Info1.NO_BIN_DATA) {
      bins = [];
    } else if (req.info1 & Info1.GET_ALL || req.ops.length === 0) {
      // A server ignores the ops of a read that asks for every bin, expression reads included.
      bins = binsOf(record);
    } else {
      for (const op of req.ops) {
        if (op.op === OpType.EXP_READ) {
          const result = expressionBin(op, record);
          if (typeof result === 'number') return rejected(result);
          bins.push(result);
          continue;
        }
        const bin = record.bins.get(op.name);
        if (bin) bins.push({ name: op.name, particle: bin.type, value: bin.value });
      }
    }
    return { kind: 'read', resultCode: ResultCode.OK, generation: record.generation, voidTime: record.voidTime, bins, xdr: false };
  }

  private remove(ns: string, digestHex: string, req: RecordRequest): RecordOutcome {
    // Community Edition has no tombstones; a durable delete is an Enterprise feature.
    if (req.info2 & Info2.DURABLE_DELETE) return rejected(ResultCode.ENTERPRISE_ONLY);
    const record = this.store.get(ns, digestHex);
    if (!record) return rejected(ResultCode.NOT_FOUND);
    if (generationCheckFails(req.info2, req.generation, record)) return rejected(ResultCode.GENERATION);
    const filtered = this.filter(req, record);
    if (filtered !== ResultCode.OK) return rejected(filtered);
    this.store.delete(ns, digestHex);
    return { kind: 'delete', resultCode: ResultCode.OK, generation: 0, voidTime: 0, bins: [], xdr: false };
  }

  private write(ns: string, digestHex: string, req: RecordRequest): RecordOutcome {
    // A write with nothing to write is a parameter error (the XDR no-bins captures show it).
    if (req.ops.length === 0) return rejected(ResultCode.PARAMETER);
    const existing = this.store.get(ns, digestHex);
    if (req.info2 & Info2.CREATE_ONLY && existing) return rejected(ResultCode.RECORD_EXISTS);
    if (req.info3 & (Info3.UPDATE_ONLY | Info3.REPLACE_ONLY) && !existing) return rejected(ResultCode.NOT_FOUND);
    if (existing && generationCheckFails(req.info2, req.generation, existing)) return rejected(ResultCode.GENERATION);
    // A filter applies to a record that exists: a write to a missing key is not filtered.
    const filtered = existing ? this.filter(req, existing) : ResultCode.OK;
    if (filtered !== ResultCode.OK) return rejected(filtered);

    const replace = (req.info3 & (Info3.CREATE_OR_REPLACE | Info3.REPLACE_ONLY)) !== 0;
    // Work on a copy so a failing op leaves the stored record untouched.
    const bins = new Map<string, StoredBin>(replace || !existing ? [] : existing.bins);
    const respondAll = (req.info2 & Info2.RESPOND_ALL_OPS) !== 0;
    const results: ReplyBin[] = [];

    for (const op of req.ops) {
      if (Buffer.byteLength(op.name) > MAX_BIN_NAME) return rejected(ResultCode.BIN_NAME);
      if (op.op === OpType.READ) {
        if (op.name === '') {
          for (const [name, bin] of bins) results.push({ name, particle: bin.type, value: bin.value });
        } else {
          const bin = bins.get(op.name);
          if (bin) results.push({ name: op.name, particle: bin.type, value: bin.value });
          else if (respondAll) results.push({ name: op.name, particle: ParticleType.NULL, value: EMPTY });
        }
        continue;
      }
      const code = this.applyWriteOp(op, bins, existing);
      if (code !== ResultCode.OK) return rejected(code);
      if (respondAll) results.push({ name: op.name, particle: ParticleType.NULL, value: EMPTY });
    }

    if (bins.size === 0) {
      // A record left without bins does not exist any more.
      if (existing) this.store.delete(ns, digestHex);
      return { kind: 'delete', resultCode: ResultCode.OK, generation: 0, voidTime: 0, bins: results, xdr: false };
    }

    const xdr = req.honourXdr && (req.info1 & Info1.XDR) !== 0;
    const lutField = findField(req.fields, FieldType.LUT);
    const keyField = findField(req.fields, FieldType.USER_KEY);
    const setField = findField(req.fields, FieldType.SET);
    const record: StoredRecord = {
      bins,
      generation: existing ? nextGeneration(existing.generation) : 1,
      voidTime: voidTimeFor(req.ttl, existing),
      lut: lutField && lutField.length === 8 ? lutField.readBigUInt64BE(0) : undefined,
      lastUpdateNs: nowNs(),
      xdr,
      key: keyField ? Buffer.from(keyField) : existing?.key,
      set: setField ? setField.toString('utf8') : existing?.set,
    };
    this.store.put(ns, digestHex, record);
    return { kind: 'write', resultCode: ResultCode.OK, generation: record.generation, voidTime: record.voidTime, bins: results, xdr };
  }

  /** The request's filter expression against `record`: OK, FILTERED_OUT, or PARAMETER. */
  private filter(req: RecordRequest, record: StoredRecord): number {
    const exp = findField(req.fields, FieldType.FILTER_EXPRESSION);
    if (exp === undefined) return ResultCode.OK;
    this.store.lastFilterExpression = Buffer.from(exp);
    try {
      return passesFilter(exp, record) ? ResultCode.OK : ResultCode.FILTERED_OUT;
    } catch (err) {
      if (err instanceof ExpressionError) return ResultCode.PARAMETER;
      throw err;
    }
  }

  /** Applies one modifying op to `bins`; returns a result code. */
  private applyWriteOp(op: MsgOp, bins: Map<string, StoredBin>, existing: StoredRecord | undefined): number {
    switch (op.op) {
      case OpType.WRITE:
        if (op.particle === ParticleType.HLL && !isValidHll(op.value)) return ResultCode.PARAMETER;
        if (op.particle === ParticleType.NULL) bins.delete(op.name);
        else bins.set(op.name, { type: op.particle, value: Buffer.from(op.value) });
        return ResultCode.OK;
      case OpType.INCR:
        return incrementBin(op, bins);
      case OpType.APPEND:
      case OpType.PREPEND:
        return concatBin(op, bins);
      case OpType.TOUCH:
        return existing ? ResultCode.OK : ResultCode.NOT_FOUND;
      case OpType.DELETE:
        bins.clear();
        return ResultCode.OK;
      default:
        // CDT, bit, HLL and expression ops are not modelled.
        return ResultCode.PARAMETER;
    }
  }
}

/**
 * A server accepts an HLL bin only in its own layout:
 *   [u8 flags = 0][u8 index bits 4..16][u8 minhash bits][u64 cache][registers]
 * with ((6 + minhash bits) << index bits, rounded up to bytes) register bytes, and
 * index + minhash bits at most 64.
 */
function isValidHll(v: Buffer): boolean {
  if (v.length < 11 || v[0] !== 0) return false;
  const indexBits = v[1]!;
  const minhashBits = v[2]!;
  if (indexBits < 4 || indexBits > 16 || minhashBits > 51 || indexBits + minhashBits > 64) return false;
  return v.length === 11 + Math.ceil(((6 + minhashBits) << indexBits) / 8);
}

function incrementBin(op: MsgOp, bins: Map<string, StoredBin>): number {
  if (op.particle === ParticleType.INTEGER) {
    if (op.value.length !== 8) return ResultCode.PARAMETER;
    const current = bins.get(op.name);
    if (current && current.type !== ParticleType.INTEGER) return ResultCode.INCOMPATIBLE_TYPE;
    const sum = BigInt.asIntN(64, (current ? current.value.readBigInt64BE(0) : 0n) + op.value.readBigInt64BE(0));
    const value = Buffer.allocUnsafe(8);
    value.writeBigInt64BE(sum, 0);
    bins.set(op.name, { type: ParticleType.INTEGER, value });
    return ResultCode.OK;
  }
  if (op.particle === ParticleType.DOUBLE) {
    if (op.value.length !== 8) return ResultCode.PARAMETER;
    const current = bins.get(op.name);
    if (current && current.type !== ParticleType.DOUBLE) return ResultCode.INCOMPATIBLE_TYPE;
    const value = Buffer.allocUnsafe(8);
    value.writeDoubleBE((current ? current.value.readDoubleBE(0) : 0) + op.value.readDoubleBE(0), 0);
    bins.set(op.name, { type: ParticleType.DOUBLE, value });
    return ResultCode.OK;
  }
  return ResultCode.PARAMETER;
}

function concatBin(op: MsgOp, bins: Map<string, StoredBin>): number {
  if (op.particle !== ParticleType.STRING && op.particle !== ParticleType.BLOB) return ResultCode.INCOMPATIBLE_TYPE;
  const current = bins.get(op.name);
  if (!current) {
    bins.set(op.name, { type: op.particle, value: Buffer.from(op.value) });
    return ResultCode.OK;
  }
  if (current.type !== op.particle) return ResultCode.INCOMPATIBLE_TYPE;
  const value = op.op === OpType.APPEND ? Buffer.concat([current.value, op.value]) : Buffer.concat([op.value, current.value]);
  bins.set(op.name, { type: current.type, value });
  return ResultCode.OK;
}
