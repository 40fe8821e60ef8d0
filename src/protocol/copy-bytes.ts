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
