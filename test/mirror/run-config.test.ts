import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { type EtcdServer, dump, startEtcd } from '../support/etcd.js';
import { FERRY_BIN } from '../support/ferry-process.js';
import { putMany, readCheckpoint, waitForCheckpoint } from './helpers.js';

const FERRY_TS = fileURLToPath(new URL('../../src/cli/ferry.ts', import.meta.url));

interface FerryRun {
  exit: Promise<number | null>;
  stop: () => void;
  output: () => string;
  /** rewrite the file and send SIGHUP, as `systemctl reload` does */
  reload: (config: Record<string, unknown>) => void;
  /** resolve once the output matches `re` (rejects if the process exits first) */
  waitFor: (re: RegExp) => Promise<void>;
  alive: () => boolean;
}

/** `ferry run` from source; with the XDR service it must be the build, whose worker threads load from dist/. */
function ferryRun(config: Record<string, unknown>, built = false): FerryRun {
  const dir = mkdtempSync(join(tmpdir(), 'ferry-mirror-run-'));
  const file = join(dir, 'ferry.yml');
  writeFileSync(file, stringify(config));
  const child = spawn(process.execPath, built ? [FERRY_BIN, 'run', '--config', file] : ['--import', 'tsx', FERRY_TS, 'run', '--config', file], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  const waiters: Array<() => void> = [];
  const onData = (c: Buffer): void => {
    out += c.toString('utf8');
    for (const w of waiters) w();
  };
  child.stdout.on('data', onData);
  child.stderr.on('data', onData);
  const exit = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return {
    exit,
    stop: () => child.kill('SIGTERM'),
    output: () => out,
    reload: (next) => {
      writeFileSync(file, stringify(next));
      child.kill('SIGHUP');
    },
    waitFor: (re) =>
      new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no ${re} in the output within 60 s:\n${out}`)), 60_000);
        const check = (): void => {
          if (!re.test(out)) return;
          clearTimeout(timer);
          resolve();
        };
        waiters.push(check);
        check();
        void exit.then((code) => {
          clearTimeout(timer);
          reject(new Error(`ferry run exited with ${code} before ${re}:\n${out}`));
        });
      }),
    alive: () => child.exitCode === null && child.signalCode === null,
  };
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
    expect(run.output()).toMatch(/"mirror":"from-b".*"msg":"sync complete: destination holds the source; watching"/);
  });

  it('on SIGHUP, applies added and removed mirrors, leaves the others running, and lives on', async () => {
    await putMany(a.client, 'hup/', 20, (i) => `a${i}`);
    await putMany(b.client, 'hup/', 30, (i) => `b${i}`);
    const config = (sources: Array<Record<string, unknown>>): Record<string, unknown> => ({
      service: { manage: { enabled: false } },
      logging: { levels: { root: 'info' } },
      mirrors: { destination: { endpoints: [dest.endpoint] }, sources },
    });
    const keep = { name: 'hup-keep', endpoints: [a.endpoint], prefix: 'hup/', 'dest-prefix': 'keep/' };
    const gone = { name: 'hup-gone', endpoints: [a.endpoint], prefix: 'hup/', 'dest-prefix': 'gone/' };
    const added = { name: 'hup-added', endpoints: [b.endpoint], prefix: 'hup/', 'dest-prefix': 'added/' };
    const run = ferryRun(config([keep, gone]));
    await waitForCheckpoint(dest.client, 'hup-keep', (c) => c.phase === 'watch');
    await waitForCheckpoint(dest.client, 'hup-gone', (c) => c.phase === 'watch');
    const keptSince = (await readCheckpoint(dest.client, 'hup-keep'))!;

    run.reload(config([keep, added]));
    await run.waitFor(/"mirror":"hup-gone".*"msg":"mirror stopped"/);
    await run.waitFor(/"msg":"configuration reloaded"/);
    expect(run.output()).toMatch(/"removed":\["hup-gone"\]/);
    expect(run.output()).toMatch(/"added":\["hup-added"\]/);
    await waitForCheckpoint(dest.client, 'hup-added', (c) => c.phase === 'watch');
    expect((await dump(dest.client, 'added/')).size).toBe(30);

    // The removed mirror no longer follows; the one left alone does, from where it was.
    await a.client.put('hup/after').value('x');
    const rb = Number((await b.client.put('hup/after').value('y').exec()).header.revision);
    await waitForCheckpoint(dest.client, 'hup-added', (c) => c.revision >= rb);
    const ra = Number((await a.client.put('hup/after2').value('z').exec()).header.revision);
    const kept = await waitForCheckpoint(dest.client, 'hup-keep', (c) => c.revision >= ra);
    expect(kept.syncs).toBe(keptSince.syncs);
    expect(await dest.client.get('keep/after2').string()).toBe('z');
    expect(await dest.client.get('gone/after').string()).toBeNull();
    expect(run.output().match(/"mirror":"hup-keep".*"msg":"mirror identified"/g)).toHaveLength(1);

    // An invalid file is refused whole; the process still lives and still mirrors.
    run.reload({ mirrors: { destination: { endpoints: [dest.endpoint] }, sources: [{ endpoints: [a.endpoint], 'max-txn-op': 3 }] } });
    await run.waitFor(/"msg":"reload refused/);
    expect(run.alive()).toBe(true);
    const rc = Number((await b.client.put('hup/after3').value('w').exec()).header.revision);
    await waitForCheckpoint(dest.client, 'hup-added', (c) => c.revision >= rc);
    run.stop();
    expect(await run.exit).toBe(0);
  });

  it('beside the XDR service, SIGHUP adds a mirror and restarts a changed one, which resumes', async () => {
    await putMany(a.client, 'xdr/', 10, (i) => `a${i}`);
    await putMany(b.client, 'xdr/', 15, (i) => `b${i}`);
    const dir = mkdtempSync(join(tmpdir(), 'ferry-mirror-xdr-'));
    const config = (sources: Array<Record<string, unknown>>): Record<string, unknown> => ({
      service: { port: 0, address: '127.0.0.1', manage: { address: '127.0.0.1', port: 0 } },
      file: { path: join(dir, 'changes.jsonl') },
      logging: { levels: { root: 'info' } },
      mirrors: { destination: { endpoints: [dest.endpoint] }, sources },
    });
    const first = { name: 'xdr-a', endpoints: [a.endpoint], prefix: 'xdr/', 'dest-prefix': 'xdr-a/' };
    const run = ferryRun(config([first]), true);
    const before = await waitForCheckpoint(dest.client, 'xdr-a', (c) => c.phase === 'watch');

    run.reload(config([{ ...first, 'max-txn-ops': 16 }, { name: 'xdr-b', endpoints: [b.endpoint], prefix: 'xdr/', 'dest-prefix': 'xdr-b/' }]));
    await run.waitFor(/"mirrors":\{"added":\["xdr-b"\],"removed":\[\],"changed":\["xdr-a"\]\},"msg":"configuration reloaded"/);
    await waitForCheckpoint(dest.client, 'xdr-b', (c) => c.phase === 'watch');
    expect((await dump(dest.client, 'xdr-b/')).size).toBe(15);
    const rev = Number((await a.client.put('xdr/after').value('x').exec()).header.revision);
    const after = await waitForCheckpoint(dest.client, 'xdr-a', (c) => c.revision >= rev);
    // Restarted, not resynced: it resumed from its checkpoint.
    expect(after.syncs).toBe(before.syncs);
    expect(await dest.client.get('xdr-a/after').string()).toBe('x');
    expect(run.alive()).toBe(true);
    run.stop();
    expect(await run.exit).toBe(0);
  });

  it('refuses an exclusive mirror overlapping another with exit 2 and the key paths', async () => {
    const run = ferryRun({
      mirrors: {
        destination: { endpoints: [dest.endpoint] },
        sources: [
          { endpoints: [a.endpoint], prefix: 'x/', 'dest-prefix': 'merged/' },
          { endpoints: [b.endpoint], prefix: 'y/', 'dest-prefix': 'merged/y/', exclusive: true },
        ],
      },
    });
    expect(await run.exit).toBe(2);
    expect(run.output()).toMatch(/ERR_MIRROR_OVERLAP: mirrors.sources.0 and mirrors.sources.1 write overlapping destination keys .*1 is exclusive/);
  });

  it('rejects a bad mirror key with its path', async () => {
    const run = ferryRun({ mirrors: { destination: { endpoints: [dest.endpoint] }, sources: [{ endpoints: [a.endpoint], 'max-txn-op': 5 }] } });
    expect(await run.exit).toBe(2);
    expect(run.output()).toMatch(/mirrors\.sources\.0\.max-txn-op: unknown key/);
  });
});
