// Tests of the double as a cluster (test/double/cluster.ts): topology and tending over raw
// sockets, the official client tending three nodes through kills, restarts and partition moves,
// security (LOGIN, AUTHENTICATE, session expiry) and TLS. Requests are built by the helpers in
// this file, independently of the double's codec and of src/.

import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import tls from 'node:tls';
import bcrypt from 'bcryptjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fieldBytes as field, opBytes, protoMessage as proto } from './support/bytes.js';
import { FrameSocket } from './support/frame-socket.js';
import { DoubleCluster } from './double/cluster.js';
import { ClientCallError, OfficialClient, type ClientKey } from './double/official-client.js';
import { AerospikeDouble } from './double/server.js';
import { createTlsFixtures, type TlsFixtures } from './support/tls-fixtures.js';

// ---------------------------------------------------------------------------------------------
// Byte helpers

const N_PARTITIONS = 4096;
/** Generous: a loaded two-core machine must not turn into client timeouts. */
const CLIENT_TIMEOUT_MS = 10_000;
const TLS_CONCURRENCY = 8;
const CREDENTIAL_SALT = '$2a$10$7EqJtq98hPqEX7fNZaFWoO';

/** A single-record message: namespace `test`, the digest, and integer WRITE ops or none. */
function recordMessage(digest: Buffer, info1: number, info2: number, bins: Record<string, number> = {}): Buffer {
  const ops = Object.entries(bins).map(([name, v]) => {
    const value = Buffer.alloc(8);
    value.writeBigInt64BE(BigInt(v));
    return opBytes(2, 1, name, value); // WRITE an integer
  });
  const header = Buffer.alloc(22);
  header[0] = 22;
  header[1] = info1;
  header[2] = info2;
  header.writeUInt16BE(2, 18);
  header.writeUInt16BE(ops.length, 20);
  return proto(3, Buffer.concat([header, field(0, 'test'), field(4, digest), ...ops]));
}
const writeRecord = (digest: Buffer, bins: Record<string, number>): Buffer => recordMessage(digest, 0, 0x01, bins);
const readRecord = (digest: Buffer): Buffer => recordMessage(digest, 0x03, 0);

function securityMessage(command: number, fields: Buffer[]): Buffer {
  const header = Buffer.alloc(16);
  header[2] = command;
  header[3] = fields.length;
  return proto(2, Buffer.concat([header, ...fields]));
}

function infoRequest(...names: string[]): Buffer {
  return proto(1, Buffer.from(names.map((n) => `${n}\n`).join(''), 'utf8'));
}

/** The digest a client computes: RIPEMD-160(set ‖ particle type ‖ key bytes); string keys here. */
function clientDigest(set: string, key: string): Buffer {
  return createHash('ripemd160')
    .update(Buffer.concat([Buffer.from(set, 'utf8'), Buffer.from([3]), Buffer.from(key, 'utf8')]))
    .digest();
}
const partitionOf = (digest: Buffer): number => (digest[0]! | (digest[1]! << 8)) & 0x0fff;

/** Whether partition p's bit is set in a 512-byte bitmap (MSB first). */
const bitSet = (bitmap: Buffer, p: number): boolean => (bitmap[p >> 3]! & (0x80 >> (p & 7))) !== 0;


/** A frame socket with the record, info and security requests these tests send. */
class RawConnection extends FrameSocket {
  /** Sends a record request; returns its result code. */
  async resultOf(bytes: Buffer): Promise<number> {
    this.send(bytes);
    const frame = await this.one();
    expect(frame.type).toBe(3);
    return frame.body[5]!;
  }

  async info(...names: string[]): Promise<Map<string, string>> {
    this.send(infoRequest(...names));
    const frame = await this.one();
    expect(frame.type).toBe(1);
    const map = new Map<string, string>();
    for (const line of frame.body.toString('utf8').split('\n')) {
      if (!line) continue;
      const tab = line.indexOf('\t');
      map.set(line.slice(0, tab), line.slice(tab + 1));
    }
    return map;
  }

