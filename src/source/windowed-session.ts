/**
 * What every source connection shares, whatever its protocol: a reorder window numbering its
 * records (created at the first message, so a health check costs none), the intake that takes them,
 * and the answers the sweep and the completion path give through the window. Subclasses write the
 * answers out: a TCP session as 30-byte replies in request order (session.ts), an HTTP/2 connection
 * as one response per request (h2-session.ts).
 */

import type { InFlightBudget } from './in-flight-budget.js';
import type { IntakeContext, IntakeOwner } from './record-intake.js';
import { ReorderWindow } from './reorder-window.js';
import type { SourceStats } from './source-stats.js';
import type { Clock, RecordRouter, SessionLimits, SourceSession } from './types.js';

export abstract class WindowedSession implements IntakeOwner, SourceSession {
  protected window: ReorderWindow | null = null;
  /** records held in the window (paused, or no destination) that may still be pending */
  held = 0;
  protected readonly intake: IntakeContext;

  constructor(
    readonly id: number,
    protected readonly limits: SessionLimits,
    protected readonly router: RecordRouter,
    protected readonly budget: InFlightBudget,
    protected readonly stats: SourceStats,
    protected readonly clock: Clock,
  ) {
    this.intake = { limits, router, budget, stats, clock };
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
