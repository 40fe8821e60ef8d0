// `ferry verify` as a process, between two clusters: one double serving namespaces test and bar
// (or, with FERRY_TEST_AEROSPIKE set, the real server, namespace test against bar in sets of this
// file's own, truncated afterwards). Records are planted through the official client; the
// expected digests are computed here (RIPEMD-160 of set name, key type and key bytes).

import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ClientBins, OfficialClient } from '../double/official-client.js';
import { DoubleCluster } from '../double/cluster.js';
import { AerospikeDouble } from '../double/server.js';
import { ensureBuilt } from '../support/built.js';
import { realServer } from '../support/destination.js';
import { freePort } from '../support/free-port.js';
import { type TlsFixtures, createTlsFixtures } from '../support/tls-fixtures.js';

const FERRY = fileURLToPath(new URL('../../dist/cli/ferry.js', import.meta.url));
const PARTICLE_STRING = 3;

function digestOf(set: string, key: string): string {
  return createHash('ripemd160').update(set, 'utf8').update(Buffer.from([PARTICLE_STRING])).update(key, 'utf8').digest('hex');
}

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function ferryVerify(args: string[], onStderr?: (text: string) => void): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [FERRY, 'verify', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
      onStderr?.(stderr);
    });
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stdout, stderr }));
  });
}

const real = realServer();
const tag = `${process.pid.toString(36)}${Date.now().toString(36).slice(-4)}`;
const SET = `vf${tag}`;
const OTHER_SET = `vo${tag}`;

