/**
 * Micro-benchmarks of the hot path, each beside the alternative it beat. Every task handles a
 * batch of BATCH records per iteration; the table gives the cost per record.
 *
 *   npm run bench:micro
 *
 *   framing+routing   Framer + in-place scan + partition      vs  accumulate + full object decode
 *   ring              SAB ring: reserve, copy, publish a batch vs  MessagePort.postMessage per record
 *   reorder window    typed-array ReorderWindow               vs  Map<seq, code>
 *   encoder           WritePolicy byte patch (ns map + LUT)   vs  decode then encodeRecordRequest
 *   type 4            RecordInflater (one zlib state, reused) vs  inflateSync per message
 *   shared copy       records out of shared memory (odd offsets, as a socket leaves them), queued
 *                     and copied by the native addon in one call vs TypedArray#set per record
 *   replies           one coalesced buffer of 30-byte replies vs  one Buffer per reply + concat
 *   doorbell          waking a sleeping thread: Atomics.waitAsync without a timeout vs with one
 *                     (process CPU per wake-up, two threads ping-ponging; not per record)
 */

import { MessageChannel, Worker } from 'node:worker_threads';
import { inflateSync } from 'node:zlib';
import { Bench } from 'tinybench';
import { parseObjectSpec, binsFor, integerKeyDigest } from '../src/cli/load/record-factory.js';
import { RingReader, RingWriter, newRingBuffer } from '../src/threads/ring.js';
import { SpanCopier, loadCopySpans } from '../src/threads/span-copier.js';
import { WritePolicy } from '../src/destination/write-policy.js';
import {
  FieldType,
  Framer,
  InflateError,
  Info1,
  Info2,
  Info3,
  OpType,
  PROTO_HEADER_SIZE,
  REPLY_SIZE,
  RecordInflater,
  Scan,
  compressRecordMessage,
  decodeRecordMessage,
  encodeRecordRequest,
  lutField,
  lutFromUnixMs,
  newScan,
  partitionOf,
  scanRecordMessage,
  stringField,
  writeReply,
} from '../src/protocol/index.js';
import { ReorderWindow } from '../src/source/reorder-window.js';
import { namespaceMapped } from '../test/support/routing.js';

const BATCH = 512;

/** 512 XDR writes of one 256-byte blob bin, as a source ships them, back to back. */
function records(): Buffer[] {
  const specs = parseObjectSpec('B256');
  const out: Buffer[] = [];
  for (let k = 0; k < BATCH; k++) {
    out.push(
      encodeRecordRequest({
        info1: Info1.Xdr,
        info2: Info2.Write,
        info3: Info3.CreateOrReplace,
        generation: 1,
        recordTtl: 0xffffffff,
        fields: [stringField(FieldType.Namespace, 'test'), { type: FieldType.Digest, data: integerKeyDigest('demo', k) }, stringField(FieldType.Set, 'demo'), lutField(lutFromUnixMs(Date.now()))],
        ops: binsFor(specs, k, 1).map((b) => ({ op: OpType.Write, particleType: b.particleType, name: b.name, value: b.bytes })),
      }),
    );
  }
  return out;
}

const msgs = records();
const stream = Buffer.concat(msgs);
// The stream as a socket delivers it: 64 KiB chunks.
const chunks: Buffer[] = [];
for (let i = 0; i < stream.length; i += 65536) chunks.push(stream.subarray(i, i + 65536));

