import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  BufferWriter,
  DecodeError,
  FieldType,
  REPLY_SIZE,
  type RecordRequest,
  type RequestField,
  type RequestOp,
  ScanError,
  decodeRecordMessage,
  encodeRecordRequest,
  lutField,
  stringField,
  writeReply,
} from '../../src/protocol/index.js';
import { ByteList, CAPTURES, hexBytes } from '../support/bytes.js';

describe('writeReply', () => {
  it('is 30 bytes', () => {
    expect(REPLY_SIZE).toBe(30);
  });

  it.each([0, 2, 4, 9, 11, 22, 25, 28, 52, 80, 255])('writes exactly the bare reply for code %i', (code) => {
    const expected = Buffer.concat([hexBytes('02 03 00 00 00 00 00 16  16 00 00 00 00'), Buffer.from([code]), Buffer.alloc(16)]);
    expect(expected).toHaveLength(30);
    const out = Buffer.alloc(30, 0xcc);
    writeReply(out, 0, code);
    expect(out).toEqual(expected);
  });

  it('writes at an offset and touches nothing outside its 30 bytes', () => {
    const out = Buffer.alloc(100, 0xcc);
    writeReply(out, 37, 11);
    expect(out.subarray(0, 37)).toEqual(Buffer.alloc(37, 0xcc));
    expect(out.subarray(67)).toEqual(Buffer.alloc(33, 0xcc));
    expect(out.subarray(37, 67)).toEqual(hexBytes('02 03 00 00 00 00 00 16  16 00 00 00 00 0b' + '00'.repeat(16)));
  });

  it('back-to-back replies into a Uint8Array decode as replies with their codes', () => {
    const out = new Uint8Array(3 * REPLY_SIZE);
    [0, 11, 2].forEach((code, i) => writeReply(out, i * REPLY_SIZE, code));
    const buf = Buffer.from(out.buffer);
    const codes = [0, 1, 2].map((i) => decodeRecordMessage(buf, i * 30 + 8, i * 30 + 30, false));
    expect(codes.map((m) => m.resultCode)).toEqual([0, 11, 2]);
    expect(codes.map((m) => [m.fields.length, m.ops.length])).toEqual([
      [0, 0],
      [0, 0],
      [0, 0],
    ]);
  });
});

describe('encodeRecordRequest: the worked write of docs/wire.md §3', () => {
  // namespace test, set demo, integer key 1 stored, bin a = 7, 3600 s of TTL left, generation 3
  const keyBytes = hexBytes('0000000000000001');
  const digest = createHash('ripemd160').update('demo').update(Buffer.from([1])).update(keyBytes).digest();
  const lut = hexBytes('0000016dea70ee10');

  const expected = new ByteList()
    .hex('02 03 00 00 00 00 00 6d') // proto: v2, type 3, 109-byte body
    .hex('16 10 01 10 00 00 00000003 00000e10 00000000 0005 0001')
    .hex('00000005 00 74657374') // namespace "test"
    .hex('00000015 04')
    .bytes(digest) // digest
    .hex('00000005 01 64656d6f') // set "demo"
    .hex('0000000a 02 01 0000000000000001') // user key: integer 1
    .hex('00000009 0e')
    .bytes(lut) // LUT
    .hex('0000000d 02 01 00 01 61 0000000000000007') // WRITE, integer, no flags, name "a", value 7
    .join();

  const request: RecordRequest = {
    info1: 0x10,
    info2: 0x01,
    info3: 0x10,
    generation: 3,
    recordTtl: 3600,
    fields: [
      stringField(FieldType.Namespace, 'test'),
      { type: FieldType.Digest, data: digest },
      stringField(FieldType.Set, 'demo'),
      { type: FieldType.UserKey, data: Buffer.concat([Buffer.from([1]), keyBytes]) },
      lutField(0x0000016dea70ee10n),
    ],
    ops: [{ op: 2, particleType: 1, name: 'a', value: hexBytes('0000000000000007') }],
  };

  it('has the 117 bytes laid out in the doc', () => {
    expect(expected).toHaveLength(8 + 109);
    expect(encodeRecordRequest(request)).toEqual(expected);
  });

  it('is the same when the writer starts tiny and has to grow', () => {
    expect(encodeRecordRequest(request, new BufferWriter(1))).toEqual(expected);
  });

  it('decodes back to the values it was built from', () => {
    const m = decodeRecordMessage(expected, 8, expected.length);
    expect(m).toMatchObject({ info1: 0x10, info2: 0x01, info3: 0x10, generation: 3, recordTtl: 3600, namespace: 'test', set: 'demo' });
    expect(m.digest).toEqual(digest);
    expect(m.userKey).toEqual({ particleType: 1, bytes: keyBytes });
    expect(m.lut).toBe(0x0000016dea70ee10n);
    expect(m.ops).toEqual([{ op: 2, particleType: 1, flags: 0, name: 'a', binLut: undefined, value: hexBytes('0000000000000007') }]);
  });
});

