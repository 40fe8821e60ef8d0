/**
 * A dead letter holds the record as XDR shipped it: the destination write the write policy made is
 * turned back (mapped namespace, stripped LUT, last-write-wins' guard field and version bin, a
 * tombstone), and a dead letter written as JSON or MessagePack reads back as the same record.
 */

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Packr } from 'msgpackr';
import { describe, expect, it } from 'vitest';
import { changeRecordJson } from '../../src/destination/change-record.js';
import { readDeadLetterFile } from '../../src/destination/dead-letter-file.js';
import { deadLetterOf, originalMessage, parkedRecordOf } from '../../src/destination/dead-letter-record.js';
import { WritePolicy } from '../../src/destination/write-policy.js';
import { FieldType, Info2, Scan, ScanError, lutToUnixMs, newScan, scanRecordMessage } from '../../src/protocol/index.js';
import type { PolicySettings } from '../../src/threads/index.js';
import { asMsgBody, bodyOf, captureCases, fieldBytes, opBytes } from '../support/bytes.js';
import { namespaceMapped } from '../support/routing.js';

const PLAIN: PolicySettings = { stripLut: false, stripDurableDelete: false, routing: namespaceMapped([]), transform: null, lastWriteWins: null };

/** The destination write the policy makes of `body`, and the mapping it used. */
function destinationWrite(opts: PolicySettings, body: Buffer): { policy: WritePolicy; write: Buffer; mapping: number } {
  const scan = newScan();
  expect(scanRecordMessage(body, 0, body.length, scan)).toBe(ScanError.None);
  const policy = new WritePolicy(opts);
  const mapping = policy.routeOf(body, scan);
  const length = policy.outputLength(body, 0, body.length, scan, mapping);
  const write = Buffer.alloc(length);
  policy.write(body, 0, body.length, scan, mapping, write, 0, length, null);
  return { policy, write, mapping };
}

const LUT = Buffer.from('0000018c2b3c4d5e', 'hex');

function record(info2: number): Buffer {
  return asMsgBody(
    { info1: 0x10, info2, generation: 7, recordTtl: info2 & Info2.Delete ? 0 : 3600 },
    [fieldBytes(FieldType.Namespace, 'origin'), fieldBytes(FieldType.Set, 'people'), fieldBytes(FieldType.Digest, Buffer.alloc(20, 0x42)), fieldBytes(FieldType.LastUpdateTime, LUT)],
    info2 & Info2.Delete ? [] : [opBytes(2, 3, 'name', Buffer.from('ada')), opBytes(2, 1, 'age', Buffer.from('0000000000000024', 'hex'))],
  );
}

describe('originalMessage', () => {
  it.each(captureCases())('%s: a write made without changes turns back into the captured message', (_n, c) => {
    const body = bodyOf(c.message);
    const { policy, write, mapping } = destinationWrite(PLAIN, body);
    expect(originalMessage(write, policy, mapping, false, null)).toEqual(body);
  });

  it.each(captureCases())('%s: a stripped LUT, kept beside the write, goes back where XDR puts it', (_n, c) => {
    const body = bodyOf(c.message);
    const scan = newScan();
    scanRecordMessage(body, 0, body.length, scan);
    const lutAt = scan[Scan.LutFieldOffset]!;
    const { policy, write, mapping } = destinationWrite({ ...PLAIN, stripLut: true }, body);
    expect(originalMessage(write, policy, mapping, false, lutAt < 0 ? null : body.readBigUInt64BE(lutAt + 5))).toEqual(body);
  });

  it('puts the source namespace back in place of a mapped one', () => {
    const body = record(Info2.Write);
    const { policy, write, mapping } = destinationWrite({ ...PLAIN, routing: namespaceMapped([['other', 'x'], ['origin', 'test']]) }, body);
    expect(mapping).toBe(1);
    expect(write.includes(Buffer.from('origin'))).toBe(false);
    expect(originalMessage(write, policy, mapping, false, null)).toEqual(body);
  });

  it('takes out the last-write-wins guard and version bin', () => {
    const body = record(Info2.Write);
    const { policy, write, mapping } = destinationWrite({ ...PLAIN, routing: namespaceMapped([['origin', 'test']]), lastWriteWins: { bin: 'ver', tombstoneTtl: 0 } }, body);
    expect(write.length).toBeGreaterThan(body.length + 8);
    expect(originalMessage(write, policy, mapping, false, null)).toEqual(body);
    // All at once: mapped, guarded, LUT stripped.
    const all = destinationWrite({ ...PLAIN, stripLut: true, routing: namespaceMapped([['origin', 'test']]), lastWriteWins: { bin: 'ver', tombstoneTtl: 0 } }, body);
    expect(originalMessage(all.write, all.policy, all.mapping, false, LUT.readBigUInt64BE(0))).toEqual(body);
  });

  it('turns a tombstone back into the delete it came from', () => {
    const body = record(Info2.Write | Info2.Delete);
    const { policy, write, mapping } = destinationWrite({ ...PLAIN, lastWriteWins: { bin: 'ver', tombstoneTtl: 600 } }, body);
    const back = originalMessage(write, policy, mapping, true, null);
    expect(back).toEqual(body);
    const letter = deadLetterOf(back, 20, 'host-a', 0, Date.UTC(2026, 10, 29));
    expect(letter).toMatchObject({ msg: 'delete', namespace: 'origin', set: 'people', bins: {}, gen: 7 });
  });
});

