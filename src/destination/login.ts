/**
 * Logging in to a destination that has security enabled (docs/wire.md §3).
 *
 *   LOGIN (20):        user (0), credential (3) = bcrypt(password, fixed salt)
 *                      external modes add the clear password (4); pki sends no field at all
 *                      (the TLS client certificate is the identity)
 *   reply:             result, then session token (5) and its TTL in seconds (6, u32)
 *   AUTHENTICATE (0):  user (0), session token (5)   — sent first on every new connection
 *
 * The token is the session: the tender logs in once and shares the token with every connection;
 * it logs in again before the TTL runs out, or when a connection is told 80/66.
 */

import { MessageType, ResultCode, SecurityCommand, SecurityField, credentialOf, encodeSecurityMessage, parseSecurityMessage } from '../protocol/index.js';
import { FerryError } from '../errors.js';
import { type LinkAddress, NodeLink, type TlsSettings } from './node-link.js';

export type AuthMode = 'internal' | 'external' | 'external-insecure' | 'pki';

export interface Credentials {
  user: string;
  password: string;
  mode: AuthMode;
}

export class LoginError extends FerryError {
  readonly code = 'ERR_DESTINATION_LOGIN';
  constructor(
    message: string,
    readonly result: number,
    /** wrong user or password: a start-up error, not something to retry */
    readonly retriable: boolean,
  ) {
    super(message);
  }
}

export function loginMessage(c: Credentials): Buffer {
  // pki: the client certificate is the identity; the LOGIN carries no user and no credential.
  if (c.mode === 'pki') return encodeSecurityMessage(SecurityCommand.Login, 0, []);
  const fields: Array<[number, Uint8Array]> = [[SecurityField.User, Buffer.from(c.user, 'utf8')]];
  fields.push([SecurityField.Credential, credentialOf(c.password)]);
  if (c.mode === 'external' || c.mode === 'external-insecure') fields.push([SecurityField.ClearPassword, Buffer.from(c.password, 'utf8')]);
  return encodeSecurityMessage(SecurityCommand.Login, 0, fields);
}

/** AUTHENTICATE with the session token (and the user, unless there is none: pki). */
export function authenticateMessage(user: string, token: Buffer): Buffer {
  const fields: Array<[number, Uint8Array]> = user === '' ? [] : [[SecurityField.User, Buffer.from(user, 'utf8')]];
  fields.push([SecurityField.SessionToken, token]);
  return encodeSecurityMessage(SecurityCommand.Authenticate, 0, fields);
}

const PERMANENT = new Set<number>([ResultCode.InvalidUser, ResultCode.InvalidPassword, ResultCode.InvalidCredential, ResultCode.Forbidden, ResultCode.RoleViolation]);

export interface Session {
  token: Buffer;
  /** seconds; 0 when the server gave none */
  ttlSeconds: number;
}

/** Interpret a LOGIN reply body (the security header and fields, no proto header). */
export function parseLoginReply(body: Buffer): Session {
  const msg = parseSecurityMessage(body, 0, body.length);
  if (msg === null) throw new LoginError('malformed login reply', -1, true);
  const result = body[1]!;
  if (result === ResultCode.SecurityNotSupported || result === ResultCode.SecurityNotConfigured) {
    throw new LoginError(`the destination has no security (result ${result}); remove aerospike.credentials`, result, false);
  }
  if (result !== ResultCode.Ok) {
    throw new LoginError(`login refused with result ${result}${PERMANENT.has(result) ? ' (check aerospike.credentials)' : ''}`, result, !PERMANENT.has(result));
  }
  const token = msg.fields.get(SecurityField.SessionToken);
  if (token === undefined) throw new LoginError('login reply carries no session token', result, true);
  const ttl = msg.fields.get(SecurityField.SessionTtl);
  return { token, ttlSeconds: ttl !== undefined && ttl.length === 4 ? ttl.readUInt32BE(0) : 0 };
}

/**
 * LOGIN through a fresh link to `addr` (no greeting: the token being renewed may be the one that
 * failed), closed afterwards. Returns the session and when to renew it: well before it expires (a
 * server that gives no TTL is renewed daily); connections already open stay authenticated.
 */
export async function logIn(addr: LinkAddress, tls: TlsSettings | null, timeoutMs: number, creds: Credentials): Promise<{ session: Session; renewAt: number }> {
  const link = new NodeLink(addr, tls, timeoutMs, () => null);
  let session: Session;
  try {
    const r = await link.request(loginMessage(creds));
    if (r.type !== MessageType.Security) throw new LoginError(`login answered with message type ${r.type}`, -1, true);
    session = parseLoginReply(r.body);
  } finally {
    link.close();
  }
  const ttl = session.ttlSeconds > 0 ? session.ttlSeconds : 24 * 3600;
  return { session, renewAt: Date.now() + Math.max(1000, ttl * 750) };
}
