import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { WritePolicy } from '../../src/destination/write-policy.js';
import type { PolicySettings } from '../../src/threads/index.js';
import { type DecodedRecordMessage, Scan, ScanError, decodeRecordMessage, newScan, scanRecordMessage } from '../../src/protocol/index.js';
import { ByteList, asMsgBody, bodyOf, captureCases, captureMessage, CAPTURES, fieldBytes, hexBytes, opBytes } from '../support/bytes.js';
import { namespaceMapped } from '../support/routing.js';

const PLAIN: PolicySettings = { stripLut: false, stripDurableDelete: false, routing: namespaceMapped([]), transform: null, lastWriteWins: null };

/**
 * Run the policy on `body` the way a worker does: scan, pick the mapping, size the output, write it.
 * The body sits at an offset inside a larger buffer and the output at an offset inside another, so
 * that absolute offsets are exercised; bytes around the output must stay untouched.
 */
function apply(opts: PolicySettings, body: Buffer): Buffer {
  const before = 7;
  const buf = Buffer.concat([Buffer.alloc(before, 0xee), body, Buffer.alloc(5, 0xee)]);
  const start = before;
  const end = before + body.length;
  const scan = newScan();
  expect(scanRecordMessage(buf, start, end, scan)).toBe(ScanError.None);
  const policy = new WritePolicy(opts);
  const mapping = policy.routeOf(buf, scan);
  const length = policy.outputLength(buf, start, end, scan, mapping);
  const at = 3;
  const out = Buffer.alloc(at + length + 4, 0xdd);
  policy.write(buf, start, end, scan, mapping, out, at, length);
  expect(out.subarray(0, at)).toEqual(Buffer.alloc(at, 0xdd));
  expect(out.subarray(at + length)).toEqual(Buffer.alloc(4, 0xdd));
  return out.subarray(at, at + length);
}

/** Check the proto header and decode the as_msg behind it. */
function decodeOutput(out: Buffer): DecodedRecordMessage {
  expect(out[0]).toBe(2);
  expect(out[1]).toBe(3);
  expect(out.readUIntBE(2, 6)).toBe(out.length - 8);
  return decodeRecordMessage(out, 8, out.length);
}

/** The decoded message with the given fields removed or replaced, for comparison. */
function withoutFieldTypes(m: DecodedRecordMessage, ...types: number[]): DecodedRecordMessage {
  return { ...m, fields: m.fields.filter((f) => !types.includes(f.type)) };
}

describe('WritePolicy: pass-through', () => {
  it.each(captureCases())('%s: no mapping and no strip gives the input message byte for byte', (_n, c) => {
    expect(apply(PLAIN, bodyOf(c.message))).toEqual(c.message);
  });

  it.each(captureCases())('%s: stripDurableDelete changes nothing (no capture is a durable delete)', (_n, c) => {
    expect(apply({ ...PLAIN, stripDurableDelete: true }, bodyOf(c.message))).toEqual(c.message);
  });

  it('a mapping for another namespace leaves the message alone', () => {
    const msg = CAPTURES[0]!.message;
    const opts = { ...PLAIN, routing: namespaceMapped([['prod', 'x'] as const, ['tes', 'y'] as const, ['testt', 'z'] as const, ['TEST', 'w'] as const]) };
    expect(apply(opts, bodyOf(msg))).toEqual(msg);
  });

  it('stripLut on a message without a LUT field copies it unchanged', () => {
    const body = asMsgBody({ info1: 0x10, info2: 0x01 }, [fieldBytes(0, 'test'), fieldBytes(4, Buffer.alloc(20, 1))], [opBytes(2, 1, 'a', Buffer.alloc(8))]);
    expect(apply({ ...PLAIN, stripLut: true }, body)).toEqual(Buffer.concat([hexBytes('02 03'), new ByteList().u48(body.length).join(), body]));
  });
});

