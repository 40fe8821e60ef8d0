/**
 * What a module returns, encoded as a record message: every value type decodes back to what the
 * module gave; unchanged bins are copied as shipped; the digest follows a new set or key.
 */

import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { FieldType, Info2, ParticleType, Scan, ScanError, decodeParticle, decodeRecordMessage, newScan, scanRecordMessage } from '../../src/protocol/index.js';
import { encodeRecord } from '../../src/transform/encode.js';
import { RecordView } from '../../src/transform/record-view.js';
import { TransformError } from '../../src/transform/index.js';
import { type ShippedRecord, xdrMessage } from '../support/xdr-ship.js';

function viewOf(r: ShippedRecord): RecordView {
  const msg = xdrMessage(r);
  const scan = newScan();
  expect(scanRecordMessage(msg, 8, msg.length, scan)).toBe(ScanError.None);
  return new RecordView(msg, 8, msg.length, scan);
}

function decoded(body: Buffer): { m: ReturnType<typeof decodeRecordMessage>; bins: Record<string, unknown> } {
  const scan = newScan();
  expect(scanRecordMessage(body, 0, body.length, scan)).toBe(ScanError.None);
  const m = decodeRecordMessage(body, 0, body.length);
  return { m, bins: Object.fromEntries(m.ops.map((o) => [o.name, decodeParticle(o.particleType, o.value).value])) };
}

const src: ShippedRecord = { namespace: 'test', set: 's', key: 'user-1', bins: { name: 'Ada', n: 5 }, lutMs: 1_700_000_000_000 };

describe('encoding a transform output', () => {
  it('the view reads the record: header, key, LUT, bins', () => {
    const v = viewOf(src);
    expect([v.namespace, v.set, v.key, v.generation, v.lut, v.isDelete]).toEqual(['test', 's', 'user-1', 1, 1_700_000_000_000, false]);
    expect(v.bins).toEqual({ name: 'Ada', n: 5 });
    expect(v.bins).toBe(v.bins);
  });

  it('every value type decodes back to what was given', () => {
    const v = viewOf(src);
    const bins = {
      int: -42,
      big: 2n ** 60n,
      dbl: 1.5,
      str: 'héllo',
      blob: Buffer.from([1, 2, 3]),
      yes: true,
      list: [1, 'two', [3.5, null], Buffer.from([9])],
      map: { a: 1, b: 'x', nested: { c: [true, false] } },
      long: Array.from({ length: 40 }, (_, i) => i * 1000),
    };
    const { bins: out } = decoded(encodeRecord(v, { bins }));
    expect(out).toEqual({ ...bins, long: bins.long });
  });

  it('a bin given back unchanged is copied as shipped; a null bin deletes it', () => {
    const v = viewOf(src);
    const body = encodeRecord(v, { bins: { name: v.bins.name!, gone: null } });
    const { m } = decoded(body);
    expect(m.ops[0]!.particleType).toBe(ParticleType.String);
    expect(m.ops[1]).toMatchObject({ name: 'gone', particleType: ParticleType.Null });
    const scan = newScan();
    scanRecordMessage(body, 0, body.length, scan);
    const opsAt = scan[Scan.OpsOffset]!;
    expect(body.subarray(opsAt, opsAt + 4 + body.readUInt32BE(opsAt))).toEqual(v.raw.get('name')!.op);
  });

  it('a new set or key gives the digest of the new set and key; namespace, TTL and LUT carried', () => {
    const v = viewOf(src);
    const { m } = decoded(encodeRecord(v, { namespace: 'bar', set: 'moved', key: 77, ttl: 60 }));
    const key = Buffer.alloc(9);
    key[0] = ParticleType.Integer;
    key.writeBigInt64BE(77n, 1);
    expect(m.digest).toEqual(createHash('ripemd160').update('moved').update(key).digest());
    expect([m.namespace, m.set, m.recordTtl, m.generation]).toEqual(['bar', 'moved', 60, 1]);
    expect(m.lut).toBe(decodeRecordMessage(xdrMessage(src), 8, xdrMessage(src).length).lut);
    expect(m.fields.map((f) => f.type)).toEqual([FieldType.Namespace, FieldType.Set, FieldType.UserKey, FieldType.Digest, FieldType.LastUpdateTime]);
  });

  it('a delete stays a delete; delete: true turns a write into one', () => {
    const del = decoded(encodeRecord(viewOf({ ...src, bins: undefined, delete: true }), { set: 'other' })).m;
    expect(del.info2 & Info2.Delete).toBe(Info2.Delete);
    expect(del.ops).toEqual([]);
    const made = decoded(encodeRecord(viewOf(src), { delete: true })).m;
    expect(made.info2 & Info2.Delete).toBe(Info2.Delete);
    expect(made.ops).toEqual([]);
  });

  it.each([
    [{ bins: { 'a-bin-name-far-too-long': 1 } }, 'must be 1 to 15 bytes'],
    [{ bins: { f: () => 1 } as unknown as Record<string, null> }, 'cannot be stored'],
    [{ key: 1.5 }, 'is not an integer'],
  ])('refuses what cannot be written: %j', (out, message) => {
    expect(() => encodeRecord(viewOf(src), out)).toThrow(TransformError);
    expect(() => encodeRecord(viewOf(src), out)).toThrow(message);
  });
});
