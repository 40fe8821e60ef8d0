// Security (proto type 2) replies for a server without security configured.
//
//   request body := [u8 scheme = 0][u8 result = 0][u8 command][u8 n_fields][12 zero bytes]
//                   ([u32 size = 1 + length][u8 field id][value]){n_fields}
//   reply body   := [u8 scheme = 0][u8 result][u8 command][u8 n_fields = 0][12 zero bytes]
//
// Without security every command, LOGIN (20) and AUTHENTICATE (0) included, is answered with
// result 52 ("security not configured"); an XDR source takes that as "no token needed".

import { writeProtoHeader } from './framer.js';
import { PROTO_HEADER_SIZE, ProtoType, ResultCode } from './wire.js';

const SECURITY_HEADER_SIZE = 16;

export function answerSecurity(body: Buffer): Buffer {
  const command = body.length > 2 ? body[2]! : 0;
  const reply = Buffer.alloc(PROTO_HEADER_SIZE + SECURITY_HEADER_SIZE);
  writeProtoHeader(reply, 0, ProtoType.SECURITY, SECURITY_HEADER_SIZE);
  reply[PROTO_HEADER_SIZE + 1] = ResultCode.SECURITY_NOT_CONFIGURED;
  reply[PROTO_HEADER_SIZE + 2] = command;
  return reply;
}
