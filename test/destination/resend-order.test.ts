/**
 * Writes lost with a connection go out again in order, and never on two connections at once for
 * one partition: a node serves each connection on its own, so two changes to one record on two
 * connections can be applied in either order.
 *
 * The node here is scripted: it records what each connection receives, answers only when told,
 * and drops a connection when told. The sink is driven by hand, as a worker's loop drives it.
 */

import { type Server, type Socket, createServer } from 'node:net';
import { afterEach, expect, it } from 'vitest';
import { AerospikeSink } from '../../src/destination/aerospike-sink.js';
import type { SinkEvents } from '../../src/destination/record-sink.js';
import { FieldType, Info1, Info2, Info3, OpType, PARTITIONS, REPLY_SIZE, ResultCode, encodeRecordRequest, newScan, scanRecordMessage, stringField, writeReply } from '../../src/protocol/index.js';
import { IDENTITY_RULE, PartitionMapWriter, type PolicySettings, newPartitionMapBuffer, newSessionBuffer } from '../../src/threads/index.js';
import { until } from '../support/in-process.js';

const POLICY: PolicySettings = { stripLut: false, stripDurableDelete: false, routing: { fallback: IDENTITY_RULE, namespaces: [], skipSets: [] }, transform: null, lastWriteWins: null };

type Event = { kind: 'received' | 'answered'; conn: number; generation: number; partition: number };

/** A node that keeps every request unanswered until `answer(conn)`. */
class ScriptedNode {
  readonly events: Event[] = [];
  private readonly sockets: Socket[] = [];
  private readonly pending: Array<Array<{ generation: number; partition: number }>> = [];
  private server: Server | null = null;
  port = 0;

  async start(): Promise<void> {
    this.server = createServer((socket) => {
      const conn = this.sockets.length;
      this.sockets.push(socket);
      this.pending.push([]);
      let buf = Buffer.alloc(0);
      socket.on('data', (chunk: Buffer) => {
        buf = Buffer.concat([buf, chunk]);
        while (buf.length >= 8) {
          const size = 8 + buf.readUIntBE(2, 6);
          if (buf.length < size) break;
          const body = buf.subarray(8, size);
          const scan = newScan();
          expect(scanRecordMessage(body, 0, body.length, scan)).toBe(0);
          const d = scan[4]!;
          const request = { generation: body.readUInt32BE(6), partition: (body[d]! | (body[d + 1]! << 8)) & (PARTITIONS - 1) };
          this.pending[conn]!.push(request);
          this.events.push({ kind: 'received', conn, ...request });
          buf = buf.subarray(size);
        }
      });
      socket.on('error', () => undefined);
    });
    await new Promise<void>((r) => this.server!.listen(0, '127.0.0.1', () => r()));
    this.port = (this.server!.address() as { port: number }).port;
  }

  receivedOn(conn: number): number {
    return this.pending[conn]?.length ?? 0;
  }

  get connections(): number {
    return this.sockets.length;
  }

  /** Answer everything connection `conn` holds, in order. */
  answer(conn: number): void {
    const all = this.pending[conn]!.splice(0);
    const out = Buffer.alloc(all.length * REPLY_SIZE);
    all.forEach((r, i) => {
      writeReply(out, i * REPLY_SIZE, ResultCode.Ok);
      this.events.push({ kind: 'answered', conn, ...r });
    });
    this.sockets[conn]!.write(out);
  }

  drop(conn: number): void {
    this.pending[conn]!.length = 0;
    this.sockets[conn]!.destroy();
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((r) => this.server?.close(() => r()) ?? r());
  }
}

/** An XDR write of one integer bin to `digest`; `generation` tells the versions apart at the node. */
function record(digestFirst: number, generation: number): Buffer {
  const digest = Buffer.alloc(20, 7);
  digest[0] = digestFirst;
  digest[1] = 0;
  const msg = encodeRecordRequest({
    info1: Info1.Xdr,
    info2: Info2.Write,
    info3: Info3.CreateOrReplace,
    generation,
    recordTtl: 0,
    fields: [stringField(FieldType.Namespace, 'test'), { type: FieldType.Digest, data: digest }],
    ops: [{ op: OpType.Write, particleType: 1, name: 'v', value: Buffer.alloc(8, generation) }],
  });
  return msg.subarray(8);
}

