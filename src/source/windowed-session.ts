/**
 * What every source connection shares, whatever its protocol: a reorder window numbering its
 * records (created at the first message, so a health check costs none), the intake that takes them,
 * and the answers the sweep and the completion path give through the window. Subclasses write the
 * answers out: a TCP session as 30-byte replies in request order (session.ts), an HTTP/2 connection
 * as one response per request (h2-session.ts).
 */

import type { Socket } from 'node:net';
import type { Logger } from 'pino';
import type { InFlightBudget } from './in-flight-budget.js';
import type { IntakeContext, IntakeOwner } from './record-intake.js';
import { ReorderWindow } from './reorder-window.js';
import type { SourceStats } from './source-stats.js';
import type { Clock, RecordRouter, SessionLimits, SourceSession } from './types.js';

/** What a listener gives each of its connections. */
export interface SessionContext extends IntakeContext {
  readonly log: Logger;
  /** a warning about a connection, rate-limited per message, cause and peer host by the listener */
  readonly warn: (socket: Socket, cause: string, fields: Record<string, unknown>, msg: string) => void;
  /** the connection is closed: the listener forgets it */
  readonly onClose: (s: WindowedSession) => void;
}

export abstract class WindowedSession implements IntakeOwner, SourceSession {
  protected window: ReorderWindow | null = null;
  protected closed = false;
  /** records held in the window (paused, or no destination) that may still be pending */
  held = 0;
  readonly peer: string;
  protected readonly limits: SessionLimits;
  protected readonly router: RecordRouter;
  protected readonly budget: InFlightBudget;
  protected readonly stats: SourceStats;
  protected readonly clock: Clock;
  protected readonly log: Logger;

  constructor(
    readonly id: number,
    /** the connection's socket (an HTTP/2 session's, for its peer address and warnings) */
    protected readonly socket: Socket,
    protected readonly intake: SessionContext,
  ) {
    ({ limits: this.limits, router: this.router, budget: this.budget, stats: this.stats, clock: this.clock, log: this.log } = intake);
    this.peer = `${socket.remoteAddress ?? '?'}:${socket.remotePort ?? 0}`;
  }

  /** A warning about this connection, rate-limited by the listener. */
  protected warn(cause: string, fields: Record<string, unknown>, msg: string): void {
    this.intake.warn(this.socket, cause, fields, msg);
  }

  get inFlight(): number {
    return this.window?.size ?? 0;
  }

  protected openWindow(): ReorderWindow {
    return (this.window ??= new ReorderWindow(this.limits.maxInFlightPerConnection));
  }

  abstract flush(): void;
  abstract tryResume(): void;
  abstract checkSlowReader(now: number): boolean;
  abstract stopReading(): void;
  abstract end(): void;
  abstract destroy(): void;

  /**
   * The connection is gone: give back what its window held, stop waiting on the budget, count and
   * log it, and leave the listener. Returns how many records were left unanswered, or null if it
   * was closed already.
   */
  protected settleClose(healthCheck: boolean): number | null {
    if (this.closed) return null;
    this.closed = true;
    this.budget.forget(this);
    const pending = this.window?.size ?? 0;
    this.budget.give(pending);
    if (healthCheck) this.stats.healthChecks++;
    this.stats.connectionsClosed++;
    this.log.debug({ peer: this.peer, unanswered: pending }, healthCheck ? 'health-check connection closed' : 'source connection closed');
    this.intake.onClose(this);
    this.budget.wake();
    return pending;
  }

  /** Record a result for `seq`; the caller flushes once per batch. Returns whether it was new. */
  complete(seq: number, code: number): boolean {
    return this.window !== null && this.window.complete(seq, code);
  }

  /** Answer `code` to every record past its deadline (arrived at or before `cutoff`). */
  expire(cutoff: number, code: number): number {
    if (this.window === null || this.window.size === 0) return 0;
    const n = this.window.expire(cutoff, code);
    if (n > 0) this.flush();
    return n;
  }

  /** Answer `code` to every held record that arrived at or before `cutoff`. */
  releaseHeld(cutoff: number, code: number): number {
    if (this.held === 0 || this.window === null) return 0;
    const { answered, stillHeld } = this.window.releaseHeld(cutoff, code);
    this.held = stillHeld;
    if (answered > 0) this.flush();
    return answered;
  }

  failWorker(worker: number, code: number): number {
    if (this.window === null) return 0;
    const n = this.window.failWorker(worker, code);
    if (n > 0) this.flush();
    return n;
  }
}
