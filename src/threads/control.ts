/**
 * Per-worker control words. STOP and ACK_DEADLINE: main writes, the worker reads (once per batch,
 * or when woken). PROMPT: the worker writes, main reads at each publish.
 *
 *   SharedArrayBuffer (CONTROL_BYTES), Int32:
 *   +------------------+------------------------------------------------------------------------+
 *   | [0] STOP         | 1: finish what is in flight and return (main wakes the worker after it) |
 *   | [1] ACK_DEADLINE | ms; records older than this were answered 11 by main: skip, don't send  |
 *   | [2] PROMPT       | 1: the worker takes records at a light rate and sleeps on its doorbell  |
 *   |                  | even with writes out; main rings it at once, without dispatch-delay     |
 *   +------------------+------------------------------------------------------------------------+
 */

const CONTROL_BYTES = 16;
const STOP = 0;
const ACK_DEADLINE = 1;
const PROMPT = 2;

export function newControlBuffer(): SharedArrayBuffer {
  return new SharedArrayBuffer(CONTROL_BYTES);
}

export class WorkerControl {
  private readonly words: Int32Array;

  constructor(sab: SharedArrayBuffer) {
    this.words = new Int32Array(sab);
  }

  get stopping(): boolean {
    return Atomics.load(this.words, STOP) === 1;
  }

  set stopping(on: boolean) {
    Atomics.store(this.words, STOP, on ? 1 : 0);
  }

  get ackDeadlineMs(): number {
    return Atomics.load(this.words, ACK_DEADLINE);
  }

  set ackDeadlineMs(ms: number) {
    Atomics.store(this.words, ACK_DEADLINE, ms);
  }

  get prompt(): boolean {
    return Atomics.load(this.words, PROMPT) === 1;
  }

  set prompt(on: boolean) {
    Atomics.store(this.words, PROMPT, on ? 1 : 0);
  }
}
