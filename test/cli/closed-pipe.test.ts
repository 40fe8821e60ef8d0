/**
 * A command whose reader goes away (`ferry check-config FILE | head -1`) ends quietly: exit 0 and
 * nothing on stderr, as a shell pipeline expects, not an EPIPE stack trace. The reading end of its
 * stdout is closed before it writes a byte, so every write it makes fails with EPIPE.
 */

import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';
import { FERRY_BIN } from '../support/ferry-process.js';

const XDR_PROXY_FILE = fileURLToPath(new URL('../fixtures/aerospike-xdr-proxy.yml', import.meta.url));

async function withClosedStdout(args: string[]): Promise<{ code: number | null; stderr: string }> {
  const child = spawn(process.execPath, [FERRY_BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout.destroy();
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const code = await new Promise<number | null>((resolve) => child.once('close', (c) => resolve(c)));
  return { code, stderr };
}

it.each([
  ['check-config', '--syntax-only', XDR_PROXY_FILE],
  ['xdr-load', '--help'],
])('ferry %s with its stdout closed exits 0 with nothing on stderr', async (...args) => {
  expect(await withClosedStdout(args)).toEqual({ code: 0, stderr: '' });
});
