/**
 * A worker's dead-letter file: every record the destination rejected for good, appended whole
 * (dead-letter-record.ts) before the source gets the code, with group commit like the file
 * destination (one write + fdatasync in flight; records parked meanwhile form the next batch).
 *
 *   sink.reply(permanent code) ─▶ park() ─▶ pending ──(next turn)──▶ write + fdatasync ─▶ done(code)
 *
 * Files: <dir>/dead-letters-<instance>-w<worker>-<n>.<jsonl|msgpack>, n counting up. A file is
 * closed once the next record would take it past `maxBytes` (a record is never split, so a lone
 * record bigger than the cap makes a file of its own); the next n starts. At most `maxFiles` files
 * of this instance and worker are kept: when they are all full, new dead letters are dropped (never
 * an old one deleted) until an operator replays and removes files; the folder is looked at again
 * every RECHECK_MS.
 *
 * Never a stall, never a crash: a record that cannot be written (store full, disk full, folder not
 * writable, too much pending) is answered with its code all the same, counted as dropped, and the
 * condition is reported as a worker problem (main logs it once and lists it in /health/ready);
 * it clears with the next dead letter written. A failed write is cut back off the file (ftruncate),
 * so a file never holds half a record; when it held several records, they are written again one at
 * a time, so a disk that fills up keeps what fits.
 */

import { close, fdatasync, fsync, ftruncate, open, readdir, unlink } from 'node:fs';
import { join } from 'node:path';
import { Packr } from 'msgpackr';
import type { DeadLetterSettings } from '../threads/index.js';
import { changeRecordJson } from './change-record.js';
import type { DeadLetter } from './dead-letter-record.js';
import { makeFolder, writeFully } from './file-sink.js';

/** Bytes parked and not yet written beyond which new dead letters are dropped (the disk is slow). */
const MAX_PENDING = 4 * 1024 * 1024;
const RECHECK_MS = 10_000;

export interface DeadLetterEvents {
  /** the record's answer, once its dead letter is durable (or dropped) */
  done(connection: number, seq: number, code: number): void;
  /** a dead letter was written */
  parked(namespace: string, code: number): void;
  /** a dead letter could not be written */
  dropped(): void;
  problem(key: string, error: { code: string; message: string; retriable: boolean }): void;
  cleared(key: string): void;
  progress(): void;
}

interface Entry {
  connection: number;
  seq: number;
  namespace: string;
  code: number;
  bytes: Buffer;
}

const enum State {
  /** no file open: the next write opens one */
  Closed,
  Open,
  /** every file allowed is full, or the folder failed: dropping until `retryAt` */
  Refusing,
}

export class DeadLetterWriter {
  private readonly packr = new Packr({ useRecords: false, variableMapSize: true });
  private readonly prefix: string;
  private readonly ext: string;
  private pending: Entry[] = [];
  private pendingBytes = 0;
  /** records in the write in flight */
  private writing = 0;
  /** a write or the opening of a file is under way */
  private busy = false;
  private scheduled = false;
  private state = State.Closed;
  private retryAt = 0;
  private fd = -1;
  private size = 0;
  /** the number of the file being written */
  private n = 0;
  /** after a failed write of several records: write one at a time until one fails or all are in */
  private oneByOne = false;
  private closing = false;

  constructor(
    private readonly settings: DeadLetterSettings,
    worker: number,
    private readonly events: DeadLetterEvents,
  ) {
    this.prefix = `dead-letters-${settings.instance.replace(/[^A-Za-z0-9._-]/g, '_')}-w${worker}-`;
    this.ext = settings.format === 'json' ? '.jsonl' : '.msgpack';
  }

  private get key(): string {
    return `dead letters ${this.settings.path}`;
  }

  /** Records parked and not yet answered. */
  get inFlight(): number {
    return this.pending.length + this.writing;
  }

  private fileName(n: number): string {
    return join(this.settings.path, `${this.prefix}${n}${this.ext}`);
  }

  park(connection: number, seq: number, letter: DeadLetter): void {
    if ((this.state === State.Refusing && performance.now() < this.retryAt) || this.pendingBytes >= MAX_PENDING || this.closing) {
      this.drop(connection, seq, letter.code);
      return;
    }
    const bytes = this.settings.format === 'json' ? Buffer.from(`${changeRecordJson(letter)}\n`, 'utf8') : this.packr.pack(letter);
    this.pending.push({ connection, seq, namespace: letter.namespace, code: letter.code, bytes });
    this.pendingBytes += bytes.length;
    if (!this.scheduled && !this.busy) {
      this.scheduled = true;
      setImmediate(this.flush);
    }
  }

  private drop(connection: number, seq: number, code: number): void {
    this.events.dropped();
    this.events.done(connection, seq, code);
  }

