// Run-time fault switches of the double. Plain data except `stall`: releasing a stall must wake
// every connection so it answers what piled up, so that one is an accessor.

export interface DoubleFaults {
  /** Delay every record reply by this many ms, one request at a time per connection. */
  delayMs: number;
  /** Answer every record request with this result code (no write done). */
  errorCode: number | null;
  /** Read requests but answer no record request until set false again; then answer in order. */
  stall: boolean;
  /** Answer the next N record requests with `failCode` (no write done). */
  failNext: number;
  failCode: number;
}

export class FaultState implements DoubleFaults {
  delayMs = 0;
  errorCode: number | null = null;
  failNext = 0;
  failCode = 11;
  private stalled = false;

  constructor(private readonly onRelease: () => void) {}

  get stall(): boolean {
    return this.stalled;
  }

  set stall(on: boolean) {
    const release = this.stalled && !on;
    this.stalled = on;
    if (release) this.onRelease();
  }

  /** The result code a record request must get regardless of its content, or null. */
  takeForcedCode(): number | null {
    if (this.errorCode !== null) return this.errorCode;
    if (this.failNext > 0) {
      this.failNext--;
      return this.failCode;
    }
    return null;
  }
}
