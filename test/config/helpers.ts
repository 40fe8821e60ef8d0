/** What the configuration tests share: the built `ferry check-config`, a scratch folder, and the problems of a document. */

import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, buildConfig } from '../../src/config/index.js';
import { FERRY_BIN } from '../support/ferry-process.js';

/** `ferry check-config ARGS` as an operator runs it. */
export function checkConfig(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [FERRY_BIN, 'check-config', ...args], { encoding: 'utf8' });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** A scratch folder, and a writer of files into it that returns each file's path. */
export function scratch(prefix: string): { dir: string; write: (name: string, text: string) => string } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return {
    dir,
    write: (name, text) => {
      const file = join(dir, name);
      writeFileSync(file, text);
      return file;
    },
  };
}

/** The problems buildConfig finds in `doc` (none: []). */
export function problemsOf(doc: unknown): string[] {
  try {
    buildConfig(doc);
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  return [];
}