describe('WritePolicy: stripLut', () => {
  it.each(captureCases())('%s: drops the LUT field and nothing else', (_n, c) => {
    const out = apply({ ...PLAIN, stripLut: true }, bodyOf(c.message));
    expect(out.length).toBe(c.message.length - 13);
    // Expected bytes by splicing: the LUT field is the last field, 13 bytes before the ops.
    const scan = newScan();
    const body = bodyOf(c.message);
    scanRecordMessage(body, 0, body.length, scan);
    const lutAt = scan[Scan.LutFieldOffset]!;
    const expectedBody = Buffer.concat([body.subarray(0, lutAt), body.subarray(lutAt + 13)]);
    expectedBody.writeUInt16BE(4, 18);
    expect(out).toEqual(Buffer.concat([hexBytes('02 03'), new ByteList().u48(expectedBody.length).join(), expectedBody]));

    const before = decodeRecordMessage(c.message, 8, c.message.length);
    const after = decodeOutput(out);
    expect(after.fields).toHaveLength(4);
    expect(after.lut).toBeUndefined();
    expect({ ...after, lut: before.lut }).toEqual(withoutFieldTypes(before, 14));
  });

  it('drops a LUT field wherever it sits, keeping unknown fields', () => {
    const lut = fieldBytes(14, hexBytes('0000016dea70ee10'));
    const fields = [lut, fieldBytes(0, 'test'), fieldBytes(99, 'opaque'), fieldBytes(4, Buffer.alloc(20, 4)), fieldBytes(1, 'myset')];
    const ops = [opBytes(2, 3, 'name', Buffer.from('colton')), opBytes(2, 0, 'gone', Buffer.alloc(0), 7n)];
    const body = asMsgBody({ info1: 0x10, info2: 0x01 }, fields, ops);
    const expectedBody = asMsgBody({ info1: 0x10, info2: 0x01 }, fields.slice(1), ops);
    const out = apply({ ...PLAIN, stripLut: true }, body);
    expect(out.subarray(8)).toEqual(expectedBody);
    expect(out.readUIntBE(2, 6)).toBe(expectedBody.length);
  });
});

