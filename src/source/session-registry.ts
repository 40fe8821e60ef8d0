/**
 * Every open source session of the process by connection id: where completions from the workers
 * go, straight to the session that owns them.
 *
 *   completion ring ─▶ WorkerPool pump ─▶ registry.complete(connection, seq, outcome)
 *                      ─▶ outcome → reply code ─▶ session window      (per record)
 *                    ─▶ registry.batchEnd() ─▶ each touched session flushes once   (per batch)
 *
 * Connection ids are unique across the process's listeners, so one map serves them all.
 */

import type { Logger } from 'pino';
import { type CompletionSink, Outcome } from '../threads/index.js';
import { ResultCode, isTransientDestinationCode } from '../protocol/index.js';
import type { SourceSession } from './types.js';
import type { SourceStats } from './source-stats.js';

/**
 * Outcome → the code the source gets. Done codes pass; every transient outcome (and each of
 * Ferry's own outcomes, which all mean "not written") becomes 11, so the source retries; a
 * permanent rejection passes back as it is. 27 (filtered out) comes only from the last-write-wins
 * guard: the destination holds a newer version, so this one is done and must not be retried.
 */
export function replyCodeFor(outcome: number): number {
  if (outcome >= Outcome.ConnectionLost) return ResultCode.Unavailable;
  if (outcome === ResultCode.FilteredOut) return ResultCode.Ok;
  if (isTransientDestinationCode(outcome)) return ResultCode.Unavailable;
  return outcome;
}

export class SessionRegistry implements CompletionSink {
  private readonly sessions = new Map<number, SourceSession>();
  private readonly dirty = new Set<SourceSession>();
  /** the session of the last completion (completions come in runs of one connection) */
  private last: SourceSession | null = null;
  /** the session last added to `dirty` */
  private lastDirty: SourceSession | null = null;

  constructor(
    private readonly stats: SourceStats,
    private readonly log: Logger | null = null,
  ) {}

  get size(): number {
    return this.sessions.size;
  }

  /** Whether connection id `id` is in use. */
  has(id: number): boolean {
    return this.sessions.has(id);
  }

  add(session: SourceSession): void {
    this.sessions.set(session.id, session);
  }

  remove(session: SourceSession): void {
    this.sessions.delete(session.id);
    this.dirty.delete(session);
    if (this.last === session) this.last = null;
    if (this.lastDirty === session) this.lastDirty = null;
  }

  complete(connection: number, seq: number, outcome: number): void {
    let s = this.last;
    if (s === null || s.id !== connection) {
      const found = this.sessions.get(connection);
      if (found === undefined) return;
      this.last = s = found;
    }
    let code: number = ResultCode.Ok;
    if (outcome !== ResultCode.Ok) {
      if (outcome === ResultCode.FilteredOut) this.log?.debug({ connection, seq }, 'stale version not applied: the destination holds a newer one');
      code = replyCodeFor(outcome);
    }
    if (s.complete(seq, code) && s !== this.lastDirty) {
      this.dirty.add(s);
      this.lastDirty = s;
    }
  }

  batchEnd(): void {
    this.lastDirty = null;
    if (this.dirty.size === 0) return;
    for (const s of this.dirty) s.flush();
    this.dirty.clear();
  }

  /** A worker died: answer its records with the retry code now rather than at the deadline. */
  workerLost(worker: number): void {
    let n = 0;
    for (const s of this.sessions.values()) n += s.failWorker(worker, ResultCode.Unavailable);
    this.stats.workerLostRetries += n;
  }
}
