import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Route, Scan, ScanError, newRoute, newScan, partitionOf, routeRecordMessage, scanErrorText, scanRecordMessage } from '../../src/protocol/index.js';
import { ByteList, asMsgBody, bodyOf, captureCases, embed, fieldBytes, hexBytes, opBytes } from '../support/bytes.js';

const DIGEST = hexBytes('5fe3b7c0f4669a77c8456c1bf4f1f68c55ac1002');
const LUT = hexBytes('0000016dea70ee10');

/** namespace, digest, set, key, LUT: the fields XDR sends, in its order */
function xdrFields(ns = 'test'): Buffer[] {
  return [
    fieldBytes(0, ns),
    fieldBytes(4, DIGEST),
    fieldBytes(1, 'myset'),
    fieldBytes(2, hexBytes('01 000000000000000a')),
    fieldBytes(14, LUT),
  ];
}

function scan(buf: Buffer, start = 0, end = buf.length): { err: ScanError; out: Int32Array } {
  const out = newScan();
  const err = scanRecordMessage(buf, start, end, out);
  return { err, out };
}

/** routeRecordMessage against scanRecordMessage on `buf[start, end)`: the same verdict, the same digest and LUT. */
function expectSameVerdict(buf: Buffer, start = 0, end = buf.length): ScanError {
  const full = scan(buf, start, end);
  const route = newRoute();
  const err = routeRecordMessage(buf, start, end, route);
  expect(err).toBe(full.err);
  if (err === ScanError.None) {
    expect([route[Route.DigestOffset], route[Route.LutFieldOffset]]).toEqual([full.out[Scan.DigestOffset], full.out[Scan.LutFieldOffset]]);
  }
  return err;
}

/** Where the error of a truncated message must come from, given the untruncated scan. */
function truncationError(len: number, opsOffset: number): ScanError {
  if (len < 22) return ScanError.ShortHeader;
  if (len < opsOffset) return ScanError.FieldOverrun;
  return ScanError.OpOverrun;
}

describe('scanRecordMessage on the captures', () => {
  it.each(captureCases())('%s: offsets are the same wherever the message sits in a buffer', (_n, c) => {
    const body = bodyOf(c.message);
    const base = scan(body);
    expect(base.err).toBe(ScanError.None);
    const { buf, start, end } = embed(body, 13, 29);
    const moved = scan(buf, start, end);
    expect(moved.err).toBe(ScanError.None);
    for (const slot of [Scan.NamespaceOffset, Scan.SetOffset, Scan.DigestOffset, Scan.LutFieldOffset, Scan.KeyOffset, Scan.OpsOffset]) {
      expect(moved.out[slot]).toBe(base.out[slot]! + 13);
    }
    for (const slot of [Scan.NamespaceLength, Scan.SetLength, Scan.KeyLength, Scan.FieldCount, Scan.OpCount]) {
      expect(moved.out[slot]).toBe(base.out[slot]);
    }
  });

  it.each(captureCases())('%s: every truncation is an error, never a throw', (_n, c) => {
    const body = bodyOf(c.message);
    const opsOffset = scan(body).out[Scan.OpsOffset]!;
    for (let len = 0; len < body.length; len++) {
      const want = truncationError(len, opsOffset);
      // An exact-size copy: a read past the end would throw a RangeError.
      const exact = Buffer.from(body.subarray(0, len));
      expect(scan(exact).err, `exact copy of ${len} bytes`).toBe(want);
      // The same bytes inside the whole message: `end` must be honoured, not the buffer's length.
      expect(scan(body, 0, len).err, `end = ${len}`).toBe(want);
      // Inside a buffer of poison bytes that would parse as huge sizes if read.
      const { buf, start, end } = embed(body.subarray(0, len), 7, 64, 0xff);
      expect(scan(buf, start, end).err, `poisoned, ${len} bytes`).toBe(want);
    }
  });

  it.each(captureCases())('%s: one trailing byte is TrailingBytes', (_n, c) => {
    const body = Buffer.concat([bodyOf(c.message), Buffer.from([0])]);
    expect(scan(body).err).toBe(ScanError.TrailingBytes);
  });
});

