/**
 * Security messages (proto type 2).
 *
 *   body   := [u8 scheme = 0][u8 result][u8 command][u8 n_fields][12 zero bytes] field*
 *   field  := [u32 size = 1 + n][u8 id][n bytes]
 *   reply  := the same 16-byte header with the result, and fields only where a command returns some
 *             (LOGIN with security on returns a session token and its TTL).
 *
 *   LOGIN (20)         request: user (0), credential (3), clear password (4, external auth only)
 *                      reply:   result; when 0, session token (5) and session TTL (6, u32 seconds)
 *   AUTHENTICATE (0)   request: user (0), session token (5)
 *                      reply:   exactly the 24 bytes of proto header + security header, no fields
 */

import bcrypt from 'bcryptjs';
import { MessageType, PROTO_HEADER_SIZE, PROTO_VERSION } from './constants.js';

export const SECURITY_HEADER_SIZE = 16;

export const SecurityCommand = {
  Authenticate: 0,
  Login: 20,
} as const;

export const SecurityField = {
  User: 0,
  Password: 1,
  OldPassword: 2,
  Credential: 3,
  ClearPassword: 4,
  SessionToken: 5,
  SessionTtl: 6,
} as const;

/**
 * The credential field is bcrypt(password) with this fixed salt (cost 10), so a server can compare
 * it with a stored hash without ever seeing the password. It is still password-equivalent on the
 * wire: anyone who reads it can log in with it.
 */
export const CREDENTIAL_SALT = '$2a$10$7EqJtq98hPqEX7fNZaFWoO';

/** The credential a client sends for `password`: bcrypt with the fixed salt, as its text. */
export function credentialOf(password: string): Buffer {
  return Buffer.from(bcrypt.hashSync(password, CREDENTIAL_SALT), 'utf8');
}

export interface SecurityMessage {
  command: number;
  /** the header's result byte: 0 in requests, the outcome in replies */
  result: number;
  fields: Map<number, Buffer>;
}

/** Parse a security body; null when it is malformed. */
export function parseSecurityMessage(buf: Buffer, start: number, end: number): SecurityMessage | null {
  if (end - start < SECURITY_HEADER_SIZE) return null;
  const result = buf[start + 1]!;
  const command = buf[start + 2]!;
  const nFields = buf[start + 3]!;
  const fields = new Map<number, Buffer>();
  let pos = start + SECURITY_HEADER_SIZE;
  for (let i = 0; i < nFields; i++) {
    if (end - pos < 5) return null;
    const size = buf.readUInt32BE(pos);
    if (size < 1 || size > end - pos - 4) return null;
    fields.set(buf[pos + 4]!, Buffer.from(buf.subarray(pos + 5, pos + 4 + size)));
    pos += 4 + size;
  }
  return { command, result, fields };
}

/** Encode a whole security message (proto header included). */
export function encodeSecurityMessage(command: number, result: number, fields: ReadonlyArray<readonly [number, Uint8Array]>): Buffer {
  let bodyLen = SECURITY_HEADER_SIZE;
  for (const [, v] of fields) bodyLen += 5 + v.length;
  const out = Buffer.alloc(PROTO_HEADER_SIZE + bodyLen);
  out[0] = PROTO_VERSION;
  out[1] = MessageType.Security;
  out.writeUIntBE(bodyLen, 2, 6);
  out[PROTO_HEADER_SIZE + 1] = result;
  out[PROTO_HEADER_SIZE + 2] = command;
  out[PROTO_HEADER_SIZE + 3] = fields.length;
  let pos = PROTO_HEADER_SIZE + SECURITY_HEADER_SIZE;
  for (const [id, v] of fields) {
    out.writeUInt32BE(1 + v.length, pos);
    out[pos + 4] = id;
    out.set(v, pos + 5);
    pos += 5 + v.length;
  }
  return out;
}