  /** Sends a security request; returns the result code and the reply's fields by id. */
  async security(bytes: Buffer): Promise<{ resultCode: number; size: number; fields: Map<number, Buffer> }> {
    this.send(bytes);
    const frame = await this.one();
    expect(frame.type).toBe(2);
    const fields = new Map<number, Buffer>();
    let at = 16;
    for (let i = 0; i < frame.body[3]!; i++) {
      const size = frame.body.readUInt32BE(at);
      fields.set(frame.body[at + 4]!, frame.body.subarray(at + 5, at + 4 + size));
      at += 4 + size;
    }
    return { resultCode: frame.body[1]!, size: 8 + frame.body.length, fields };
  }
}

async function infoOf(port: number, ...names: string[]): Promise<Map<string, string>> {
  const conn = await RawConnection.open(port);
  try {
    return await conn.info(...names);
  } finally {
    conn.close();
  }
}

/** `<gen>,<port>,[[id,tls,[addr:port]],…]` → its parts. */
function parsePeers(value: string): { generation: number; port: number; peers: { id: string; tlsName: string; addresses: string[] }[] } {
  const match = /^(\d+),(\d*),\[(.*)\]$/.exec(value);
  if (!match) throw new Error(`not a peers value: ${value}`);
  const peers = [...match[3]!.matchAll(/\[([0-9A-F]+),([^,]*),\[([^\]]*)\]\]/g)].map((m) => ({
    id: m[1]!,
    tlsName: m[2]!,
    addresses: m[3]!.split(',').filter((a) => a !== ''),
  }));
  return { generation: Number(match[1]), port: Number(match[2]), peers };
}

