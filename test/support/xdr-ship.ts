/**
 * A source that ships hand-made records the way XDR does (XDR bit, namespace, set, digest, user
 * key, LUT) and reads each reply's result code, for tests that follow single records through Ferry.
 */

import { createHash } from 'node:crypto';
import { FieldType, Info1, Info2, Info3, OpType, ParticleType, encodeRecordRequest, lutField, lutFromUnixMs, stringField } from '../../src/protocol/index.js';
import { afterAll, beforeAll, expect } from 'vitest';
import { FerryProcess } from './ferry-process.js';
import { FrameSocket } from './frame-socket.js';

export interface ShippedRecord {
  namespace: string;
  set: string;
  key: number | string;
  /** string or integer bins; absent on a delete */
  bins?: Record<string, string | number>;
  delete?: boolean;
  /** last-update time in Unix ms; now when absent */
  lutMs?: number;
  generation?: number;
}

function keyField(key: number | string): Buffer {
  if (typeof key === 'string') return Buffer.concat([Buffer.of(ParticleType.String), Buffer.from(key, 'utf8')]);
  const b = Buffer.alloc(9);
  b[0] = ParticleType.Integer;
  b.writeBigInt64BE(BigInt(key), 1);
  return b;
}

/** The record message XDR would ship for `r`, proto header included. */
export function xdrMessage(r: ShippedRecord): Buffer {
  const kf = keyField(r.key);
  const digest = createHash('ripemd160').update(r.set, 'utf8').update(kf).digest();
  const fields = [stringField(FieldType.Namespace, r.namespace), stringField(FieldType.Set, r.set), { type: FieldType.UserKey, data: kf }, { type: FieldType.Digest, data: digest }, lutField(lutFromUnixMs(r.lutMs ?? Date.now()))];
  const ops = Object.entries(r.bins ?? {}).map(([name, v]) => {
    if (typeof v === 'string') return { op: OpType.Write, particleType: ParticleType.String, name, value: Buffer.from(v, 'utf8') };
    const b = Buffer.alloc(8);
    b.writeBigInt64BE(BigInt(v));
    return { op: OpType.Write, particleType: ParticleType.Integer, name, value: b };
  });
  return Buffer.from(
    encodeRecordRequest({
      info1: Info1.Xdr,
      info2: r.delete === true ? Info2.Write | Info2.Delete : Info2.Write,
      info3: r.delete === true ? 0 : Info3.CreateOrReplace,
      generation: r.generation ?? 1,
      fields,
      ops: r.delete === true ? [] : ops,
    }),
  );
}

export class XdrShipper extends FrameSocket {
  /** Ship `records` in one go; resolves with each one's reply code, in order. */
  async ship(...records: ShippedRecord[]): Promise<number[]> {
    this.send(Buffer.concat(records.map(xdrMessage)));
    const frames = await this.take(records.length);
    return frames.map((f) => f.body[5]!);
  }
}

/** A Ferry started with `config()` and a shipper connected to it, for the enclosing block. */
export function useFerryAndShipper(config: () => Record<string, unknown>): { readonly ferry: FerryProcess; readonly source: XdrShipper } {
  const ctx = {} as { ferry: FerryProcess; source: XdrShipper };
  beforeAll(async () => {
    ctx.ferry = await FerryProcess.start(config());
    ctx.source = await XdrShipper.open(ctx.ferry.port);
  });
  afterAll(async () => {
    ctx.source?.close();
    expect(await ctx.ferry.stop()).toBe(0);
  });
  return ctx;
}
