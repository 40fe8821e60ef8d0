/**
 * `ferry mirror` refuses, with exit 2 and the flag named, what would otherwise make it retry forever
 * or silently do something else than asked.
 */

import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type TlsFixtures, createTlsFixtures } from '../support/tls-fixtures.js';
import { etcdPair } from './helpers.js';
import { MirrorProcess } from './mirror-process.js';

/** Run `ferry mirror` with `args` and the pair's endpoints; its exit code, or null if it still runs after 30 s. */
async function exitOf(args: string[]): Promise<{ code: number | null; stderr: string }> {
  const mirror = new MirrorProcess(args);
  const exit = await Promise.race([mirror.exit(), new Promise<null>((r) => setTimeout(() => r(null), 30_000))]);
  if (exit === null) await mirror.kill('SIGKILL');
  return { code: exit?.code ?? null, stderr: mirror.stderr };
}

describe('ferry mirror: flags refused at start', () => {
  const etcd = etcdPair();

  it('--command-timeout 0', async () => {
    const { code, stderr } = await exitOf(['--endpoints', etcd.source.endpoint, '--command-timeout', '0', etcd.dest.endpoint]);
    expect(code).toBe(2);
    expect(stderr).toMatch(/--command-timeout must be between 100ms and 10m, got '0'/);
  });

  describe('TLS files that cannot work', () => {
    let tls: TlsFixtures;
    let garbage: string;
    beforeAll(() => {
      tls = createTlsFixtures();
      garbage = join(mkdtempSync(join(tmpdir(), 'ferry-garbage-')), 'garbage.pem');
      writeFileSync(garbage, 'this is not a certificate\n');
    });
    afterAll(() => tls?.remove());

    it('--cacert without a certificate', async () => {
      const { code, stderr } = await exitOf(['--endpoints', etcd.source.endpoint, '--cacert', garbage, etcd.dest.endpoint]);
      expect(code).toBe(2);
      expect(stderr).toContain(`--cacert: ${garbage} holds no PEM certificate`);
    });

    it('--dest-cert and --dest-key that are not a pair', async () => {
      const { code, stderr } = await exitOf(['--endpoints', etcd.source.endpoint, '--dest-cacert', tls.ca.cert, '--dest-cert', tls.client.cert, '--dest-key', tls.server.key, etcd.dest.endpoint]);
      expect(code).toBe(2);
      expect(stderr).toContain(`--dest-cert and --dest-key: cannot use ${tls.client.cert} with ${tls.server.key}`);
    });
  });

  it('--dial-timeout, which the client cannot honour', async () => {
    const { code, stderr } = await exitOf(['--endpoints', etcd.source.endpoint, '--dial-timeout', '3s', etcd.dest.endpoint]);
    expect(code).toBe(2);
    expect(stderr).toMatch(/--dial-timeout is not supported: connecting is part of each request, whose deadline is --command-timeout/);
  });
});
