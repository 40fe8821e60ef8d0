/**
 * One malloc arena for the daemon (src/malloc-arenas.ts): the native addon caps glibc's arenas,
 * an operator's MALLOC_ARENA_MAX or GLIBC_TUNABLES stands, and without the addon Ferry says why it
 * runs with glibc's default. `ferry run` logs which, once, at start.
 */

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { MALLOC_ARENAS, limitMallocArenas } from '../../src/malloc-arenas.js';

describe('limitMallocArenas', () => {
  it('caps the arenas through the native addon', () => {
    expect(limitMallocArenas({})).toEqual({ arenas: MALLOC_ARENAS, reason: 'native addon' });
  });

  it("leaves an operator's setting alone", () => {
    expect(limitMallocArenas({ MALLOC_ARENA_MAX: '4' })).toEqual({ arenas: null, reason: 'MALLOC_ARENA_MAX is set' });
    expect(limitMallocArenas({ GLIBC_TUNABLES: 'glibc.malloc.tcache_count=0:glibc.malloc.arena_max=2' })).toEqual({ arenas: null, reason: 'GLIBC_TUNABLES sets glibc.malloc.arena_max' });
    // Other tunables do not count as a choice of arenas.
    expect(limitMallocArenas({ GLIBC_TUNABLES: 'glibc.malloc.tcache_count=0', MALLOC_ARENA_MAX: '' })).toEqual({ arenas: MALLOC_ARENAS, reason: 'native addon' });
  });

  it('says why not when the addon cannot load or lacks the call', () => {
    const dir = mkdtempSync(join(tmpdir(), 'ferry-addon-'));
    try {
      const gone = limitMallocArenas({}, join(dir, 'ferry_native.node'));
      expect(gone.arenas).toBeNull();
      expect(gone.reason).toMatch(/^native addon not loaded: /);
      const older = join(dir, 'older.cjs');
      writeFileSync(older, 'module.exports = { supported: true, notify() {} };\n');
      expect(limitMallocArenas({}, older)).toEqual({ arenas: null, reason: 'native addon has no limitMallocArenas' });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
