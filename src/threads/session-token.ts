/**
 * The destination session token, published by the tender (main thread) to every worker
 * connection, and the workers' way to ask for a new login.
 *
 *   SharedArrayBuffer (SESSION_BYTES)
 *   +-- a seqlocked snapshot (snapshot.ts) ----------------------------------------------------+
 *   |   header: VERSION, LENGTH, [2] RELOGIN (a worker stores 1; the tender clears it on publish) |
 *   |   value:  JSON {user: string, token: base64}                                        |
 *   +-------------------------------------------------------------------------------------------+
 */

import { SnapshotCell, isRecord, jsonCodec } from './snapshot.js';

const SESSION_BYTES = 4096;
const RELOGIN = 2;

export interface SessionToken {
  user: string;
  token: Uint8Array;
}

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

export const sessionTokenCodec = jsonCodec<SessionToken>(
  'session token',
  (raw) => {
    if (!isRecord(raw) || typeof raw.user !== 'string' || typeof raw.token !== 'string' || !BASE64.test(raw.token)) return 'not {user, token (base64)}';
    return { user: raw.user, token: Buffer.from(raw.token, 'base64') };
  },
  (t) => ({ user: t.user, token: Buffer.from(t.token).toString('base64') }),
);

export function newSessionBuffer(): SharedArrayBuffer {
  return new SharedArrayBuffer(SESSION_BYTES);
}

export class SessionTokenShare {
  private readonly cell: SnapshotCell<SessionToken>;
  private readonly flags: Int32Array;
  private cached: { user: string; token: Buffer } | null = null;

  constructor(sab: SharedArrayBuffer) {
    this.cell = new SnapshotCell(sab, sessionTokenCodec);
    this.flags = new Int32Array(sab, 0, 4);
  }

  /** Tender: a new token (clears any relogin request). */
  publish(user: string, token: Buffer): void {
    this.cell.publish({ user, token });
    Atomics.store(this.flags, RELOGIN, 0);
  }

  /** Worker: the current user and token, or null before the first login (or without security). */
  current(): { user: string; token: Buffer } | null {
    const next = this.cell.poll();
    if (next !== undefined) this.cached = { user: next.user, token: Buffer.from(next.token) };
    return this.cached;
  }

  requestRelogin(): void {
    Atomics.store(this.flags, RELOGIN, 1);
  }

  reloginRequested(): boolean {
    return Atomics.load(this.flags, RELOGIN) === 1;
  }
}