describe('a dead letter read back', () => {
  const xdr = record(Info2.Write);
  const letter = deadLetterOf(xdr, 13, 'host-a', 2, Date.UTC(2026, 10, 29, 12));

  it('carries the record, its code and message, the time and the instance', () => {
    expect(letter).toMatchObject({ msg: 'write', namespace: 'origin', set: 'people', code: 13, message: 'record too big', at: '2026-11-29T12:00:00.000Z', instance: 'host-a', worker: 2 });
    expect(letter.lut).toBe(lutToUnixMs(LUT.readBigUInt64BE(0)));
    expect(letter.bins['name']).toEqual({ type: 'str', value: 'ada' });
  });

  it('as a JSON line and as MessagePack', () => {
    const want = { namespace: 'origin', set: 'people', code: 13, at: Date.UTC(2026, 10, 29, 12), xdr };
    expect(parkedRecordOf(JSON.parse(changeRecordJson(letter)))).toEqual(want);
    const packr = new Packr({ useRecords: false, variableMapSize: true });
    expect(parkedRecordOf(packr.unpack(packr.pack(letter)))).toEqual(want);
  });

  it('names what is missing in a line that is not one', () => {
    expect(parkedRecordOf([1, 2])).toBe('not a map');
    expect(parkedRecordOf({ set: null, code: 20 })).toBe('no namespace');
    expect(parkedRecordOf({ namespace: 'x', set: null, code: 20, at: 'yesterday', xdr: 'AA==' })).toBe('no time (at)');
    expect(parkedRecordOf({ namespace: 'x', set: null, code: 20, at: '2026-11-29T12:00:00Z' })).toBe('no record (xdr)');
  });
});

describe('readDeadLetterFile', () => {
  const xdr = record(Info2.Write);
  const letter = deadLetterOf(xdr, 20, 'host-a', 0, Date.UTC(2026, 10, 29, 12));

  it('reads JSON lines, counting a line that is not a dead letter and where it is', () => {
    const dir = mkdtempSync(join(tmpdir(), 'ferry-dl-read-'));
    try {
      const file = join(dir, 'a.jsonl');
      writeFileSync(file, `${changeRecordJson(letter)}\n{"half":\n\n${changeRecordJson(letter)}\n`);
      const read = readDeadLetterFile(file);
      expect(read.records.map((r) => r.xdr)).toEqual([xdr, xdr]);
      expect(read.bad).toBe(1);
      expect(read.firstBad).toEqual([`${file}:line 2: not JSON (cut off?)`]);
    } finally {
      rmSync(dir, { recursive: true });
    }
  });

  it('reads a MessagePack stream; a cut-off tail counts as one bad map', () => {
    const dir = mkdtempSync(join(tmpdir(), 'ferry-dl-read-'));
    try {
      const packr = new Packr({ useRecords: false, variableMapSize: true });
      const one = packr.pack(letter);
      const file = join(dir, 'a.msgpack');
      writeFileSync(file, Buffer.concat([one, one, one.subarray(0, 30)]));
      const read = readDeadLetterFile(file);
      expect(read.records).toHaveLength(2);
      expect(read.records[1]).toMatchObject({ namespace: 'origin', code: 20, xdr });
      expect(read.bad).toBe(1);
    } finally {
      rmSync(dir, { recursive: true });
    }
  });
});
