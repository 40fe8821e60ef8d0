import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { type EtcdServer, dump, startEtcd } from '../support/etcd.js';
import { putMany, waitForCheckpoint } from './helpers.js';

const FERRY_TS = fileURLToPath(new URL('../../src/cli/ferry.ts', import.meta.url));

function ferryRun(config: Record<string, unknown>): { exit: Promise<number | null>; stop: () => void; output: () => string } {
  const dir = mkdtempSync(join(tmpdir(), 'ferry-mirror-run-'));
  const file = join(dir, 'ferry.yml');
  writeFileSync(file, stringify(config));
  const child = spawn(process.execPath, ['--import', 'tsx', FERRY_TS, 'run', '--config', file], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (c: Buffer) => (out += c.toString('utf8')));
  child.stderr.on('data', (c: Buffer) => (out += c.toString('utf8')));
  return { exit: new Promise((resolve) => child.once('exit', (code) => resolve(code))), stop: () => child.kill('SIGTERM'), output: () => out };
}

describe('ferry run with a mirrors: section', () => {
  let a: EtcdServer;
  let b: EtcdServer;
  let dest: EtcdServer;

  beforeAll(async () => {
    [a, b, dest] = await Promise.all([startEtcd({ name: 'a' }), startEtcd({ name: 'b' }), startEtcd({ name: 'dest' })]);
  });
  afterAll(async () => {
    await Promise.all([a?.close(), b?.close(), dest?.close()]);
  });

  it('runs several sources into one destination with no XDR section, and stops on SIGTERM with 0', async () => {
    await putMany(a.client, 'svc/', 100, (i) => `a${i}`);
    await putMany(b.client, 'svc/', 80, (i) => `b${i}`);
    const run = ferryRun({
      service: { manage: { port: 0 } },
      logging: { levels: { root: 'info' } },
      mirrors: {
        destination: { endpoints: [dest.endpoint] },
        'status-interval': 1,
        sources: [
          { name: 'from-a', endpoints: [a.endpoint], prefix: 'svc/', 'dest-prefix': 'a/svc/' },
          { name: 'from-b', endpoints: [b.endpoint], prefix: 'svc/', 'dest-prefix': 'b/svc/', 'max-txn-ops': 16 },
        ],
      },
    });
    await waitForCheckpoint(dest.client, 'from-a', (c) => c.phase === 'watch');
    await waitForCheckpoint(dest.client, 'from-b', (c) => c.phase === 'watch');
    const rev = Number((await b.client.put('svc/live').value('L').exec()).header.revision);
    await waitForCheckpoint(dest.client, 'from-b', (c) => c.revision >= rev);
    expect((await dump(dest.client, 'a/svc/')).size).toBe(100);
    expect((await dump(dest.client, 'b/svc/')).size).toBe(81);
    // The management port serves the mirrors' metrics and health.
    const manage = /"management":"([\d.]+:\d+)"/.exec(run.output())?.[1];
    expect(manage).toBeDefined();
    const metrics = await (await fetch(`http://${manage}/metrics`)).text();
    expect(metrics).toContain('ferry_mirror_phase{mirror="from-b",phase="watching"} 1');
    expect(metrics).toMatch(/ferry_mirror_keys_total\{mirror="from-a",op="put"\} 100\b/);
    const applied = Number(/ferry_mirror_applied_revision\{mirror="from-b"\} (\d+)/.exec(metrics)?.[1]);
    expect(applied).toBeGreaterThanOrEqual(rev);
    expect((await fetch(`http://${manage}/health/ready`)).status).toBe(200);
    expect((await fetch(`http://${manage}/manage/rest/v1/pause`, { method: 'POST' })).status).toBe(404);
    run.stop();
    expect(await run.exit).toBe(0);
    expect(run.output()).toMatch(/"mirror":"from-b".*"msg":"sync complete: destination equals source; watching"/);
  });

  it('refuses overlapping destination prefixes with exit 2 and the key paths', async () => {
    const run = ferryRun({
      mirrors: {
        destination: { endpoints: [dest.endpoint] },
        sources: [
          { endpoints: [a.endpoint], prefix: 'x/', 'dest-prefix': 'merged/' },
          { endpoints: [b.endpoint], prefix: 'y/', 'dest-prefix': 'merged/y/' },
        ],
      },
    });
    expect(await run.exit).toBe(2);
    expect(run.output()).toMatch(/ERR_MIRROR_OVERLAP: mirrors.sources.0 and mirrors.sources.1 write overlapping destination keys/);
  });

  it('rejects a bad mirror key with its path', async () => {
    const run = ferryRun({ mirrors: { destination: { endpoints: [dest.endpoint] }, sources: [{ endpoints: [a.endpoint], 'max-txn-op': 5 }] } });
    expect(await run.exit).toBe(2);
    expect(run.output()).toMatch(/mirrors\.sources\.0\.max-txn-op: unknown key/);
  });
});