describe(`ferry verify (${real === undefined ? 'double' : 'real server'})`, () => {
  let double: AerospikeDouble | undefined;
  let client: OfficialClient;
  let host: string;
  let port: number;
  let dir: string;

  const put = async (ns: string, set: string, key: string, bins: ClientBins): Promise<void> => {
    await client.put([ns, set, key], bins);
  };
  const base = (): string[] => ['--source', `${host}:${port}`, '--destination', `${host}:${port}`, '-n', 'test', '--destination-namespace', 'bar', '--rate', '0', '--quiet'];
  const outLines = (file: string): string[] => readFileSync(file, 'utf8').split('\n').filter((l) => l !== '').sort();

  beforeAll(async () => {
    ensureBuilt('cli/verify-command.ts', 'cli/verify-command.js');
    if (real === undefined) {
      double = await AerospikeDouble.start({ namespaces: ['test', 'bar'] });
      host = double.host;
      port = double.port;
    } else {
      ({ host, port } = real);
    }
    client = await OfficialClient.start();
    await client.connect({ hosts: [{ host, port }] });
    dir = mkdtempSync(join(tmpdir(), 'ferry-verify-'));
    // 60 records at the source; the destination holds them all but the planted differences.
    for (let i = 0; i < 60; i++) await put('test', SET, `k${i}`, { i, s: `v${i}` });
    for (let i = 0; i < 60; i++) {
      if (i === 1 || i === 2) continue; // missing
      if (i === 3) await put('bar', SET, `k${i}`, { i, s: 'changed' }); // a value differs
      else if (i === 4) await put('bar', SET, `k${i}`, { i }); // a bin is missing
      else if (i === 5) await put('bar', SET, `k${i}`, { i, s: `v${i}`, more: 1 }); // a bin too many
      else await put('bar', SET, `k${i}`, { s: `v${i}`, i }); // same bins, written in another order
    }
    await put('bar', SET, 'x1', { i: -1 }); // only at the destination
    // Another set, equal on both sides, with one difference that a --set run must not see.
    await put('test', OTHER_SET, 'o1', { o: 1 });
    await put('bar', OTHER_SET, 'o1', { o: 1 });
    await put('test', OTHER_SET, 'o2', { o: 2 });
  }, 60_000);

  afterAll(async () => {
    if (real !== undefined && client !== undefined) {
      for (const ns of ['test', 'bar']) for (const set of [SET, OTHER_SET]) await client.info(`truncate:namespace=${ns};set=${set}`);
    }
    await client?.close();
    await client?.stop();
    await double?.close();
  });

  const planted = (): string[] =>
    [
      `${digestOf(SET, 'k1')} missing`,
      `${digestOf(SET, 'k2')} missing`,
      `${digestOf(SET, 'k3')} different`,
      `${digestOf(SET, 'k4')} different`,
      `${digestOf(SET, 'k5')} different`,
      `${digestOf(SET, 'x1')} extra`,
    ].sort();

  it('finds exactly the missing, extra and different records planted, and exits 1', async () => {
    const out = join(dir, 'diff.txt');
    const run = await ferryVerify([...base(), '-s', SET, '--out', out, '--json']);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(1);
    expect(outLines(out)).toEqual(planted());
    expect(JSON.parse(run.stdout)).toMatchObject({ equal: false, partitions: 4096, sourceRecords: 60, destinationRecords: 59, missing: 2, extra: 1, different: 3, ignoredRecent: 0 });
    const twoSets = join(dir, 'two-sets.txt');
    const both = await ferryVerify([...base(), '-s', SET, '-s', OTHER_SET, '--out', twoSets]);
    expect(both.code).toBe(1);
    expect(outLines(twoSets)).toEqual([...planted(), `${digestOf(OTHER_SET, 'o2')} missing`].sort());
  });

  it('compares every set when none is named, and re-checks only the listed digests', async () => {
    const out = join(dir, 'all.txt');
    const run = await ferryVerify([...base(), '--out', out, '--json']);
    expect(run.code).toBe(1);
    if (real === undefined) expect(outLines(out)).toEqual([...planted(), `${digestOf(OTHER_SET, 'o2')} missing`].sort());
    else expect(outLines(out)).toEqual(expect.arrayContaining([...planted(), `${digestOf(OTHER_SET, 'o2')} missing`]));

    const listed = join(dir, 'listed.txt');
    writeFileSync(listed, `${digestOf(SET, 'k3')} different\n${digestOf(SET, 'k7')}\n\n${digestOf(SET, 'x1')} extra\n`);
    const recheckOut = join(dir, 'recheck.txt');
    const recheck = await ferryVerify([...base(), '--digests', listed, '--out', recheckOut, '--json']);
    expect(recheck.code).toBe(1);
    expect(outLines(recheckOut)).toEqual([`${digestOf(SET, 'k3')} different`, `${digestOf(SET, 'x1')} extra`].sort());
    expect(JSON.parse(recheck.stdout)).toMatchObject({ sourceRecords: 2, destinationRecords: 3, different: 1, extra: 1, missing: 0 });
  });

  it('leaves out records changed within --ignore-recent seconds', async () => {
    const run = await ferryVerify([...base(), '-s', SET, '--ignore-recent', '3600', '--json']);
    expect(run.code).toBe(0);
    expect(JSON.parse(run.stdout)).toMatchObject({ equal: true, missing: 0, extra: 0, different: 0, ignoredRecent: 6 });
  });

  it('judges a record by its last-update time: an old change is reported, a recent one is not (double)', async () => {
    if (double === undefined) return;
    // Two hours ago at the source, for k1 and k3; at the destination for x1.
    const twoHoursAgo = BigInt(Date.now() - 7_200_000) * 1_000_000n;
    double.records('test').get(digestOf(SET, 'k1'))!.lastUpdateNs = twoHoursAgo;
    double.records('test').get(digestOf(SET, 'k3'))!.lastUpdateNs = twoHoursAgo;
    double.records('bar').get(digestOf(SET, 'x1'))!.lastUpdateNs = twoHoursAgo;
    const out = join(dir, 'recent.txt');
    const run = await ferryVerify([...base(), '-s', SET, '--ignore-recent', '3600', '--out', out, '--json']);
    expect(run.code).toBe(1);
    expect(outLines(out)).toEqual([`${digestOf(SET, 'k1')} missing`, `${digestOf(SET, 'k3')} different`, `${digestOf(SET, 'x1')} extra`].sort());
    expect(JSON.parse(run.stdout)).toMatchObject({ ignoredRecent: 3 });
  });

  it('exits 0 once repaired, by a scan and by re-checking the listed digests', async () => {
    const out = join(dir, 'before-repair.txt');
    await ferryVerify([...base(), '-s', SET, '--out', out]);
    await put('bar', SET, 'k1', { i: 1, s: 'v1' });
    await put('bar', SET, 'k2', { i: 2, s: 'v2' });
    await put('bar', SET, 'k3', { i: 3, s: 'v3' });
    await put('bar', SET, 'k4', { i: 4, s: 'v4' });
    await client.remove(['bar', SET, 'k5']);
    await put('bar', SET, 'k5', { i: 5, s: 'v5' });
    await client.remove(['bar', SET, 'x1']);
    const recheck = await ferryVerify([...base(), '--digests', out, '--json']);
    expect(recheck.code).toBe(0);
    expect(JSON.parse(recheck.stdout)).toMatchObject({ equal: true, partitions: new Set(outLines(out).map((l) => l.slice(0, 4))).size });
    const scan = await ferryVerify([...base(), '-s', SET]);
    expect(scan.code).toBe(0);
    expect(scan.stdout).toMatch(/^equal: 4096 partitions, 60 source records, 60 destination records/);
  });

  it('compares a last-write-wins version with the source LUT, leaving the version bin out of the bins (double)', async () => {
    if (double === undefined) return;
    const LWW = `vl${tag}`;
    const keys = ['a', 'b', 'c'];
    for (const k of keys) await put('test', LWW, k, { i: 1 });
    // The version Ferry writes: ms since 2010 of the source LUT, shifted 16, with the generation.
    const versionOf = (k: string): number => {
      const r = double!.records('test').get(digestOf(LWW, k))!;
      return Number(((r.lastUpdateNs / 1_000_000n - 1_262_304_000_000n) << 16n) | BigInt(r.generation));
    };
    await put('bar', LWW, 'a', { i: 1, v: versionOf('a') });
    await put('bar', LWW, 'b', { i: 1, v: versionOf('b') - 0x10000 }); // one ms older: stale
    await put('bar', LWW, 'c', { i: 2, v: versionOf('c') }); // current version, other bins
    const out = join(dir, 'lww.txt');
    const run = await ferryVerify([...base(), '-s', LWW, '--lww-bin', 'v', '--out', out, '--json']);
    expect(run.code).toBe(1);
    expect(outLines(out)).toEqual([`${digestOf(LWW, 'b')} different`, `${digestOf(LWW, 'c')} different`].sort());
    // Without the bin named, the version bin itself makes every record different.
    const plain = await ferryVerify([...base(), '-s', LWW, '--json']);
    expect(JSON.parse(plain.stdout)).toMatchObject({ different: 3 });
  });

  it('takes the destination and the namespace mapping from a Ferry configuration', async () => {
    const config = join(dir, 'ferry.yml');
    writeFileSync(config, `service:\n  port: 8901\naerospike:\n  seeds:\n    - ${host}:\n        port: ${port}\n  namespace-mapping:\n    test: bar\n`);
    const run = await ferryVerify(['--source', `${host}:${port}`, '--config', config, '-n', 'test', '-s', SET, '--rate', '0', '--quiet', '--json']);
    expect(JSON.parse(run.stdout)).toMatchObject({ sourceRecords: 60, destinationRecords: 60 });
    expect(run.code).toBe(0);
  });

  it('exits 2 for bad input and 3 when a cluster cannot be reached', async () => {
    expect((await ferryVerify(['--source', `${host}:${port}`, '--destination', `${host}:${port}`])).code).toBe(2);
    expect((await ferryVerify([...base(), '--rate', 'fast'])).code).toBe(2);
    const unknown = await ferryVerify([...base(), '--destination-namespace', 'nope']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/the destination has no namespace 'nope'/);
    const closed = await freePort();
    const down = await ferryVerify(['--source', `${host}:${port}`, '--destination', `127.0.0.1:${closed}`, '-n', 'test', '--quiet', '--timeout-ms', '2000']);
    expect(down.code).toBe(3);
    expect(down.stderr).toMatch(/destination: no seed answered/);
  });
});

