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
  inboundSequence,
  recordTag,
  reserveInbound,
  writeCompletion,
  writeInboundRef,
} from '../../src/threads/records.js';
import { RingReader, RingWriter, newRingBuffer } from '../../src/threads/ring.js';
import { bodyOf, captureCases, embed } from '../support/bytes.js';

/** A scan of `buf[start, end)` with its offsets made relative to `start`, to compare two places. */
function scanAt(buf: Buffer, start: number, end: number): number[] {
  const scan = newScan();
  expect(scanRecordMessage(buf, start, end, scan)).toBe(ScanError.None);
  return Array.from(scan, (v, slot) => (v >= 0 && OFFSETS.has(slot) ? v - start : v));
}
const OFFSETS = new Set<number>([Scan.NamespaceOffset, Scan.SetOffset, Scan.DigestOffset, Scan.LutFieldOffset, Scan.KeyOffset, Scan.OpsOffset]);

function ring(): { writer: RingWriter; reader: RingReader } {
  const sab = newRingBuffer(64 * 1024);
  return { writer: new RingWriter(sab), reader: new RingReader(sab) };
}

describe('inbound records point the worker at the body main validated', () => {
  it.each(captureCases())('%s: by reference, the body is where the socket read put it', (_name, capture) => {
    // The body somewhere inside a larger buffer, as in the source arena.
    const { buf: arena, start, end } = embed(bodyOf(capture.message), 1000, 37);
    const { writer, reader } = ring();
    expect(writeInboundRef(writer, 7, 42, Date.now(), start, end - start)).toBe(true);
    writer.publish();
    const at = reader.peek();
    expect(at).toBeGreaterThanOrEqual(0);
    const body: InboundBody = { bytes: Buffer.alloc(0), start: 0, end: 0 };
    inboundBody(reader, at, arena, body);
    expect([body.bytes === arena, body.start, body.end]).toEqual([true, start, end]);
    expect([inboundConnection(reader, at), inboundSequence(reader, at)]).toEqual([7, 42]);
    // The worker's scan of it there is the scan of the message itself.
    expect(scanAt(body.bytes, body.start, body.end)).toEqual(scanAt(bodyOf(capture.message), 0, end - start));
  });

  it.each(captureCases())('%s: copied inline, the body follows its header in the ring', (_name, capture) => {
    const { buf, start, end } = embed(bodyOf(capture.message), 333, 5);
    const { writer, reader } = ring();
    // Something ahead of it, so the copy lands at a different offset than the original.
    writer.data.set(Buffer.alloc(12), writer.reserve(12));
    const bodyAt = reserveInbound(writer, 3, 9, Date.now(), end - start);
    expect(bodyAt).toBeGreaterThanOrEqual(INBOUND_HEADER);
    buf.copy(writer.data, bodyAt, start, end);
    writer.publish();
    reader.next(reader.peek());
    const at = reader.peek();
    const body: InboundBody = { bytes: Buffer.alloc(0), start: 0, end: 0 };
    inboundBody(reader, at, Buffer.alloc(0), body);
    expect([body.bytes === reader.data, body.start, body.end - body.start]).toEqual([true, bodyAt, end - start]);
    expect([inboundConnection(reader, at), inboundSequence(reader, at)]).toEqual([3, 9]);
    expect(scanAt(body.bytes, body.start, body.end)).toEqual(scanAt(bodyOf(capture.message), 0, end - start));
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
