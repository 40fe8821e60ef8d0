/**
 * Security messages (proto type 2).
 *
 *   body   := [u8 scheme = 0][u8 result][u8 command][u8 n_fields][12 zero bytes] field*
 *   field  := [u32 size = 1 + n][u8 id][n bytes]
 *   reply  := the same 16-byte header with the result, and fields only where a command returns some
 *             (LOGIN with security on returns a session token and its TTL).
 */

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

export interface SecurityMessage {
  command: number;
  fields: Map<number, Buffer>;
}

/** Parse a security body; null when it is malformed. */
export function parseSecurityMessage(buf: Buffer, start: number, end: number): SecurityMessage | null {
  if (end - start < SECURITY_HEADER_SIZE) return null;
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
  return { command, fields };
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
