/**
 * Importing a transform module: by every worker (transform-stage.ts) and, to check it, by the main
 * thread at start-up and on each reload, where a module that does not load is a configuration error
 * naming the file (exit 2 at start-up; a refused reload later).
 */

import { fileURLToPath } from 'node:url';
import { ConfigError } from '../config/index.js';
import type { Transform } from './api.js';
import { TransformError } from './errors.js';

/**
 * Import the module at `url` and return its default export. Version n > 0 adds `?v=n`: a module
 * URL is evaluated once per thread, so each reload imports a fresh copy (modules it imports itself
 * are not reloaded).
 */
export async function importTransform(url: string, version: number): Promise<Transform> {
  const mod = (await import(version === 0 ? url : `${url}?v=${version}`)) as { default?: unknown };
  if (typeof mod.default !== 'function') throw new TransformError('its default export is not a function (export default (record) => …)');
  return mod.default as Transform;
}

/** Import the module once on this thread; a failure is a ConfigError naming `aerospike.transform` and the file. */
export async function checkTransform(url: string, version: number): Promise<void> {
  try {
    await importTransform(url, version);
  } catch (err) {
    throw new ConfigError([`aerospike.transform: cannot load ${fileURLToPath(url)}: ${(err as Error).message ?? String(err)}`]);
  }
}
