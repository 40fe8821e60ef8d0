/**
 * Source authentication: Ferry answers LOGIN and AUTHENTICATE as a server with security enabled
 * does (docs/wire.md §3), for the users in `service.security`.
 *
 *   LOGIN (20)        user + credential ─▶ 0 with a session token (5) and its TTL (6, u32 s)
 *                                          60 unknown user, 62 wrong credential
 *   AUTHENTICATE (0)  user + token      ─▶ 0 (the bare 24-byte reply), 66 expired, 65 invalid
 *
 * The credential is bcrypt(password, the fixed salt). bcrypt costs tens of milliseconds, so each
 * user's expected credential is computed once, here, at start-up; a LOGIN is then one constant-time
 * comparison on the main thread.
 *
 * Tokens are stateless: nothing is stored per session. A token is
 *
 *   [u8 version = 1][u48 expiry, Unix ms][32 bytes HMAC-SHA256(key, version ‖ expiry ‖ user)]
 *
 * with a random key drawn when the process starts. Any connection of this process can check it, it
 * cannot be forged or moved to another user, and a restart invalidates every token (the source
 * then gets 65 and logs in again).
 */

import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { ResultCode, credentialOf } from '../protocol/index.js';

export interface SourceUser {
  username: string;
  password: string;
}

export type LoginResult =
  | { code: typeof ResultCode.Ok; token: Buffer; ttlS: number; expiresAtMs: number }
  | { code: typeof ResultCode.InvalidUser | typeof ResultCode.InvalidPassword };

export type AuthenticateResult =
  | { code: typeof ResultCode.Ok; expiresAtMs: number }
  | { code: typeof ResultCode.InvalidCredential | typeof ResultCode.ExpiredSession };

const TOKEN_VERSION = 1;
const MAC_SIZE = 32;
const TOKEN_SIZE = 1 + 6 + MAC_SIZE;


export class SourceAuth {
  /** user → the credential a correct LOGIN carries */
  private readonly credentials = new Map<string, Buffer>();
  private readonly key = randomBytes(32);

  constructor(
    users: readonly SourceUser[],
    readonly sessionTtlS: number,
    /** Unix ms; tests move it */
    private readonly nowMs: () => number = Date.now,
  ) {
    for (const u of users) this.credentials.set(u.username, credentialOf(u.password));
  }

  login(user: string, credential: Buffer | undefined): LoginResult {
    const expected = this.credentials.get(user);
    if (expected === undefined) return { code: ResultCode.InvalidUser };
    if (credential === undefined || credential.length !== expected.length || !timingSafeEqual(credential, expected)) {
      return { code: ResultCode.InvalidPassword };
    }
    const expiresAtMs = this.nowMs() + this.sessionTtlS * 1000;
    const token = Buffer.allocUnsafe(TOKEN_SIZE);
    token[0] = TOKEN_VERSION;
    token.writeUIntBE(expiresAtMs, 1, 6);
    this.mac(token, user).copy(token, 7);
    return { code: ResultCode.Ok, token, ttlS: this.sessionTtlS, expiresAtMs };
  }

  /** The MAC is checked before the expiry, so a forged token never learns whether it had expired. */
  authenticate(user: string, token: Buffer | undefined): AuthenticateResult {
    if (token === undefined || token.length !== TOKEN_SIZE || token[0] !== TOKEN_VERSION || !this.credentials.has(user)) {
      return { code: ResultCode.InvalidCredential };
    }
    if (!timingSafeEqual(this.mac(token, user), token.subarray(7))) return { code: ResultCode.InvalidCredential };
    const expiresAtMs = token.readUIntBE(1, 6);
    if (expiresAtMs <= this.nowMs()) return { code: ResultCode.ExpiredSession };
    return { code: ResultCode.Ok, expiresAtMs };
  }

  private mac(token: Buffer, user: string): Buffer {
    return createHmac('sha256', this.key).update(token.subarray(0, 7)).update(user, 'utf8').digest();
  }
}
