import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { encodeInfoReply, encodeInfoRequest, parseInfoReply, parseInfoRequest } from '../../src/protocol/index.js';
import { hexBytes, protoMessage } from '../support/bytes.js';

/** Info names and values: no newline; names have no tab either. */
const nameArb = fc.string({ unit: 'grapheme', minLength: 1, maxLength: 24 }).filter((s) => !/[\n\t]/.test(s));
const valueArb = fc.string({ unit: 'grapheme', maxLength: 60 }).filter((s) => !s.includes('\n'));

describe('info requests', () => {
  it('frames names as "name\\n" in a type-1 message', () => {
    expect(encodeInfoRequest(['node', 'features'])).toEqual(Buffer.concat([hexBytes('02 01 00000000000e'), Buffer.from('node\nfeatures\n')]));
    expect(encodeInfoRequest([])).toEqual(hexBytes('02 01 000000000000'));
  });

  it('parses a request body, ignoring empty lines', () => {
    const body = Buffer.from('node\n\npartition-generation\nreplicas');
    expect(parseInfoRequest(body, 0, body.length)).toEqual(['node', 'partition-generation', 'replicas']);
  });

  it('round-trips names (fast-check)', () => {
    fc.assert(
      fc.property(fc.array(nameArb, { maxLength: 10 }), (names) => {
        const msg = encodeInfoRequest(names);
        expect(msg[1]).toBe(1);
        expect(msg.readUIntBE(2, 6)).toBe(msg.length - 8);
        expect(parseInfoRequest(msg, 8, msg.length)).toEqual(names);
      }),
    );
  });
});

describe('info replies', () => {
  it('frames "name\\tvalue\\n" lines', () => {
    const msg = encodeInfoReply(new Map([
      ['node', 'BB9020011AC4202'],
      ['partitions', '4096'],
    ]));
    expect(msg).toEqual(protoMessage(1, Buffer.from('node\tBB9020011AC4202\npartitions\t4096\n')));
  });

  it('parses errors, values with tabs, and lines without a tab', () => {
    const body = Buffer.from('bogus\tERROR:4:unknown command\npeers-clear-std\t12,3000,[]\nx\ta\tb\nbare\n');
    expect(parseInfoReply(body, 0, body.length)).toEqual(
      new Map([
        ['bogus', 'ERROR:4:unknown command'],
        ['peers-clear-std', '12,3000,[]'],
        ['x', 'a\tb'],
        ['bare', ''],
      ]),
    );
  });

  it('round-trips name → value maps (fast-check)', () => {
    fc.assert(
      fc.property(fc.uniqueArray(fc.tuple(nameArb, valueArb), { selector: ([n]) => n, maxLength: 10 }), (pairs) => {
        const values = new Map(pairs);
        const msg = encodeInfoReply(values);
        expect(msg.readUIntBE(2, 6)).toBe(msg.length - 8);
        expect(parseInfoReply(msg, 8, msg.length)).toEqual(values);
      }),
    );
  });
});