describe('ferry verify between two clusters of doubles', () => {
  let source: DoubleCluster;
  let destination: DoubleCluster;

  beforeAll(async () => {
    ensureBuilt('cli/verify-command.ts', 'cli/verify-command.js');
    [source, destination] = await Promise.all([DoubleCluster.start({ nodes: 3 }), DoubleCluster.start({ nodes: 2 })]);
    const plant = async (cluster: DoubleCluster, items: { key: string; bins: ClientBins }[]): Promise<void> => {
      const client = await OfficialClient.start();
      try {
        await client.connect({ hosts: cluster.seeds() });
        const { failures } = await client.putMany(items.map((i) => ({ key: ['test', 'cl', i.key], bins: i.bins })));
        expect(failures).toEqual([]);
      } finally {
        await client.close();
        await client.stop();
      }
    };
    const keys = Array.from({ length: 300 }, (_, i) => `c${i}`);
    await plant(source, keys.map((key) => ({ key, bins: { v: key } })));
    await plant(destination, keys.filter((k) => k !== 'c10').map((key) => ({ key, bins: { v: key === 'c20' ? 'other' : key } })));
  }, 60_000);

  afterAll(async () => {
    await source?.close();
    await destination?.close();
  });

  it('scans each partition on the node that masters it, on both sides', async () => {
    const seeds = (c: DoubleCluster): string => c.seeds().map((s) => `${s.host}:${s.port}`).join(',');
    const dir = mkdtempSync(join(tmpdir(), 'ferry-verify-cluster-'));
    const out = join(dir, 'diff.txt');
    const run = await ferryVerify(['--source', seeds(source), '--destination', seeds(destination), '-n', 'test', '--rate', '0', '--quiet', '--json', '--out', out]);
    expect(run.code).toBe(1);
    expect(JSON.parse(run.stdout)).toMatchObject({ sourceRecords: 300, destinationRecords: 299, missing: 1, different: 1, extra: 0 });
    expect(readFileSync(out, 'utf8').split('\n').filter((l) => l !== '').sort()).toEqual([`${digestOf('cl', 'c10')} missing`, `${digestOf('cl', 'c20')} different`].sort());
    // A node asked for a partition it does not master would mark it unavailable and fail the run.
    for (const node of [...source.nodes, ...destination.nodes]) expect(node.stats.scans).toBeGreaterThan(0);
  });

  it('reads the partition maps again and retries when a partition moves or a node dies mid-run', async () => {
    const seeds = (c: DoubleCluster): string => c.seeds().map((s) => `${s.host}:${s.port}`).join(',');
    let changed = false;
    // At --rate 100 the run takes seconds; the clusters change once its first progress line is out.
    const run = await ferryVerify(['--source', seeds(source), '--destination', seeds(destination), '-n', 'test', '--rate', '100', '--json'], (stderr) => {
      if (changed || !stderr.includes('verify: partitions')) return;
      changed = true;
      source.movePartitions(source.partitionsOf(0), 1);
      void destination.kill(1);
    });
    expect(changed).toBe(true);
    expect(run.stderr).toMatch(/read again after/);
    expect(run.code).toBe(1);
    expect(JSON.parse(run.stdout)).toMatchObject({ sourceRecords: 300, destinationRecords: 299, missing: 1, different: 1, extra: 0 });
  });
});