describe('scanRecordMessage errors', () => {
  it('reports a header size other than 22', () => {
    const body = asMsgBody({}, xdrFields(), []);
    body[0] = 21;
    expect(scan(body).err).toBe(ScanError.BadHeaderSize);
    expect(scanErrorText(ScanError.BadHeaderSize)).toBe('record message header size is not 22');
  });

  it.each([
    ['runs past the end', 1000],
    ['is 2^32 - 1', 0xffffffff],
    ['is 0 (no room for the type byte)', 0],
    ['overruns by one byte', 6],
  ])('reports FieldOverrun when a field size %s', (_what, size) => {
    const bad = new ByteList().u32(size).u8(0).str('test').join();
    const body = asMsgBody({}, [bad, fieldBytes(4, DIGEST)], [], { nFields: 1 });
    // nFields = 1: the digest bytes that follow are just "the rest of the message".
    expect(scan(body.subarray(0, 22 + bad.length)).err).toBe(ScanError.FieldOverrun);
    expect(scanErrorText(ScanError.FieldOverrun)).toBe('a field overruns the message');
  });

  it('reports FieldOverrun when n_fields claims more fields than there are', () => {
    const body = asMsgBody({}, xdrFields(), [], { nFields: 6 });
    expect(scan(body).err).toBe(ScanError.FieldOverrun);
  });

  it.each([
    ['runs past the end', (o: Buffer) => o.writeUInt32BE(1000, 0)],
    ['is 2^32 - 1', (o: Buffer) => o.writeUInt32BE(0xffffffff, 0)],
    ['is shorter than op, particle, flags and name length', (o: Buffer) => o.writeUInt32BE(3, 0)],
    ['is shorter than its name', (o: Buffer) => o.writeUInt32BE(4 + 2, 0)],
    ['is shorter than its flagged bin LUT', (o: Buffer) => (o[6] = 1)],
  ])('reports OpOverrun when an op size %s', (_what, corrupt) => {
    // op: WRITE blob "age" = 00 1b, 9 bytes after the size word (too few for a bin LUT too)
    const op = opBytes(2, 4, 'age', hexBytes('001b'));
    expect(scan(asMsgBody({}, xdrFields(), [op])).err).toBe(ScanError.None);
    corrupt(op);
    const body = asMsgBody({}, xdrFields(), [op]);
    expect(scan(body).err).toBe(ScanError.OpOverrun);
    expect(scanErrorText(ScanError.OpOverrun)).toBe('an op overruns the message');
  });

  it('reports OpOverrun when n_ops claims more ops than there are', () => {
    const body = asMsgBody({}, xdrFields(), [opBytes(2, 1, 'a', Buffer.alloc(8))], { nOps: 2 });
    expect(scan(body).err).toBe(ScanError.OpOverrun);
  });

  it('accepts an op whose size exactly covers name and bin LUT with an empty value', () => {
    const body = asMsgBody({}, xdrFields(), [opBytes(2, 0, 'gone', Buffer.alloc(0), 5n)]);
    expect(scan(body).err).toBe(ScanError.None);
  });

  it('reports NoNamespace and NoDigest, and a digest of the wrong length counts as none', () => {
    expect(scan(asMsgBody({}, xdrFields().slice(1), [])).err).toBe(ScanError.NoNamespace);
    const noDigest = xdrFields().filter((_, i) => i !== 1);
    expect(scan(asMsgBody({}, noDigest, [])).err).toBe(ScanError.NoDigest);
    const shortDigest = [fieldBytes(0, 'test'), fieldBytes(4, DIGEST.subarray(0, 19))];
    const r = scan(asMsgBody({}, shortDigest, []));
    expect(r.err).toBe(ScanError.NoDigest);
    expect(r.out[Scan.DigestOffset]).toBe(-1);
  });

  it('marks absent optional fields with -1 and lengths 0', () => {
    const { err, out } = scan(asMsgBody({}, [fieldBytes(0, 'ns'), fieldBytes(4, DIGEST)], []));
    expect(err).toBe(ScanError.None);
    expect([out[Scan.SetOffset], out[Scan.SetLength], out[Scan.KeyOffset], out[Scan.KeyLength], out[Scan.LutFieldOffset]]).toEqual([-1, 0, -1, 0, -1]);
  });

  it('ignores a LUT field that is not 8 bytes', () => {
    const fields = [fieldBytes(0, 'test'), fieldBytes(4, DIGEST), fieldBytes(14, Buffer.alloc(4))];
    const { err, out } = scan(asMsgBody({}, fields, []));
    expect(err).toBe(ScanError.None);
    expect(out[Scan.LutFieldOffset]).toBe(-1);
  });

  it('skips unknown field types', () => {
    const known = xdrFields();
    const fields = [
      fieldBytes(7, hexBytes('0000000000000001')),
      known[0]!,
      fieldBytes(43, hexBytes('93 01 02 03')),
      known[1]!,
      fieldBytes(200, Buffer.alloc(300, 0xee)),
      known[2]!,
      fieldBytes(255, Buffer.alloc(0)),
      known[3]!,
      known[4]!,
      fieldBytes(3, 'x'),
    ];
    const body = asMsgBody({}, fields, [opBytes(2, 3, 'name', Buffer.from('colton'))]);
    const { err, out } = scan(body);
    expect(err).toBe(ScanError.None);
    expect(out[Scan.FieldCount]).toBe(10);
    expect(body.toString('utf8', out[Scan.NamespaceOffset], out[Scan.NamespaceOffset]! + out[Scan.NamespaceLength]!)).toBe('test');
    expect(body.subarray(out[Scan.DigestOffset], out[Scan.DigestOffset]! + 20)).toEqual(DIGEST);
    expect(body.toString('utf8', out[Scan.SetOffset], out[Scan.SetOffset]! + out[Scan.SetLength]!)).toBe('myset');
    expect(body.subarray(out[Scan.LutFieldOffset]! + 5, out[Scan.LutFieldOffset]! + 13)).toEqual(LUT);
    expect(out[Scan.OpsOffset]).toBe(body.length - (4 + 4 + 4 + 6));
  });

  it('parses 65,535 fields of size 1 cleanly', () => {
    const empty = new ByteList().u32(1).u8(99).join();
    const many = Array.from({ length: 65_533 }, () => empty);
    const fields = [fieldBytes(0, 'test'), ...many, fieldBytes(4, DIGEST)];
    expect(fields).toHaveLength(65_535);
    const body = asMsgBody({}, fields, []);
    const { err, out } = scan(body);
    expect(err).toBe(ScanError.None);
    expect(out[Scan.FieldCount]).toBe(65_535);
    expect(out[Scan.OpsOffset]).toBe(body.length);

    // All 65,535 of them unknown: no namespace.
    const allEmpty = asMsgBody({}, Array.from({ length: 65_535 }, () => empty), []);
    expect(scan(allEmpty).err).toBe(ScanError.NoNamespace);
    // Size-1 namespace and set fields: present, zero length.
    const zeroLen = scan(asMsgBody({}, [new ByteList().u32(1).u8(0).join(), fieldBytes(4, DIGEST), new ByteList().u32(1).u8(1).join()], []));
    expect(zeroLen.err).toBe(ScanError.None);
    expect(zeroLen.out[Scan.NamespaceLength]).toBe(0);
    expect(zeroLen.out[Scan.SetLength]).toBe(0);
    // One byte short: the last field overruns.
    expect(scan(allEmpty, 0, allEmpty.length - 1).err).toBe(ScanError.FieldOverrun);
  });

  it('never throws on arbitrary bytes, and reports only known errors (fast-check)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), fc.boolean(), (bytes, fixHeader) => {
        const buf = Buffer.from(bytes);
        if (fixHeader && buf.length > 0) buf[0] = 22;
        const { err } = scan(buf);
        expect(err).toBeGreaterThanOrEqual(ScanError.None);
        expect(err).toBeLessThanOrEqual(ScanError.TrailingBytes);
        if (buf.length < 22) expect(err).toBe(ScanError.ShortHeader);
      }),
      { numRuns: 3000 },
    );
  });

  it('never throws when a capture has random bytes overwritten (fast-check)', () => {
    const bodies = captureCases().map(([, c]) => bodyOf(c.message));
    fc.assert(
      fc.property(
        fc.nat({ max: bodies.length - 1 }),
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 6 }),
        (which, patches) => {
          const body = Buffer.from(bodies[which]!);
          for (const [at, v] of patches) body[at % body.length] = v;
          const exact = Buffer.from(body);
          const { err, out } = scan(exact);
          // routeRecordMessage, main's check, agrees (see below).
          expectSameVerdict(exact);
          if (err === ScanError.None) {
            expect(out[Scan.NamespaceOffset]! + out[Scan.NamespaceLength]!).toBeLessThanOrEqual(exact.length);
            expect(out[Scan.DigestOffset]! + 20).toBeLessThanOrEqual(exact.length);
          }
        },
      ),
      { numRuns: 3000 },
    );
  });
});

