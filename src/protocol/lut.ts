/**
 * Last-update times as XDR ships them: `(src_id << 40) | ms`, where `ms` is a 40-bit count of
 * milliseconds since 2010-01-01T00:00:00Z.
 */

import { CITRUSLEAF_EPOCH_MS } from './constants.js';

const MS_MASK = (1n << 40n) - 1n;

export function lutToUnixMs(lut: bigint): number {
  return Number(lut & MS_MASK) + CITRUSLEAF_EPOCH_MS;
}

export function lutSourceId(lut: bigint): number {
  return Number(lut >> 40n);
}

export function lutFromUnixMs(unixMs: number, sourceId = 0): bigint {
  return (BigInt(sourceId) << 40n) | (BigInt(unixMs - CITRUSLEAF_EPOCH_MS) & MS_MASK);
}
