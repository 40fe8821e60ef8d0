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

import { close, fdatasync, mkdir, open, write } from 'node:fs';
import { dirname } from 'node:path';
import { Packr } from 'msgpackr';
import { ResultCode } from '../protocol/index.js';
import { type DestinationSettings, Outcome } from '../threads/index.js';
import { changeRecordJson, toChangeRecord } from './change-record.js';
import type { RecordSink, SinkEvents } from './record-sink.js';

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

  private get key(): string {
    return `file ${this.settings.path}`;
  }

  /** Open the file (its folder made first); retried every second while it cannot be opened. */
  open(): void {
    const path = this.settings.path;
    const failed = (err: Error): void => {
      this.events.problem(this.key, { code: 'ERR_DESTINATION_OPEN', message: `cannot open ${path}: ${err.message}`, retriable: true }, true);
      if (!this.closed) setTimeout(() => this.open(), 1000).unref();
    };
    makeFolder(dirname(path), (mkdirErr) => {
      if (mkdirErr !== null) return failed(mkdirErr);
      open(path, 'a', 0o640, (err, fd) => {
        if (err !== null) return failed(err);
        if (this.closed) return close(fd, () => undefined);
        this.fd = fd;
        this.events.up();
        this.events.cleared(this.key);
        this.events.progress();
      });
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
    writeFully(this.fd, batch, 0, (err) => {
      const finish = (e: Error | null): void => {
        this.writing = null;
        const outcome = e === null ? ResultCode.Ok : Outcome.StorageError;
        for (let i = 0; i < ids.length; i += 2) this.events.done(ids[i]!, ids[i + 1]!, outcome);
        if (e !== null) this.events.problem(this.key, { code: 'ERR_DESTINATION_WRITE', message: `write to ${this.settings.path} failed: ${e.message}`, retriable: true }, true);
        else this.events.cleared(this.key);
        this.events.progress();
        if (!this.closed) this.flush();
      };
      if (err !== null || !this.settings.sync) finish(err);
      else fdatasync(this.fd, finish);
    });
    return batch.length;
  }

  tick(): number {
    return this.writing === null ? this.flush() : 0;
  }

  async close(): Promise<void> {
    this.closed = true;
    while (this.writing !== null) await new Promise((r) => setTimeout(r, 5));
    if (this.fd >= 0) await new Promise<void>((r) => close(this.fd, () => r()));
    this.fd = -1;
  }
}

/**
 * Write `buf[from…]` to `fd` whole (a short write goes on where it stopped): at the file's position,
 * or with `at`, at file offset `at` + `from`.
 */
export function writeFully(fd: number, buf: Buffer, from: number, cb: (err: Error | null) => void, at: number | null = null): void {
  write(fd, buf, from, buf.length - from, at === null ? null : at + from, (err, n) => {
    if (err !== null) cb(err);
    else if (from + n < buf.length) writeFully(fd, buf, from + n, cb, at);
    else cb(null);
  });
}

/**
 * mkdir -p, one level at a time. Node 20's own `recursive: true` never calls back for a path under
 * /proc (it retries ENOENT forever, at full CPU); this gives up with the first real error.
 */
export function makeFolder(path: string, cb: (err: NodeJS.ErrnoException | null) => void): void {
  mkdir(path, (err) => {
    if (err === null || err.code === 'EEXIST') return cb(null);
    const parent = dirname(path);
    if (err.code !== 'ENOENT' || parent === path) return cb(err);
    makeFolder(parent, (parentErr) => (parentErr !== null ? cb(parentErr) : mkdir(path, (again) => cb(again === null || again.code === 'EEXIST' ? null : again))));
  });
}