async function main(): Promise<void> {
  const bench = new Bench({ name: 'ferry hot path', time: 400, warmupTime: 100 });
  const scan = newScan();
  let sink = 0;

  // ---- framing and routing ----
  bench.add('framing+routing: Framer + scan (Ferry)', () => {
    const framer = new Framer(1 << 24);
    for (const c of chunks) {
      framer.push(c, {
        onFrame(_t, buf, start, end) {
          scanRecordMessage(buf, start, end, scan);
          sink += partitionOf(buf, scan[Scan.DigestOffset]!);
          return true;
        },
      });
    }
  });
  bench.add('framing+routing: concat + full decode (alternative)', () => {
    let pending = Buffer.alloc(0);
    for (const c of chunks) {
      pending = Buffer.concat([pending, c]);
      while (pending.length >= 8) {
        const len = pending.readUIntBE(2, 6);
        if (pending.length < 8 + len) break;
        const m = decodeRecordMessage(pending, 8, 8 + len);
        sink += (m.digest![0]! | (m.digest![1]! << 8)) & 0xfff;
        pending = pending.subarray(8 + len);
      }
    }
  });

  // ---- ring vs postMessage ----
  const sab = newRingBuffer(1 << 22);
  const writer = new RingWriter(sab);
  const reader = new RingReader(sab);
  bench.add('ring: SAB reserve+copy, one publish per batch (Ferry)', () => {
    for (const m of msgs) {
      const at = writer.reserve(m.length);
      m.copy(writer.data, at);
    }
    writer.publish();
    for (let at = reader.peek(); at >= 0; at = reader.peek()) {
      sink += reader.lengthAt(at);
      reader.next(at);
    }
    reader.release();
  });
  const { port1, port2 } = new MessageChannel();
  let received = 0;
  port2.on('message', () => received++);
  bench.add('ring: postMessage per record (alternative)', async () => {
    const target = received + msgs.length;
    for (const m of msgs) port1.postMessage(m);
    while (received < target) await new Promise((r) => setImmediate(r));
  });

  // ---- reorder window ----
  const order = Array.from({ length: BATCH }, (_, i) => i).sort((a, b) => ((a * 7919) % BATCH) - ((b * 7919) % BATCH));
  bench.add('reorder window: typed arrays (Ferry)', () => {
    const w = new ReorderWindow(BATCH);
    for (let i = 0; i < BATCH; i++) w.open(0, 0);
    for (const i of order) w.complete(i, 0);
    w.drain((code) => {
      sink += code;
    });
  });
  bench.add('reorder window: Map<seq, code> (alternative)', () => {
    const pending = new Map<number, number>();
    let head = 0;
    for (let i = 0; i < BATCH; i++) pending.set(i, -1);
    for (const i of order) {
      pending.set(i, 0);
      while (pending.get(head) !== undefined && pending.get(head)! >= 0) {
        sink += pending.get(head)!;
        pending.delete(head);
        head++;
      }
    }
  });

  // ---- destination encoder ----
  const out = Buffer.allocUnsafe(BATCH * 1024);
  const encoder = (name: string, policy: WritePolicy): void => {
    bench.add(name, () => {
      let o = 0;
      for (const m of msgs) {
        scanRecordMessage(m, PROTO_HEADER_SIZE, m.length, scan);
        const mapping = policy.routeOf(m, scan);
        const len = policy.outputLength(m, PROTO_HEADER_SIZE, m.length, scan, mapping);
        policy.write(m, PROTO_HEADER_SIZE, m.length, scan, mapping, out, o, len);
        o += len;
      }
      sink += o;
    });
  };
  encoder('encoder: byte patch, ns mapped + LUT stripped (Ferry)', new WritePolicy({ stripLut: true, stripDurableDelete: true, routing: namespaceMapped([['test', 'mirror']]), transform: null, lastWriteWins: null }));
  encoder(
    'encoder: byte patch, ns mapped + LUT stripped + last-write-wins guard (Ferry)',
    new WritePolicy({ stripLut: true, stripDurableDelete: true, routing: namespaceMapped([['test', 'mirror']]), transform: null, lastWriteWins: { bin: 'lww', tombstoneTtl: 0 } }),
  );
  bench.add('encoder: decode + re-encode (alternative)', () => {
    for (const m of msgs) {
      const d = decodeRecordMessage(m, PROTO_HEADER_SIZE, m.length);
      const fields = d.fields.filter((f) => f.type !== FieldType.LastUpdateTime).map((f) => (f.type === FieldType.Namespace ? stringField(FieldType.Namespace, 'mirror') : f));
      const enc = encodeRecordRequest({ info1: d.info1, info2: d.info2 & ~0x10, info3: d.info3, generation: d.generation, recordTtl: d.recordTtl, fields, ops: d.ops.map((op) => ({ op: op.op, particleType: op.particleType, name: op.name, value: op.value })) });
      sink += enc.length;
    }
  });

  // ---- type-4 inflation ----
  const compressed = msgs.map((m) => compressRecordMessage(m));
  const inflater = new RecordInflater();
  bench.add('type 4: inflate through one reused zlib state (Ferry)', () => {
    for (const c of compressed) {
      const r = inflater.inflate(c, PROTO_HEADER_SIZE, c.length, 1 << 20);
      if (r.error === InflateError.None) sink += r.message.length;
    }
  });
  bench.add('type 4: inflateSync per message (alternative)', () => {
    for (const c of compressed) sink += inflateSync(c.subarray(PROTO_HEADER_SIZE + 8)).length;
  });

  // ---- copies out of shared memory ----
  const arena = Buffer.from(new SharedArrayBuffer(BATCH * 1024));
  const spots: number[] = [];
  for (let i = 0, at = 3; i < msgs.length; i++) {
    msgs[i]!.copy(arena, at);
    spots.push(at);
    at += msgs[i]!.length + 1;
  }
  const copier = new SpanCopier(loadCopySpans().copySpans);
  const copyAll = (copy: (start: number, end: number, at: number) => void): void => {
    let o = 0;
    for (let i = 0; i < msgs.length; i++) {
      const n = msgs[i]!.length;
      copy(spots[i]!, spots[i]! + n, o);
      o += n;
    }
    sink += o;
  };
  bench.add(`shared copy: queued, one call to the native addon per batch (Ferry${copier.native ? '' : '; addon not built, so copied at once'})`, () => {
    copyAll((start, end, at) => copier.copy(arena, start, end, out, at));
    copier.finish();
  });
  bench.add('shared copy: TypedArray#set per record (alternative)', () => {
    copyAll((start, end, at) => out.set(arena.subarray(start, end), at));
  });

  // ---- reply coalescing ----
  const block = Buffer.alloc(BATCH * REPLY_SIZE);
  for (let i = 0; i < BATCH; i++) writeReply(block, i * REPLY_SIZE, 0);
  bench.add('replies: copy a run of ready-made replies into one buffer (Ferry)', () => {
    const b = Buffer.allocUnsafe(BATCH * REPLY_SIZE);
    block.copy(b, 0, 0, BATCH * REPLY_SIZE);
    b[PROTO_HEADER_SIZE + 5] = 11;
    sink += b.length;
  });
  bench.add('replies: one Buffer per reply, then concat (alternative)', () => {
    const parts: Buffer[] = [];
    for (let i = 0; i < BATCH; i++) {
      const r = Buffer.alloc(REPLY_SIZE);
      writeReply(r, 0, i === 0 ? 11 : 0);
      parts.push(r);
    }
    sink += Buffer.concat(parts).length;
  });

  await bench.run();
  port1.close();
  const rows = bench.tasks.map((t) => {
    const r = t.result;
    const mean = r.state === 'completed' ? r.latency.mean : Number.NaN;
    return { task: t.name, 'ns/record': Math.round((mean * 1e6) / BATCH), 'records/s (one core)': Math.round(BATCH / (mean / 1000)) };
  });
  console.table(rows);
  const doorbell = [];
  for (const [task, timeoutMs] of [
    ['doorbell: waitAsync with no timeout (Ferry)', Number.POSITIVE_INFINITY],
    ['doorbell: waitAsync with a 100 ms timeout (alternative)', 100],
  ] as const) {
    doorbell.push({ task, 'µs CPU/wake-up': Math.round((await wakeCost(timeoutMs)) * 100) / 100 });
  }
  console.table(doorbell);
  process.stdout.write(`${JSON.stringify({ batch: BATCH, rows, doorbell, sink: sink > 0 })}\n`);
}

