import { describe, expect, it } from 'vitest';
import { Scan, ScanError, newScan, scanRecordMessage } from '../../src/protocol/index.js';
import {
  type CompletionSink,
  INBOUND_HEADER,
  type InboundBody,
  completionRingCapacity,
  drainCompletions,
  inboundBody,
  inboundConnection,
  inboundScan,
  inboundSequence,
  recordTag,
  reserveInbound,
  writeCompletion,
  writeInboundRef,
} from '../../src/threads/records.js';
import { RingReader, RingWriter, newRingBuffer } from '../../src/threads/ring.js';
import { bodyOf, captureCases, embed } from '../support/bytes.js';

function ring(): { writer: RingWriter; reader: RingReader } {
  const sab = newRingBuffer(64 * 1024);
  return { writer: new RingWriter(sab), reader: new RingReader(sab) };
}

function scanOf(buf: Buffer, start: number, end: number): Int32Array {
  const scan = newScan();
  expect(scanRecordMessage(buf, start, end, scan)).toBe(ScanError.None);
  return scan;
}

describe('inbound records carry main scan to the worker', () => {
  it.each(captureCases())('%s: by reference, the scan reads back as a fresh scan of the body where it lies', (_name, capture) => {
    // The body somewhere inside a larger buffer, as in the source arena.
    const { buf: arena, start, end } = embed(bodyOf(capture.message), 1000, 37);
    const { writer, reader } = ring();
    expect(writeInboundRef(writer, 7, 42, Date.now(), scanOf(arena, start, end), start, end - start)).toBe(true);
    writer.publish();
    const at = reader.peek();
    expect(at).toBeGreaterThanOrEqual(0);
    const body: InboundBody = { bytes: Buffer.alloc(0), start: 0, end: 0 };
    inboundBody(reader, at, arena, body);
    expect([body.bytes === arena, body.start, body.end]).toEqual([true, start, end]);
    const got = newScan();
    expect(inboundScan(reader, at, body, got)).toBe(true);
    expect(Array.from(got)).toEqual(Array.from(scanOf(arena, start, end)));
    expect([inboundConnection(reader, at), inboundSequence(reader, at)]).toEqual([7, 42]);
  });

  it.each(captureCases())('%s: copied inline, the scan is rebased to the copy', (_name, capture) => {
    const { buf, start, end } = embed(bodyOf(capture.message), 333, 5);
    const { writer, reader } = ring();
    // Something ahead of it, so the copy lands at a different offset than the original.
    writer.data.set(Buffer.alloc(12), writer.reserve(12));
    const bodyAt = reserveInbound(writer, 3, 9, Date.now(), scanOf(buf, start, end), start, end - start);
    expect(bodyAt).toBeGreaterThanOrEqual(INBOUND_HEADER);
    buf.copy(writer.data, bodyAt, start, end);
    writer.publish();
    reader.next(reader.peek());
    const at = reader.peek();
    const body: InboundBody = { bytes: Buffer.alloc(0), start: 0, end: 0 };
    inboundBody(reader, at, Buffer.alloc(0), body);
    expect([body.bytes === reader.data, body.start, body.end - body.start]).toEqual([true, bodyAt, end - start]);
    const got = newScan();
    expect(inboundScan(reader, at, body, got)).toBe(true);
    const fresh = scanOf(reader.data, body.start, body.end);
    expect(Array.from(got)).toEqual(Array.from(fresh));
    // Absent fields stay absent (-1), present ones point into the copy.
    expect(got[Scan.DigestOffset]).toBeGreaterThan(body.start);
    expect(got[Scan.OpsOffset]).toBeLessThanOrEqual(body.end);
  });

  it('a scan that does not fit its body is refused (a corrupt ring)', () => {
    const [, capture] = captureCases((c) => c.kind === 'write')[0]!;
    const body = bodyOf(capture.message);
    const { writer, reader } = ring();
    const scan = scanOf(body, 0, body.length);
    // Ops said to end past the body.
    scan[Scan.OpsOffset] = body.length + 8;
    expect(writeInboundRef(writer, 1, 1, Date.now(), scan, 0, body.length)).toBe(true);
    writer.publish();
    const at = reader.peek();
    const out: InboundBody = { bytes: Buffer.alloc(0), start: 0, end: 0 };
    inboundBody(reader, at, body, out);
    expect(inboundScan(reader, at, out, newScan())).toBe(false);
  });
});

describe('completion rings are sized by the records a worker may hold, not by its inbound ring', () => {
  const MiB = 1024 * 1024;

  it('the default cap of 32,768 records takes 1 MiB beside a 64 MiB inbound ring', () => {
    expect(completionRingCapacity(32_768, 64 * MiB)).toBe(MiB);
  });

  it('never less than 64 KiB, never more than the inbound ring, always a power of two', () => {
    expect(completionRingCapacity(1, 64 * MiB)).toBe(64 * 1024);
    expect(completionRingCapacity(10_000_000, 64 * MiB)).toBe(64 * MiB);
    expect(completionRingCapacity(1000, 4096)).toBe(4096);
    for (const records of [1, 1000, 4097, 32_768, 100_000, 1_000_000]) {
      const size = completionRingCapacity(records, 64 * MiB);
      expect(size & (size - 1)).toBe(0);
    }
  });

  it('a ring of that capacity holds twice the records in completions, and they drain in order', () => {
    const records = 5000;
    const sab = newRingBuffer(completionRingCapacity(records, 64 * MiB));
    const writer = new RingWriter(sab);
    const reader = new RingReader(sab);
    const partition = (seq: number): number => (seq * 7) % 4096;
    const out = new Int32Array(4096);
    for (let seq = 0; seq < 2 * records; seq++) {
      expect(writeCompletion(writer, recordTag(7, partition(seq)), seq, seq % 3)).toBe(true);
      out[partition(seq)]!++;
    }
    writer.publish();
    const got: number[] = [];
    const sink: CompletionSink = { complete: (connection, seq, outcome) => got.push(connection, seq, outcome), batchEnd: () => {}, workerLost: () => {} };
    expect(drainCompletions(reader, sink, out)).toBe(2 * records);
    for (let seq = 0; seq < 2 * records; seq++) expect(got.slice(3 * seq, 3 * seq + 3)).toEqual([7, seq, seq % 3]);
    // Each completion's tag gave back its connection and counted its partition down.
    expect(out.every((n) => n === 0)).toBe(true);
  });
});
