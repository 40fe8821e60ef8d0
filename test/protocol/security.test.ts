import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { SecurityCommand, SecurityField, encodeSecurityMessage, parseSecurityMessage } from '../../src/protocol/index.js';
import { ByteList, hexBytes } from '../support/bytes.js';

describe('encodeSecurityMessage', () => {
  it('answers LOGIN with result 52 in exactly 24 bytes', () => {
    const reply = encodeSecurityMessage(SecurityCommand.Login, 52, []);
    expect(reply).toHaveLength(24);
    // proto v2, type 2, 16-byte body; scheme 0, result 52, command 20, no fields, 12 zero bytes
    expect(reply).toEqual(hexBytes('02 02 000000000010  00 34 14 00 000000000000000000000000'));
  });

  it('answers AUTHENTICATE with result 0 in exactly 24 bytes', () => {
    expect(encodeSecurityMessage(SecurityCommand.Authenticate, 0, [])).toEqual(hexBytes('02 02 000000000010  00 00 00 00 000000000000000000000000'));
  });

  it('lays out a LOGIN request with user and credential fields', () => {
    const credential = Buffer.from('$2a$10$7EqJtq98hPqEX7fNZaFWoOhUGPcmE3WdSCqEJrrfOYS3xYvbxEKuG');
    const msg = encodeSecurityMessage(SecurityCommand.Login, 0, [
      [SecurityField.User, Buffer.from('admin')],
      [SecurityField.Credential, credential],
    ]);
    const body = new ByteList()
      .hex('00 00 14 02 000000000000000000000000')
      .u32(1 + 5)
      .u8(0)
      .str('admin')
      .u32(1 + credential.length)
      .u8(3)
      .bytes(credential)
      .join();
    expect(msg).toEqual(new ByteList().u8(2).u8(2).u48(body.length).bytes(body).join());
  });
});

describe('parseSecurityMessage', () => {
  it('parses what encodeSecurityMessage wrote (fast-check)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 255 }),
        fc.integer({ min: 0, max: 255 }),
        fc.uniqueArray(fc.tuple(fc.integer({ min: 0, max: 255 }), fc.uint8Array({ maxLength: 64 })), { selector: ([id]) => id, maxLength: 8 }),
        (command, result, fields) => {
          const msg = encodeSecurityMessage(command, result, fields);
          expect(msg[0]).toBe(2);
          expect(msg[1]).toBe(2);
          expect(msg.readUIntBE(2, 6)).toBe(msg.length - 8);
          expect(msg[9]).toBe(result);
          const parsed = parseSecurityMessage(msg, 8, msg.length);
          expect(parsed).not.toBeNull();
          expect(parsed!.command).toBe(command);
          expect([...parsed!.fields.entries()].map(([id, v]) => [id, v.toString('hex')])).toEqual(
            fields.map(([id, v]) => [id, Buffer.from(v).toString('hex')]),
          );
        },
      ),
      { numRuns: 500 },
    );
  });

  it('parses at an offset and keeps the field bytes after the buffer is reused', () => {
    const msg = encodeSecurityMessage(SecurityCommand.Authenticate, 0, [
      [SecurityField.User, Buffer.from('ferry')],
      [SecurityField.SessionToken, hexBytes('deadbeef')],
    ]);
    const buf = Buffer.concat([Buffer.alloc(3, 0xff), msg.subarray(8), Buffer.alloc(2, 0xff)]);
    const parsed = parseSecurityMessage(buf, 3, 3 + msg.length - 8);
    buf.fill(0);
    expect(parsed?.command).toBe(0);
    expect(parsed?.fields.get(SecurityField.User)?.toString()).toBe('ferry');
    expect(parsed?.fields.get(SecurityField.SessionToken)).toEqual(hexBytes('deadbeef'));
  });

  it('returns null for malformed bodies', () => {
    const ok = encodeSecurityMessage(SecurityCommand.Login, 0, [[SecurityField.User, Buffer.from('admin')]]).subarray(8);
    expect(parseSecurityMessage(ok, 0, ok.length)).not.toBeNull();
    // shorter than the 16-byte header
    expect(parseSecurityMessage(ok, 0, 15)).toBeNull();
    // every cut inside the field
    for (let n = 16; n < ok.length; n++) expect(parseSecurityMessage(ok, 0, n), `cut at ${n}`).toBeNull();
    // a field size of 0 or past the end
    const zero = Buffer.from(ok);
    zero.writeUInt32BE(0, 16);
    expect(parseSecurityMessage(zero, 0, zero.length)).toBeNull();
    const over = Buffer.from(ok);
    over.writeUInt32BE(0xffffffff, 16);
    expect(parseSecurityMessage(over, 0, over.length)).toBeNull();
    // n_fields claims one more than there is
    const more = Buffer.from(ok);
    more[3] = 2;
    expect(parseSecurityMessage(more, 0, more.length)).toBeNull();
  });

  it('never throws on arbitrary bytes (fast-check)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 120 }), (bytes) => {
        const buf = Buffer.from(bytes);
        expect(() => parseSecurityMessage(buf, 0, buf.length)).not.toThrow();
      }),
      { numRuns: 2000 },
    );
  });
});