const PINGS = 20_000;

/**
 * Process CPU per wake-up of a thread asleep in Atomics.waitAsync: main and a worker take turns
 * (each wakes the other, then sleeps), so every round trip is two wake-ups. Both threads sleep
 * with `timeoutMs`, as the rings' consumers would.
 */
async function wakeCost(timeoutMs: number): Promise<number> {
  const cells = new Int32Array(new SharedArrayBuffer(8));
  const worker = new Worker(
    `const { workerData, parentPort } = require('node:worker_threads');
     const cells = new Int32Array(workerData.sab);
     const keepAlive = setInterval(() => {}, 1000);
     (async () => {
       parentPort.postMessage('ready');
       for (;;) {
         const r = Atomics.waitAsync(cells, 0, 0, workerData.timeoutMs);
         if (r.async) await r.value;
         const v = Atomics.load(cells, 0);
         if (v === 2) break;
         if (v === 1) { Atomics.store(cells, 0, 0); Atomics.store(cells, 1, 1); Atomics.notify(cells, 1); }
       }
       clearInterval(keepAlive);
     })();`,
    { eval: true, workerData: { sab: cells.buffer, timeoutMs } },
  );
  await new Promise((r) => worker.once('message', r));
  const before = process.cpuUsage();
  for (let i = 0; i < PINGS; i++) {
    Atomics.store(cells, 1, 0);
    Atomics.store(cells, 0, 1);
    Atomics.notify(cells, 0);
    const r = Atomics.waitAsync(cells, 1, 0, timeoutMs);
    if (r.async) await r.value;
  }
  const used = process.cpuUsage(before);
  Atomics.store(cells, 0, 2);
  Atomics.notify(cells, 0);
  await new Promise((r) => worker.once('exit', r));
  return (used.user + used.system) / (PINGS * 2);
}

void main();
