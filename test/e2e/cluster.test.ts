/**
 * Ferry against a 3-node destination cluster (the cluster double): tending, routing to masters,
 * failover when a node dies mid-run, partition moves, and security and TLS towards the destination.
 */

import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { XdrSource } from '../../src/cli/load/xdr-source.js';
import { DoubleCluster } from '../double/cluster.js';
import { OfficialClient } from '../double/official-client.js';
import { FerryProcess, testConfig } from '../support/ferry-process.js';
import { until } from '../support/in-process.js';
import { loadOptions } from '../support/load.js';
import { createTlsFixtures } from '../support/tls-fixtures.js';
import { verifyFinalState } from '../support/verify-state.js';

const open: Array<{ close(): Promise<unknown> }> = [];
afterEach(async () => {
  for (const o of open.splice(0).reverse()) await o.close();
});

async function cluster(opts: Parameters<typeof DoubleCluster.start>[0]): Promise<DoubleCluster> {
  const c = await DoubleCluster.start(opts);
  open.push(c);
  return c;
}

async function ferry(config: Record<string, unknown>): Promise<FerryProcess> {
  const f = await FerryProcess.start(config);
  open.push({ close: () => f.stop() });
  return f;
}

async function client(port: number): Promise<OfficialClient> {
  const c = await OfficialClient.start();
  open.push({ close: () => c.stop() });
  await c.connect(port);
  return c;
}

const seed = (c: DoubleCluster): { host: string; port: number } => c.seeds()[0]!;
const requests = (c: DoubleCluster): number[] => c.nodes.map((n) => n.stats.requests);
const forwarded = (c: DoubleCluster): number => c.nodes.reduce((a, n) => a + n.stats.forwarded, 0);

describe('a 3-node destination', () => {
  it('tends the cluster from one seed and sends every write to its master', async () => {
    const c = await cluster({ nodes: 3 });
    const f = await ferry(testConfig(seed(c)));
    const published = f.logs.filter((l) => l.msg === 'partition map published').at(-1)!;
    expect((published['nodes'] as string[]).length).toBe(3);
    expect(published['ownedPartitions']).toBe(4096);
    const source = new XdrSource(loadOptions(f.port, { keys: 10_000, changes: 30_000, object: 'I,S:32', set: 'spread' }));
    const stats = await source.run();
    expect(stats.abandons).toBe(0);
    expect(stats.orderViolations).toBe(0);
    const per = requests(c);
    const total = per.reduce((a, b) => a + b, 0);
    for (const n of per) expect(n).toBeGreaterThan(total / 5);
    // The probes go to a namespace nobody masters; everything else went straight to its master.
    expect(forwarded(c)).toBeLessThanOrEqual(stats.probes);
  });

  it("tends with the nodes' alternate addresses when the XDR Proxy's services.use-services-alternate asks", async () => {
    const c = await cluster({ nodes: 3 });
    const f = await ferry(testConfig(seed(c), { aerospike: { services: { 'use-services-alternate': true } } }));
    const published = f.logs.filter((l) => l.msg === 'partition map published').at(-1)!;
    expect((published['nodes'] as string[]).length).toBe(3);
  });

  it('a node killed in the middle of 200,000 changes costs no record', async () => {
    const c = await cluster({ nodes: 3 });
    const f = await ferry(testConfig(seed(c)));
    const source = new XdrSource(loadOptions(f.port, { keys: 20_000, changes: 200_000, object: 'I,S:32', deletePct: 5, set: 'kill', seed: 21 }));
    const run = source.run();
    await until(() => source.stats.acks > 40_000, 60_000, 'the load to be well under way');
    // The node hangs, then dies: under this load, Ferry's pipelines to it are full by then, so
    // writes are in flight when it goes (a node killed between two batches may have none).
    c.nodes[1]!.faults.stall = true;
    await new Promise((r) => setTimeout(r, 300));
    await c.kill(1);
    const stats = await run;
    expect(stats.changes).toBe(200_000);
    expect(stats.abandons).toBe(0);
    expect(stats.orderViolations).toBe(0);
    await until(() => f.logs.some((l) => l.msg === 'destination node stopped answering; dropping it'), 10_000, 'the tender to drop the node');
    // The writes in flight to the dead node were lost with it, and each was either sent again to
    // its new master or, when the new route came after the write's deadline (a slow machine; the
    // tender drops a node after several failed tends), answered with a retry code for the source
    // to ship again. Which of the two is timing; that they were handled, and cost no record, is not.
    const metrics = await (await fetch(`http://127.0.0.1:${f.managePort}/metrics`)).text();
    const sum = (re: RegExp): number => [...metrics.matchAll(re)].reduce((a, m) => a + Number(m[1]), 0);
    const resent = sum(/^ferry_destination_resent_total\{worker="\d+"\} (\d+)$/gm);
    const retried = sum(/^ferry_destination_results_total\{result="(?:connection-lost|timeout|no-connection)"\} (\d+)$/gm);
    expect(resent + retried).toBeGreaterThan(0);
    const cl = await client(seed(c).port);
    const { checked, mismatches } = await verifyFinalState(cl, source);
    expect(mismatches.slice(0, 5)).toEqual([]);
    expect(checked).toBeGreaterThan(19_000);
  });

  it('a partition move in the middle of a run costs no record, and Ferry follows it', async () => {
    const c = await cluster({ nodes: 3 });
    const f = await ferry(testConfig(seed(c)));
    const source = new XdrSource(loadOptions(f.port, { keys: 10_000, changes: 80_000, object: 'I,S:32', set: 'move', seed: 22, probeEvery: 0, throttle: 20_000 }));
    const run = source.run();
    await until(() => source.stats.acks > 15_000, 60_000, 'the load to be under way');
    const moved = c.partitionsOf(0).slice(0, 600);
    c.movePartitions(moved, 2);
    const maps = f.logs.filter((l) => l.msg === 'partition map published').length;
    await until(() => f.logs.filter((l) => l.msg === 'partition map published').length > maps, 5000, 'the tender to publish the new map');
    const forwardedAtMove = forwarded(c);
    const requestsAtMove = requests(c).reduce((a, b) => a + b, 0);
    const stats = await run;
    expect(stats.abandons).toBe(0);
    expect(stats.orderViolations).toBe(0);
    // After the new map, writes go to the new master. A partition moves once the writes it has in
    // flight on the old master are answered (that keeps per-record order), so a little traffic is
    // still forwarded by the old master meanwhile; most of it must not be.
    const after = requests(c).reduce((a, b) => a + b, 0) - requestsAtMove;
    expect(after).toBeGreaterThan(10_000);
    expect(forwarded(c) - forwardedAtMove).toBeLessThan(after / 4);
    const cl = await client(seed(c).port);
    const { mismatches } = await verifyFinalState(cl, source);
    expect(mismatches.slice(0, 5)).toEqual([]);
  });
});

