/**
 * Worker diagnostics: what goes wrong inside a worker, told to the main thread, which logs it once,
 * counts it and reflects it in readiness.
 *
 *   worker ─▶ DiagnosticsWriter ─▶ diagnostics ring (ring.ts, DIAGNOSTICS_BYTES, JSON events)
 *          ─▶ main drains it on its 100 ms watch (no wake-up: main never sleeps on this ring)
 *
 * A problem is a condition with a key (`file /var/lib/ferry/x.jsonl`, `node 10.0.0.1:3000`): the
 * worker reports it when it begins or its message changes, and reports it cleared when it ends, so
 * a destination that refuses every connect for an hour costs one event, not one per attempt. An
 * error is a one-off (a snapshot that failed to decode, a write that failed once); each key's
 * errors are sent at most once per ERROR_INTERVAL_MS, the next one carrying how many were held back.
 * When the ring is full (main is far behind), events are dropped and the next one says how many.
 */

import type { ErrorShape } from '../errors.js';
import { RingReader, RingWriter, newRingBuffer } from './ring.js';
import { isRecord, jsonCodec } from './snapshot.js';

export const DIAGNOSTICS_BYTES = 64 * 1024;
const ERROR_INTERVAL_MS = 1000;

export interface WorkerDiagnostic {
  kind: 'problem' | 'cleared' | 'error';
  /** what the condition is about; a problem and its clearing share it */
  key: string;
  /** stable error code (ERR_…) */
  code: string;
  message: string;
  retriable: boolean;
  /** a problem that stops all of this worker's traffic (readiness turns false while it lasts) */
  blocksTraffic: boolean;
  /** events of this key held back by the rate limit, or dropped on a full ring, before this one */
  suppressed: number;
}

const KINDS = new Set(['problem', 'cleared', 'error']);

export const diagnosticCodec = jsonCodec<WorkerDiagnostic>('worker diagnostic', (raw) => {
  if (!isRecord(raw)) return 'not a map';
  const { kind, key, code, message, retriable, blocksTraffic, suppressed } = raw;
  if (typeof kind !== 'string' || !KINDS.has(kind)) return 'bad kind';
  if (typeof key !== 'string' || typeof code !== 'string' || typeof message !== 'string') return 'key, code and message must be strings';
  if (typeof retriable !== 'boolean' || typeof blocksTraffic !== 'boolean' || typeof suppressed !== 'number') return 'bad flags';
  return { kind: kind as WorkerDiagnostic['kind'], key, code, message, retriable, blocksTraffic, suppressed };
});

export function newDiagnosticsBuffer(): SharedArrayBuffer {
  return newRingBuffer(DIAGNOSTICS_BYTES);
}

/** Worker side. */
export class DiagnosticsWriter {
  private readonly ring: RingWriter;
  private readonly active = new Map<string, string>();
  private readonly lastError = new Map<string, { at: number; held: number }>();
  private dropped = 0;

  constructor(sab: SharedArrayBuffer) {
    this.ring = new RingWriter(sab);
  }

  /** A condition began, or its message changed. */
  problem(key: string, error: ErrorShape, blocksTraffic: boolean): void {
    const text = `${error.code} ${error.message}`;
    if (this.active.get(key) === text) return;
    this.active.set(key, text);
    this.send({ kind: 'problem', key, ...error, blocksTraffic, suppressed: 0 });
  }

  /** The condition `key` ended (nothing is sent if it was not reported). */
  cleared(key: string): void {
    if (!this.active.delete(key)) return;
    this.send({ kind: 'cleared', key, code: '', message: '', retriable: true, blocksTraffic: false, suppressed: 0 });
  }

  /** A one-off failure; rate-limited per key. */
  error(key: string, error: ErrorShape, now = performance.now()): void {
    const last = this.lastError.get(key);
    if (last !== undefined && now - last.at < ERROR_INTERVAL_MS) {
      last.held++;
      return;
    }
    this.lastError.set(key, { at: now, held: 0 });
    this.send({ kind: 'error', key, ...error, blocksTraffic: false, suppressed: last?.held ?? 0 });
  }

  private send(event: WorkerDiagnostic): void {
    event.suppressed += this.dropped;
    const bytes = diagnosticCodec.encode(event);
    const at = this.ring.reserve(bytes.length);
    if (at < 0) {
      this.dropped++;
      return;
    }
    this.dropped = 0;
    this.ring.data.set(bytes, at);
    this.ring.publish();
  }
}

/** Main side. */
export class DiagnosticsReader {
  private readonly ring: RingReader;

  constructor(sab: SharedArrayBuffer) {
    this.ring = new RingReader(sab);
  }

  /** Every event published since the last drain, in order. */
  drain(each: (event: WorkerDiagnostic) => void): void {
    const ring = this.ring;
    let n = 0;
    for (let at = ring.peek(); at >= 0; at = ring.peek()) {
      const bytes = ring.data.subarray(at, at + ring.lengthAt(at));
      ring.next(at);
      n++;
      let event: WorkerDiagnostic;
      try {
        event = diagnosticCodec.decode(bytes);
      } catch (err) {
        event = { kind: 'error', key: 'diagnostics', code: 'ERR_SNAPSHOT_FORMAT', message: (err as Error).message, retriable: false, blocksTraffic: false, suppressed: 0 };
      }
      each(event);
    }
    if (n > 0) ring.release();
  }
}
