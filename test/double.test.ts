// Tests of the conformance double (test/double/): with the official client, with the real XDR
// captures and their Community Edition 8.1.2 answers, and byte by byte over raw sockets.
// Every request below is built by the small helpers in this file, independently of the double's
// own codec and of src/.

import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { deflateSync } from 'node:zlib';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type ReplyMessage, fieldBytes as field, opBytes, parseReplyMessages, protoMessage as proto } from './support/bytes.js';
import { type Frame, FrameSocket } from './support/frame-socket.js';
import { ClientCallError, OfficialClient, type ClientKey } from './double/official-client.js';
import { Framer } from './double/framer.js';
import { AerospikeDouble } from './double/server.js';

// ---------------------------------------------------------------------------------------------
// Byte helpers

const CITRUS_EPOCH = 1_262_304_000;
const citrusNow = (): number => Math.floor(Date.now() / 1000) - CITRUS_EPOCH;

interface OpSpec {
  op: number;
  particle: number;
  name: string;
  value?: Buffer;
  binLut?: bigint;
}

interface MsgSpec {
  protoType?: number;
  info1?: number;
  info2?: number;
  info3?: number;
  generation?: number;
  ttl?: number;
  fields: Buffer[];
  ops?: OpSpec[];
}

const ns = (name = 'test'): Buffer => field(0, name);
const setField = (name: string): Buffer => field(1, name);
const digestField = (digest: Buffer): Buffer => field(4, digest);
const lutField = (lut: bigint): Buffer => {
  const b = Buffer.alloc(8);
  b.writeBigUInt64BE(lut);
  return field(14, b);
};

const op = (spec: OpSpec): Buffer => opBytes(spec.op, spec.particle, spec.name, spec.value ?? Buffer.alloc(0), spec.binLut);

function message(spec: MsgSpec): Buffer {
  const ops = spec.ops ?? [];
  const header = Buffer.alloc(22);
  header[0] = 22;
  header[1] = spec.info1 ?? 0;
  header[2] = spec.info2 ?? 0;
  header[3] = spec.info3 ?? 0;
  header.writeUInt32BE(spec.generation ?? 0, 6);
  header.writeUInt32BE(spec.ttl ?? 0, 10);
  header.writeUInt16BE(spec.fields.length, 18);
  header.writeUInt16BE(ops.length, 20);
  return proto(spec.protoType ?? 3, Buffer.concat([header, ...spec.fields, ...ops.map(op)]));
}

const int64 = (n: number | bigint): Buffer => {
  const b = Buffer.alloc(8);
  b.writeBigInt64BE(BigInt(n));
  return b;
};
const float64 = (n: number): Buffer => {
  const b = Buffer.alloc(8);
  b.writeDoubleBE(n);
  return b;
};
const str = (s: string): Buffer => Buffer.from(s, 'utf8');

/** A 20-byte digest for a label; any 20 bytes will do for the double. */
const digestOf = (label: string): Buffer => createHash('sha1').update(label).digest();

/** The digest the official client computes: RIPEMD-160(set ‖ particle type ‖ key bytes). */
function clientDigest(set: string, key: string | number): Buffer {
  const keyBytes = typeof key === 'string' ? Buffer.concat([Buffer.from([3]), str(key)]) : Buffer.concat([Buffer.from([1]), int64(key)]);
  return createHash('ripemd160').update(Buffer.concat([str(set), keyBytes])).digest();
}

// Common requests.
const W = { info2: 0x01 };
function write(digest: Buffer, bins: Record<string, number | string>, extra: Partial<MsgSpec> = {}): Buffer {
  const ops = Object.entries(bins).map(([name, v]) =>
    typeof v === 'number' ? { op: 2, particle: 1, name, value: int64(v) } : { op: 2, particle: 3, name, value: str(v) },
  );
  return message({ ...W, fields: [ns(), digestField(digest)], ops, ...extra });
}
const readAll = (digest: Buffer, namespace = 'test'): Buffer => message({ info1: 0x03, fields: [ns(namespace), digestField(digest)] });
const remove = (digest: Buffer, info2 = 0x03): Buffer => message({ info2, fields: [ns(), digestField(digest)] });


type Reply = ReplyMessage;
const parseMessages = parseReplyMessages;

const parseReply = (frame: Frame): Reply => {
  expect(frame.type).toBe(3);
  const [reply] = parseMessages(frame.body);
  return reply!;
};

/** A frame socket that also sends one request and parses its reply. */
class RawConnection extends FrameSocket {
  /** Sends one request and returns its parsed reply. */
  async request(bytes: Buffer): Promise<Reply> {
    this.send(bytes);
    return parseReply(await this.one());
  }
}

function infoRequest(...names: string[]): Buffer {
  return proto(1, str(names.map((n) => `${n}\n`).join('')));
}