describe('security and TLS towards the destination', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ferry-dest-auth-'));
  const passwordFile = (name: string, password: string): string => {
    const p = join(dir, name);
    writeFileSync(p, `${password}\nnot part of it\n`);
    return p;
  };

  it('logs in with the password file, and a session that expires is renewed without loss', async () => {
    const c = await cluster({ nodes: 3, security: { users: { ferry: 'pass word ' }, sessionTtlSeconds: 2 } });
    const f = await ferry(testConfig(seed(c), { aerospike: { credentials: { username: 'ferry', 'password-file': passwordFile('good', 'pass word ') } } }));
    expect(f.logs.filter((l) => l.msg === 'logged in to the destination')).toHaveLength(1);
    const source = new XdrSource(loadOptions(f.port, { keys: 5000, changes: 30_000, object: 'I', set: 'auth', throttle: 8000, seed: 23 }));
    const stats = await source.run();
    expect(stats.abandons).toBe(0);
    // A 2 s session over a run of ~4 s: renewed at least once.
    expect(f.logs.filter((l) => l.msg === 'logged in to the destination').length).toBeGreaterThan(1);
    const cl = await OfficialClient.start();
    open.push({ close: () => cl.stop() });
    await cl.connect({ port: seed(c).port, user: 'ferry', password: 'pass word ' });
    const { mismatches } = await verifyFinalState(cl, source);
    expect(mismatches.slice(0, 5)).toEqual([]);
  });

  it('a wrong password is a clear start-up error, not a retry loop', async () => {
    const c = await cluster({ nodes: 1, security: { users: { ferry: 'right' } } });
    await expect(FerryProcess.start(testConfig(seed(c), { aerospike: { credentials: { username: 'ferry', 'password-file': passwordFile('bad', 'wrong') } } }))).rejects.toThrow(
      /exited with 2 before listening: ferry: cannot start: login refused with result 62 \(check aerospike.credentials\)/,
    );
  });

  it('TLS to the destination works with the CA, and is refused with the wrong one', async () => {
    const tls = createTlsFixtures();
    const c = await cluster({ nodes: 3, tls: { key: tls.server.key, cert: tls.server.cert, tlsName: tls.tlsName } });
    const good = await ferry(testConfig(seed(c), { aerospike: { tls: { 'ca-file': tls.ca.cert, 'tls-name': tls.tlsName } } }));
    const published = good.logs.filter((l) => l.msg === 'partition map published').at(-1)!;
    expect((published['nodes'] as string[]).length).toBe(3);
    const source = new XdrSource(loadOptions(good.port, { keys: 3000, changes: 10_000, object: 'I', set: 'tls', seed: 24 }));
    expect((await source.run()).abandons).toBe(0);

    // Without a tls-name the seed's certificate is checked against its address (127.0.0.1 is in
    // its names), and no IP address is sent as SNI: Node would warn about it on stderr (DEP0123).
    const byAddress = await ferry(testConfig(seed(c), { aerospike: { tls: { 'ca-file': tls.ca.cert } } }));
    expect((byAddress.logs.filter((l) => l.msg === 'partition map published').at(-1)!['nodes'] as string[]).length).toBe(3);
    expect(byAddress.stderr.join('')).toBe('');

    // Trusting only the untrusted certificate's own CA: no handshake ever succeeds, so start-up
    // gives up after service.startup-timeout (exit 3), and nothing reached the cluster.
    const before = c.nodes.reduce((a, n) => a + n.stats.requests, 0);
    const bad = FerryProcess.launch(testConfig(seed(c), { service: { 'startup-timeout': 2000 }, aerospike: { tls: { 'ca-file': tls.untrusted.cert, 'tls-name': tls.tlsName } } }));
    expect(await bad.exitCode()).toBe(3);
    expect(bad.logs.some((l) => l.msg === 'destination cluster not reachable yet; will keep trying')).toBe(true);
    expect(bad.logs.filter((l) => l.level === 60).map((l) => l['code'])).toEqual(['ERR_STARTUP_TIMEOUT']);
    expect(c.nodes.reduce((a, n) => a + n.stats.requests, 0)).toBe(before);
  });
});
