/**
 * One malloc arena for the whole daemon, set before the worker threads start.
 *
 * glibc gives a thread that allocates while the existing arenas are busy an arena of its own (up
 * to eight per core), and what one arena frees serves only the threads that allocate from it. A
 * worker thread's buffers then grow a heap of their own instead of reusing what the main thread
 * freed: in the overload scenario (bench/overload.ts) the release of a 30 s stall raised Ferry's
 * RSS 15–35 MiB above the stalled plateau, in the worker's arena, while the main arena shrank.
 * With one arena the peak stays at the plateau (bench/RESULTS.md, "One malloc arena"). The lock
 * the threads then share is taken per buffer (a socket read, a batch's write), not per record;
 * glibc's per-thread cache serves small allocations without it.
 *
 * The native addon calls mallopt(M_ARENA_MAX); only arenas made afterwards are affected, so `ferry
 * run` calls this before the pool starts. An operator's MALLOC_ARENA_MAX or GLIBC_TUNABLES
 * (applied by glibc at start-up) stands.
 */

import { ADDON_PATH, loadAddon } from './native-addon.js';

/** The arenas Ferry asks glibc for. */
export const MALLOC_ARENAS = 1;

/** What limitMallocArenas() did: the cap it set, or null and why not. */
export interface ArenaCap {
  readonly arenas: number | null;
  readonly reason: string;
}

export function limitMallocArenas(env: NodeJS.ProcessEnv = process.env, path = ADDON_PATH): ArenaCap {
  if (env['MALLOC_ARENA_MAX'] !== undefined && env['MALLOC_ARENA_MAX'] !== '') return { arenas: null, reason: 'MALLOC_ARENA_MAX is set' };
  if (env['GLIBC_TUNABLES']?.includes('glibc.malloc.arena_max') === true) return { arenas: null, reason: 'GLIBC_TUNABLES sets glibc.malloc.arena_max' };
  const loaded = loadAddon(path);
  if ('reason' in loaded) return { arenas: null, reason: loaded.reason };
  const addon = loaded.exports;
  const fn = typeof addon === 'object' && addon !== null ? (addon as Record<string, unknown>)['limitMallocArenas'] : undefined;
  if (typeof fn !== 'function') return { arenas: null, reason: 'native addon has no limitMallocArenas' };
  return fn(MALLOC_ARENAS) === true ? { arenas: MALLOC_ARENAS, reason: 'native addon' } : { arenas: null, reason: 'the C library is not glibc' };
}
