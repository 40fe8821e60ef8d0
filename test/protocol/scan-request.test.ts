/**
 * The scan and batch-read encoders and the multi-record reply reader, against bytes built here
 * with the independent helpers of test/support/bytes.ts.
 */

import { describe, expect, it } from 'vitest';
import { ReplyCursor, encodeBatchRead, encodeScanRequest, replyOps } from '../../src/protocol/index.js';
import { ByteList, asMsgBody, fieldBytes, opBytes, protoMessage } from '../support/bytes.js';

const digest = (fill: number): Buffer => Buffer.alloc(20, fill);

describe('encodeScanRequest', () => {
  it('lays out a partition scan: READ, PARTITION_DONE, namespace, set, PID array (LE), timeout, task id', () => {
    const got = encodeScanRequest({ namespace: 'test', set: 'demo', partitions: [1, 0x0203, 4095], socketTimeoutMs: 10_000, taskId: 0x0102030405060708n });
    const expected = protoMessage(
      3,
      asMsgBody({ info1: 0x01, info3: 0x04 }, [
        fieldBytes(0, 'test'),
        fieldBytes(1, 'demo'),
        fieldBytes(11, Buffer.from([0x01, 0x00, 0x03, 0x02, 0xff, 0x0f])),
        fieldBytes(9, new ByteList().u32(10_000).join()),
        fieldBytes(7, new ByteList().u64(0x0102030405060708n).join()),
      ], []),
    );
    expect(got.toString('hex')).toBe(expected.toString('hex'));
  });

  it('leaves out the set when there is none', () => {
    const got = encodeScanRequest({ namespace: 'ns', set: undefined, partitions: [7], socketTimeoutMs: 1, taskId: 1n });
    const expected = protoMessage(3, asMsgBody({ info1: 0x01, info3: 0x04 }, [fieldBytes(0, 'ns'), fieldBytes(11, Buffer.from([7, 0])), fieldBytes(9, new ByteList().u32(1).join()), fieldBytes(7, new ByteList().u64(1n).join())], []));
    expect(got.equals(expected)).toBe(true);
  });
});

describe('encodeBatchRead', () => {
  const rowHead = (index: number, d: Buffer, readAttr: number, nOps: number): ByteList => new ByteList().u32(index).bytes(d).u8(0).u8(readAttr).u16(1).u16(nOps).bytes(fieldBytes(0, 'test'));

  it('reads every bin of each digest', () => {
    const rows = new ByteList().u32(2).u8(0).bytes(rowHead(0, digest(1), 0x03, 0).join()).bytes(rowHead(1, digest(2), 0x03, 0).join()).join();
    const expected = protoMessage(3, asMsgBody({ info1: 0x09 }, [fieldBytes(41, rows)], []));
    expect(encodeBatchRead('test', [digest(1), digest(2)], 'bins').equals(expected)).toBe(true);
  });

  it('reads the last-update time with an expression read of LAST_UPDATE', () => {
    const exp = opBytes(7, 4, 'lut', Buffer.from([0x92, 0x91, 66, 0x00]));
    const rows = new ByteList().u32(1).u8(0).bytes(rowHead(0, digest(9), 0x01, 1).join()).bytes(exp).join();
    const expected = protoMessage(3, asMsgBody({ info1: 0x09 }, [fieldBytes(41, rows)], []));
    expect(encodeBatchRead('test', [digest(9)], 'lut').equals(expected)).toBe(true);
  });

  it('refuses a digest that is not 20 bytes', () => {
    expect(() => encodeBatchRead('test', [Buffer.alloc(19)], 'bins')).toThrow(RangeError);
  });
});

describe('ReplyCursor', () => {
  const record = asMsgBody({ generation: 3, transactionTtl: 5 }, [fieldBytes(0, 'test'), fieldBytes(4, digest(0xab)), fieldBytes(1, 'demo')], [opBytes(1, 1, 'b', Buffer.alloc(8, 1)), opBytes(1, 3, 'a', Buffer.from('xy')), opBytes(1, 4, 'l', Buffer.from([9]), 77n)]);
  const marker = asMsgBody({ info3: 0x04, result: 11, generation: 4000 }, [], []);
  const last = asMsgBody({ info3: 0x01 }, [], []);
  const body = Buffer.concat([record, marker, last]);

  it('walks a body of back-to-back messages, with offsets of the digest and the ops', () => {
    const c = new ReplyCursor();
    expect(c.read(body, 0, body.length)).toBe(true);
    expect([c.info3, c.resultCode, c.generation, c.index, c.nOps, c.end]).toEqual([0, 0, 3, 5, 3, record.length]);
    expect(body.subarray(c.digestAt, c.digestAt + 20).equals(digest(0xab))).toBe(true);
    const ops = replyOps(body, c.opsAt, c.nOps);
    expect(ops.map((o) => [o.particle, body.toString('utf8', o.nameAt, o.nameEnd), body.subarray(o.valueAt, o.end).toString('hex')])).toEqual([
      [1, 'b', '0101010101010101'],
      [3, 'a', '7879'],
      // the 8-byte bin LUT sits between name and value
      [4, 'l', '09'],
    ]);
    expect(c.read(body, c.end, body.length)).toBe(true);
    expect([c.info3, c.resultCode, c.generation, c.digestAt]).toEqual([0x04, 11, 4000, -1]);
    expect(c.read(body, c.end, body.length)).toBe(true);
    expect([c.info3, c.end]).toEqual([0x01, body.length]);
  });

  it('refuses a message cut anywhere', () => {
    const c = new ReplyCursor();
    for (let cut = 0; cut < record.length; cut++) expect(c.read(record, 0, cut)).toBe(false);
    const bad = Buffer.from(record);
    bad[0] = 21;
    expect(c.read(bad, 0, bad.length)).toBe(false);
  });
});
