// Filter expressions (field 43), evaluated against a stored record the way a server does for the
// part of the language Ferry sends: comparisons, and/or/not, bin values and bin types, integer
// literals. A bin that is missing (or of another type) makes BIN "unknown"; unknown propagates
// through comparisons, `or` is true if any argument is, and a filter that ends unknown filters
// the record out, as a server's does. Anything outside this subset is a parameter error.

import { Unpackr } from 'msgpackr';
import type { StoredRecord } from './store.js';
import { ParticleType } from './wire.js';

const unpackr = new Unpackr({ int64AsType: 'bigint', mapsAsObjects: false, useRecords: false });

const Op = { EQ: 1, NE: 2, GT: 3, GE: 4, LT: 5, LE: 6, AND: 16, OR: 17, NOT: 18, LAST_UPDATE: 66, BIN: 81, BIN_TYPE: 82 } as const;
const EXP_TYPE_INT = 2;

const UNKNOWN = Symbol('unknown');
type Value = bigint | boolean | typeof UNKNOWN;

export class ExpressionError extends Error {
  override readonly name = 'ExpressionError';
}

function integer(v: unknown): bigint {
  if (typeof v === 'bigint') return v;
  if (typeof v === 'number' && Number.isInteger(v)) return BigInt(v);
  throw new ExpressionError(`not an integer: ${String(v)}`);
}

function evaluate(node: unknown, record: StoredRecord): Value {
  if (!Array.isArray(node)) {
    if (typeof node === 'boolean') return node;
    return integer(node);
  }
  const [op, ...args] = node as unknown[];
  switch (op) {
    case Op.EQ:
    case Op.NE:
    case Op.GT:
    case Op.GE:
    case Op.LT:
    case Op.LE: {
      if (args.length !== 2) throw new ExpressionError(`comparison ${String(op)} takes two arguments`);
      const a = evaluate(args[0], record);
      const b = evaluate(args[1], record);
      if (a === UNKNOWN || b === UNKNOWN) return UNKNOWN;
      if (op === Op.EQ) return a === b;
      if (op === Op.NE) return a !== b;
      if (typeof a !== 'bigint' || typeof b !== 'bigint') throw new ExpressionError('ordering compares integers');
      return op === Op.GT ? a > b : op === Op.GE ? a >= b : op === Op.LT ? a < b : a <= b;
    }
    case Op.AND:
    case Op.OR: {
      let unknown = false;
      for (const arg of args) {
        const v = evaluate(arg, record);
        if (v === UNKNOWN) unknown = true;
        else if (typeof v !== 'boolean') throw new ExpressionError('and/or take booleans');
        else if (v === (op === Op.OR)) return v;
      }
      return unknown ? UNKNOWN : op === Op.AND;
    }
    case Op.NOT: {
      const v = evaluate(args[0], record);
      if (v === UNKNOWN) return UNKNOWN;
      if (typeof v !== 'boolean') throw new ExpressionError('not takes a boolean');
      return !v;
    }
    case Op.LAST_UPDATE:
      // Nanoseconds since the Unix epoch.
      return record.lastUpdateNs;
    case Op.BIN: {
      const [type, name] = args;
      if (integer(type) !== BigInt(EXP_TYPE_INT) || typeof name !== 'string') throw new ExpressionError('only integer bins are modelled');
      const bin = record.bins.get(name);
      if (bin === undefined || bin.type !== ParticleType.INTEGER) return UNKNOWN;
      return bin.value.readBigInt64BE(0);
    }
    case Op.BIN_TYPE: {
      const [name] = args;
      if (typeof name !== 'string') throw new ExpressionError('bin_type takes a bin name');
      return BigInt(record.bins.get(name)?.type ?? 0);
    }
    default:
      throw new ExpressionError(`expression op ${String(op)} is not modelled`);
  }
}

function unpack(bytes: Buffer): unknown {
  try {
    return unpackr.unpack(bytes);
  } catch (err) {
    throw new ExpressionError(`not msgpack: ${String(err)}`);
  }
}

/** Whether `record` passes the filter `bytes`; throws ExpressionError for what is not modelled. */
export function passesFilter(bytes: Buffer, record: StoredRecord): boolean {
  return evaluate(unpack(bytes), record) === true;
}

/**
 * The integer an EXP_READ op computes: its value is msgpack `[expression, flags]`. Only integer
 * results are modelled (LAST_UPDATE is what a client asks for); anything else throws.
 */
export function readExpression(value: Buffer, record: StoredRecord): bigint {
  const op = unpack(value);
  if (!Array.isArray(op) || op.length !== 2) throw new ExpressionError('an expression read is [expression, flags]');
  const result = evaluate(op[0], record);
  if (typeof result !== 'bigint') throw new ExpressionError('only integer expression reads are modelled');
  return result;
}
