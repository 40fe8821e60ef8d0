// Partition scans and expression reads of the conformance double: the official client must scan
// it and get exactly what the store holds, and raw requests get the answers Community Edition
// 8.1.2 gives (checked by hand against a real server: no PARTITION_DONE flag answers 16, an empty
// set name answers 4, records come as namespace, digest, set fields and READ ops, then LAST).
// Requests are built with the byte helpers of test/support, independently of src/.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ReplyMessage, asMsgBody, fieldBytes as field, opBytes, parseReplyMessages, protoMessage as proto } from './support/bytes.js';
import { FrameSocket } from './support/frame-socket.js';
import { OfficialClient, type ClientKey } from './double/official-client.js';
import { DoubleCluster } from './double/cluster.js';
import { AerospikeDouble } from './double/server.js';

const NS = 'test';

/** Every as_msg of the frames that answer one scan, up to and including the LAST one. */
async function scanReplies(socket: FrameSocket): Promise<ReplyMessage[]> {
  const out: ReplyMessage[] = [];
  for (;;) {
    for (const msg of parseReplyMessages((await socket.one()).body)) {
      out.push(msg);
      if (msg.info3 & 0x01) return out;
    }
  }
}

function scanRequest(opts: { set?: string; pids?: number[]; info3?: number; info1?: number; after?: string[]; maxRecords?: number }): Buffer {
  const fields = [field(0, NS)];
  if (opts.set !== undefined) fields.push(field(1, opts.set));
  if (opts.pids !== undefined) {
    const pids = Buffer.alloc(opts.pids.length * 2);
    opts.pids.forEach((p, i) => pids.writeUInt16LE(p, i * 2));
    fields.push(field(11, pids));
  }
  if (opts.after !== undefined) fields.push(field(12, Buffer.concat(opts.after.map((d) => Buffer.from(d, 'hex')))));
  if (opts.maxRecords !== undefined) {
    const max = Buffer.alloc(8);
    max.writeBigUInt64BE(BigInt(opts.maxRecords));
    fields.push(field(13, max));
  }
  fields.push(field(9, Buffer.from([0, 0, 0x27, 0x10])), field(7, Buffer.alloc(8, 1)));
  return proto(3, asMsgBody({ info1: opts.info1 ?? 0x01, info3: opts.info3 ?? 0x04 }, fields, []));
}

const partitionOf = (digestHex: string): number => (parseInt(digestHex.slice(0, 2), 16) | (parseInt(digestHex.slice(2, 4), 16) << 8)) & 4095;

