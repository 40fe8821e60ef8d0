/**
 * Big-endian reads for the per-record paths. Buffer's own readUInt16BE/readUInt32BE validate their
 * offset on every call, and that check was not inlined where main frames and scans each record
 * (1.4% of main's time at saturation, in node:internal/validators). The caller has checked that
 * the bytes lie inside the message.
 */
export function u16be(buf: Uint8Array, at: number): number {
  return (buf[at]! << 8) | buf[at + 1]!;
}

export function u32be(buf: Uint8Array, at: number): number {
  return ((buf[at]! << 24) | (buf[at + 1]! << 16) | (buf[at + 2]! << 8) | buf[at + 3]!) >>> 0;
}

/** An unsigned 48-bit value, as a proto header's body length is (its bytes 2..7). */
export function u48be(buf: Uint8Array, at: number): number {
  return u16be(buf, at) * 0x100000000 + u32be(buf, at + 2);
}