  private readonly flush = (): void => {
    this.scheduled = false;
    if (this.busy || this.pending.length === 0) return;
    if (this.state === State.Refusing && performance.now() < this.retryAt) {
      this.dropPending();
      return;
    }
    if (this.state !== State.Open) {
      this.openNext();
      return;
    }
    // What fits the file; a first record bigger than the cap goes alone into an empty file.
    const batch: Entry[] = [];
    let bytes = 0;
    for (const e of this.pending) {
      if (this.size + bytes + e.bytes.length > this.settings.maxBytes && (batch.length > 0 || this.size > 0)) break;
      batch.push(e);
      bytes += e.bytes.length;
      if (this.oneByOne) break;
    }
    if (batch.length === 0) {
      this.rotate();
      return;
    }
    this.pending = this.pending.slice(batch.length);
    this.pendingBytes -= bytes;
    this.writing = batch.length;
    this.busy = true;
    const fd = this.fd;
    const from = this.size;
    const finish = (e: Error | null): void => {
      this.writing = 0;
      this.busy = false;
      if (e === null) {
        this.size += bytes;
        if (this.pending.length === 0) this.oneByOne = false;
        this.events.cleared(this.key);
      } else {
        this.oneByOne = false;
        // Leave no half record behind (disk full), then close the file; a later write starts the next.
        this.fd = -1;
        this.state = State.Closed;
        const name = this.fileName(this.n);
        ftruncate(fd, from, () => close(fd, () => (from === 0 ? unlink(name, () => undefined) : undefined)));
        this.fail(`cannot write ${name}: ${e.message}`);
      }
      for (const x of batch) {
        if (e === null) this.events.parked(x.namespace, x.code);
        else this.events.dropped();
        this.events.done(x.connection, x.seq, x.code);
      }
      this.events.progress();
      this.flush();
    };
    const written = (err: Error | null): void => {
      if (err !== null && batch.length > 1) {
        // Cut the failed write off and write its records again one at a time: keep what fits.
        ftruncate(fd, from, () => {
          this.pending = batch.concat(this.pending);
          this.pendingBytes += bytes;
          this.writing = 0;
          this.busy = false;
          this.oneByOne = true;
          this.flush();
        });
      } else if (err !== null || !this.settings.sync) finish(err);
      else fdatasync(fd, finish);
    };
    // At the file's known size: after a cut-off write, the fd's own position is past the end.
    writeFully(fd, Buffer.concat(batch.map((e) => e.bytes), bytes), 0, written, from);
  };

  /** Close the full file and go on with the next one, if one more is allowed. */
  private rotate(): void {
    const fd = this.fd;
    this.fd = -1;
    this.state = State.Closed;
    close(fd, () => undefined);
    this.openNext();
  }

  /** Count this worker's files, then open the next one (or refuse, when `maxFiles` exist). */
  private openNext(): void {
    this.busy = true;
    const dir = this.settings.path;
    makeFolder(dir, (mkdirErr) => {
      if (mkdirErr !== null) return this.opened(`cannot create ${dir}: ${mkdirErr.message}`);
      readdir(dir, (listErr, names) => {
        if (listErr !== null) return this.opened(`cannot list ${dir}: ${listErr.message}`);
        let count = 0;
        let last = -1;
        for (const name of names) {
          if (!name.startsWith(this.prefix) || !name.endsWith(this.ext)) continue;
          const k = Number(name.slice(this.prefix.length, -this.ext.length));
          if (!Number.isInteger(k) || k < 0) continue;
          count++;
          last = Math.max(last, k);
        }
        if (count >= this.settings.maxFiles) {
          return this.opened(`dead-letter store full: ${count} files of at most ${this.settings.maxBytes} bytes (aerospike.dead-letters.max-files); new dead letters are dropped until files are replayed and removed`);
        }
        const next = last + 1;
        open(this.fileName(next), 'wx', 0o640, (err, fd) => {
          // Another process of the same instance name took that number meanwhile: look again.
          if (err?.code === 'EEXIST') return this.openNext();
          if (err !== null) return this.opened(`cannot create a dead-letter file in ${dir}: ${err.message}`);
          this.fd = fd;
          this.n = next;
          this.size = 0;
          this.state = State.Open;
          if (!this.settings.sync) return this.opened(null);
          // The new file's name is durable before the first dead letter in it is answered.
          syncFolder(dir, () => this.opened(null));
        });
      });
    });
  }

  private opened(problem: string | null): void {
    this.busy = false;
    if (problem !== null) {
      this.fail(problem);
      this.dropPending();
      return;
    }
    this.flush();
  }

  /** What waits is answered now, dropped. */
  private dropPending(): void {
    const waiting = this.pending;
    this.pending = [];
    this.pendingBytes = 0;
    for (const e of waiting) this.drop(e.connection, e.seq, e.code);
    this.events.progress();
  }

  private fail(message: string): void {
    this.state = State.Refusing;
    this.retryAt = performance.now() + RECHECK_MS;
    this.events.problem(this.key, { code: 'ERR_DEAD_LETTERS', message, retriable: true });
  }

  /** Write what is parked (its flush is scheduled), then close the file; later dead letters are dropped. */
  async close(): Promise<void> {
    while (this.inFlight > 0 || this.busy) await new Promise((r) => setTimeout(r, 5));
    this.closing = true;
    if (this.fd >= 0) await new Promise<void>((r) => close(this.fd, () => r()));
    this.fd = -1;
    this.state = State.Closed;
  }
}

/** fsync a folder (its entries); a file system that cannot is not an error here. */
function syncFolder(dir: string, cb: () => void): void {
  open(dir, 'r', (err, fd) => {
    if (err !== null) return cb();
    fsync(fd, () => close(fd, () => cb()));
  });
}
