/**
 * One watch on the source, on its own gRPC stream, read one response at a time.
 *
 *   etcd ──watch stream──▶ queue (≤ HIGH_WATER responses) ──next()──▶ apply loop
 *                           │ at HIGH_WATER the stream is paused: HTTP/2 flow control
 *                           │ pushes back to etcd, which buffers the rest in its own history
 *
 * The etcd3 package's Watcher reconnects by itself and emits events without waiting for the
 * consumer; the mirror needs the opposite on both counts (bounded memory, and its own resume point
 * after a failure), so it drives the raw stream.
 */

import type { Etcd3, IDuplexStream, IWatchRequest, IWatchResponse } from 'etcd3';
import { classifyEtcdError } from './etcd-client.js';
import { MirrorCompactedError, MirrorError, MirrorEtcdError } from './errors.js';
import { type KeyRange, rangeRequest } from './key-range.js';

const HIGH_WATER = 64;
const LOW_WATER = 16;

interface Pausable {
  pause(): void;
  resume(): void;
}

function isPausable(s: unknown): s is Pausable {
  return typeof (s as Partial<Pausable>).pause === 'function' && typeof (s as Partial<Pausable>).resume === 'function';
}

export class SourceWatch {
  private readonly queue: IWatchResponse[] = [];
  private waiter: { resolve: (r: IWatchResponse) => void; reject: (e: MirrorError) => void } | null = null;
  private failure: MirrorError | null = null;
  private paused = false;
  private watchId: string | null = null;

  private constructor(
    private readonly stream: IDuplexStream<IWatchRequest, IWatchResponse>,
    private readonly startRevision: number,
  ) {
    stream.on('data', (res) => this.onResponse(res));
    stream.on('error', (err) => this.fail(classifyEtcdError('source', err, startRevision)));
    stream.on('end', () => this.fail(new MirrorEtcdError('source', 'watch stream ended', true)));
  }

  /**
   * Open a stream and create the watch; resolves once etcd confirms it (or rejects: compacted, …).
   * A server that accepts the connection but never answers (a stopped process) would leave the
   * confirmation pending forever, so it has a deadline like any request.
   */
  static async open(source: Etcd3, range: KeyRange, startRevision: number, prevKv: boolean, deadlineMs: number): Promise<SourceWatch> {
    let stream: IDuplexStream<IWatchRequest, IWatchResponse>;
    try {
      stream = await source.watchClient.watch();
    } catch (err) {
      throw classifyEtcdError('source', err, startRevision);
    }
    const w = new SourceWatch(stream, startRevision);
    stream.write({ create_request: { ...rangeRequest(range), start_revision: startRevision, prev_kv: prevKv, progress_notify: true } });
    const timer = setTimeout(() => w.abort(new MirrorEtcdError('source', `the watch was not confirmed within ${deadlineMs} ms`, true)), deadlineMs);
    let created: IWatchResponse;
    try {
      created = await w.next();
    } finally {
      clearTimeout(timer);
    }
    if (!created.created) {
      w.close();
      throw new MirrorEtcdError('source', 'watch stream answered before confirming the watch', true);
    }
    w.watchId = created.watch_id;
    return w;
  }

  /** The next response (events or a progress notice); rejects once the stream has failed. */
  next(): Promise<IWatchResponse> {
    const r = this.queue.shift();
    if (r !== undefined) {
      if (this.paused && this.queue.length <= LOW_WATER) {
        this.paused = false;
        if (isPausable(this.stream)) this.stream.resume();
      }
      return Promise.resolve(r);
    }
    if (this.failure !== null) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => {
      this.waiter = { resolve, reject };
    });
  }

  /** Responses already received, up to `max`, without waiting: lets a lagging mirror batch them. */
  drain(max: number): IWatchResponse[] {
    const out = this.queue.splice(0, max);
    if (this.paused && this.queue.length <= LOW_WATER) {
      this.paused = false;
      if (isPausable(this.stream)) this.stream.resume();
    }
    return out;
  }

  /** Ask etcd for a progress notice: proves the stream is alive and carries the source's revision. */
  requestProgress(): void {
    if (this.failure === null) this.stream.write({ progress_request: {} });
  }

  /** Fail the watch from outside (a liveness deadline passed); the apply loop sees the error. */
  abort(err: MirrorError): void {
    this.fail(err);
    this.close();
  }

  close(): void {
    try {
      this.stream.cancel();
    } catch {
      // already closed
    }
  }

  private onResponse(res: IWatchResponse): void {
    if (res.canceled || (res.compact_revision !== undefined && Number(res.compact_revision) > 0)) {
      const compact = Number(res.compact_revision ?? 0);
      this.fail(
        compact > 0
          ? new MirrorCompactedError(this.startRevision, compact)
          : new MirrorEtcdError('source', `watch canceled by the server: ${res.cancel_reason || 'no reason given'}`, !/permission denied/.test(res.cancel_reason)),
      );
      return;
    }
    // Progress answers to progress_request come with watch id -1; ours and those are all we get.
    if (this.watchId !== null && res.watch_id !== this.watchId && res.watch_id !== '-1') return;
    if (this.waiter !== null) {
      const w = this.waiter;
      this.waiter = null;
      w.resolve(res);
      return;
    }
    this.queue.push(res);
    if (!this.paused && this.queue.length >= HIGH_WATER && isPausable(this.stream)) {
      this.paused = true;
      this.stream.pause();
    }
  }

  private fail(err: MirrorError): void {
    if (this.failure !== null) return;
    this.failure = err;
    if (this.waiter !== null) {
      const w = this.waiter;
      this.waiter = null;
      w.reject(err);
    }
  }
}
