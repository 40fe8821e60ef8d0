/**
 * The destination session token, shared from the tender (main thread) to every worker connection,
 * and the workers' way to ask for a new login.
 *
 *   Int32 [0] generation (bumped on each publish)   [1] relogin requested (workers set 1)
 *         [2] user length   [3] token length        then user bytes, then token bytes
 */

const HEADER = 16;
const SIZE = 4096;

export function newSessionBuffer(): SharedArrayBuffer {
  return new SharedArrayBuffer(SIZE);
}

export class SessionShare {
  private readonly head: Int32Array;
  private readonly bytes: Uint8Array;
  private seen = -1;
  private cached: { user: string; token: Buffer } | null = null;

  constructor(sab: SharedArrayBuffer) {
    this.head = new Int32Array(sab, 0, HEADER / 4);
    this.bytes = new Uint8Array(sab, HEADER);
  }

  publish(user: string, token: Buffer): void {
    const u = Buffer.from(user, 'utf8');
    if (HEADER + u.length + token.length > SIZE) throw new RangeError('session token too large to share');
    this.bytes.set(u, 0);
    this.bytes.set(token, u.length);
    Atomics.store(this.head, 2, u.length);
    Atomics.store(this.head, 3, token.length);
    Atomics.store(this.head, 1, 0);
    Atomics.add(this.head, 0, 1);
  }

  /** The current user and token, or null before the first login (or without security). */
  current(): { user: string; token: Buffer } | null {
    const gen = Atomics.load(this.head, 0);
    if (gen === 0) return null;
    if (gen !== this.seen) {
      const ul = Atomics.load(this.head, 2);
      const tl = Atomics.load(this.head, 3);
      this.cached = { user: Buffer.from(this.bytes.subarray(0, ul)).toString('utf8'), token: Buffer.from(this.bytes.subarray(ul, ul + tl)) };
      this.seen = gen;
    }
    return this.cached;
  }

  requestRelogin(): void {
    Atomics.store(this.head, 1, 1);
  }

  reloginRequested(): boolean {
    return Atomics.load(this.head, 1) === 1;
  }
}
