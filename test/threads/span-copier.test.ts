/**
 * Copies out of shared memory: queued for the native addon and made together at finish(), or made
 * at once without it. Both ways must leave the same bytes, and the addon must refuse a span
 * outside its buffers rather than write there.
 */

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ADDON_PATH } from '../../src/native-addon.js';
import { RingReader, RingWriter, SpanCopier, loadCopySpans, newRingBuffer, spanCopier } from '../../src/threads/index.js';

const loaded = loadCopySpans();

type CopySpans = (sources: unknown, targets: unknown, spans: unknown, count: unknown) => void;
const addon = createRequire(import.meta.url)(ADDON_PATH) as { copySpans: CopySpans };

/** A shared buffer of `n` bytes, each its offset's low byte mixed, so a misplaced byte shows. */
function sharedBytes(n: number): Buffer {
  const b = Buffer.from(new SharedArrayBuffer(n));
  for (let i = 0; i < n; i++) b[i] = (i * 31 + (i >> 8)) & 0xff;
  return b;
}

describe('the native copySpans', () => {
  it('is built and used by this thread', () => {
    expect(loaded.reason).toBe('native addon');
    expect(spanCopier.native).toBe(true);
  });

  it('is reported missing, with why, when the addon cannot load or lacks it', () => {
    const dir = mkdtempSync(join(tmpdir(), 'ferry-addon-'));
    try {
      const gone = loadCopySpans(join(dir, 'ferry_native.node'));
      expect(gone.copySpans).toBeNull();
      expect(gone.reason).toMatch(/^native addon not loaded: /);
      // An addon built before copySpans existed: it loads, without the function.
      const older = join(dir, 'older.cjs');
      writeFileSync(older, 'module.exports = { supported: true, notify() {} };\n');
      expect(loadCopySpans(older)).toEqual({ copySpans: null, reason: 'native addon has no copySpans' });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('copies spans between the buffers it is given, at odd offsets', () => {
    const src = sharedBytes(4096);
    const a = Buffer.alloc(1024);
    const b = Buffer.alloc(1024);
    const spans = Int32Array.from([0, 3, 0, 5, 331, 0, 1001, 1, 0, 700, 0, 2048, 0, 400, 17]);
    addon.copySpans([src], [a, b], spans, 3);
    expect(a.subarray(5, 336)).toEqual(src.subarray(3, 334));
    expect(b.subarray(0, 700)).toEqual(src.subarray(1001, 1701));
    expect(a.subarray(400, 417)).toEqual(src.subarray(2048, 2065));
  });

  it('refuses a span beyond a buffer, an unknown buffer or a bad count, and writes nothing for it', () => {
    const src = sharedBytes(256);
    const dst = Buffer.alloc(64);
    const refuse = (spans: number[], count = 1): void => {
      dst.fill(0);
      expect(() => addon.copySpans([src], [dst], Int32Array.from(spans), count)).toThrow(RangeError);
      expect(dst.every((x) => x === 0)).toBe(true);
    };
    refuse([0, 0, 0, 60, 5]);
    refuse([0, 250, 0, 0, 7]);
    refuse([1, 0, 0, 0, 4]);
    refuse([0, 0, 1, 0, 4]);
    refuse([0, -1, 0, 0, 4]);
    refuse([0, 0, 0, 0, -4]);
    refuse([0, 0, 0, 0, 4], 2);
    expect(() => addon.copySpans([src], [dst], new Uint32Array(5), 1)).toThrow(TypeError);
    expect(() => addon.copySpans([src, 'x'], [dst], new Int32Array(5), 1)).toThrow(TypeError);
    expect(() => addon.copySpans(src, [dst], new Int32Array(5), 1)).toThrow(TypeError);
  });
});

describe.each([
  ['queued for the native addon', loaded.copySpans],
  ['made at once (no addon)', null],
])('a span copier, %s', (_name, copySpans) => {
  const queues = copySpans !== null;

  it('leaves the same bytes as a plain copy once finished', () => {
    const copier = new SpanCopier(copySpans);
    const src = sharedBytes(64 * 1024);
    const out = Buffer.alloc(64 * 1024);
    const expected = Buffer.alloc(64 * 1024);
    let at = 1;
    for (let start = 7, i = 0; i < 100; i++) {
      const n = 64 + ((i * 37) % 400);
      copier.copy(src, start, start + n, out, at);
      src.copy(expected, at, start, start + n);
      start += n + (i % 5);
      at += n;
    }
    expect(copier.queued).toBe(queues ? 100 : 0);
    copier.finish();
    expect(copier.queued).toBe(0);
    expect(out).toEqual(expected);
  });

  it('copies short runs, and runs out of plain memory, at once', () => {
    const copier = new SpanCopier(copySpans);
    const shared = sharedBytes(1024);
    const plain = Buffer.from(shared);
    const out = Buffer.alloc(1024);
    copier.copy(shared, 10, 73, out, 0);
    copier.copy(plain, 100, 500, out, 100);
    expect(copier.queued).toBe(0);
    expect(out.subarray(0, 63)).toEqual(shared.subarray(10, 73));
    expect(out.subarray(100, 500)).toEqual(plain.subarray(100, 500));
  });

  it('finishes by itself once its spans or its buffers are full, and loses nothing', () => {
    const copier = new SpanCopier(copySpans);
    const src = sharedBytes(256 * 1024);
    // 40 targets, more than one call may name, and 600 spans, more than it queues.
    const targets = Array.from({ length: 40 }, () => Buffer.alloc(15 * 100));
    for (let i = 0; i < 600; i++) {
      const t = i % 40;
      const slot = Math.floor(i / 40);
      copier.copy(src, i * 300 + 1, i * 300 + 101, targets[t]!, slot * 100);
    }
    expect(copier.queued).toBeLessThan(256);
    copier.finish();
    for (let i = 0; i < 600; i++) {
      const t = i % 40;
      const slot = Math.floor(i / 40);
      expect(targets[t]!.subarray(slot * 100, slot * 100 + 100)).toEqual(src.subarray(i * 300 + 1, i * 300 + 101));
    }
  });
});

describe("this thread's copier", () => {
  it('makes its queued copies before a ring gives its space back', () => {
    const ring = newRingBuffer(4096);
    const writer = new RingWriter(ring);
    const reader = new RingReader(ring);
    const at = writer.reserve(300);
    writer.data.fill(0x5a, at, at + 300);
    writer.publish();
    const payload = reader.peek();
    expect(payload).toBeGreaterThanOrEqual(0);
    const out = Buffer.alloc(300);
    spanCopier.copy(reader.data, payload, payload + 300, out, 0);
    expect(spanCopier.queued).toBe(1);
    reader.next(payload);
    reader.release();
    expect(spanCopier.queued).toBe(0);
    expect(out.every((x) => x === 0x5a)).toBe(true);
  });
});
