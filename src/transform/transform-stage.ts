/**
 * A worker's transform stage: the module (`aerospike.transform`) applied to each record before the
 * sink sees it. With no module configured the stage is off and costs the worker one check per batch.
 *
 *   record ─▶ RecordView ─▶ module ─▶ the same view      ─▶ offered as it came (no copy)
 *                                  ─▶ RecordToWrite(s)    ─▶ encoded (encode.ts), offered in turn
 *                                  ─▶ null / 'skip' / []  ─▶ answered done, counted
 *                                  ─▶ throws              ─▶ answered TransformFailed (11), logged
 *
 * A reload (a new version in the policy) imports the module afresh; records wait while it loads.
 */

import { toErrorShape } from '../errors.js';
import type { TransformSettings } from '../threads/index.js';
import { SKIP, type RecordToWrite, type SourceRecord, type Transform } from './api.js';
import { encodeRecord } from './encode.js';
import { TransformError } from './errors.js';
import { importTransform } from './load.js';
import { RecordView } from './record-view.js';

/** What the module made of one record. */
export type Made = { kind: 'pass' } | { kind: 'skip' } | { kind: 'write'; records: Buffer[] } | { kind: 'fail'; error: TransformError };

const PASS: Made = { kind: 'pass' };
const SKIPPED: Made = { kind: 'skip' };

function isWritable(r: unknown): r is SourceRecord | RecordToWrite {
  return typeof r === 'object' && r !== null && !Array.isArray(r);
}

export class TransformStage {
  private fn: Transform | null = null;
  private loadError: TransformError | null = null;
  private settings: TransformSettings | null = null;
  /** set while a module is being imported: records wait for it */
  loading: Promise<void> | null = null;

  /** Whether records pass through a module. */
  get on(): boolean {
    return this.settings !== null;
  }

  /** Take the policy's transform settings; a new URL or version starts an import. */
  configure(t: TransformSettings | null): void {
    const cur = this.settings;
    if (t === null) {
      this.settings = null;
      this.fn = null;
      return;
    }
    if (cur !== null && cur.url === t.url && cur.version === t.version) return;
    this.settings = t;
    const loading: Promise<void> = importTransform(t.url, t.version)
      .then(
        (fn) => {
          this.fn = fn;
          this.loadError = null;
        },
        (err: unknown) => {
          // Main imported it before publishing the policy: this is rare (a file changed in between).
          this.fn = null;
          this.loadError = new TransformError(`cannot load the transform module: ${(err as Error).message ?? String(err)}`);
        },
      )
      .finally(() => {
        if (this.loading === loading) this.loading = null;
      });
    this.loading = loading;
  }

  /** Run the module on `buf[start, end)` (`scan` describes it). */
  run(buf: Buffer, start: number, end: number, scan: Int32Array): Made {
    const fn = this.fn;
    if (fn === null) return { kind: 'fail', error: this.loadError ?? new TransformError('the transform module is not loaded') };
    const view = new RecordView(buf, start, end, scan);
    try {
      const out = fn(view);
      if (out === view) return PASS;
      if (out === null || out === SKIP) return SKIPPED;
      if (Array.isArray(out)) {
        if (out.length === 0) return SKIPPED;
        return { kind: 'write', records: out.map((r: unknown) => this.encode(view, r)) };
      }
      return { kind: 'write', records: [this.encode(view, out)] };
    } catch (err) {
      const what = `record ${view.namespace}/${view.set} digest ${view.digest.toString('hex')}`;
      const why = err instanceof TransformError ? err.message : `the transform threw: ${toErrorShape(err).message}`;
      return { kind: 'fail', error: new TransformError(`${what}: ${why} (answered 11: the source retries it)`, { cause: err }) };
    }
  }

  private encode(view: RecordView, r: unknown): Buffer {
    if (!isWritable(r)) throw new TransformError(`the transform returned ${r === undefined ? 'undefined' : typeof r}: return the record, a record to write, a list of them, null or 'skip'`);
    if (typeof (r as { then?: unknown }).then === 'function') throw new TransformError('the transform returned a Promise: a transform is synchronous');
    if (r === view) return Buffer.from(view.buf.subarray(view.start, view.end));
    if (r instanceof RecordView) throw new TransformError('the transform returned another record it was given earlier');
    return encodeRecord(view, r as RecordToWrite);
  }
}
