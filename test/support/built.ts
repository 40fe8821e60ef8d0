import { spawnSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { expect } from 'vitest';

const root = fileURLToPath(new URL('../../', import.meta.url));

/**
 * The URL of dist/`built` (a worker thread cannot load TypeScript), rebuilt first when it is missing
 * or older than src/`source`.
 */
export function ensureBuilt(source: string, built: string): string {
  const src = `${root}src/${source}`;
  const out = `${root}dist/${built}`;
  const stale = !existsSync(out) || statSync(out).mtimeMs < statSync(src).mtimeMs;
  if (stale) {
    // tsc emits even when files elsewhere in src do not typecheck; only this file matters here.
    spawnSync(process.execPath, [`${root}node_modules/typescript/bin/tsc`, '-p', `${root}tsconfig.build.json`], { cwd: root, stdio: 'ignore' });
  }
  expect(existsSync(out), `${out} is missing: run npm run build`).toBe(true);
  expect(statSync(out).mtimeMs, `${out} is older than its source: run npm run build`).toBeGreaterThanOrEqual(statSync(src).mtimeMs);
  return pathToFileURL(out).href;
}
