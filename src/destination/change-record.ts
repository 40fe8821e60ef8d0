/**
 * A record as the connectors' change notifications describe it, built from an XDR record message:
 *
 *   { msg: "write" | "delete", namespace, set, userKey, digest (base64), gen, lut (Unix ms),
 *     exp (Unix seconds the record expires at; 0 = never), durable (delete left a tombstone),
 *     bins: { name: { type, value } } }           // types kept: int, double, str, blob, bool, …
 */

import { Info2, Ttl, type DecodedParticle, decodeParticle, decodeRecordMessage, lutToUnixMs } from '../protocol/index.js';

export interface ChangeRecord {
  msg: 'write' | 'delete';
  namespace: string;
  set: string | null;
  userKey: DecodedParticle['value'] | null;
  digest: string;
  gen: number;
  lut: number | null;
  exp: number;
  durable: boolean;
  bins: Record<string, DecodedParticle>;
}

export function toChangeRecord(buf: Buffer, start: number, end: number, nowMs: number): ChangeRecord {
  const m = decodeRecordMessage(buf, start, end);
  const isDelete = (m.info2 & Info2.Delete) !== 0;
  const bins: Record<string, DecodedParticle> = {};
  for (const op of m.ops) bins[op.name] = decodeOrRaw(op.particleType, op.value);
  let exp = 0;
  if (!isDelete && m.recordTtl !== Ttl.NeverExpire && m.recordTtl !== Ttl.NamespaceDefault && m.recordTtl !== Ttl.DontUpdate) {
    exp = Math.floor(nowMs / 1000) + m.recordTtl;
  }
  return {
    msg: isDelete ? 'delete' : 'write',
    namespace: m.namespace ?? '',
    set: m.set ?? null,
    userKey: m.userKey === undefined ? null : decodeOrRaw(m.userKey.particleType, m.userKey.bytes).value,
    digest: (m.digest ?? Buffer.alloc(0)).toString('base64'),
    gen: m.generation,
    lut: m.lut === undefined ? null : lutToUnixMs(m.lut),
    exp,
    durable: isDelete && (m.info2 & Info2.DurableDelete) !== 0,
    bins,
  };
}

/** A particle that does not decode is kept as its raw bytes, typed `raw-<particle type>`. */
function decodeOrRaw(type: number, bytes: Buffer): DecodedParticle {
  try {
    return decodeParticle(type, bytes);
  } catch {
    return { type: `raw-${type}`, value: Buffer.from(bytes) };
  }
}

/** JSON text for one change: bigints as decimal strings, byte arrays as base64. */
export function changeRecordJson(r: ChangeRecord): string {
  return JSON.stringify(r, (_k, v: unknown) => {
    if (typeof v === 'bigint') return v.toString();
    if (v !== null && typeof v === 'object' && (v as { type?: unknown }).type === 'Buffer' && Array.isArray((v as { data?: unknown }).data)) {
      return Buffer.from((v as { data: number[] }).data).toString('base64');
    }
    return v;
  });
}