let node: ScriptedNode | null = null;
let sink: AerospikeSink | null = null;
afterEach(async () => {
  await sink?.close();
  sink = null;
  await node?.close();
  node = null;
});

it('a partition whose lost writes went out again only in part takes no other connection until they are answered', async () => {
  node = new ScriptedNode();
  await node.start();
  const map = new PartitionMapWriter(newPartitionMapBuffer());
  map.publish({ nodes: [{ id: 'A', host: '127.0.0.1', port: node.port, tlsName: undefined }], namespaces: ['test'] }, [new Uint8Array(PARTITIONS).fill(0)]);
  let ups = 0;
  let downs = 0;
  const done: Array<[number, number]> = [];
  const events: SinkEvents = {
    done: (_connection, seq, outcome) => done.push([seq, outcome]),
    progress: () => {},
    up: () => ups++,
    down: () => downs++,
    problem: () => {},
    cleared: () => {},
    count: () => {},
    parked: () => {},
  };
  // Two connections kept, a third opened on demand; two writes in flight on each.
  sink = new AerospikeSink(
    {
      kind: 'aerospike',
      connectionsPerNode: 3,
      minConnectionsPerNode: 2,
      idleTimeoutMs: 60_000,
      pipelineDepth: 2,
      timeoutMs: 60_000,
      connectTimeoutMs: 2000,
      retryWindowMs: 60_000,
      tls: null,
      map: map.sab,
      session: newSessionBuffer(),
      deadLetters: null,
    },
    POLICY,
    events,
  );
  const s = sink;
  s.open();
  await until(() => ups === 2, 5000, 'two connections up');
  const scan = newScan();
  const offer = (body: Buffer, seq: number): boolean => {
    expect(scanRecordMessage(body, 0, body.length, scan)).toBe(0);
    return s.offer(body, 0, body.length, scan, 1, seq);
  };
  const K = 1; // the record changed twice: partition 1
  const F = 2; // another record: partition 2

  // K's two versions fill the first connection; F goes to the second, which has room for one more.
  s.beginBatch();
  expect(offer(record(K, 1), 1)).toBe(true);
  expect(offer(record(K, 2), 2)).toBe(true);
  expect(offer(record(F, 1), 3)).toBe(true);
  s.flush();
  await until(() => node!.receivedOn(0) === 2 && node!.receivedOn(1) === 1, 5000, 'the writes at the node');

  // The first connection is lost with both of K's versions.
  node.drop(0);
  await until(() => downs === 1, 5000, 'the connection to be lost');

  // Sent again: K v1 takes the second connection's last slot. K v2 must wait for it, whatever
  // other connection comes up meanwhile (the lost one reconnecting, the third opening).
  for (let i = 0; i < 20; i++) {
    s.beginBatch();
    s.flush();
    await new Promise((r) => setTimeout(r, 25));
  }
  expect(ups).toBeGreaterThanOrEqual(3);
  const sentAgain = node.events.filter((e) => e.kind === 'received' && e.partition === K && e.conn !== 0);
  expect(sentAgain.map((e) => [e.conn, e.generation])).toEqual([[1, 1]]);

  // Once the node answers K v1, K v2 goes out.
  node.answer(1);
  await until(
    () => {
      s.beginBatch();
      s.flush();
      return node!.events.some((e) => e.kind === 'received' && e.partition === K && e.generation === 2 && e.conn !== 0);
    },
    5000,
    'K v2 to be sent again',
  );
  const answeredV1 = node.events.findIndex((e) => e.kind === 'answered' && e.partition === K && e.generation === 1);
  const resentV2 = node.events.findIndex((e) => e.kind === 'received' && e.partition === K && e.generation === 2 && e.conn !== 0);
  expect(answeredV1).toBeGreaterThanOrEqual(0);
  expect(resentV2).toBeGreaterThan(answeredV1);
  expect(done.filter(([seq]) => seq === 1)).toEqual([[1, ResultCode.Ok]]);
});
