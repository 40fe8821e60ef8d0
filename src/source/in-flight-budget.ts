/**
 * The global cap on records in flight across every source connection (`max-concurrent-records`).
 * Sessions take from it when they accept a record and give back when the reply is written. A session
 * that finds it exhausted stops reading and waits in `blocked` until the budget frees up.
 */

export interface Resumable {
  tryResume(): void;
}

export class InFlightBudget {
  inFlight = 0;
  private readonly blocked = new Set<Resumable>();

  constructor(public cap: number) {}

  get available(): boolean {
    return this.inFlight < this.cap;
  }

  take(): void {
    this.inFlight++;
  }

  give(n: number): void {
    this.inFlight -= n;
  }

  block(s: Resumable): void {
    this.blocked.add(s);
  }

  forget(s: Resumable): void {
    this.blocked.delete(s);
  }

  /** Offer every blocked session a chance to read again. */
  wake(): void {
    if (this.blocked.size === 0) return;
    const all = [...this.blocked];
    this.blocked.clear();
    for (const s of all) s.tryResume();
  }
}