/** This node's master bitmap for namespace `ns`, from its `replicas` answer. */
function masterBitmapOf(replicas: string, ns = 'test'): Buffer {
  const entry = replicas.split(';').find((e) => e.startsWith(`${ns}:`));
  if (!entry) throw new Error(`no ${ns} in ${replicas}`);
  const [regime, count, bitmap] = entry.slice(ns.length + 1).split(',');
  expect(regime).toBe('0');
  expect(count).toBe('1');
  return Buffer.from(bitmap!, 'base64');
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

async function waitFor(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

/**
 * Resolves once the client has run a whole tend that began after this call: the client polls
 * `peers-generation` once per tend, so when a live node has seen two more polls, the first of
 * them belongs to a tend that started after the call, and the second proves that tend ended.
 */
async function fullTend(node: AerospikeDouble): Promise<void> {
  const polls = (): number => node.infoNames.get('peers-generation')?.count ?? 0;
  const start = polls();
  await waitFor(`two tends of node ${node.nodeId}`, () => polls() >= start + 2);
}

/** Keys `${prefix}${i}` of set `demo`, the node index that masters each, and their digests. */
function keysFor(cluster: DoubleCluster, prefix: string, count: number): { key: ClientKey; digest: Buffer; master: number }[] {
  return Array.from({ length: count }, (_, i) => {
    const digest = clientDigest('demo', `${prefix}${i}`);
    return { key: ['test', 'demo', `${prefix}${i}`] as ClientKey, digest, master: cluster.masterOf('test', partitionOf(digest)) };
  });
}

const requestCounts = (cluster: DoubleCluster): number[] => cluster.nodes.map((node) => node.stats.requests);
const forwardedCounts = (cluster: DoubleCluster): number[] => cluster.nodes.map((node) => node.stats.forwarded);

function expectedShares(cluster: DoubleCluster, keys: { master: number }[]): number[] {
  const shares = cluster.nodes.map(() => 0);
  for (const { master } of keys) shares[master]!++;
  return shares;
}

// ---------------------------------------------------------------------------------------------
// Topology over raw sockets

describe('a 3-node double cluster over raw sockets', () => {
  let cluster: DoubleCluster;

  beforeAll(async () => {
    cluster = await DoubleCluster.start({ nodes: 3, namespaces: ['test', 'bar'], clusterName: 'ferry-ci' });
  });
  afterAll(async () => {
    await cluster?.close();
  });

  it('gives each node its own id and port, disjoint master bitmaps covering every partition, and the others as peers', async () => {
    const seen = await Promise.all(
      cluster.nodes.map((node) =>
        infoOf(node.port, 'node', 'cluster-name', 'partitions', 'features', 'peers-clear-std', 'peers-clear-alt', 'peers-tls-std', 'replicas', 'replicas-master', 'service-clear-std', 'statistics'),
      ),
    );
    const ids = seen.map((info) => info.get('node')!);
    expect(new Set(ids).size).toBe(3);
    expect(ids).toEqual(cluster.nodes.map((node) => node.nodeId));
    expect(new Set(cluster.seeds().map((s) => s.port)).size).toBe(3);

    const bitmaps = seen.map((info) => masterBitmapOf(info.get('replicas')!));
    for (let p = 0; p < N_PARTITIONS; p++) {
      const masters = bitmaps.flatMap((bits, i) => (bitSet(bits, p) ? [i] : []));
      expect(masters).toEqual([cluster.masterOf('test', p)]);
    }
    for (let i = 0; i < 3; i++) {
      const info = seen[i]!;
      const node = cluster.nodes[i]!;
      expect(info.get('cluster-name')).toBe('ferry-ci');
      expect(info.get('partitions')).toBe('4096');
      for (const f of ['peers', 'pipelining', 'replicas']) expect(info.get('features')!.split(';')).toContain(f);
      expect(info.get('service-clear-std')).toBe(`127.0.0.1:${node.port}`);
      expect(info.get('statistics')).toContain('cluster_size=3');
      // Both namespaces carry the same map; replicas-master is the same bitmap.
      expect(masterBitmapOf(info.get('replicas')!, 'bar')).toEqual(bitmaps[i]);
      expect(Buffer.from(info.get('replicas-master')!.split(';')[0]!.split(':')[1]!, 'base64')).toEqual(bitmaps[i]);
      // A share close to a third each.
      expect(cluster.partitionsOf(i).length).toBeGreaterThan(1100);

      const peers = parsePeers(info.get('peers-clear-std')!);
      expect(peers.port).toBe(node.port);
      expect(peers.peers).toEqual(
        cluster.nodes.filter((_, j) => j !== i).map((other) => ({ id: other.nodeId, tlsName: '', addresses: [`127.0.0.1:${other.port}`] })),
      );
      expect(parsePeers(info.get('peers-clear-alt')!).peers).toEqual(peers.peers);
      // The nodes listen in clear: no TLS peers.
      expect(parsePeers(info.get('peers-tls-std')!).peers).toEqual([]);
    }
  });

  it('executes a request sent to a node that does not master its partition, and counts it as forwarded', async () => {
    const digest = clientDigest('demo', 'forward-me');
    const master = cluster.masterOf('test', partitionOf(digest));
    const other = (master + 1) % 3;
    const before = forwardedCounts(cluster);

    const conn = await RawConnection.open(cluster.nodes[other]!.port);
    expect(await conn.resultOf(writeRecord(digest, { v: 1 }))).toBe(0);
    expect(await conn.resultOf(readRecord(digest))).toBe(0);
    conn.close();
    expect(forwardedCounts(cluster)).toEqual(before.map((n, i) => (i === other ? n + 2 : n)));
    expect(cluster.get('test', digest)?.bins.get('v')?.value.readBigInt64BE(0)).toBe(1n);

    // Sent to the master, nothing is forwarded; the store is the same one.
    const direct = await RawConnection.open(cluster.nodes[master]!.port);
    expect(await direct.resultOf(readRecord(digest))).toBe(0);
    direct.close();
    expect(forwardedCounts(cluster)).toEqual(before.map((n, i) => (i === other ? n + 2 : n)));
    expect(cluster.nodes[master]!.objectCount('test')).toBeGreaterThanOrEqual(1);
    expect(cluster.nodes[other]!.objectCount('test')).toBe(0);
  });

  it('moves partitions with a partition-generation bump on the two nodes involved only', async () => {
    const moved = cluster.partitionsOf(0).slice(0, 10);
    const generations = async (): Promise<number[]> =>
      Promise.all(cluster.nodes.map(async (node) => Number((await infoOf(node.port, 'partition-generation')).get('partition-generation'))));
    const before = await generations();
    cluster.movePartitions(moved, 1);
    const after = await generations();
    expect(after).toEqual([before[0]! + 1, before[1]! + 1, before[2]!]);
    for (const p of moved) expect(cluster.masterOf('test', p)).toBe(1);
    const bits = masterBitmapOf((await infoOf(cluster.nodes[1]!.port, 'replicas')).get('replicas')!);
    for (const p of moved) expect(bitSet(bits, p)).toBe(true);
    // Moving to the current master changes nothing.
    cluster.movePartitions(moved, 1);
    expect(await generations()).toEqual(after);
  });

  it('kill stops a node and hands its partitions to the survivors; restart brings it back on the same port', async () => {
    const victim = 2;
    const port = cluster.nodes[victim]!.port;
    const id = cluster.nodes[victim]!.nodeId;
    const owned = cluster.partitionsOf(victim);
    const survivors = [0, 1];
    const gens = async (i: number): Promise<{ peers: number; partitions: number }> => {
      const info = await infoOf(cluster.nodes[i]!.port, 'peers-generation', 'partition-generation');
      return { peers: Number(info.get('peers-generation')), partitions: Number(info.get('partition-generation')) };
    };
    const before = await Promise.all(survivors.map(gens));
    const open = await RawConnection.open(port);

    await cluster.kill(victim);
    await open.closed;
    await expect(RawConnection.open(port)).rejects.toThrow(/ECONNREFUSED/);
    expect(cluster.isAlive(victim)).toBe(false);
    expect(cluster.partitionsOf(victim)).toEqual([]);
    const during = await Promise.all(survivors.map(gens));
    for (const s of survivors) {
      expect(during[s]!.peers).toBe(before[s]!.peers + 1);
      expect(during[s]!.partitions).toBe(before[s]!.partitions + 1);
      const info = await infoOf(cluster.nodes[s]!.port, 'peers-clear-std', 'replicas', 'statistics');
      expect(parsePeers(info.get('peers-clear-std')!).peers.map((p) => p.id)).toEqual([cluster.nodes[1 - s]!.nodeId]);
      expect(info.get('statistics')).toContain('cluster_size=2');
    }
    const survivorBits = await Promise.all(survivors.map(async (s) => masterBitmapOf((await infoOf(cluster.nodes[s]!.port, 'replicas')).get('replicas')!)));
    for (let p = 0; p < N_PARTITIONS; p++) expect(survivorBits.filter((bits) => bitSet(bits, p)).length).toBe(1);

    await cluster.restart(victim);
    expect(cluster.nodes[victim]!.port).toBe(port);
    const back = await infoOf(port, 'node', 'peers-clear-std', 'partition-generation');
    expect(back.get('node')).toBe(id);
    expect(parsePeers(back.get('peers-clear-std')!).peers.map((p) => p.id)).toEqual([cluster.nodes[0]!.nodeId, cluster.nodes[1]!.nodeId]);
    expect(cluster.partitionsOf(victim)).toEqual(owned);
    const after = await Promise.all(survivors.map(gens));
    for (const s of survivors) {
      expect(after[s]!.peers).toBe(during[s]!.peers + 1);
      expect(after[s]!.partitions).toBe(during[s]!.partitions + 1);
    }
  });
});

// ---------------------------------------------------------------------------------------------
// The official client

describe('official aerospike client against a 3-node double cluster', () => {
  let cluster: DoubleCluster;
  let client: OfficialClient;

  beforeAll(async () => {
    cluster = await DoubleCluster.start({ nodes: 3, clusterName: 'ferry-ci' });
    client = await OfficialClient.start();
    // One seed: the other two nodes must be found through peers.
    await client.connect({ hosts: [cluster.seeds()[0]!], clusterName: 'ferry-ci', timeoutMs: CLIENT_TIMEOUT_MS });
  });
  afterAll(async () => {
    await client?.close().catch(() => null);
    await client?.stop();
    await cluster?.close();
  });

  const liveNodeIds = (): string[] => cluster.nodes.filter((_, i) => cluster.isAlive(i)).map((node) => node.nodeId).sort();

  it('finds all 3 nodes from one seed', async () => {
    await waitFor('3 nodes', async () => (await client.nodes()).length === 3);
    expect((await client.nodes()).sort()).toEqual(liveNodeIds());
    for (const node of cluster.nodes) expect(node.infoNames.get('replicas')?.count).toBeGreaterThan(0);
  });

  it('puts and gets 10,000 keys, each sent to the node that masters it', async () => {
    const keys = keysFor(cluster, 'k', 10_000);
    const shares = expectedShares(cluster, keys);
    for (const share of shares) expect(share).toBeGreaterThan(2500);
    const requests = requestCounts(cluster);
    const forwarded = forwardedCounts(cluster);

    const { failures } = await client.putMany(keys.map(({ key }, i) => ({ key, bins: { i, s: `v${i}` } })));
    expect(failures).toEqual([]);
    expect(requestCounts(cluster).map((n, i) => n - requests[i]!)).toEqual(shares);

    const got = await client.getMany(keys.map(({ key }) => key));
    expect(got.every((r, i) => 'bins' in r && r.bins['i'] === i && r.bins['s'] === `v${i}`)).toBe(true);
    expect(requestCounts(cluster).map((n, i) => n - requests[i]!)).toEqual(shares.map((share) => 2 * share));
    expect(forwardedCounts(cluster)).toEqual(forwarded);

    expect(cluster.records('test').size).toBe(10_000);
    expect(cluster.nodes.map((node) => node.objectCount('test'))).toEqual(shares);
    const sample = keys[1234]!;
    expect(cluster.get('test', sample.digest)?.bins.get('s')?.value.toString('utf8')).toBe('v1234');
  });

  it('follows a partition move', async () => {
    const moved = new Set(cluster.partitionsOf(0).slice(0, 200));
    const before = Number((await infoOf(cluster.nodes[0]!.port, 'partition-generation')).get('partition-generation'));
    cluster.movePartitions([...moved], 1);
    expect(Number((await infoOf(cluster.nodes[0]!.port, 'partition-generation')).get('partition-generation'))).toBe(before + 1);
    await fullTend(cluster.nodes[0]!);

    const keys = keysFor(cluster, 'moved-', 4000).filter(({ digest }) => moved.has(partitionOf(digest)));
    expect(keys.length).toBeGreaterThan(50);
    const requests = requestCounts(cluster);
    const forwarded = forwardedCounts(cluster);
    const { failures } = await client.putMany(keys.map(({ key }) => ({ key, bins: { m: 1 } })));
    expect(failures).toEqual([]);
    expect(requestCounts(cluster).map((n, i) => n - requests[i]!)).toEqual([0, keys.length, 0]);
    expect(forwardedCounts(cluster)).toEqual(forwarded);
  });

  it('keeps working when a node is killed, writing to the survivors, and takes the node back after restart', async () => {
    const victim = 2;
    const written = keysFor(cluster, 'k', 10_000);
    await cluster.kill(victim);
    await waitFor('the client to drop the killed node', async () => (await client.nodes()).length === 2);
    await fullTend(cluster.nodes[0]!);
    expect((await client.nodes()).sort()).toEqual(liveNodeIds());

    // Records written before the kill are still there (the cluster kept a copy).
    const reread = await client.getMany(written.slice(0, 3000).map(({ key }) => key));
    expect(reread.filter((r) => !('bins' in r))).toEqual([]);

    let keys = keysFor(cluster, 'during-kill-', 3000);
    let requests = requestCounts(cluster);
    let forwarded = forwardedCounts(cluster);
    expect(expectedShares(cluster, keys)[victim]).toBe(0);
    expect((await client.putMany(keys.map(({ key }) => ({ key, bins: { k: 1 } })))).failures).toEqual([]);
    expect(requestCounts(cluster).map((n, i) => n - requests[i]!)).toEqual(expectedShares(cluster, keys));
    expect(forwardedCounts(cluster)).toEqual(forwarded);

    await cluster.restart(victim);
    await waitFor('the client to find the restarted node', async () => (await client.nodes()).length === 3);
    await fullTend(cluster.nodes[victim]!);
    expect((await client.nodes()).sort()).toEqual(liveNodeIds());

    keys = keysFor(cluster, 'after-restart-', 3000);
    const shares = expectedShares(cluster, keys);
    expect(shares[victim]).toBeGreaterThan(500);
    requests = requestCounts(cluster);
    forwarded = forwardedCounts(cluster);
    expect((await client.putMany(keys.map(({ key }) => ({ key, bins: { r: 1 } })))).failures).toEqual([]);
    expect(requestCounts(cluster).map((n, i) => n - requests[i]!)).toEqual(shares);
    expect(forwardedCounts(cluster)).toEqual(forwarded);
  });
});

// ---------------------------------------------------------------------------------------------
// Security

describe('security', () => {
  const users = { ferry: 'secret' };
  const credential = (password: string): string => bcrypt.hashSync(password, CREDENTIAL_SALT);
  const login = (user: string, password: string): Buffer => securityMessage(20, [field(0, user), field(3, credential(password))]);
  const authenticate = (user: string, token: Buffer): Buffer => securityMessage(0, [field(0, user), field(5, token)]);

  describe('the official client against a secured 3-node cluster', () => {
    let cluster: DoubleCluster;
    let client: OfficialClient;

    beforeAll(async () => {
      cluster = await DoubleCluster.start({ nodes: 3, security: { users } });
      client = await OfficialClient.start();
    });
    afterAll(async () => {
      await client?.close().catch(() => null);
      await client?.stop();
      await cluster?.close();
    });

    it('refuses a wrong password', async () => {
      const err = await client.connect({ hosts: [cluster.seeds()[0]!], user: 'ferry', password: 'wrong' }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ClientCallError);
      expect(cluster.nodes[0]!.stats.rejected[62]).toBeGreaterThan(0);
      expect(cluster.nodes[0]!.stats.logins).toBe(0);
    });

    it('logs in with the right password on every node, then reads and writes', async () => {
      await client.connect({ hosts: [cluster.seeds()[0]!], user: 'ferry', password: 'secret', timeoutMs: CLIENT_TIMEOUT_MS });
      await waitFor('3 nodes', async () => (await client.nodes()).length === 3);
      const keys = keysFor(cluster, 'secure-', 300);
      expect((await client.putMany(keys.map(({ key }, i) => ({ key, bins: { i } })))).failures).toEqual([]);
      const got = await client.getMany(keys.map(({ key }) => key));
      expect(got.every((r, i) => 'bins' in r && r.bins['i'] === i)).toBe(true);
      for (const node of cluster.nodes) {
        expect(node.stats.logins).toBeGreaterThan(0);
        expect(node.stats.rejected[80]).toBeUndefined();
      }
    });
  });

  describe('over raw sockets', () => {
    let now = Date.now();
    let double: AerospikeDouble;

    beforeAll(async () => {
      double = await AerospikeDouble.start({ security: { users, sessionTtlSeconds: 60, clock: () => now } });
    });
    afterAll(async () => {
      await double?.close();
    });

    it('answers LOGIN with a session token and TTL, 62 for a wrong password and 60 for an unknown user', async () => {
      const conn = await RawConnection.open(double.port);
      const wrong = await conn.security(login('ferry', 'nope'));
      expect(wrong).toMatchObject({ resultCode: 62, size: 24 });
      expect((await conn.security(login('nobody', 'secret'))).resultCode).toBe(60);
      const ok = await conn.security(login('ferry', 'secret'));
      expect(ok.resultCode).toBe(0);
      expect(ok.fields.get(5)!.length).toBeGreaterThan(0);
      expect(ok.fields.get(6)!.readUInt32BE(0)).toBe(60);
      // Logged in, the connection may read and write.
      expect(await conn.resultOf(writeRecord(clientDigest('demo', 'raw'), { v: 1 }))).toBe(0);
      conn.close();
    });

    it('answers record requests on an unauthenticated connection with 80, and info all the same', async () => {
      const conn = await RawConnection.open(double.port);
      expect((await conn.info('node')).get('node')).toBe(double.nodeId);
      expect(await conn.resultOf(readRecord(clientDigest('demo', 'raw')))).toBe(80);
      expect(await conn.resultOf(writeRecord(clientDigest('demo', 'raw'), { v: 2 }))).toBe(80);
      expect(double.get('test', clientDigest('demo', 'raw'))?.bins.get('v')?.value.readBigInt64BE(0)).toBe(1n);
      conn.close();
    });

    it('AUTHENTICATEs with a session token: 0 in exactly 24 bytes, 65 for a bad token, 66 once it has expired', async () => {
      const first = await RawConnection.open(double.port);
      const token = (await first.security(login('ferry', 'secret'))).fields.get(5)!;
      first.close();

      const conn = await RawConnection.open(double.port);
      expect(await conn.security(authenticate('ferry', Buffer.from('not a token')))).toMatchObject({ resultCode: 65, size: 24 });
      expect(await conn.security(authenticate('someone-else', token))).toMatchObject({ resultCode: 65 });
      expect(await conn.resultOf(readRecord(clientDigest('demo', 'raw')))).toBe(80);
      expect(await conn.security(authenticate('ferry', token))).toMatchObject({ resultCode: 0, size: 24 });
      expect(await conn.resultOf(readRecord(clientDigest('demo', 'raw')))).toBe(0);
      conn.close();

      now += 61_000;
      const late = await RawConnection.open(double.port);
      expect(await late.security(authenticate('ferry', token))).toMatchObject({ resultCode: 66, size: 24 });
      expect(await late.resultOf(readRecord(clientDigest('demo', 'raw')))).toBe(80);
      late.close();
      expect(double.stats.rejected).toMatchObject({ 60: 1, 62: 1, 65: 2, 66: 1 });
    });
  });
});

// ---------------------------------------------------------------------------------------------
// TLS

describe('TLS', () => {
  let fixtures: TlsFixtures;

  beforeAll(() => {
    fixtures = createTlsFixtures();
  });
  afterAll(() => {
    fixtures?.remove();
  });

  describe('a 3-node cluster listening with TLS', () => {
    let cluster: DoubleCluster;
    let client: OfficialClient;

    beforeAll(async () => {
      cluster = await DoubleCluster.start({ nodes: 3, tls: { key: fixtures.server.key, cert: fixtures.server.cert, tlsName: fixtures.tlsName } });
      client = await OfficialClient.start();
    });
    afterAll(async () => {
      await client?.close().catch(() => null);
      await client?.stop();
      await cluster?.close();
    });

    it('lists peers with their TLS name in peers-tls-std, and none in clear', async () => {
      const node = cluster.nodes[0]!;
      const conn = await RawConnection.openTls(node.port, { ca: readFileSync(fixtures.ca.cert), servername: fixtures.tlsName });
      const info = await conn.info('peers-tls-std', 'peers-clear-std', 'service-tls-std', 'service-clear-std');
      conn.close();
      expect(parsePeers(info.get('peers-tls-std')!).peers).toEqual(
        cluster.nodes.slice(1).map((other) => ({ id: other.nodeId, tlsName: 'ferry-test', addresses: [`127.0.0.1:${other.port}`] })),
      );
      expect(parsePeers(info.get('peers-clear-std')!).peers).toEqual([]);
      expect(info.get('service-tls-std')).toBe(`127.0.0.1:${node.port}`);
      expect(info.get('service-clear-std')).toBe('');
    });

    it('serves the official client over TLS, verified against the CA', async () => {
      const seed = cluster.seeds()[0]!;
      await client.connect({ hosts: [{ ...seed, tlsName: fixtures.tlsName }], tls: { cafile: fixtures.ca.cert }, timeoutMs: CLIENT_TIMEOUT_MS });
      await waitFor('3 nodes', async () => (await client.nodes()).length === 3);
      const keys = keysFor(cluster, 'tls-', 600);
      const requests = requestCounts(cluster);
      // Every connection in flight costs a handshake: keep few of them.
      expect((await client.putMany(keys.map(({ key }, i) => ({ key, bins: { i } })), TLS_CONCURRENCY)).failures).toEqual([]);
      expect(requestCounts(cluster).map((n, i) => n - requests[i]!)).toEqual(expectedShares(cluster, keys));
      const got = await client.getMany(keys.map(({ key }) => key), TLS_CONCURRENCY);
      expect(got.every((r, i) => 'bins' in r && r.bins['i'] === i)).toBe(true);
    });

    it('serves the official client with a client certificate when the nodes require one (mutual TLS)', async () => {
      const mutual = await DoubleCluster.start({
        nodes: 3,
        tls: { key: fixtures.server.key, cert: fixtures.server.cert, ca: fixtures.ca.cert, requestCert: true },
      });
      try {
        await client.close();
        await client.connect({
          hosts: [{ ...mutual.seeds()[0]!, tlsName: fixtures.tlsName }],
          tls: { cafile: fixtures.ca.cert, certfile: fixtures.client.cert, keyfile: fixtures.client.key },
          timeoutMs: CLIENT_TIMEOUT_MS,
        });
        await waitFor('3 nodes', async () => (await client.nodes()).length === 3);
        const keys = keysFor(mutual, 'mtls-', 300);
        expect((await client.putMany(keys.map(({ key }, i) => ({ key, bins: { i } })), TLS_CONCURRENCY)).failures).toEqual([]);
        expect(mutual.records('test').size).toBe(300);
        expect(mutual.nodes.map((node) => node.stats.tlsFailures)).toEqual([0, 0, 0]);
      } finally {
        await client.close();
        await mutual.close();
      }
    });

    it('gives a plain TCP connection nothing: the handshake fails and the socket is closed', async () => {
      const node = cluster.nodes[1]!;
      const failures = node.stats.tlsFailures;
      const conn = await RawConnection.open(node.port);
      conn.send(infoRequest('node'));
      await conn.closed;
      await expect(conn.one(100)).rejects.toThrow(/expected a frame/);
      expect(node.stats.tlsFailures).toBe(failures + 1);
    });
  });

  describe('certificates a verifying client refuses, and mutual TLS', () => {
    const handshake = (port: number, opts: tls.ConnectionOptions): Promise<string> =>
      new Promise((resolve) => {
        const socket = tls.connect({ host: '127.0.0.1', port, ca: readFileSync(fixtures.ca.cert), servername: fixtures.tlsName, ...opts }, () => {
          // TLS 1.3 servers check the client certificate after the client considers itself connected.
          socket.write(infoRequest('node'));
          socket.once('data', () => {
            socket.destroy();
            resolve('ok');
          });
        });
        socket.once('error', (err: NodeJS.ErrnoException) => {
          socket.destroy();
          resolve(err.code ?? err.message);
        });
        // A refused client certificate may end the connection without an error on this side.
        socket.once('close', () => resolve('closed'));
      });

    it('an expired server certificate fails verification', async () => {
      const double = await AerospikeDouble.start({ tls: { key: fixtures.expired.key, cert: fixtures.expired.cert } });
      try {
        expect(await handshake(double.port, {})).toBe('CERT_HAS_EXPIRED');
      } finally {
        await double.close();
      }
    });

    it('a self-signed server certificate fails verification', async () => {
      const double = await AerospikeDouble.start({ tls: { key: fixtures.untrusted.key, cert: fixtures.untrusted.cert } });
      try {
        expect(await handshake(double.port, {})).toBe('DEPTH_ZERO_SELF_SIGNED_CERT');
      } finally {
        await double.close();
      }
    });

    it('with requestCert, a client needs a certificate signed by the CA', async () => {
      const double = await AerospikeDouble.start({
        tls: { key: fixtures.server.key, cert: fixtures.server.cert, ca: fixtures.ca.cert, requestCert: true },
      });
      try {
        expect(double.tlsName).toBe(fixtures.tlsName);
        expect(await handshake(double.port, { key: readFileSync(fixtures.client.key), cert: readFileSync(fixtures.client.cert) })).toBe('ok');
        expect(await handshake(double.port, {})).not.toBe('ok');
        expect(await handshake(double.port, { key: readFileSync(fixtures.untrusted.key), cert: readFileSync(fixtures.untrusted.cert) })).not.toBe('ok');
        expect(double.stats.tlsFailures).toBe(2);
      } finally {
        await double.close();
      }
    });
  });
});
