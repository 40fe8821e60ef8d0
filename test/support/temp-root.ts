/**
 * One temporary folder per test run (vitest's globalSetup): it becomes TMPDIR before any test file
 * loads, so every `mkdtemp(tmpdir())` of a test, and every process a test starts, writes under it;
 * the run's end removes it, whatever the tests left behind.
 */

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export default function setup(): () => void {
  const root = mkdtempSync(join(tmpdir(), 'ferry-test-'));
  process.env['TMPDIR'] = root;
  return () => rmSync(root, { recursive: true, force: true });
}
