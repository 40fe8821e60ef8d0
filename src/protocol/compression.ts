/**
 * Type-4 (compressed) messages.
 *
 *   body := [u64 original length][zlib stream (RFC 1950)]
 *   the stream inflates to a whole type-3 message, its own 8-byte proto header included, and the
 *   original length counts those 8 bytes too.
 */

import { constants, deflateSync, inflateSync } from 'node:zlib';

const MIN_CHUNK = constants.Z_MIN_CHUNK;
import { MessageType, PROTO_HEADER_SIZE, PROTO_VERSION } from './constants.js';

export const enum InflateError {
  None = 0,
  ShortBody = 1,
  TooLarge = 2,
  BadStream = 3,
  LengthMismatch = 4,
  NotARecord = 5,
}

export function inflateErrorText(err: InflateError): string {
  switch (err) {
    case InflateError.ShortBody:
      return 'compressed message shorter than its 8-byte length';
    case InflateError.TooLarge:
      return 'compressed message inflates past the configured maximum';
    case InflateError.BadStream:
      return 'compressed message is not a valid zlib stream';
    case InflateError.LengthMismatch:
      return 'compressed message inflates to a length other than it declares';
    case InflateError.NotARecord:
      return 'compressed message does not hold a type-3 record message';
    default:
      return 'no error';
  }
}

export type InflateResult = { error: InflateError.None; message: Buffer } | { error: Exclude<InflateError, InflateError.None> };

/**
 * Inflate a type-4 body into the type-3 message it carries (proto header included). The declared
 * length is checked against `maxMessage` before inflating, and inflation itself is capped, so a
 * small message cannot expand past the cap (a zlib bomb).
 */
export function inflateRecordMessage(buf: Buffer, start: number, end: number, maxMessage: number): InflateResult {
  if (end - start < 8) return { error: InflateError.ShortBody };
  const declared = buf.readBigUInt64BE(start);
  if (declared > BigInt(maxMessage)) return { error: InflateError.TooLarge };
  let message: Buffer;
  try {
    // The default finish flush requires the whole stream, adler32 trailer included: a truncated or
    // corrupted stream is an error, not a short message.
    // Output chunks sized to the message, not zlib's default 16 KiB: a compressed record is a few
    // hundred bytes, and the default buffer made each inflate ~30% dearer (and fed the collector).
    const size = Number(declared) + 1;
    message = inflateSync(buf.subarray(start + 8, end), { maxOutputLength: size, chunkSize: Math.max(MIN_CHUNK, size) });
  } catch (err) {
    const code = (err as { code?: string }).code;
    return { error: code === 'ERR_BUFFER_TOO_LARGE' ? InflateError.TooLarge : InflateError.BadStream };
  }
  if (message.length !== Number(declared)) return { error: InflateError.LengthMismatch };
  if (message.length < PROTO_HEADER_SIZE || message[0] !== PROTO_VERSION || message[1] !== MessageType.Record) {
    return { error: InflateError.NotARecord };
  }
  if (message.readUIntBE(2, 6) !== message.length - PROTO_HEADER_SIZE) return { error: InflateError.LengthMismatch };
  return { error: InflateError.None, message };
}

/** Wrap a whole type-3 message (header included) as a type-4 message. */
export function compressRecordMessage(message: Buffer, level = 1): Buffer {
  const stream = deflateSync(message, { level });
  const out = Buffer.allocUnsafe(PROTO_HEADER_SIZE + 8 + stream.length);
  out[0] = PROTO_VERSION;
  out[1] = MessageType.Compressed;
  out.writeUIntBE(8 + stream.length, 2, 6);
  out.writeBigUInt64BE(BigInt(message.length), PROTO_HEADER_SIZE);
  stream.copy(out, PROTO_HEADER_SIZE + 8);
  return out;
}