describe('ferry verify over TLS', () => {
  let tlsFiles: TlsFixtures;
  let double: AerospikeDouble;

  beforeAll(async () => {
    ensureBuilt('cli/verify-command.ts', 'cli/verify-command.js');
    tlsFiles = createTlsFixtures();
    double = await AerospikeDouble.start({ namespaces: ['test', 'bar'], tls: { key: tlsFiles.server.key, cert: tlsFiles.server.cert } });
    const client = await OfficialClient.start();
    try {
      await client.connect({ hosts: [{ host: '127.0.0.1', port: double.port, tlsName: tlsFiles.tlsName }], tls: { cafile: tlsFiles.ca.cert } });
      await client.putMany([
        { key: ['test', 't', 'same'], bins: { v: 1 } },
        { key: ['bar', 't', 'same'], bins: { v: 1 } },
        { key: ['test', 't', 'gone'], bins: { v: 2 } },
      ]);
    } finally {
      await client.close();
      await client.stop();
    }
  }, 60_000);

  afterAll(async () => {
    await double?.close();
    tlsFiles?.remove();
  });

  it('verifies the server against the CA and reads both sides', async () => {
    const base = ['--source', `127.0.0.1:${double.port}`, '--destination', `127.0.0.1:${double.port}`, '-n', 'test', '--destination-namespace', 'bar', '--rate', '0', '--quiet', '--json'];
    const run = await ferryVerify([...base, '--tls-cafile', tlsFiles.ca.cert, '--tls-name', tlsFiles.tlsName]);
    expect(run.code).toBe(1);
    expect(JSON.parse(run.stdout)).toMatchObject({ sourceRecords: 2, destinationRecords: 1, missing: 1 });
    // An untrusted CA fails the handshake: the cluster cannot be reached.
    expect((await ferryVerify([...base, '--tls-cafile', tlsFiles.untrusted.cert, '--tls-name', tlsFiles.tlsName, '--timeout-ms', '2000'])).code).toBe(3);
    expect((await ferryVerify([...base, '--tls-name', tlsFiles.tlsName])).code).toBe(2);
  });
});
