/**
 * The embedded `file` destination: change records appended to one file, as JSON lines or as a
 * stream of MessagePack maps. A record is acknowledged only after the write that holds it has
 * completed (and, with `sync`, after fdatasync), so a crash loses nothing the source was told is
 * done.
 *
 *   offer() ─▶ pending batch (encoded) ──flush()──▶ [one write + fdatasync in flight] ─▶ done(…, 0)
 *                  ▲ bounded: offer() says "full" past MAX_PENDING bytes
 *
 * One write is in flight at a time; records offered meanwhile form the next batch (group commit).
 */

import { close, fdatasync, open, write } from 'node:fs';
import { dirname } from 'node:path';
import { mkdirSync } from 'node:fs';
import { Packr } from 'msgpackr';
import { ResultCode } from '../protocol/index.js';
import { changeRecordJson, toChangeRecord } from './change-record.js';
import { Outcome } from './outcome.js';
import type { RecordSink, SinkEvents } from './record-sink.js';
import type { DestinationSettings } from './settings.js';

export type FileSettings = Extract<DestinationSettings, { kind: 'file' }>;

const MAX_PENDING = 8 * 1024 * 1024;

export class FileSink implements RecordSink {
  private fd = -1;
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private pendingIds: number[] = [];
  private writing: number[] | null = null;
  private readonly packr = new Packr({ useRecords: false, variableMapSize: true });
  private closed = false;

  constructor(
    private readonly settings: FileSettings,
    private readonly events: SinkEvents,
  ) {}

  get inFlight(): number {
    return this.pendingIds.length / 2 + (this.writing?.length ?? 0) / 2;
  }

  open(): void {
    mkdirSync(dirname(this.settings.path), { recursive: true });
    open(this.settings.path, 'a', 0o640, (err, fd) => {
      if (err !== null) {
        this.events.down(`cannot open ${this.settings.path}: ${err.message}`);
        setTimeout(() => this.open(), 1000);
        return;
      }
      this.fd = fd;
      this.events.up();
      this.events.progress();
    });
  }

  offer(data: Buffer, start: number, end: number, _scan: Int32Array, connection: number, seq: number): boolean {
    if (this.fd < 0) {
      this.events.done(connection, seq, Outcome.StorageError);
      return true;
    }
    if (this.pendingBytes >= MAX_PENDING) return false;
    const record = toChangeRecord(data, start, end, Date.now());
    const bytes = this.settings.format === 'json' ? Buffer.from(`${changeRecordJson(record)}\n`, 'utf8') : this.packr.pack(record);
    this.pending.push(bytes);
    this.pendingBytes += bytes.length;
    this.pendingIds.push(connection, seq);
    return true;
  }

  flush(): number {
    if (this.writing !== null || this.pending.length === 0 || this.fd < 0) return 0;
    const batch = Buffer.concat(this.pending);
    const ids = this.pendingIds;
    this.pending = [];
    this.pendingBytes = 0;
    this.pendingIds = [];
    this.writing = ids;
    this.writeAll(batch, 0, (err) => {
      const finish = (e: Error | null): void => {
        this.writing = null;
        const outcome = e === null ? ResultCode.Ok : Outcome.StorageError;
        for (let i = 0; i < ids.length; i += 2) this.events.done(ids[i]!, ids[i + 1]!, outcome);
        if (e !== null) this.events.down(`write to ${this.settings.path} failed: ${e.message}`);
        this.events.progress();
        if (!this.closed) this.flush();
      };
      if (err !== null || !this.settings.sync) finish(err);
      else fdatasync(this.fd, finish);
    });
    return batch.length;
  }

  private writeAll(buf: Buffer, from: number, cb: (err: Error | null) => void): void {
    write(this.fd, buf, from, buf.length - from, null, (err, n) => {
      if (err !== null) cb(err);
      else if (from + n < buf.length) this.writeAll(buf, from + n, cb);
      else cb(null);
    });
  }

  tick(): void {
    if (this.writing === null) this.flush();
  }

  async close(): Promise<void> {
    this.closed = true;
    while (this.writing !== null) await new Promise((r) => setTimeout(r, 5));
    if (this.fd >= 0) await new Promise<void>((r) => close(this.fd, () => r()));
    this.fd = -1;
  }
}