describe('WritePolicy: namespace mapping', () => {
  it.each([
    ['longer', 'other'],
    ['much longer', 'a-namespace-with-a-long-name'],
    ['shorter', 'ns'],
    ['one byte', 'x'],
    ['equal length', 'prod'],
    ['multi-byte UTF-8', 'tést'],
  ])('%s: every capture decodes with the new namespace, everything else equal', (_what, to) => {
    for (const c of CAPTURES) {
      const out = apply({ ...PLAIN, routing: namespaceMapped([['elsewhere', 'nowhere'], ['test', to]]) }, bodyOf(c.message));
      const delta = Buffer.byteLength(to) - 4;
      expect(out.length).toBe(c.message.length + delta);
      const before = decodeRecordMessage(c.message, 8, c.message.length);
      const after = decodeOutput(out);
      expect(after.namespace).toBe(to);
      expect(after.fields[0]).toEqual({ type: 0, data: Buffer.from(to) });
      expect({ ...after, namespace: 'test', fields: after.fields.slice(1) }).toEqual({ ...before, fields: before.fields.slice(1) });
      // The namespace field's size word is 1 + the new length.
      expect(out.readUInt32BE(8 + 22)).toBe(1 + Buffer.byteLength(to));
    }
  });

  it('picks the first mapping whose source matches exactly', () => {
    const msg = CAPTURES[0]!.message;
    const policy = new WritePolicy({ ...PLAIN, routing: namespaceMapped([['tes', 'a'], ['test', 'b'], ['test', 'c']]) });
    const scan = newScan();
    scanRecordMessage(msg, 8, msg.length, scan);
    expect(policy.routeOf(msg, scan)).toBe(1);
    expect(decodeOutput(apply({ ...PLAIN, routing: namespaceMapped([['tes', 'a'], ['test', 'b'], ['test', 'c']]) }, bodyOf(msg))).namespace).toBe('b');
  });

  it('maps a namespace field that is not the first field', () => {
    const fields = [fieldBytes(4, Buffer.alloc(20, 9)), fieldBytes(1, 'set'), fieldBytes(0, 'test'), fieldBytes(14, Buffer.alloc(8, 1))];
    const ops = [opBytes(2, 1, 'n', hexBytes('0000000000000001'))];
    const body = asMsgBody({ info1: 0x10, info2: 0x01, generation: 4 }, fields, ops);
    const out = apply({ ...PLAIN, routing: namespaceMapped([['test', 'archive']]), lastWriteWins: null }, body);
    const expectedBody = asMsgBody({ info1: 0x10, info2: 0x01, generation: 4 }, [fields[0]!, fields[1]!, fieldBytes(0, 'archive'), fields[3]!], ops);
    expect(out.subarray(8)).toEqual(expectedBody);
  });

  it.each(captureCases())('%s: mapping and stripLut together', (_n, c) => {
    const out = apply({ stripLut: true, stripDurableDelete: false, routing: namespaceMapped([['test', 'replica']]), transform: null, lastWriteWins: null }, bodyOf(c.message));
    expect(out.length).toBe(c.message.length - 13 + 3);
    const before = decodeRecordMessage(c.message, 8, c.message.length);
    const after = decodeOutput(out);
    expect(after.namespace).toBe('replica');
    expect(after.lut).toBeUndefined();
    expect(after.fields.map((f) => f.type)).toEqual([0, 4, 1, 2]);
    expect({ ...withoutFieldTypes(after, 0), namespace: 'test', lut: before.lut }).toEqual(withoutFieldTypes(before, 0, 14));
  });

  it('any namespace mapping with any strip decodes to the original with just those changes (fast-check)', () => {
    fc.assert(
      fc.property(
        fc.nat({ max: CAPTURES.length - 1 }),
        fc.string({ unit: 'grapheme', minLength: 1, maxLength: 40 }),
        fc.boolean(),
        fc.boolean(),
        fc.boolean(),
        (which, to, stripLut, stripDurableDelete, durable) => {
          const msg = captureMessage(which);
          if (durable) msg[8 + 2] = msg[8 + 2]! | 0x10;
          const out = apply({ stripLut, stripDurableDelete, routing: namespaceMapped([['test', to]]), transform: null, lastWriteWins: null }, bodyOf(msg));
          const before = decodeRecordMessage(msg, 8, msg.length);
          const after = decodeOutput(out);
          expect(after.namespace).toBe(to);
          // Only a delete's 0x10 means "durable"; on a write it announces bin LUTs.
          const isDelete = (before.info2 & 0x02) !== 0;
          expect(after.info2).toBe(stripDurableDelete && isDelete ? before.info2 & ~0x10 : before.info2);
          expect(after.lut).toBe(stripLut ? undefined : before.lut);
          const strip = stripLut ? [0, 14] : [0];
          expect({ ...withoutFieldTypes(after, 0), namespace: 'test', info2: before.info2, lut: before.lut }).toEqual(withoutFieldTypes(before, ...strip));
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe('WritePolicy: durable deletes', () => {
  const deletes = captureCases((c) => c.kind === 'delete');

  function durable(c: (typeof CAPTURES)[number]): Buffer {
    const msg = Buffer.from(c.message);
    expect(msg[8 + 2]).toBe(0x03);
    msg[8 + 2] = 0x13;
    return msg;
  }

  it.each(deletes)('%s: info2 0x13 becomes 0x03 with stripDurableDelete, nothing else changes', (_n, c) => {
    const msg = durable(c);
    const out = apply({ ...PLAIN, stripDurableDelete: true }, bodyOf(msg));
    const expected = Buffer.from(msg);
    expected[8 + 2] = 0x03;
    expect(out).toEqual(expected);
  });

  it.each(deletes)('%s: info2 0x13 is kept without stripDurableDelete', (_n, c) => {
    const msg = durable(c);
    expect(apply(PLAIN, bodyOf(msg))).toEqual(msg);
  });

  it.each(deletes)('%s: stripDurableDelete combines with mapping and stripLut', (_n, c) => {
    const msg = durable(c);
    const out = apply({ stripLut: true, stripDurableDelete: true, routing: namespaceMapped([['test', 'dr']]), transform: null, lastWriteWins: null }, bodyOf(msg));
    const m = decodeOutput(out);
    expect([m.info1, m.info2, m.info3]).toEqual([0x10, 0x03, 0]);
    expect(m.namespace).toBe('dr');
    expect(m.lut).toBeUndefined();
  });

  it("keeps a bin-LUT write's info2 0x11: on a write 0x10 is not the durable-delete bit", () => {
    const c = CAPTURES.find((x) => x.kind === 'write' && x.shipBinLuts)!;
    expect(c.message[8 + 2]).toBe(0x11);
    const out = apply({ stripLut: false, stripDurableDelete: true, routing: namespaceMapped([['test', 'other']]), transform: null, lastWriteWins: null }, bodyOf(c.message));
    expect(out[8 + 2]).toBe(0x11);
    expect(apply({ ...PLAIN, stripDurableDelete: true }, bodyOf(c.message))).toEqual(c.message);
  });

  it('never touches info1 (the XDR bit stays) or info3', () => {
    for (const c of CAPTURES) {
      const out = apply({ stripLut: true, stripDurableDelete: true, routing: namespaceMapped([['test', 'other']]), transform: null, lastWriteWins: null }, bodyOf(c.message));
      expect(out[8 + 1]).toBe(c.message[8 + 1]);
      expect(out[8 + 1]! & 0x10).toBe(0x10);
      expect(out[8 + 3]).toBe(c.message[8 + 3]);
    }
  });
});

describe('WritePolicy: last-write-wins', () => {
  const LWW: PolicySettings = { ...PLAIN, lastWriteWins: { bin: 'lww', tombstoneTtl: 0 } };
  /** The guard field and version op, built here from their grammar (not with the writer). */
  function guardField(version: Buffer): Buffer {
    return fieldBytes(43, Buffer.concat([hexBytes('93 11 93 01 92 52 a3 6c7777 00 93 06 93 51 02 a3 6c7777 cf'), version]));
  }
  /** [00][LUT bytes 3..7][generation low 16 bits] */
  function versionOf(body: Buffer): Buffer {
    const scan = newScan();
    scanRecordMessage(body, 0, body.length, scan);
    const lutAt = scan[Scan.LutFieldOffset]!;
    return Buffer.concat([Buffer.from([0]), body.subarray(lutAt + 8, lutAt + 13), body.subarray(8, 10)]);
  }
  /** `body` with `fields` appended after its fields, `ops` after its ops, and the counts raised. */
  function spliced(body: Buffer, field: Buffer, op: Buffer | null): Buffer {
    const scan = newScan();
    scanRecordMessage(body, 0, body.length, scan);
    const opsAt = scan[Scan.OpsOffset]!;
    const out = Buffer.concat([body.subarray(0, opsAt), field, body.subarray(opsAt), op ?? Buffer.alloc(0)]);
    out.writeUInt16BE(body.readUInt16BE(18) + 1, 18);
    if (op !== null) out.writeUInt16BE(body.readUInt16BE(20) + 1, 20);
    return out;
  }
  const proto = (body: Buffer): Buffer => Buffer.concat([hexBytes('02 03'), new ByteList().u48(body.length).join(), body]);

  it.each(captureCases((c) => c.kind === 'write'))('%s: a write gets the guard field and a version op', (_n, c) => {
    const body = bodyOf(c.message);
    const v = versionOf(body);
    expect(apply(LWW, body)).toEqual(proto(spliced(body, guardField(v), opBytes(2, 1, 'lww', v))));
  });

  it.each(captureCases((c) => c.kind === 'delete'))('%s: a delete gets the guard field only', (_n, c) => {
    const body = bodyOf(c.message);
    expect(apply(LWW, body)).toEqual(proto(spliced(body, guardField(versionOf(body)), null)));
  });

  it.each(captureCases((c) => c.kind === 'delete'))('%s: with tombstones a delete becomes a replace of the version bin alone, with the TTL', (_n, c) => {
    const body = bodyOf(c.message);
    const v = versionOf(body);
    const expected = spliced(body, guardField(v), opBytes(2, 1, 'lww', v));
    expected[2] = 0x01;
    expected[3] = 0x10;
    expected.writeUInt32BE(3600, 10);
    expect(apply({ ...PLAIN, stripDurableDelete: true, lastWriteWins: { bin: 'lww', tombstoneTtl: 3600 } }, body)).toEqual(proto(expected));
  });

  it('the version is the LUT ms over the generation: later changes compare greater, within one ms too', () => {
    const make = (ms: number, generation: number): bigint => {
      const lut = new ByteList().u8(0).u16(7).u8(0).u32(0).join();
      lut.writeUIntBE(ms, 3, 5);
      const body = asMsgBody({ info1: 0x10, info2: 0x01, generation }, [fieldBytes(0, 'test'), fieldBytes(4, Buffer.alloc(20, 1)), fieldBytes(14, lut)], [opBytes(2, 1, 'a', Buffer.alloc(8))]);
      const m = decodeOutput(apply(LWW, body));
      return m.ops.find((o) => o.name === 'lww')!.value.readBigUInt64BE(0);
    };
    expect(make(1000, 1)).toBeLessThan(make(1000, 2));
    expect(make(1000, 65535)).toBeLessThan(make(1001, 1));
    expect(make(2 ** 40 - 1, 0xffff)).toBe(2n ** 56n - 1n);
  });

  it('a record without a LUT field is copied unguarded', () => {
    const body = asMsgBody({ info1: 0x10, info2: 0x01 }, [fieldBytes(0, 'test'), fieldBytes(4, Buffer.alloc(20, 1))], [opBytes(2, 1, 'a', Buffer.alloc(8))]);
    expect(apply(LWW, body)).toEqual(proto(body));
  });

  it.each(captureCases())('%s: combines with mapping and stripLut; the version still comes from the LUT', (_n, c) => {
    const body = bodyOf(c.message);
    const out = decodeOutput(apply({ stripLut: true, stripDurableDelete: true, routing: namespaceMapped([['test', 'replica']]), transform: null, lastWriteWins: { bin: 'lww', tombstoneTtl: 0 } }, body));
    expect(out.namespace).toBe('replica');
    expect(out.lut).toBeUndefined();
    expect(out.fields.find((f) => f.type === 43)!.data).toEqual(guardField(versionOf(body)).subarray(5));
  });
});
