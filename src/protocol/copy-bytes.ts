/**
 * Copy `src[start, end)` to `dst[at]`. Buffer#copy crosses into C++ on every call, which costs more
 * than the copy itself for the small records of the hot path; TypedArray#set through a view stays
 * in the engine (measured in bench/micro.ts). A short run (a header, a LUT) is copied by a loop:
 * the view would be one more young object per copy, and the collector's threads pay for those.
 */
const SHORT = 64;

export function copyBytes(src: Uint8Array, start: number, end: number, dst: Uint8Array, at: number): void {
  const n = end - start;
  if (n <= SHORT) {
    for (let i = 0; i < n; i++) dst[at + i] = src[start + i]!;
    return;
  }
  dst.set(new Uint8Array(src.buffer, src.byteOffset + start, n), at);
}

/**
 * Index of the name in `names` equal to `buf[off, off + len)`, or -1. No allocation: a record's
 * namespace is matched in place, per record.
 */
export function indexOfName(names: readonly Uint8Array[], buf: Uint8Array, off: number, len: number): number {
  outer: for (let i = 0; i < names.length; i++) {
    const n = names[i]!;
    if (n.length !== len) continue;
    for (let j = 0; j < len; j++) if (n[j] !== buf[off + j]) continue outer;
    return i;
  }
  return -1;
}
