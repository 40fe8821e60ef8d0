import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  FieldType,
  MessageType,
  OpType,
  ParticleType,
  Scan,
  ScanError,
  decodeRecordMessage,
  lutSourceId,
  lutToUnixMs,
  newScan,
  partitionOf,
  scanRecordMessage,
} from '../../src/protocol/index.js';
import { CAPTURES, type Capture, bodyOf, captureCases, hexBytes } from '../support/bytes.js';

/** What each kind of capture must carry in info2 (docs/wire.md §3). */
function expectedInfo2(c: Capture): number {
  if (c.kind === 'delete') return 0x03;
  // Bin LUTs are announced with 0x10 only when there are bins to ship.
  return c.kind === 'write' && c.shipBinLuts ? 0x11 : 0x01;
}

/** info3: create-or-replace when the whole record is shipped, 0 for a partial update or a delete. */
function expectedInfo3(c: Capture): number {
  if (c.kind === 'delete') return 0;
  return c.binPolicy === 'changed-or-specified' ? 0 : 0x10;
}

describe('golden XDR captures', () => {
  it('has the ten published captures, writes and deletes in pairs', () => {
    expect(CAPTURES).toHaveLength(10);
    expect(CAPTURES.map((c) => c.kind)).toEqual([
      'write',
      'delete',
      'write',
      'delete',
      'write',
      'delete',
      'write-no-bins',
      'delete',
      'write-no-bins',
      'delete',
    ]);
  });

  describe.each(captureCases())('%s', (_name, c) => {
    const msg = c.message;
    const body = bodyOf(msg);

    it('has a version-2 type-3 proto header whose length is the body length', () => {
      expect(msg[0]).toBe(2);
      expect(msg[1]).toBe(MessageType.Record);
      expect(msg.readUIntBE(2, 6)).toBe(msg.length - 8);
      expect(body.length).toBe(c.kind === 'write' ? 154 : 93);
    });

    it('scans cleanly with fields in the XDR order and the offsets pointing at them', () => {
      const scan = newScan();
      expect(scanRecordMessage(body, 0, body.length, scan)).toBe(ScanError.None);
      expect(scan[Scan.FieldCount]).toBe(5);
      expect(scan[Scan.OpCount]).toBe(c.kind === 'write' ? 3 : 0);
      expect(body.toString('utf8', scan[Scan.NamespaceOffset], scan[Scan.NamespaceOffset]! + scan[Scan.NamespaceLength]!)).toBe('test');
      expect(body.toString('utf8', scan[Scan.SetOffset], scan[Scan.SetOffset]! + scan[Scan.SetLength]!)).toBe('myset');
      // namespace(9) + digest(25) + set(10) + key(14) + LUT(13) after the 22-byte header
      expect(scan[Scan.NamespaceOffset]).toBe(22 + 5);
      expect(scan[Scan.DigestOffset]).toBe(22 + 9 + 5);
      expect(scan[Scan.SetOffset]).toBe(22 + 9 + 25 + 5);
      expect(scan[Scan.KeyOffset]).toBe(22 + 9 + 25 + 10 + 5);
      expect(scan[Scan.KeyLength]).toBe(9);
      expect(scan[Scan.LutFieldOffset]).toBe(22 + 9 + 25 + 10 + 14);
      expect(body.readUInt32BE(scan[Scan.LutFieldOffset]!)).toBe(9);
      expect(body[scan[Scan.LutFieldOffset]! + 4]).toBe(FieldType.LastUpdateTime);
      expect(scan[Scan.OpsOffset]).toBe(22 + 9 + 25 + 10 + 14 + 13);
    });

    it('decodes to namespace test, set myset, a 20-byte digest, an integer key and a LUT', () => {
      const m = decodeRecordMessage(msg, 8, msg.length);
      expect(m.namespace).toBe('test');
      expect(m.set).toBe('myset');
      expect(m.digest).toBeDefined();
      expect(m.digest!.length).toBe(20);
      expect(m.fields.map((f) => f.type)).toEqual([
        FieldType.Namespace,
        FieldType.Digest,
        FieldType.Set,
        FieldType.UserKey,
        FieldType.LastUpdateTime,
      ]);
      expect(m.userKey?.particleType).toBe(ParticleType.Integer);
      expect(m.userKey?.bytes.length).toBe(8);
      expect(m.lut).toBeDefined();
    });

    it('carries a LUT that converts to the moment the capture was logged', () => {
      const m = decodeRecordMessage(msg, 8, msg.length);
      // The source cluster had XDR src-id 1: the top bits above the 40-bit millisecond count.
      // (Read as one plain Unix-ms number, the whole u64 would land in October 2019, five years
      // before these captures were logged: the src-id and the 2010 epoch both matter.)
      expect(lutSourceId(m.lut!)).toBe(1);
      expect(m.lut! >> 40n).toBe(1n);
      const unixMs = lutToUnixMs(m.lut!);
      expect(unixMs).toBe(Number(m.lut! & 0xff_ffff_ffffn) + Date.UTC(2010, 0, 1));
      // The record was written at most a few seconds before the connector logged it.
      const logged = Date.parse(c.loggedAt);
      expect(unixMs).toBeLessThan(logged + 1000);
      expect(unixMs).toBeGreaterThan(logged - 10_000);
      expect(new Date(unixMs).getUTCFullYear()).toBe(2024);
    });

    it('has the XDR header bits of its kind', () => {
      const m = decodeRecordMessage(msg, 8, msg.length);
      expect(m.info1).toBe(0x10);
      expect(m.info1 & 0x10).toBe(0x10);
      expect(m.info2).toBe(expectedInfo2(c));
      expect(m.info3).toBe(expectedInfo3(c));
      expect(m.info4).toBe(0);
      expect(m.resultCode).toBe(0);
      expect(m.transactionTtl).toBe(0);
      if (c.kind === 'delete') {
        expect(m.recordTtl).toBe(0);
        expect(m.generation).toBe(2);
      } else {
        expect(m.recordTtl).toBe(0xffffffff);
        expect(m.generation).toBe(1);
      }
    });

    it('has the ops of its kind', () => {
      const m = decodeRecordMessage(msg, 8, msg.length);
      if (c.kind !== 'write') {
        expect(m.ops).toEqual([]);
        return;
      }
      expect(m.ops.map((o) => o.name)).toEqual(['name', 'age', 'mapTest']);
      expect(m.ops.map((o) => o.op)).toEqual([OpType.Write, OpType.Write, OpType.Write]);
      expect(m.ops.map((o) => o.particleType)).toEqual([ParticleType.String, ParticleType.Integer, ParticleType.Map]);
      expect(m.ops.map((o) => o.flags)).toEqual([0, 0, 0]);
      expect(m.ops.map((o) => o.binLut)).toEqual([undefined, undefined, undefined]);
      expect(m.ops[0]!.value.toString('utf8')).toBe('colton');
      expect(m.ops[1]!.value.readBigInt64BE(0)).toBe(27n);
      // msgpack {"a": 1, "b": 2} with the 0x03 string-type byte inside each key
      expect(m.ops[2]!.value).toEqual(hexBytes('82 a2 03 61 01 a2 03 62 02'));
    });

    it('maps its digest to the partition (d[0] | d[1] << 8) & 0xfff', () => {
      const scan = newScan();
      expect(scanRecordMessage(body, 0, body.length, scan)).toBe(ScanError.None);
      const d = body.subarray(scan[Scan.DigestOffset], scan[Scan.DigestOffset]! + 20);
      const expected = (d[0]! + d[1]! * 256) % 4096;
      expect(partitionOf(body, scan[Scan.DigestOffset]!)).toBe(expected);
      // the same digest read through the whole message at its absolute offset
      expect(partitionOf(msg, scan[Scan.DigestOffset]! + 8)).toBe(expected);
    });

    it('has the digest RIPEMD-160(set ‖ key particle type ‖ key bytes)', () => {
      const m = decodeRecordMessage(msg, 8, msg.length);
      const keyField = m.fields.find((f) => f.type === FieldType.UserKey)!;
      // The key field is [u8 particle type][8-byte big-endian integer].
      expect(keyField.data[0]).toBe(1);
      const digest = createHash('ripemd160').update(Buffer.from(m.set!, 'utf8')).update(keyField.data).digest();
      expect(m.digest).toEqual(digest);
    });
  });

  it('ships integer keys 10..14, one per write/delete pair', () => {
    const keys = CAPTURES.map((c) => decodeRecordMessage(c.message, 8, c.message.length).userKey!.bytes.readBigInt64BE(0));
    expect(keys).toEqual([10n, 10n, 11n, 11n, 12n, 12n, 13n, 13n, 14n, 14n]);
  });

  it('gives a write and the delete that follows it the same digest, and a later LUT to the delete', () => {
    for (let i = 0; i < CAPTURES.length; i += 2) {
      const w = decodeRecordMessage(CAPTURES[i]!.message, 8, CAPTURES[i]!.message.length);
      const d = decodeRecordMessage(CAPTURES[i + 1]!.message, 8, CAPTURES[i + 1]!.message.length);
      expect(d.digest).toEqual(w.digest);
      expect(d.lut! > w.lut!).toBe(true);
    }
  });
});
