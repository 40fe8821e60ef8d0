/**
 * Copy `src[start, end)` to `dst[at]`. Buffer#copy crosses into C++ on every call, which costs more
 * than the copy itself for the small records of the hot path; TypedArray#set through a view stays
 * in the engine. Measured in bench/micro.ts.
 */
export function copyBytes(src: Uint8Array, start: number, end: number, dst: Uint8Array, at: number): void {
  dst.set(new Uint8Array(src.buffer, src.byteOffset + start, end - start), at);
}