describe('scans of the double', () => {
  let double: AerospikeDouble;
  let client: OfficialClient;
  const key = (k: string | number, set: string): ClientKey => [NS, set, k];

  beforeAll(async () => {
    double = await AerospikeDouble.start({ namespaces: [NS] });
    client = await OfficialClient.start();
    await client.connect(double.port);
    const items = [];
    for (let i = 0; i < 300; i++) items.push({ key: key(`a${i}`, 'sa'), bins: { i, s: `v${i}`, b: new Uint8Array([i & 0xff, 7]) } });
    for (let i = 0; i < 40; i++) items.push({ key: key(`b${i}`, 'sb'), bins: { j: i * 2 } });
    const { failures } = await client.putMany(items);
    expect(failures).toEqual([]);
  });

  afterAll(async () => {
    await client?.close();
    await client?.stop();
    await double?.close();
  });

  it('gives the official client exactly the records of a set, and of the whole namespace', async () => {
    const store = double.records(NS);
    const inSet = [...store].filter(([, r]) => r.set === 'sa').map(([d]) => d);
    const scanned = await client.scan(NS, 'sa');
    expect(scanned.map((r) => r.digest).sort()).toEqual(inSet.sort());
    for (const r of scanned) {
      const i = r.bins['i'] as number;
      expect(r.bins).toEqual({ i, s: `v${i}`, b: new Uint8Array([i & 0xff, 7]) });
      expect(r.gen).toBe(store.get(r.digest)!.generation);
    }
    const all = await client.scan(NS);
    expect(all.map((r) => r.digest).sort()).toEqual([...store.keys()].sort());
    expect(double.stats.scans).toBeGreaterThan(0);
  });

  it('scans the partitions of a PID array in order, digests ascending within each, then LAST', async () => {
    const digests = [...double.records(NS).keys()];
    const wanted = [...new Set(digests.map(partitionOf))].slice(0, 5).sort((a, b) => b - a);
    const socket = await FrameSocket.open(double.port);
    socket.send(scanRequest({ pids: wanted }));
    const replies = await scanReplies(socket);
    socket.close();
    const last = replies.pop()!;
    expect(last).toMatchObject({ info3: 0x01, resultCode: 0 });
    const got = replies.map((m) => m.fields.get(4)!.toString('hex'));
    const expected = wanted.flatMap((p) => digests.filter((d) => partitionOf(d) === p).sort());
    expect(got).toEqual(expected);
    for (const m of replies) {
      expect(m.fields.get(0)!.toString()).toBe(NS);
      expect(['sa', 'sb']).toContain(m.fields.get(1)!.toString());
      expect(m.resultCode).toBe(0);
    }
  });

  it('resumes a partition after a digest (digest array) and stops at max records', async () => {
    const digests = [...double.records(NS).keys()];
    // The fullest partition: with 341 records in 4096 partitions some hold two or more.
    const byPartition = new Map<number, string[]>();
    for (const d of digests) byPartition.set(partitionOf(d), [...(byPartition.get(partitionOf(d)) ?? []), d]);
    const inPartition = [...byPartition.values()].sort((a, b) => b.length - a.length)[0]!.sort();
    expect(inPartition.length).toBeGreaterThan(1);
    const socket = await FrameSocket.open(double.port);
    socket.send(scanRequest({ after: [inPartition[0]!] }));
    const resumed = (await scanReplies(socket)).slice(0, -1).map((m) => m.fields.get(4)!.toString('hex'));
    expect(resumed).toEqual(inPartition.slice(1));
    socket.send(scanRequest({ maxRecords: 7 }));
    expect((await scanReplies(socket)).slice(0, -1)).toHaveLength(7);
    socket.close();
  });

  it('answers 16 without the PARTITION_DONE flag, 4 for an empty set name, 20 for an unknown namespace', async () => {
    const socket = await FrameSocket.open(double.port);
    socket.send(scanRequest({ info3: 0 }));
    expect((await scanReplies(socket))[0]).toMatchObject({ info3: 0x01, resultCode: 16 });
    socket.send(scanRequest({ set: '' }));
    expect((await scanReplies(socket))[0]).toMatchObject({ info3: 0x01, resultCode: 4 });
    socket.send(proto(3, asMsgBody({ info1: 0x01, info3: 0x04 }, [field(0, 'nope')], [])));
    expect((await scanReplies(socket))[0]).toMatchObject({ info3: 0x01, resultCode: 20 });
    socket.close();
  });

  it('returns headers only with NO_BIN_DATA', async () => {
    const socket = await FrameSocket.open(double.port);
    socket.send(scanRequest({ set: 'sb', info1: 0x21 }));
    const replies = await scanReplies(socket);
    socket.close();
    expect(replies).toHaveLength(41);
    for (const m of replies.slice(0, -1)) expect(m.bins).toHaveLength(0);
  });

  it('marks the partitions a cluster node does not master with 11, the partition id in the generation', async () => {
    const cluster = await DoubleCluster.start({ nodes: 2, namespaces: [NS] });
    try {
      const node = cluster.nodes[0]!;
      const pids = Array.from({ length: 64 }, (_, p) => p);
      const socket = await FrameSocket.open(node.port);
      socket.send(scanRequest({ pids }));
      const replies = await scanReplies(socket);
      socket.close();
      const markers = replies.filter((m) => m.info3 & 0x04);
      expect(markers.length).toBeGreaterThan(0);
      expect(markers.length).toBeLessThan(64);
      for (const m of markers) {
        expect(m.resultCode).toBe(11);
        expect(node.topology.isMaster(m.generation)).toBe(false);
      }
      expect(markers.length).toBe(pids.filter((p) => !node.topology.isMaster(p)).length);
    } finally {
      await cluster.close();
    }
  });

  it('answers an expression read of LAST_UPDATE with the time of the last write, in nanoseconds', async () => {
    const before = BigInt(Date.now()) * 1_000_000n;
    await client.put(key('lut', 'sa'), { v: 1 });
    const after = BigInt(Date.now()) * 1_000_000n;
    const [digest] = [...double.records(NS)].find(([, r]) => r.bins.get('v') !== undefined && r.set === 'sa')!;
    const expression = Buffer.from([0x92, 0x91, 66, 0x00]); // [[LAST_UPDATE], flags 0]
    const socket = await FrameSocket.open(double.port);
    socket.send(proto(3, asMsgBody({ info1: 0x01 }, [field(0, NS), field(1, 'sa'), field(4, Buffer.from(digest, 'hex'))], [opBytes(7, 4, 'lut', expression)])));
    const [reply] = parseReplyMessages((await socket.one()).body);
    socket.close();
    expect(reply!.resultCode).toBe(0);
    const lut = reply!.bins.find((b) => b.name === 'lut')!;
    expect(lut.particle).toBe(1);
    const ns = lut.value.readBigInt64BE(0);
    expect(ns).toBe(double.records(NS).get(digest)!.lastUpdateNs);
    expect(ns >= before && ns <= after).toBe(true);
  });
});