function parseInfo(frame: Frame): Map<string, string> {
  expect(frame.type).toBe(1);
  const map = new Map<string, string>();
  for (const line of frame.body.toString('utf8').split('\n')) {
    if (!line) continue;
    const tab = line.indexOf('\t');
    map.set(line.slice(0, tab), line.slice(tab + 1));
  }
  return map;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

// ---------------------------------------------------------------------------------------------
// The official client

describe('official aerospike client against the double', () => {
  let double: AerospikeDouble;
  let client: OfficialClient;
  const key = (k: string | number, set = 'demo'): ClientKey => ['test', set, k];

  beforeAll(async () => {
    double = await AerospikeDouble.start();
    client = await OfficialClient.start();
    await client.connect(double.port);
  });

  afterAll(async () => {
    await client?.close();
    await client?.stop();
    await double?.close();
  });

  it('puts and gets every particle type the client writes', async () => {
    const bins = {
      i: 7,
      neg: -123456789012,
      d: { $double: 1.5 },
      s: 'hello ✓',
      b: new Uint8Array([0, 1, 2, 255]),
      t: true,
      f: false,
      l: [1, 'a', [2, 3], { x: 1 }],
      m: { a: 1, b: 'x', c: [1, 2] },
      g: { $geo: { type: 'Point', coordinates: [103.9, 1.3] } },
    };
    await client.put(key('all-types'), bins);
    const got = await client.get(key('all-types'));
    expect(got.gen).toBe(1);
    expect(got.bins.i).toBe(7);
    expect(got.bins.neg).toBe(-123456789012);
    expect(got.bins.d).toBe(1.5);
    expect(got.bins.s).toBe('hello ✓');
    expect(Buffer.from(got.bins.b as Uint8Array)).toEqual(Buffer.from([0, 1, 2, 255]));
    expect(got.bins.t).toBe(true);
    expect(got.bins.f).toBe(false);
    expect(got.bins.l).toEqual([1, 'a', [2, 3], { x: 1 }]);
    expect(got.bins.m).toEqual({ a: 1, b: 'x', c: [1, 2] });
    const geo = got.bins.g;
    expect(JSON.parse(typeof geo === 'string' ? geo : JSON.stringify((geo as { $geo: object }).$geo))).toEqual({
      type: 'Point',
      coordinates: [103.9, 1.3],
    });

    // The double holds the particle types the client sent, keyed by the client's digest.
    const stored = double.get('test', clientDigest('demo', 'all-types'));
    expect(stored).toBeDefined();
    const types = Object.fromEntries([...stored!.bins].map(([name, bin]) => [name, bin.type]));
    expect(types).toEqual({ i: 1, neg: 1, d: 2, s: 3, b: 4, t: 17, f: 17, l: 20, m: 19, g: 23 });
    expect(stored!.bins.get('d')!.value.readDoubleBE(0)).toBe(1.5);
    expect(stored!.set).toBe('demo');
    expect(stored!.xdr).toBe(false);
    expect(stored!.lut).toBeUndefined();
  });

  it('reports generation and TTL, and never-expiring records', async () => {
    await client.put(key('ttl'), { v: 1 }, { ttl: 1000 });
    let got = await client.get(key('ttl'));
    expect(got.gen).toBe(1);
    expect(got.ttl).toBeGreaterThan(990);
    expect(got.ttl).toBeLessThanOrEqual(1000);
    const stored = double.get('test', clientDigest('demo', 'ttl'))!;
    expect(Math.abs(stored.voidTime - (citrusNow() + 1000))).toBeLessThanOrEqual(2);

    await client.put(key('ttl'), { v: 2 }, { ttl: -1 });
    got = await client.get(key('ttl'));
    expect(got.gen).toBe(2);
    expect(got.ttl).toBe(-1);
    expect(double.get('test', clientDigest('demo', 'ttl'))!.voidTime).toBe(0);
  });

  it('answers exists, select and remove like a server', async () => {
    await client.put(key(42), { a: 'x', b: 2, c: 'y' });
    expect(await client.exists(key(42))).toBe(true);
    expect(await client.exists(key('never-written'))).toBe(false);

    const selected = await client.select(key(42), ['b']);
    expect(selected.bins).toEqual({ b: 2 });

    await client.remove(key(42));
    expect(await client.exists(key(42))).toBe(false);
    await expect(client.get(key(42))).rejects.toMatchObject({ code: 2 });
    await expect(client.remove(key(42))).rejects.toMatchObject({ code: 2 });
    expect(double.get('test', clientDigest('demo', 42))).toBeUndefined();
  });

  it('operates: incr, append, prepend, read and touch', async () => {
    await client.put(key('op'), { n: 10, s: 'mid', x: { $double: 1.25 } });
    const result = await client.operate(key('op'), [
      { kind: 'incr', bin: 'n', value: 5 },
      { kind: 'append', bin: 's', value: '>' },
      { kind: 'prepend', bin: 's', value: '<' },
      { kind: 'incr', bin: 'x', value: { $double: 0.5 } },
      { kind: 'read', bin: 'n' },
      { kind: 'read', bin: 's' },
      { kind: 'read', bin: 'x' },
    ]);
    expect(result.bins).toEqual({ n: 15, s: '<mid>', x: 1.75 });
    expect(result.gen).toBe(2);

    const touched = await client.operate(key('op'), [{ kind: 'touch', ttl: 500 }]);
    expect(touched.gen).toBe(3);
    expect((await client.get(key('op'))).ttl).toBeGreaterThan(490);

    await expect(client.operate(key('op'), [{ kind: 'incr', bin: 's', value: 1 }])).rejects.toMatchObject({ code: 12 });
    // List operations are not modelled; the double rejects them as a parameter error.
    await expect(client.operate(key('op'), [{ kind: 'list-append', bin: 'l', value: 1 }])).rejects.toMatchObject({ code: 4 });
    expect((await client.get(key('op'))).gen).toBe(3);
  });

  it('honours create-only and update-only policies', async () => {
    await client.put(key('policy'), { a: 1 }, { exists: 'CREATE' });
    await expect(client.put(key('policy'), { a: 2 }, { exists: 'CREATE' })).rejects.toMatchObject({ code: 5 });
    await expect(client.put(key('policy-missing'), { a: 2 }, { exists: 'UPDATE' })).rejects.toMatchObject({ code: 2 });
    await client.put(key('policy'), { b: 2 }, { exists: 'REPLACE' });
    expect((await client.get(key('policy'))).bins).toEqual({ b: 2 });
  });

  it('serves batch reads, writes and removes', async () => {
    await client.put(key('b1'), { v: 1 });
    await client.put(key('b2'), { v: 2, w: 'two' });
    const read = await client.batchRead([key('b1'), key('missing'), key('b2')]);
    expect(read.map((r) => r.status)).toEqual([0, 2, 0]);
    expect(read[0]!.bins).toEqual({ v: 1 });
    expect(read[2]!.bins).toEqual({ v: 2, w: 'two' });
    const selected = await client.batchRead([key('b1'), key('b2')], ['v']);
    expect(selected.map((r) => r.bins)).toEqual([{ v: 1 }, { v: 2 }]);

    const written = await client.batchWrite([
      { key: key('bw1'), ops: [{ kind: 'write', bin: 'x', value: 1 }] },
      { key: key('bw2'), ops: [{ kind: 'write', bin: 'x', value: 2 }] },
    ]);
    expect(written.map((r) => r.status)).toEqual([0, 0]);
    expect((await client.get(key('bw2'))).bins).toEqual({ x: 2 });

    const removed = await client.batchRemove([key('bw1'), key('bw-missing')]);
    expect(removed.map((r) => r.status)).toEqual([0, 2]);
    expect(await client.exists(key('bw1'))).toBe(false);
  });

  it('answers info commands', async () => {
    expect(await client.info('build')).toBe('build\t8.1.2.0\n');
    expect(await client.info('edition')).toBe('edition\tAerospike Community Edition\n');
    expect(await client.info('node')).toBe(`node\t${double.nodeId}\n`);
  });

  it('reports a client error type for failures', async () => {
    const err = await client.get(key('nope')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ClientCallError);
    expect((err as ClientCallError).code).toBe(2);
  });

  it('was tended with the info names a 6.7 client asks, and keeps being tended', async () => {
    // Asked while connect() seeds the cluster.
    const asked = [...double.infoNames.keys()];
    for (const name of ['node', 'partition-generation', 'build', 'peers-clear-std', 'replicas']) {
      expect(asked).toContain(name);
    }
    expect(asked.some((name) => name.startsWith('user-agent-set:value='))).toBe(true);
    // The periodic tend (every second by default) polls the generations as well.
    const deadline = Date.now() + 5000;
    while (!double.infoNames.has('peers-generation') && Date.now() < deadline) await sleep(100);
    expect(double.infoNames.get('peers-generation')?.count).toBeGreaterThan(0);
    expect([...double.infoNames.values()].every((seen) => seen.known)).toBe(true);
  });
});

// ---------------------------------------------------------------------------------------------
// Real XDR captures

interface Capture {
  binPolicy: string;
  shipBinLuts: string;
  kind: string;
  ce812: number;
  bytes: Buffer;
}

function loadCaptures(): Capture[] {
  const text = readFileSync(new URL('./fixtures/xdr-captures.txt', import.meta.url), 'utf8');
  return text
    .split('\n')
    .filter((line) => line.trim() !== '' && !line.startsWith('#'))
    .map((line) => {
      const [binPolicy, shipBinLuts, kind, ce812, hex] = line.split(' | ').map((c) => c.trim());
      return { binPolicy: binPolicy!, shipBinLuts: shipBinLuts!, kind: kind!, ce812: Number(ce812), bytes: Buffer.from(hex!, 'hex') };
    });
}

describe('XDR captures', () => {
  const captures = loadCaptures();
  let double: AerospikeDouble;
  let conn: RawConnection;

  beforeEach(async () => {
    double = await AerospikeDouble.start();
    conn = await RawConnection.open(double.port);
  });
  afterEach(async () => {
    conn.close();
    await double.close();
  });

  it('has the capture file', () => {
    expect(captures.length).toBe(10);
  });

  it('answers every capture, in order on one connection, with the code CE 8.1.2 gave', async () => {
    for (const capture of captures) {
      conn.send(capture.bytes);
      const frame = await conn.one();
      expect(frame.type, capture.kind).toBe(3);
      expect(frame.size, capture.kind).toBe(30);
      expect(parseReply(frame).resultCode, `${capture.binPolicy} ${capture.kind}`).toBe(capture.ce812);
    }
    expect(double.records('test').size).toBe(0);
    expect(double.stats.requests).toBe(10);
    expect(double.stats.rejected).toEqual({ 2: 2, 4: 2 });
  });

  it('answers the same codes when every capture is pipelined in one write', async () => {
    conn.send(Buffer.concat(captures.map((c) => c.bytes)));
    const frames = await conn.take(captures.length);
    expect(frames.map((f) => parseReply(f).resultCode)).toEqual(captures.map((c) => c.ce812));
    expect(frames.every((f) => f.size === 30)).toBe(true);
  });

  it('stores what the capture writes carry: bins, generation, LUT, XDR flag, key and set', async () => {
    const writes = captures.filter((c) => c.kind === 'write');
    for (const capture of writes) expect((await conn.request(capture.bytes)).resultCode).toBe(0);
    const records = double.records('test');
    expect(records.size).toBe(3);
    expect(double.stats.xdrWrites).toBe(3);
    for (const capture of writes) {
      // Fields in XDR order: namespace, digest, set, key, LUT.
      const digest = capture.bytes.subarray(8 + 22 + 9 + 5, 8 + 22 + 9 + 5 + 20);
      const lut = capture.bytes.readBigUInt64BE(8 + 22 + 9 + 25 + 10 + 14 + 5);
      const record = double.get('test', digest);
      expect(record, capture.binPolicy).toBeDefined();
      expect(record!.generation).toBe(1);
      expect(record!.voidTime).toBe(0);
      expect(record!.xdr).toBe(true);
      expect(record!.lut).toBe(lut);
      expect(Number((record!.lut! & 0xff_ffff_ffffn) + 1_262_304_000_000n)).toBeGreaterThan(Date.UTC(2019, 0, 1));
      expect(record!.set).toBe('myset');
      expect(record!.key![0]).toBe(1);
      expect(record!.bins.get('name')).toEqual({ type: 3, value: str('colton') });
      expect(record!.bins.get('age')).toEqual({ type: 1, value: int64(27) });
      expect(record!.bins.get('mapTest')).toEqual({ type: 19, value: Buffer.from('82a2036101a2036202', 'hex') });
    }
  });
});

// ---------------------------------------------------------------------------------------------
// Raw protocol

describe('raw protocol', () => {
  let double: AerospikeDouble;
  let conn: RawConnection;

  beforeEach(async () => {
    double = await AerospikeDouble.start({ namespaces: ['test', 'bar'], clusterName: 'ferry-ci' });
    conn = await RawConnection.open(double.port);
  });
  afterEach(async () => {
    conn.close();
    await double.close();
  });

  describe('info', () => {
    it('answers the names a client tends with', async () => {
      conn.send(
        infoRequest('node', 'features', 'partitions', 'partition-generation', 'peers-generation', 'cluster-name', 'edition', 'build', 'namespaces'),
      );
      const info = parseInfo(await conn.one());
      expect(info.get('node')).toBe(double.nodeId);
      expect(double.nodeId).toMatch(/^[0-9A-F]+$/);
      const features = info.get('features')!.split(';');
      for (const f of ['peers', 'pipelining', 'replicas', 'batch-index', 'float', 'geo', 'cdt-list', 'cdt-map', 'truncate-namespace']) {
        expect(features).toContain(f);
      }
      expect(info.get('partitions')).toBe('4096');
      expect(Number(info.get('partition-generation'))).toBeGreaterThanOrEqual(0);
      expect(Number(info.get('peers-generation'))).toBeGreaterThanOrEqual(0);
      expect(info.get('cluster-name')).toBe('ferry-ci');
      expect(info.get('edition')).toBe('Aerospike Community Edition');
      expect(info.get('build')).toBe('8.1.2.0');
      expect(info.get('namespaces')).toBe('test;bar');
    });

    it('answers peers, service and a replicas map where this node masters every partition', async () => {
      conn.send(infoRequest('peers-clear-std', 'peers-tls-std', 'service-clear-std', 'replicas', 'replicas-master'));
      const info = parseInfo(await conn.one());
      expect(info.get('peers-clear-std')).toMatch(new RegExp(`^\\d+,${double.port},\\[\\]$`));
      expect(info.get('peers-tls-std')).toMatch(/^\d+,\d+,\[\]$/);
      expect(info.get('service-clear-std')).toBe(`127.0.0.1:${double.port}`);
      const replicas = info.get('replicas')!.split(';');
      expect(replicas.map((r) => r.split(':')[0])).toEqual(['test', 'bar']);
      for (const entry of replicas) {
        const [regime, count, bitmap] = entry.split(':')[1]!.split(',');
        expect(regime).toBe('0');
        expect(count).toBe('1');
        const bits = Buffer.from(bitmap!, 'base64');
        expect(bits.length).toBe(512);
        expect(bits.every((b) => b === 0xff)).toBe(true);
      }
      const master = info.get('replicas-master')!.split(';')[0]!.split(':');
      expect(master[0]).toBe('test');
      expect(Buffer.from(master[1]!, 'base64').every((b) => b === 0xff)).toBe(true);
    });

    it('answers an empty request with a default set and marks unknown names as errors', async () => {
      conn.send(proto(1, Buffer.alloc(0)));
      const defaults = parseInfo(await conn.one());
      expect(defaults.get('node')).toBe(double.nodeId);
      expect(defaults.get('build')).toBe('8.1.2.0');
      conn.send(infoRequest('no-such-thing', 'namespace/test', 'namespace/nope'));
      const info = parseInfo(await conn.one());
      expect(info.get('no-such-thing')).toMatch(/^ERROR:/);
      expect(info.get('namespace/test')).toContain('objects=0');
      expect(info.get('namespace/nope')).toMatch(/^ERROR:/);
      expect(double.infoNames.get('no-such-thing')).toEqual({ count: 1, known: false });
      expect(double.stats.infoRequests).toBe(2);
    });
  });

  describe('security', () => {
    it('answers LOGIN and AUTHENTICATE with 51 (security not supported), as Community Edition does', async () => {
      for (const command of [20, 0]) {
        const header = Buffer.alloc(16);
        header[2] = command;
        header[3] = 1;
        conn.send(proto(2, Buffer.concat([header, field(0, 'user')])));
        const frame = await conn.one();
        expect(frame.size).toBe(24);
        expect(frame.type).toBe(2);
        expect(frame.body[1]).toBe(51);
        expect(frame.body[2]).toBe(0);
        expect(frame.body[3]).toBe(0);
      }
    });
  });

  describe('records', () => {
    const d = digestOf('rec');

    it('writes, reads all bins, reads selected bins and reads the header only', async () => {
      const w = await conn.request(write(d, { a: 1, b: 'two' }, { fields: [ns(), digestField(d), setField('s1')] }));
      expect(w).toMatchObject({ resultCode: 0, generation: 1, bins: [] });
      const all = await conn.request(readAll(d));
      expect(all.resultCode).toBe(0);
      expect(all.generation).toBe(1);
      expect(all.bins).toEqual([
        { name: 'a', particle: 1, value: int64(1) },
        { name: 'b', particle: 3, value: str('two') },
      ]);
      const some = await conn.request(message({ info1: 0x01, fields: [ns(), digestField(d)], ops: [{ op: 1, particle: 0, name: 'b' }] }));
      expect(some.bins).toEqual([{ name: 'b', particle: 3, value: str('two') }]);
      const header = await conn.request(message({ info1: 0x21, fields: [ns(), digestField(d)] }));
      expect(header).toMatchObject({ resultCode: 0, generation: 1, bins: [] });
      expect((await conn.request(readAll(digestOf('absent')))).resultCode).toBe(2);
      expect(double.get('test', d)!.set).toBe('s1');
    });

    it('replies to a plain write and delete with exactly 30 bytes', async () => {
      conn.send(write(d, { a: 1 }));
      conn.send(remove(d));
      const frames = await conn.take(2);
      expect(frames.map((f) => f.size)).toEqual([30, 30]);
      expect(frames.map((f) => parseReply(f).resultCode)).toEqual([0, 0]);
      expect(double.stats).toMatchObject({ writes: 1, deletes: 1 });
    });

    it('merges on update and replaces on create-or-replace, deleting null bins', async () => {
      await conn.request(write(d, { a: 1, b: 2 }));
      await conn.request(write(d, { c: 3 }));
      expect([...double.get('test', d)!.bins.keys()]).toEqual(['a', 'b', 'c']);
      await conn.request(write(d, { z: 9 }, { info3: 0x10 }));
      expect([...double.get('test', d)!.bins.keys()]).toEqual(['z']);
      const r = await conn.request(
        message({ ...W, fields: [ns(), digestField(d)], ops: [{ op: 2, particle: 0, name: 'z' }, { op: 2, particle: 1, name: 'y', value: int64(1) }] }),
      );
      expect(r.generation).toBe(4);
      expect([...double.get('test', d)!.bins.keys()]).toEqual(['y']);
      // Removing the last bin removes the record.
      await conn.request(message({ ...W, fields: [ns(), digestField(d)], ops: [{ op: 2, particle: 0, name: 'y' }] }));
      expect(double.get('test', d)).toBeUndefined();
    });

    it('enforces existence and generation policies', async () => {
      expect((await conn.request(write(d, { a: 1 }, { info3: 0x08 }))).resultCode).toBe(2);
      expect((await conn.request(write(d, { a: 1 }, { info3: 0x20 }))).resultCode).toBe(2);
      expect((await conn.request(write(d, { a: 1 }, { info2: 0x21 }))).resultCode).toBe(0);
      expect((await conn.request(write(d, { a: 1 }, { info2: 0x21 }))).resultCode).toBe(5);
      expect((await conn.request(write(d, { a: 2 }, { info2: 0x05, generation: 7 }))).resultCode).toBe(3);
      expect((await conn.request(write(d, { a: 2 }, { info2: 0x05, generation: 1 }))).resultCode).toBe(0);
      expect((await conn.request(write(d, { a: 3 }, { info2: 0x09, generation: 2 }))).resultCode).toBe(3);
      expect((await conn.request(write(d, { a: 3 }, { info2: 0x09, generation: 9 }))).resultCode).toBe(0);
      expect((await conn.request(remove(d, 0x07))).resultCode).toBe(3);
      expect(double.get('test', d)!.generation).toBe(3);
      expect(double.stats.rejected).toEqual({ 2: 2, 3: 3, 5: 1 });
    });

    it('applies the TTL rules: default, never, do-not-change and seconds', async () => {
      await conn.request(write(d, { a: 1 }, { ttl: 100 }));
      const voidTime = double.get('test', d)!.voidTime;
      expect(Math.abs(voidTime - (citrusNow() + 100))).toBeLessThanOrEqual(2);
      expect((await conn.request(readAll(d))).voidTime).toBe(voidTime);
      await conn.request(write(d, { a: 2 }, { ttl: 0xffff_fffe }));
      expect(double.get('test', d)!.voidTime).toBe(voidTime);
      await conn.request(write(d, { a: 3 }, { ttl: 0xffff_ffff }));
      expect(double.get('test', d)!.voidTime).toBe(0);
      await conn.request(write(d, { a: 4 }, { ttl: 50 }));
      await conn.request(write(d, { a: 5 }, { ttl: 0 }));
      expect(double.get('test', d)!.voidTime).toBe(0);
    });

    it('answers a write without ops with 4, and a delete of a missing record with 2', async () => {
      expect((await conn.request(message({ ...W, info3: 0x10, fields: [ns(), digestField(d)] }))).resultCode).toBe(4);
      expect((await conn.request(message({ ...W, info1: 0x20, fields: [ns(), digestField(d)] }))).resultCode).toBe(4);
      expect((await conn.request(remove(d))).resultCode).toBe(2);
    });

    it('stores LUT and XDR flag of XDR writes, and skips bin LUTs and unknown fields', async () => {
      const lut = (3n << 40n) | 123_456_789n;
      const r = await conn.request(
        message({
          info1: 0x10,
          info2: 0x11,
          ttl: 0xffff_ffff,
          generation: 9,
          fields: [ns(), digestField(d), field(99, str('ignored')), lutField(lut)],
          ops: [{ op: 2, particle: 3, name: 'n', value: str('v'), binLut: 77n }],
        }),
      );
      expect(r.resultCode).toBe(0);
      const record = double.get('test', d)!;
      expect(record).toMatchObject({ generation: 1, xdr: true, lut });
      expect(record.bins.get('n')).toEqual({ type: 3, value: str('v') });
      await conn.request(write(d, { n: 'w' }));
      expect(double.get('test', d)).toMatchObject({ generation: 2, xdr: false, lut: undefined });
      expect(double.stats.xdrWrites).toBe(1);
    });

    it('operates: read after write, incr, append/prepend, touch, delete, unsupported ops', async () => {
      const fields = [ns(), digestField(d)];
      await conn.request(write(d, { n: 1, s: 'b' }));
      const r = await conn.request(
        message({
          info1: 0x01,
          info2: 0x01,
          fields,
          ops: [
            { op: 1, particle: 0, name: 'n' },
            { op: 5, particle: 1, name: 'n', value: int64(41) },
            { op: 9, particle: 3, name: 's', value: str('c') },
            { op: 10, particle: 3, name: 's', value: str('a') },
            { op: 5, particle: 2, name: 'f', value: float64(0.5) },
            { op: 1, particle: 0, name: 'n' },
            { op: 1, particle: 0, name: 's' },
            { op: 1, particle: 0, name: 'f' },
          ],
        }),
      );
      expect(r.resultCode).toBe(0);
      expect(r.generation).toBe(2);
      expect(r.bins).toEqual([
        { name: 'n', particle: 1, value: int64(1) },
        { name: 'n', particle: 1, value: int64(42) },
        { name: 's', particle: 3, value: str('abc') },
        { name: 'f', particle: 2, value: float64(0.5) },
      ]);
      const incompatible = await conn.request(message({ ...W, fields, ops: [{ op: 9, particle: 3, name: 'n', value: str('x') }] }));
      expect(incompatible.resultCode).toBe(12);
      const cdt = await conn.request(message({ ...W, fields, ops: [{ op: 4, particle: 20, name: 'l', value: Buffer.from([0x93, 1, 2, 3]) }] }));
      expect(cdt.resultCode).toBe(4);
      expect(double.get('test', d)!.generation).toBe(2);
      expect((await conn.request(message({ ...W, fields, ops: [{ op: 11, particle: 0, name: '' }], ttl: 60 }))).generation).toBe(3);
      const touchMissing = await conn.request(message({ ...W, fields: [ns(), digestField(digestOf('gone'))], ops: [{ op: 11, particle: 0, name: '' }] }));
      expect(touchMissing.resultCode).toBe(2);
      expect((await conn.request(message({ ...W, fields, ops: [{ op: 14, particle: 0, name: '' }] }))).resultCode).toBe(0);
      expect(double.get('test', d)).toBeUndefined();
    });

    it('answers 25 to compressed messages and durable deletes, 20 to unknown namespaces', async () => {
      const plain = write(d, { a: 1 });
      const original = Buffer.alloc(8);
      original.writeBigUInt64BE(BigInt(plain.length));
      const compressed = proto(4, Buffer.concat([original, deflateSync(plain)]));
      const c = await conn.request(compressed);
      expect(c.resultCode).toBe(25);
      expect(double.get('test', d)).toBeUndefined();

      await conn.request(write(d, { a: 1 }));
      expect((await conn.request(remove(d, 0x13))).resultCode).toBe(25);
      expect(double.get('test', d)).toBeDefined();

      expect((await conn.request(write(d, { a: 1 }, { fields: [ns('nope'), digestField(d)] }))).resultCode).toBe(20);
      expect((await conn.request(readAll(d, 'nope'))).resultCode).toBe(20);
      expect((await conn.request(write(d, { a: 1 }, { fields: [digestField(d)] }))).resultCode).toBe(20);
      // A second namespace is separate.
      expect((await conn.request(write(d, { b: 1 }, { fields: [ns('bar'), digestField(d)] }))).resultCode).toBe(0);
      expect([...double.get('bar', d)!.bins.keys()]).toEqual(['b']);
      expect([...double.get('test', d)!.bins.keys()]).toEqual(['a']);
    });
  });

  describe('batch', () => {
    /** Field 41 in the row format with INFO|GEN|TTL rows; `repeat` rows reuse the previous one. */
    function batch(rows: { index: number; digest: Buffer; repeat?: boolean; info1?: number; info2?: number; ops?: OpSpec[] }[]): Buffer {
      const parts: Buffer[] = [];
      const head = Buffer.alloc(5);
      head.writeUInt32BE(rows.length);
      parts.push(head);
      for (const row of rows) {
        const idx = Buffer.alloc(4);
        idx.writeUInt32BE(row.index);
        parts.push(idx, row.digest);
        if (row.repeat) {
          parts.push(Buffer.from([0x01]));
          continue;
        }
        const ops = row.ops ?? [];
        const attrs = Buffer.alloc(1 + 3 + 2 + 4 + 4);
        attrs[0] = 0x02 | 0x04 | 0x08;
        attrs[1] = row.info1 ?? 0;
        attrs[2] = row.info2 ?? 0;
        attrs.writeUInt16BE(2, 10);
        attrs.writeUInt16BE(ops.length, 12);
        parts.push(attrs, ns(), setField('bs'), ...ops.map(op));
      }
      return message({ info1: 0x08, fields: [field(41, Buffer.concat(parts))] });
    }

    it('clears the XDR bit on batch writes and answers one message per row, then LAST', async () => {
      const a = digestOf('ba');
      const b = digestOf('bb');
      conn.send(
        batch([
          { index: 0, digest: a, info1: 0x10, info2: 0x01, ops: [{ op: 2, particle: 1, name: 'v', value: int64(1) }] },
          { index: 1, digest: b, repeat: true },
        ]),
      );
      const frame = await conn.one();
      expect(frame.type).toBe(3);
      const replies = parseMessages(frame.body);
      expect(replies.map((r) => [r.resultCode, r.transactionTtl, r.info3 & 1])).toEqual([
        [0, 0, 0],
        [0, 1, 0],
        [0, 0, 1],
      ]);
      expect(double.get('test', a)).toMatchObject({ xdr: false, set: 'bs', generation: 1 });
      expect(double.get('test', b)!.bins.get('v')).toEqual({ type: 1, value: int64(1) });
      expect(double.stats.xdrWrites).toBe(0);
      expect(double.stats.writes).toBe(2);

      conn.send(batch([{ index: 0, digest: b, info1: 0x03 }, { index: 1, digest: digestOf('none'), repeat: true }]));
      const reads = parseMessages((await conn.one()).body);
      expect(reads[0]).toMatchObject({ resultCode: 0, transactionTtl: 0, bins: [{ name: 'v', particle: 1, value: int64(1) }] });
      expect(reads[1]).toMatchObject({ resultCode: 2, transactionTtl: 1, bins: [] });
      expect(reads[2]!.info3 & 1).toBe(1);
    });
  });

  describe('framing and pipelining', () => {
    it('frames a stream cut at every byte offset into the same frames', () => {
      const stream = Buffer.concat([write(digestOf('f1'), { a: 1 }), infoRequest('node'), proto(2, Buffer.alloc(16)), readAll(digestOf('f2'))]);
      const whole: Buffer[] = [];
      new Framer().push(stream, (f) => whole.push(Buffer.from(f.body)));
      expect(whole.length).toBe(4);
      for (let cut = 1; cut < stream.length; cut++) {
        for (const second of [cut + 1, stream.length]) {
          const framer = new Framer();
          const got: Buffer[] = [];
          for (const piece of [stream.subarray(0, cut), stream.subarray(cut, second), stream.subarray(second)]) {
            framer.push(piece, (f) => got.push(Buffer.from(f.body)));
          }
          expect(got).toEqual(whole);
        }
      }
    });

    it('answers 1000 pipelined requests, sent in one write, in order', async () => {
      const d = digestOf('pipe');
      const requests: Buffer[] = [];
      const expected: [number, number][] = [];
      let generation = 0;
      for (let i = 0; i < 1000; i++) {
        if (i % 3 === 0) {
          requests.push(write(d, { i }));
          expected.push([0, ++generation]);
        } else if (i % 3 === 1) {
          requests.push(readAll(digestOf(`missing-${i}`)));
          expected.push([2, 0]);
        } else {
          requests.push(readAll(d, 'nope'));
          expected.push([20, 0]);
        }
      }
      conn.send(Buffer.concat(requests));
      const frames = await conn.take(1000);
      expect(frames.map((f) => [parseReply(f).resultCode, parseReply(f).generation])).toEqual(expected);
    });

    it('absorbs 100k pipelined writes on one connection', async () => {
      const n = 100_000;
      const requests: Buffer[] = [];
      for (let i = 0; i < n; i++) requests.push(write(digestOf(`bulk-${i}`), { i }, { info1: 0x10, fields: [ns(), digestField(digestOf(`bulk-${i}`)), lutField(BigInt(i))] }));
      conn.send(Buffer.concat(requests));
      const frames = await conn.take(n, 50_000);
      expect(frames.every((f) => f.size === 30 && f.body[5] === 0)).toBe(true);
      expect(double.records('test').size).toBe(n);
      expect(double.stats.xdrWrites).toBe(n);
    });

    it('reassembles a message cut at every byte offset', async () => {
      const request = write(digestOf('cut'), { a: 1, b: 'xyz' });
      for (let cut = 1; cut < request.length; cut++) {
        conn.send(request.subarray(0, cut));
        await sleep(0);
        conn.send(request.subarray(cut));
      }
      const frames = await conn.take(request.length - 1);
      expect(frames.every((f) => parseReply(f).resultCode === 0)).toBe(true);
      expect(double.get('test', digestOf('cut'))!.generation).toBe(request.length - 1);
    });

    it('closes the connection on a bad version, an unknown type or an oversized body', async () => {
      const bad = [
        Buffer.concat([Buffer.from([3, 3]), write(digestOf('v'), { a: 1 }).subarray(2)]),
        proto(9, Buffer.alloc(4)),
        Buffer.from([2, 3, 0, 0, 0x08, 0, 0, 1]),
      ];
      for (const bytes of bad) {
        const c = await RawConnection.open(double.port);
        c.send(bytes);
        await c.closed;
        expect(c.pendingFrames()).toBe(0);
      }
      // The listener and other connections are unaffected.
      expect((await conn.request(write(digestOf('v'), { a: 1 }))).resultCode).toBe(0);
      expect(double.get('test', digestOf('v'))).toBeDefined();
    });

    it('treats a connection opened and closed without a request as normal', async () => {
      const c = await RawConnection.open(double.port);
      c.close();
      await c.closed;
      expect((await conn.request(write(digestOf('h'), { a: 1 }))).resultCode).toBe(0);
      expect(double.stats.connections).toBe(2);
    });
  });

  describe('faults', () => {
    it('delayMs delays record replies, keeps their order and leaves info alone', async () => {
      double.faults.delayMs = 150;
      const started = Date.now();
      const info = await RawConnection.open(double.port);
      info.send(infoRequest('node'));
      expect(parseInfo(await info.one()).get('node')).toBe(double.nodeId);
      expect(Date.now() - started).toBeLessThan(150);
      info.close();

      const d = digestOf('delay');
      conn.send(Buffer.concat([write(d, { a: 1 }), write(d, { a: 2 }), write(d, { a: 3 })]));
      const frames = await conn.take(3);
      expect(Date.now() - started).toBeGreaterThanOrEqual(3 * 150 - 10);
      expect(frames.map((f) => parseReply(f).generation)).toEqual([1, 2, 3]);
      double.faults.delayMs = 0;
    });

    it('errorCode answers every record request with that code and writes nothing', async () => {
      double.faults.errorCode = 11;
      const d = digestOf('err');
      expect((await conn.request(write(d, { a: 1 }))).resultCode).toBe(11);
      expect((await conn.request(readAll(d))).resultCode).toBe(11);
      expect(double.get('test', d)).toBeUndefined();
      double.faults.errorCode = null;
      expect((await conn.request(write(d, { a: 1 }))).resultCode).toBe(0);
      expect(double.stats.rejected[11]).toBe(2);
    });

    it('failNext fails exactly N record requests with failCode', async () => {
      double.faults.failNext = 2;
      double.faults.failCode = 9;
      const d = digestOf('fail');
      conn.send(Buffer.concat([write(d, { a: 1 }), write(d, { a: 2 }), write(d, { a: 3 }), write(d, { a: 4 })]));
      const frames = await conn.take(4);
      expect(frames.map((f) => [parseReply(f).resultCode, parseReply(f).generation])).toEqual([
        [9, 0],
        [9, 0],
        [0, 1],
        [0, 2],
      ]);
      expect(double.faults.failNext).toBe(0);
    });

    it('stall holds every reply until released, then answers all of them in order', async () => {
      double.faults.stall = true;
      const d = digestOf('stall');
      conn.send(Buffer.concat([write(d, { a: 1 }), readAll(d), write(d, { a: 2 })]));
      const other = await RawConnection.open(double.port);
      other.send(write(digestOf('stall-2'), { b: 1 }));
      await sleep(300);
      expect(conn.pendingFrames()).toBe(0);
      expect(other.pendingFrames()).toBe(0);
      expect(double.stats.requests).toBe(0);
      double.faults.stall = false;
      const frames = await conn.take(3);
      expect(frames.map((f) => [parseReply(f).resultCode, parseReply(f).generation])).toEqual([
        [0, 1],
        [0, 1],
        [0, 2],
      ]);
      expect(parseReply(await other.one()).resultCode).toBe(0);
      other.close();
    });

    it('dropConnections destroys open sockets but keeps listening', async () => {
      double.dropConnections();
      await conn.closed;
      const again = await RawConnection.open(double.port);
      expect((await again.request(write(digestOf('drop'), { a: 1 }))).resultCode).toBe(0);
      again.close();
    });

    it('refuseConnections stops and resumes listening on the same port', async () => {
      const port = double.port;
      await double.refuseConnections(true);
      await expect(RawConnection.open(port)).rejects.toMatchObject({ code: 'ECONNREFUSED' });
      // Connections already open keep working.
      expect((await conn.request(write(digestOf('refuse'), { a: 1 }))).resultCode).toBe(0);
      await double.refuseConnections(false);
      expect(double.port).toBe(port);
      const again = await RawConnection.open(port);
      expect((await again.request(readAll(digestOf('refuse')))).resultCode).toBe(0);
      again.close();
    });
  });
});
