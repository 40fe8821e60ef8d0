// Security (proto type 2) replies for a server without security configured.
//
//   request body := [u8 scheme = 0][u8 result = 0][u8 command][u8 n_fields][12 zero bytes]
//                   ([u32 size = 1 + length][u8 field id][value]){n_fields}
//   reply body   := [u8 scheme = 0][u8 result][u8 command = 0][u8 n_fields = 0][12 zero bytes]
//
// A Community Edition server (no security at all) answers every command, LOGIN (20) and
// AUTHENTICATE (0) included, with result 51 ("security not supported"), and leaves the command
// byte 0: that is what CE 8.1.2 sends.

import { writeProtoHeader } from './framer.js';
import { PROTO_HEADER_SIZE, ProtoType, ResultCode } from './wire.js';

const SECURITY_HEADER_SIZE = 16;

export function answerSecurity(): Buffer {
  const reply = Buffer.alloc(PROTO_HEADER_SIZE + SECURITY_HEADER_SIZE);
  writeProtoHeader(reply, 0, ProtoType.SECURITY, SECURITY_HEADER_SIZE);
  reply[PROTO_HEADER_SIZE + 1] = ResultCode.SECURITY_NOT_SUPPORTED;
  return reply;
}