describe('encodeRecordRequest / decodeRecordMessage round trip', () => {
  it('re-encodes every capture byte for byte from its decoded form', () => {
    for (const c of CAPTURES) {
      const m = decodeRecordMessage(c.message, 8, c.message.length);
      const again = encodeRecordRequest({
        info1: m.info1,
        info2: m.info2,
        info3: m.info3,
        info4: m.info4,
        generation: m.generation,
        recordTtl: m.recordTtl,
        transactionTtl: m.transactionTtl,
        fields: m.fields,
        ops: m.ops.map((o) => ({ op: o.op, particleType: o.particleType, name: o.name, value: o.value, ...(o.binLut === undefined ? {} : { binLut: o.binLut }) })),
      });
      expect(again).toEqual(c.message);
    }
  });

  const nameArb = fc
    .string({ unit: 'grapheme', maxLength: 12 })
    .filter((s) => Buffer.byteLength(s, 'utf8') <= 255);
  const fieldArb: fc.Arbitrary<RequestField> = fc.record({
    type: fc.integer({ min: 0, max: 255 }),
    data: fc.uint8Array({ maxLength: 40 }),
  });
  const opArb: fc.Arbitrary<RequestOp> = fc.record(
    {
      op: fc.integer({ min: 0, max: 255 }),
      particleType: fc.integer({ min: 0, max: 255 }),
      name: nameArb,
      value: fc.uint8Array({ maxLength: 40 }),
      binLut: fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }),
    },
    { requiredKeys: ['op', 'particleType', 'name', 'value'] },
  );
  const u8 = fc.integer({ min: 0, max: 255 });
  const u32 = fc.integer({ min: 0, max: 0xffffffff });
  const requestArb = (fields: fc.Arbitrary<RequestField[]>): fc.Arbitrary<RecordRequest> =>
    fc.record({
      info1: u8,
      info2: u8,
      info3: u8,
      info4: u8,
      generation: u32,
      recordTtl: u32,
      transactionTtl: u32,
      fields,
      ops: fc.array(opArb, { maxLength: 8 }),
    });

  /** What the decoder must say: the last field of a type wins, as it does on the server. */
  function checkDecoded(req: RecordRequest, wire: Buffer, requireKey: boolean): void {
    const m = decodeRecordMessage(wire, 8, wire.length, requireKey);
    expect(wire.readUIntBE(2, 6)).toBe(wire.length - 8);
    expect([m.info1, m.info2, m.info3, m.info4, m.resultCode]).toEqual([req.info1, req.info2, req.info3, req.info4, 0]);
    expect([m.generation, m.recordTtl, m.transactionTtl]).toEqual([req.generation, req.recordTtl, req.transactionTtl]);
    expect(m.fields.map((f) => [f.type, Buffer.from(f.data).toString('hex')])).toEqual(req.fields.map((f) => [f.type, Buffer.from(f.data).toString('hex')]));
    const last = (t: number, ok: (d: Uint8Array) => boolean = () => true): Buffer | undefined => {
      const f = req.fields.filter((x) => x.type === t && ok(x.data)).at(-1);
      return f === undefined ? undefined : Buffer.from(f.data);
    };
    expect(m.namespace).toBe(last(0)?.toString('utf8'));
    expect(m.set).toBe(last(1)?.toString('utf8'));
    expect(m.digest).toEqual(last(4));
    expect(m.lut).toBe(last(14, (d) => d.length === 8)?.readBigUInt64BE(0));
    const key = last(2, (d) => d.length >= 1);
    expect(m.userKey).toEqual(key === undefined ? undefined : { particleType: key[0], bytes: key.subarray(1) });
    expect(m.ops).toEqual(
      req.ops.map((o) => ({
        op: o.op,
        particleType: o.particleType,
        flags: o.binLut === undefined ? 0 : 1,
        name: o.name,
        binLut: o.binLut,
        value: Buffer.from(o.value),
      })),
    );
  }

  it('round-trips arbitrary fields and ops (fast-check)', () => {
    fc.assert(
      fc.property(requestArb(fc.array(fieldArb, { maxLength: 8 })), (req) => {
        checkDecoded(req, encodeRecordRequest(req), false);
      }),
      { numRuns: 1000 },
    );
  });

  it('round-trips requests that carry a namespace and a digest, with the key required (fast-check)', () => {
    const keyed = fc
      .tuple(fc.string({ maxLength: 31 }), fc.uint8Array({ minLength: 20, maxLength: 20 }), fc.array(fieldArb, { maxLength: 6 }))
      .map(([ns, d, rest]) => [stringField(0, ns), ...rest, { type: 4, data: d }]);
    fc.assert(
      fc.property(requestArb(keyed), (req) => {
        checkDecoded(req, encodeRecordRequest(req), true);
      }),
      { numRuns: 500 },
    );
  });

  it('refuses a bin name longer than 255 bytes instead of corrupting the op', () => {
    const req: RecordRequest = {
      info1: 0,
      info2: 1,
      info3: 0,
      fields: [stringField(FieldType.Namespace, 'test'), { type: FieldType.Digest, data: Buffer.alloc(20) }],
      ops: [{ op: 2, particleType: 1, name: 'x'.repeat(256), value: Buffer.alloc(8) }],
    };
    expect(() => encodeRecordRequest(req)).toThrow(RangeError);
    const ok = encodeRecordRequest({ ...req, ops: [{ ...req.ops[0]!, name: 'x'.repeat(255) }] });
    expect(decodeRecordMessage(ok, 8, ok.length).ops[0]!.name).toBe('x'.repeat(255));
  });

  it('decodes at an offset inside a larger buffer', () => {
    const msg = CAPTURES[0]!.message;
    const buf = Buffer.concat([Buffer.alloc(11, 0xff), msg, Buffer.alloc(5, 0xff)]);
    const m = decodeRecordMessage(buf, 19, 19 + msg.length - 8);
    expect(m).toEqual(decodeRecordMessage(msg, 8, msg.length));
  });

  it('throws DecodeError carrying the scan error for a malformed message', () => {
    const msg = CAPTURES[0]!.message;
    expect(() => decodeRecordMessage(msg, 8, msg.length - 1)).toThrow(DecodeError);
    try {
      decodeRecordMessage(msg, 8, msg.length - 1);
    } catch (err) {
      expect((err as DecodeError).reason).toBe(ScanError.OpOverrun);
      expect((err as DecodeError).message).toBe('an op overruns the message');
    }
    // A reply has no key: accepted only with requireKey = false.
    const reply = Buffer.alloc(30);
    writeReplyBytes(reply);
    expect(() => decodeRecordMessage(reply, 8, 30)).toThrow(DecodeError);
    expect(decodeRecordMessage(reply, 8, 30, false).resultCode).toBe(11);
    // Structural errors are thrown even without requireKey.
    expect(() => decodeRecordMessage(msg, 8, 20, false)).toThrow(DecodeError);
  });
});

/** An independent 30-byte reply with code 11. */
function writeReplyBytes(out: Buffer): void {
  hexBytes('02 03 00 00 00 00 00 16  16 00 00 00 00 0b' + '00'.repeat(16)).copy(out);
}
