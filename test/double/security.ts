// Security (proto type 2): LOGIN and AUTHENTICATE.
//
//   request body := [u8 scheme = 0][u8 result = 0][u8 command][u8 n_fields][12 zero bytes]
//                   ([u32 size = 1 + length][u8 field id][value]){n_fields}
//   reply body   := [u8 scheme = 0][u8 result][u8 command = 0][u8 n_fields][12 zero bytes]
//                   ([u32 size = 1 + length][u8 field id][value]){n_fields}
//
//   LOGIN (20)        fields USER, CREDENTIAL = bcrypt(password, CREDENTIAL_SALT)
//                     → 0 with SESSION_TOKEN and SESSION_TTL; 60 unknown user; 62 wrong password
//   AUTHENTICATE (0)  fields USER, SESSION_TOKEN
//                     → 0 (24-byte reply, no fields); 65 unknown token; 66 expired token
//
// Without security configured the double is Community Edition: every command, LOGIN and
// AUTHENTICATE included, gets result 51 ("security not supported") and the command byte 0, which
// is what CE 8.1.2 sends. With security configured, a successful LOGIN or AUTHENTICATE
// authenticates the connection it came on, as a server's does (clients send info requests on
// the connection they logged in on, with no AUTHENTICATE in between).

import { randomBytes, timingSafeEqual } from 'node:crypto';
import bcrypt from 'bcryptjs';
import { writeProtoHeader } from './framer.js';
import { CREDENTIAL_SALT, PROTO_HEADER_SIZE, ProtoType, ResultCode, SecurityCommand, SecurityField } from './wire.js';

const SECURITY_HEADER_SIZE = 16;
const FIELD_HEADER_SIZE = 5;
/** A server's default `session-ttl`: one day. */
const DEFAULT_SESSION_TTL_SECONDS = 86_400;
const TOKEN_BYTES = 32;

export interface DoubleSecurityOptions {
  /** User name → password. */
  users: Record<string, string>;
  /** Lifetime of a session token handed out by LOGIN; default 86400 (a server's default). */
  sessionTtlSeconds?: number;
  /** Milliseconds since the epoch, for session expiry; default Date.now. Tests pass a fake. */
  clock?: () => number;
}

/** Per-connection security state. */
export interface ConnectionAuth {
  authenticated: boolean;
  user: string | undefined;
}

export function newConnectionAuth(): ConnectionAuth {
  return { authenticated: false, user: undefined };
}

export interface SecurityAnswer {
  readonly command: number;
  readonly resultCode: number;
  readonly reply: Buffer;
}

interface Session {
  readonly user: string;
  readonly expiresAtMs: number;
}

/** Users, their credentials and the session tokens handed out; one per cluster. */
export class SecurityPolicy {
  private readonly sessions = new Map<string, Session>();

  private constructor(
    /** user → bcrypt(password, CREDENTIAL_SALT) */
    private readonly credentials: ReadonlyMap<string, string>,
    readonly sessionTtlSeconds: number,
    private readonly clock: () => number,
  ) {}

  /** Hashes every password once up front: bcrypt at cost 10 takes tens of milliseconds. */
  static async create(opts: DoubleSecurityOptions): Promise<SecurityPolicy> {
    const ttl = opts.sessionTtlSeconds ?? DEFAULT_SESSION_TTL_SECONDS;
    if (!Number.isInteger(ttl) || ttl < 1 || ttl > 0xffff_ffff) {
      throw new Error(`security.sessionTtlSeconds must be an integer between 1 and 4294967295, got ${ttl}`);
    }
    const credentials = new Map<string, string>();
    for (const [user, password] of Object.entries(opts.users)) {
      credentials.set(user, await bcrypt.hash(password, CREDENTIAL_SALT));
    }
    return new SecurityPolicy(credentials, ttl, opts.clock ?? Date.now);
  }

  /** Session tokens handed out and not yet expired or presented after expiry. */
  get sessionCount(): number {
    return this.sessions.size;
  }

  login(user: string | undefined, credential: Buffer | undefined): { resultCode: number; token?: Buffer } {
    const expected = user === undefined ? undefined : this.credentials.get(user);
    if (user === undefined || expected === undefined) return { resultCode: ResultCode.INVALID_USER };
    const wanted = Buffer.from(expected, 'utf8');
    if (!credential || credential.length !== wanted.length || !timingSafeEqual(credential, wanted)) {
      return { resultCode: ResultCode.INVALID_PASSWORD };
    }
    const token = randomBytes(TOKEN_BYTES);
    this.sessions.set(token.toString('hex'), { user, expiresAtMs: this.clock() + this.sessionTtlSeconds * 1000 });
    return { resultCode: ResultCode.OK, token };
  }

