/**
 * The benchmark's ack floor (bench/ack-floor.ts) answers a load without a destination, so its CPU
 * is the least a main thread can spend on it. It must still answer the way the loads expect: one
 * OK reply per message, whatever the message and wherever a read cut it, and in order.
 */

import { type Server, type Socket, connect } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { startAckFloor } from '../../bench/ack-floor.js';
import { XdrSource } from '../../src/cli/load/xdr-source.js';
import { Framer, type FrameSink, PROTO_HEADER_SIZE, REPLY_SIZE, writeReply } from '../../src/protocol/index.js';
import { ByteList, protoMessage } from '../support/bytes.js';
import { loadOptions } from '../support/load.js';

const closeServer = (s: Server): Promise<void> => new Promise((resolve) => s.close(() => resolve()));

describe('ack floor', () => {
  let floor: Server | undefined;
  afterEach(async () => {
    if (floor !== undefined) await closeServer(floor);
    floor = undefined;
  });

  it('answers every message with one OK reply, for frames cut at every offset', async () => {
    const record = protoMessage(3, Buffer.from('16 0a 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00'.replaceAll(' ', ''), 'hex'));
    const zipped = protoMessage(4, new ByteList().u64(30n).bytes(Buffer.alloc(40, 9)).join());
    const input = Buffer.concat([record, zipped, record, protoMessage(3, Buffer.alloc(3000, 1))]);
    const ok = Buffer.alloc(REPLY_SIZE * 4);
    for (let i = 0; i < 4; i++) writeReply(ok, i * REPLY_SIZE, 0);
    floor = await startAckFloor();
    const port = (floor.address() as { port: number }).port;
    for (let cut = 1; cut < input.length; cut += 97) {
      const replies = await new Promise<Buffer>((resolve, reject) => {
        const got: Buffer[] = [];
        const s: Socket = connect({ host: '127.0.0.1', port, noDelay: true }, () => {
          s.write(input.subarray(0, cut));
          setImmediate(() => s.write(input.subarray(cut)));
        });
        s.on('data', (c: Buffer) => {
          got.push(c);
          if (Buffer.concat(got).length >= ok.length) s.end();
        });
        s.on('close', () => resolve(Buffer.concat(got)));
        s.on('error', reject);
      });
      expect(replies.equals(ok)).toBe(true);
    }
  });

  it('answers an XDR load: every change acknowledged with code 0, in order', async () => {
    floor = await startAckFloor();
    const port = (floor.address() as { port: number }).port;
    for (const compress of [false, true]) {
      // No order probes: the floor reads no namespace, so it would answer them 0 as well.
      const source = new XdrSource(loadOptions(port, { keys: 2000, changes: 20_000, connections: 4, compress, probeEvery: 0, set: compress ? 'floor-zipped' : 'floor-plain' }));
      const stats = await source.run();
      expect(stats.changes).toBe(20_000);
      expect(stats.ships).toBeGreaterThan(2000);
      expect(stats.acks).toBe(stats.ships);
      expect(stats.probes).toBe(0);
      expect(stats.byCode).toEqual({ 0: stats.ships });
      expect(stats.orderViolations).toBe(0);
      expect(stats.abandons).toBe(0);
    }
  });

  it('replies are whole record replies the framer reads back', () => {
    const ok = Buffer.alloc(REPLY_SIZE);
    writeReply(ok, 0, 0);
    const seen: number[] = [];
    const sink: FrameSink = {
      onFrame: (type, buf, start, end) => {
        seen.push(type, end - start, buf[start + 5]!);
        return true;
      },
    };
    new Framer(1 << 20).push(ok, sink);
    expect(seen).toEqual([3, REPLY_SIZE - PROTO_HEADER_SIZE, 0]);
  });
});
