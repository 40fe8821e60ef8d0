/**
 * The benchmark's naive relay (bench/naive-relay.ts) is the floor Ferry is measured against, so it
 * must carry the load correctly: frames cut anywhere reassembled, type 4 forwarded as the type-3
 * message it holds, every other byte untouched, replies in order.
 */

import { type Server, type Socket, connect, createServer } from 'node:net';
import { deflateSync } from 'node:zlib';
import { afterEach, describe, expect, it } from 'vitest';
import { startRelay } from '../../bench/naive-relay.js';
import { XdrSource } from '../../src/cli/load/xdr-source.js';
import { ByteList, protoMessage } from '../support/bytes.js';
import { useDestination } from '../support/destination.js';
import { loadOptions } from '../support/load.js';
import { verifyFinalState } from '../support/verify-state.js';

const closeServer = (s: Server): Promise<void> => new Promise((resolve) => s.close(() => resolve()));

/** A type-4 message around a whole type-3 message: [u64 inflated length][zlib stream]. */
function compressed(message: Buffer): Buffer {
  return protoMessage(4, new ByteList().u64(BigInt(message.length)).bytes(deflateSync(message)).join());
}

describe('naive relay: framing', () => {
  const servers: Server[] = [];
  afterEach(async () => {
    await Promise.all(servers.splice(0).map(closeServer));
  });

  it('forwards frames cut at every offset: type 4 inflated, types 1, 2 and 3 byte for byte', async () => {
    const record = protoMessage(3, Buffer.from('16 0a 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00'.replaceAll(' ', ''), 'hex'));
    const info = protoMessage(1, Buffer.from('namespaces\n'));
    const security = protoMessage(2, Buffer.alloc(24, 7), 0);
    const input = Buffer.concat([record, compressed(record), info, security]);
    const expected = Buffer.concat([record, record, info, security]);

    // The destination: keeps what each connection received, and answers with the byte count so
    // the reply path through the relay is exercised too.
    const received: Buffer[] = [];
    const upstream = createServer((s) => {
      const mine: Buffer[] = [];
      s.on('data', (c: Buffer) => {
        mine.push(c);
        if (Buffer.concat(mine).length === expected.length) {
          received.push(Buffer.concat(mine));
          s.end(`${expected.length}`);
        }
      });
    });
    await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
    servers.push(upstream);
    const relay = await startRelay({ host: '127.0.0.1', port: (upstream.address() as { port: number }).port });
    servers.push(relay);
    const relayPort = (relay.address() as { port: number }).port;

    for (let cut = 1; cut < input.length; cut++) {
      const reply = await new Promise<string>((resolve, reject) => {
        const s: Socket = connect({ host: '127.0.0.1', port: relayPort, noDelay: true }, () => {
          s.write(input.subarray(0, cut));
          // Written apart, so the relay most often reads the two parts apart.
          setImmediate(() => s.write(input.subarray(cut)));
        });
        let text = '';
        s.on('data', (c: Buffer) => (text += c.toString()));
        s.on('end', () => resolve(text));
        s.on('error', reject);
      });
      expect(reply).toBe(`${expected.length}`);
    }
    expect(received).toHaveLength(input.length - 1);
    for (const r of received) expect(r.equals(expected)).toBe(true);
  });
});

describe('naive relay: XDR load into the destination', () => {
  const ctx = useDestination();
  let relay: Server | undefined;
  afterEach(async () => {
    if (relay !== undefined) await closeServer(relay);
    relay = undefined;
  });

  it.each([
    { name: 'compressed, with deletes', compress: true, object: 'B256', set: 'relay-compressed' },
    { name: 'plain, every particle type', compress: false, object: 'all', set: 'relay-plain' },
  ])('$name: every change acknowledged in order, every key at its last version, XDR bit kept', async ({ compress, object, set }) => {
    relay = await startRelay({ host: ctx.dest.host, port: ctx.dest.port });
    const port = (relay.address() as { port: number }).port;
    const source = new XdrSource(loadOptions(port, { keys: 5000, changes: 30_000, compress, object, deletePct: 5, set }));
    const stats = await source.run();
    expect(stats.changes).toBe(30_000);
    expect(stats.abandons).toBe(0);
    expect(stats.orderViolations).toBe(0);
    // Order probes go to a namespace the destination lacks: only they come back 20.
    expect(stats.probes).toBeGreaterThan(50);
    expect(stats.byCode[20]).toBe(stats.probes);
    const { checked, mismatches } = await verifyFinalState(ctx.client, source);
    expect(mismatches.slice(0, 5)).toEqual([]);
    expect(checked).toBeGreaterThan(4900);
    if (ctx.dest.double !== undefined) {
      const stored = [...ctx.dest.double.records('test').values()].filter((r) => r.set === set);
      expect(stored.length).toBeGreaterThan(4000);
      expect(stored.every((r) => r.xdr)).toBe(true);
      // The double refuses type-4 requests as Community Edition does: none reached it.
      expect(ctx.dest.double.stats.rejected[125] ?? 0).toBe(0);
    }
  });
});
