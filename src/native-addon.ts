/**
 * Loading Ferry's native addon (native/, built by `npm ci`), for the modules that use it: the
 * systemd integration (management/systemd.ts) and the copies out of shared memory
 * (threads/span-copier.ts). Each checks the exports it needs and falls back without them.
 */

import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

/** The addon's file; the same from src/ and dist/. */
export const ADDON_PATH = fileURLToPath(new URL('../native/build/Release/ferry_native.node', import.meta.url));

/** The addon's exports, or why it did not load (a missing build, or one for another Node). */
export function loadAddon(path = ADDON_PATH): { exports: unknown } | { reason: string } {
  try {
    return { exports: createRequire(import.meta.url)(path) };
  } catch (error) {
    return { reason: `native addon not loaded: ${error instanceof Error ? error.message : String(error)}` };
  }
}
