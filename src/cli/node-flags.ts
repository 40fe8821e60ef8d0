/**
 * V8 flags the daemon wants from the `node` that runs it. They must be given when node starts (the
 * heap is laid out then), so every launcher passes them: the `ferry` command's first line, `npm
 * start`, the systemd wrapper in the README, the benchmarks and the tests (a test keeps them equal).
 *
 * --max-semi-space-size=8: V8 starts an old-generation collection whenever the room left below the
 * old-generation limit is smaller than the young generation. Left to grow to its default 16 MiB
 * semi-spaces, the main thread's young generation is larger than that room at ~20 MiB of live heap,
 * so it marked and compacted every ~200 ms at saturation, and V8's helper threads spent ~1.2 µs of
 * CPU per record doing it. Capped at 8 MiB, that stops (measured in bench/RESULTS.md).
 */
export const NODE_FLAGS: readonly string[] = ['--max-semi-space-size=8'];

/** The flags of NODE_FLAGS this process was started without (on the command line or NODE_OPTIONS). */
export function missingNodeFlags(execArgv: readonly string[] = process.execArgv, nodeOptions = process.env['NODE_OPTIONS'] ?? ''): string[] {
  const given = new Set([...execArgv, ...nodeOptions.split(/\s+/)].map((f) => f.replaceAll('_', '-')));
  return NODE_FLAGS.filter((f) => !given.has(f));
}
