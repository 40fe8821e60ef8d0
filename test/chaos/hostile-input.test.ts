/**
 * Hostile input on the service port, while a real load runs on other connections: each malformed
 * stream closes only its own connection, is logged once with the peer and counted; the daemon
 * never crashes and the load finishes with nothing lost.
 */

import { deflateSync } from 'node:zlib';
import { connect } from 'node:net';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { XdrSource } from '../../src/cli/load/xdr-source.js';
import { AerospikeDouble } from '../double/server.js';
import { scale } from '../support/chaos.js';
import { FerryProcess, testConfig } from '../support/ferry-process.js';
import { until } from '../support/in-process.js';
import { loadOptions } from '../support/load.js';

const header = (version: number, type: number, length: number): Buffer => {
  const b = Buffer.alloc(8);
  b[0] = version;
  b[1] = type;
  b.writeUIntBE(length, 2, 6);
  return b;
};

/** An as_msg body: 22-byte header with the given field/op counts, then `rest`. */
const asMsg = (nFields: number, nOps: number, rest: Buffer): Buffer => {
  const h = Buffer.alloc(22);
  h[0] = 22;
  h[1] = 0x10;
  h[2] = 0x01;
  h.writeUInt16BE(nFields, 18);
  h.writeUInt16BE(nOps, 20);
  return Buffer.concat([h, rest]);
};
const frame = (type: number, body: Buffer): Buffer => Buffer.concat([header(2, type, body.length), body]);
/** A field: [u32 size = 1 + data length][u8 type][data]. */
const sized = (type: number, data: Buffer): Buffer => {
  const size = Buffer.alloc(5);
  size.writeUInt32BE(1 + data.length, 0);
  size[4] = type;
  return Buffer.concat([size, data]);
};

const namespace = sized(0, Buffer.from('test'));
const digest = sized(4, Buffer.alloc(20, 7));
// One WRITE op: [u32 size 13][op 2][integer][flags 0][name length 1]["a"][8-byte value 7].
const valid = frame(3, asMsg(2, 1, Buffer.concat([namespace, digest, Buffer.from('0000000d02010001610000000000000007', 'hex')])));

const corpus: Record<string, Buffer> = {
  'wrong version': Buffer.concat([header(3, 3, 22), Buffer.alloc(22)]),
  'unknown type': Buffer.concat([header(2, 9, 22), Buffer.alloc(22)]),
  'length 2^48 - 1': header(2, 3, 2 ** 48 - 1),
  'a field overrunning the message': frame(3, asMsg(1, 0, Buffer.from('0000ffff00', 'hex'))),
  'a zero-length field': frame(3, asMsg(1, 0, Buffer.from('0000000000', 'hex'))),
  '65,535 fields': frame(3, asMsg(65535, 0, Buffer.concat(Array.from({ length: 65535 }, () => Buffer.from('0000000163', 'hex'))))),
  'an op overrunning the message': frame(3, asMsg(2, 1, Buffer.concat([namespace, digest, Buffer.from('00000fff0201000161', 'hex')]))),
  'invalid zlib': frame(4, Buffer.concat([Buffer.from('0000000000000040', 'hex'), Buffer.from('not a zlib stream at all')])),
  'a zlib bomb': (() => {
    const bomb = deflateSync(Buffer.alloc(64 * 1024 * 1024));
    const len = Buffer.alloc(8);
    len.writeBigUInt64BE(100n);
    return frame(4, Buffer.concat([len, bomb]));
  })(),
  'garbage before a valid message': Buffer.concat([Buffer.from('deadbeefcafef00d', 'hex'), valid]),
  'a TLS hello on a clear port': Buffer.from('160301020001000200030344', 'hex'),
  'an HTTP request': Buffer.from('GET / HTTP/1.1\r\nHost: ferry\r\n\r\n'),
};

/** Send `bytes` on a fresh connection; resolve when Ferry closes it (or after `waitMs`). */
function send(port: number, bytes: Buffer, waitMs = 3000): Promise<{ closedByFerry: boolean; local: string }> {
  return new Promise((resolve) => {
    let local = '';
    const s = connect({ host: '127.0.0.1', port }, () => {
      local = `127.0.0.1:${s.localPort}`;
      s.write(bytes);
    });
    const timer = setTimeout(() => {
      s.destroy();
      resolve({ closedByFerry: false, local });
    }, waitMs);
    s.on('data', () => undefined);
    s.on('error', () => undefined);
    s.on('close', () => {
      clearTimeout(timer);
      resolve({ closedByFerry: true, local });
    });
  });
}

describe('hostile input on the service port', () => {
  let double: AerospikeDouble;
  let ferry: FerryProcess;
  beforeAll(async () => {
    double = await AerospikeDouble.start();
    ferry = await FerryProcess.start(testConfig(double, { service: { 'max-frame-size': 1024 * 1024 } }));
  });
  afterAll(async () => {
    await ferry?.stop();
    await double?.close();
  });

  it('each malformed stream closes only its connection, logged once per cause with the peer, counted; the load is untouched', async () => {
    const source = new XdrSource(loadOptions(ferry.port, { keys: 5000, changes: scale(40_000, 400_000), object: 'I,S:32', set: 'hostile', throttle: 8000, connections: 4 }));
    const run = source.run();
    await until(() => source.stats.acks > 2000, 20_000, 'the load to be under way');
    const peers: Record<string, string> = {};
    for (const [name, bytes] of Object.entries(corpus)) {
      const r = await send(ferry.port, bytes);
      expect(r.closedByFerry, name).toBe(true);
      peers[name] = r.local;
    }
    // Truncated frames: a header that promises more than ever comes. Ferry waits for the rest, as
    // it must, and lets the connection go quietly when the peer gives up.
    for (const cut of [3, 8, 20]) await send(ferry.port, valid.subarray(0, cut), 200);

    const stats = await run;
    expect(stats.abandons).toBe(0);
    expect(stats.resets).toBe(0);
    expect(stats.orderViolations).toBe(0);

    // One line per cause and peer host (the listener's rate limit): every stream from this host with
    // a cause not seen yet is logged, with its peer, once; a repeated cause is counted, not logged.
    const warnings = ferry.logs.filter((l) => l.msg === 'closing source connection: malformed input');
    const reasons = warnings.map((w) => String(w['reason']));
    expect(new Set(reasons).size).toBe(reasons.length);
    expect(warnings.length).toBeGreaterThan(Object.keys(corpus).length / 2);
    const logged = new Set(Object.values(peers));
    for (const w of warnings) expect(logged.has(String(w['peer'])), String(w['peer'])).toBe(true);
    const metrics = await (await fetch(`http://127.0.0.1:${ferry.managePort}/metrics`)).text();
    expect(metrics).toContain(`aerospike_xdr_proxy_requests{status="parse-error"} ${Object.keys(corpus).length}`);
    expect(ferry.child.exitCode).toBe(null);
  });

  it('fast-check: arbitrary bytes never crash the daemon', async () => {
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ minLength: 1, maxLength: 4096 }), async (bytes) => {
        await send(ferry.port, Buffer.from(bytes), 150);
      }),
      { numRuns: scale(60, 1000) },
    );
    expect(ferry.child.exitCode).toBe(null);
    const source = new XdrSource(loadOptions(ferry.port, { keys: 500, changes: 2000, object: 'I', set: 'after-fuzz', probeEvery: 0 }));
    expect((await source.run()).acks).toBeGreaterThan(0);
    expect((await fetch(`http://127.0.0.1:${ferry.managePort}/health/live`)).status).toBe(200);
  });
});