describe('routeRecordMessage: the same checks as scanRecordMessage, keeping what main routes by', () => {
  it.each(captureCases())('%s: passes with the digest and LUT the full scan finds, wherever it sits', (_n, c) => {
    const body = bodyOf(c.message);
    expect(expectSameVerdict(body)).toBe(ScanError.None);
    const { buf, start, end } = embed(body, 13, 29);
    expect(expectSameVerdict(buf, start, end)).toBe(ScanError.None);
  });

  it('gives the same error for every truncation of every capture', () => {
    const seen = new Set<ScanError>();
    for (const [, c] of captureCases()) {
      const body = bodyOf(c.message);
      for (let len = 0; len < body.length; len++) seen.add(expectSameVerdict(body, 0, len));
    }
    expect([...seen].sort()).toEqual([ScanError.ShortHeader, ScanError.FieldOverrun, ScanError.OpOverrun]);
  });

  it('agrees on messages built from any fields and ops, well formed or not (fast-check)', () => {
    // Field data of a digest's length often enough that some messages are whole and valid.
    const field = fc.tuple(fc.constantFrom(0, 1, 2, 4, 14, 9, 200), fc.oneof(fc.uint8Array({ minLength: 20, maxLength: 20 }), fc.uint8Array({ maxLength: 24 })));
    const off = (most: number): fc.Arbitrary<number> => fc.oneof(fc.constant(0), fc.integer({ min: -most, max: most }));
    const op = fc.tuple(fc.boolean(), fc.string({ maxLength: 5 }), fc.uint8Array({ maxLength: 16 }));
    const errors = new Set<ScanError>();
    fc.assert(
      fc.property(
        fc.array(field, { maxLength: 7 }),
        fc.array(op, { maxLength: 3 }),
        off(2),
        off(2),
        off(3),
        (fields, ops, moreFields, moreOps, cut) => {
          const body = asMsgBody(
            { info2: 1 },
            fields.map(([type, data]) => fieldBytes(type, data)),
            ops.map(([lut, name, value]) => opBytes(2, 4, name, value, lut ? 1n : undefined)),
            { nFields: Math.max(0, fields.length + moreFields), nOps: Math.max(0, ops.length + moreOps) },
          );
          // cut > 0: bytes after the last op; cut < 0: the message cut short.
          const buf = Buffer.concat([body, Buffer.alloc(Math.max(0, cut))]);
          errors.add(expectSameVerdict(buf, 0, Math.max(0, body.length + cut)));
        },
      ),
      { numRuns: 5000 },
    );
    // The generator reached every verdict but a wrong header size (asMsgBody always writes 22).
    expect([...errors].sort()).toEqual([0, 1, 3, 4, 5, 6, 7]);
  });
});

describe('partitionOf', () => {
  it('is the low 12 bits of the first two digest bytes read little-endian', () => {
    expect(partitionOf(hexBytes('ffff'), 0)).toBe(0xfff);
    expect(partitionOf(hexBytes('0010'), 0)).toBe(0);
    expect(partitionOf(hexBytes('3412'), 0)).toBe(0x234);
    expect(partitionOf(hexBytes('aa 01 02'), 1)).toBe(0x201);
  });

  it('matches an independent computation for any digest at any offset (fast-check)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 20, maxLength: 20 }), fc.nat({ max: 40 }), (digest, at) => {
        const buf = Buffer.alloc(at + 20 + 3, 0x77);
        buf.set(digest, at);
        const expected = (digest[0]! + 256 * digest[1]!) % 4096;
        expect(partitionOf(buf, at)).toBe(expected);
        expect(partitionOf(new Uint8Array(buf), at)).toBe(expected);
      }),
    );
  });
});
