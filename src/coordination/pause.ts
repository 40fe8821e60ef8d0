/**
 * A wait between rounds that can be cut short: a stop (or an etcd event that needs a round now)
 * wakes it at once instead of leaving the loop asleep for the rest of its interval.
 */
export class Pause {
  private wakeNow: (() => void) | null = null;

  /** Resolve after `ms`, or at the next `wake()`. */
  for(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.wakeNow = null;
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.wakeNow = done;
    });
  }

  wake(): void {
    this.wakeNow?.();
  }
}
