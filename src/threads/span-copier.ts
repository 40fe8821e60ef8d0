/**
 * Copies out of shared memory, queued and made together in one native call.
 *
 * A worker copies every record it writes out of shared memory (the source arena, or its inbound
 * ring) into a destination connection's out chunk. The engine copies shared memory through a
 * relaxed-atomic memmove that goes a byte at a time unless both sides share their alignment to 8:
 * a 330-byte record took 130–280 ns that way against 68 ns out of plain memory, and that copy was a
 * tenth of a worker's samples at saturation. The native addon's `copySpans` is a memmove, but one
 * call costs more than one record's copy, so the copies wait here and go together (bench/micro.ts,
 * "shared copy": 25 against 157 ns a record):
 *
 *   write policy ─ copy() ─▶ queued: [source, sourceAt, target, targetAt, length] × ≤ MAX_SPANS
 *   a connection's flush() ───────┐
 *   the worker releasing its ring ┴─▶ finish() ─▶ copySpans(sources, targets, spans, n)
 *
 * So finish() must come before anything reads a target or lets a source go: the out chunk goes to
 * a socket only through DestinationConnection.flush(), and the arena and ring bytes stay the
 * worker's until RingReader.release(); both call finish() first. A copy from plain memory, a
 * short one, or any copy without the addon is made at once, as copyBytes makes it.
 *
 * One copier per thread (`spanCopier`): a thread runs one drain at a time, and the queue never
 * outlives it.
 */

import { ADDON_PATH, loadAddon } from '../native-addon.js';
import { copyBytes } from '../protocol/index.js';

/** What native/src/ferry_native.cc exports for this. */
type CopySpans = (sources: Uint8Array[], targets: Uint8Array[], spans: Int32Array, count: number) => void;

/** Spans queued before finish() runs by itself. */
const MAX_SPANS = 256;
/** Buffers on either side of one call (the addon refuses more than 64). */
const MAX_BUFFERS = 16;
/** Shorter copies are made at once: the queue costs more than they do. */
const MIN_QUEUED = 64;
const SPAN_INTS = 5;

/** The addon's copySpans, or null (with why) when it cannot load. */
export function loadCopySpans(path = ADDON_PATH): { copySpans: CopySpans | null; reason: string } {
  const loaded = loadAddon(path);
  if ('reason' in loaded) return { copySpans: null, reason: loaded.reason };
  const addon = loaded.exports;
  const fn = typeof addon === 'object' && addon !== null ? (addon as Record<string, unknown>)['copySpans'] : undefined;
  if (typeof fn !== 'function') return { copySpans: null, reason: 'native addon has no copySpans' };
  return { copySpans: fn as CopySpans, reason: 'native addon' };
}

export class SpanCopier {
  private readonly sources: Uint8Array[] = [];
  private readonly targets: Uint8Array[] = [];
  private readonly spans = new Int32Array(MAX_SPANS * SPAN_INTS);
  private count = 0;
  /** the last source seen, and whether it lies in shared memory */
  private lastSource: Uint8Array | null = null;
  private lastShared = false;
  /** the last source and target queued, and their indexes (a batch copies mostly between the same two) */
  private queuedSource: Uint8Array | null = null;
  private queuedSourceIndex = 0;
  private queuedTarget: Uint8Array | null = null;
  private queuedTargetIndex = 0;

  constructor(private readonly copySpans: CopySpans | null) {}

  /** Whether copies out of shared memory are queued for the addon (false: all made at once). */
  get native(): boolean {
    return this.copySpans !== null;
  }

  /** Spans waiting for finish(). */
  get queued(): number {
    return this.count;
  }

  /** Copy `src[start, end)` to `dst[at]`, now or at the next finish(). The two never overlap. */
  copy(src: Uint8Array, start: number, end: number, dst: Uint8Array, at: number): void {
    const length = end - start;
    if (length < MIN_QUEUED || this.copySpans === null || !this.shared(src)) {
      copyBytes(src, start, end, dst, at);
      return;
    }
    let s = src === this.queuedSource ? this.queuedSourceIndex : this.sources.indexOf(src);
    let t = dst === this.queuedTarget ? this.queuedTargetIndex : this.targets.indexOf(dst);
    if ((s < 0 && this.sources.length === MAX_BUFFERS) || (t < 0 && this.targets.length === MAX_BUFFERS)) {
      this.finish();
      s = -1;
      t = -1;
    }
    if (s < 0) s = this.sources.push(src) - 1;
    if (t < 0) t = this.targets.push(dst) - 1;
    this.queuedSource = src;
    this.queuedSourceIndex = s;
    this.queuedTarget = dst;
    this.queuedTargetIndex = t;
    const spans = this.spans;
    const o = this.count * SPAN_INTS;
    spans[o] = s;
    spans[o + 1] = start;
    spans[o + 2] = t;
    spans[o + 3] = at;
    spans[o + 4] = length;
    if (++this.count === MAX_SPANS) this.finish();
  }

  /** Make every queued copy. */
  finish(): void {
    if (this.count === 0) return;
    const n = this.count;
    this.count = 0;
    try {
      this.copySpans!(this.sources, this.targets, this.spans, n);
    } finally {
      this.sources.length = 0;
      this.targets.length = 0;
      this.queuedSource = null;
      this.queuedTarget = null;
    }
  }

  private shared(src: Uint8Array): boolean {
    if (src !== this.lastSource) {
      this.lastSource = src;
      this.lastShared = src.buffer instanceof SharedArrayBuffer;
    }
    return this.lastShared;
  }
}

/** This thread's copier. */
export const spanCopier = new SpanCopier(loadCopySpans().copySpans);