  authenticate(user: string | undefined, token: Buffer | undefined): number {
    if (!token) return ResultCode.INVALID_CREDENTIAL;
    const key = token.toString('hex');
    const session = this.sessions.get(key);
    if (!session || session.user !== user) return ResultCode.INVALID_CREDENTIAL;
    if (this.clock() >= session.expiresAtMs) {
      this.sessions.delete(key);
      return ResultCode.EXPIRED_SESSION;
    }
    return ResultCode.OK;
  }
}

/** Answers one security frame; `policy` undefined means Community Edition (no security). */
export function answerSecurity(body: Buffer, policy: SecurityPolicy | undefined, auth: ConnectionAuth): SecurityAnswer {
  const command = body.length >= SECURITY_HEADER_SIZE ? body[2]! : -1;
  if (!policy) return { command, resultCode: ResultCode.SECURITY_NOT_SUPPORTED, reply: securityReply(ResultCode.SECURITY_NOT_SUPPORTED) };
  const fields = readSecurityFields(body);
  if (!fields) return { command, resultCode: ResultCode.PARAMETER, reply: securityReply(ResultCode.PARAMETER) };
  const userField = fields.get(SecurityField.USER);
  const user = userField?.toString('utf8');

  switch (command) {
    case SecurityCommand.LOGIN: {
      const { resultCode, token } = policy.login(user, fields.get(SecurityField.CREDENTIAL));
      if (resultCode !== ResultCode.OK || !token) return { command, resultCode, reply: securityReply(resultCode) };
      auth.authenticated = true;
      auth.user = user;
      const ttl = Buffer.alloc(4);
      ttl.writeUInt32BE(policy.sessionTtlSeconds);
      const reply = securityReply(ResultCode.OK, [
        [SecurityField.SESSION_TOKEN, token],
        [SecurityField.SESSION_TTL, ttl],
      ]);
      return { command, resultCode, reply };
    }
    case SecurityCommand.AUTHENTICATE: {
      const resultCode = policy.authenticate(user, fields.get(SecurityField.SESSION_TOKEN));
      if (resultCode === ResultCode.OK) {
        auth.authenticated = true;
        auth.user = user;
      }
      return { command, resultCode, reply: securityReply(resultCode) };
    }
    default: {
      // User and role administration is not modelled.
      const resultCode = auth.authenticated ? ResultCode.PARAMETER : ResultCode.NOT_AUTHENTICATED;
      return { command, resultCode, reply: securityReply(resultCode) };
    }
  }
}

/** The fields of a security request by id, or undefined when the body is malformed. */
function readSecurityFields(body: Buffer): Map<number, Buffer> | undefined {
  if (body.length < SECURITY_HEADER_SIZE) return undefined;
  const count = body[3]!;
  const fields = new Map<number, Buffer>();
  let at = SECURITY_HEADER_SIZE;
  for (let i = 0; i < count; i++) {
    if (at + FIELD_HEADER_SIZE > body.length) return undefined;
    const size = body.readUInt32BE(at);
    const end = at + 4 + size;
    if (size < 1 || end > body.length) return undefined;
    fields.set(body[at + 4]!, body.subarray(at + FIELD_HEADER_SIZE, end));
    at = end;
  }
  return fields;
}

/** A whole security reply frame: proto header, security header, fields. */
function securityReply(resultCode: number, fields: readonly (readonly [number, Buffer])[] = []): Buffer {
  let size = SECURITY_HEADER_SIZE;
  for (const [, value] of fields) size += FIELD_HEADER_SIZE + value.length;
  const reply = Buffer.alloc(PROTO_HEADER_SIZE + size);
  writeProtoHeader(reply, 0, ProtoType.SECURITY, size);
  reply[PROTO_HEADER_SIZE + 1] = resultCode;
  reply[PROTO_HEADER_SIZE + 3] = fields.length;
  let at = PROTO_HEADER_SIZE + SECURITY_HEADER_SIZE;
  for (const [id, value] of fields) {
    reply.writeUInt32BE(1 + value.length, at);
    reply[at + 4] = id;
    at += FIELD_HEADER_SIZE + value.copy(reply, at + FIELD_HEADER_SIZE);
  }
  return reply;
}
