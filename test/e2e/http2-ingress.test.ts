/**
 * `service.protocol: HTTP_2`: xdr-load's HTTP/2 mode (the ESP connector's way of shipping) straight
 * into a Ferry process and on into the destination; and what a malformed request gets.
 */

import { type ClientHttp2Session, connect } from 'node:http2';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { H2_BODY_PREFIX, XdrSource } from '../../src/cli/load/xdr-source.js';
import { BufferWriter, FieldType, Info1, Info2, Info3, OpType, Ttl, encodeRecordRequest, lutField, lutFromUnixMs, stringField } from '../../src/protocol/index.js';
import { integerKeyDigest } from '../../src/cli/load/record-factory.js';
import { useDestination } from '../support/destination.js';
import { until } from '../support/in-process.js';
import { makeSourceTlsFixtures } from '../support/source-tls-fixtures.js';
import { FerryProcess, testConfig } from '../support/ferry-process.js';
import { loadOptions } from '../support/load.js';
import { verifyFinalState } from '../support/verify-state.js';

/** One POST on `session`: its status and result-code header. */
function post(session: ClientHttp2Session, body: Buffer, method = 'POST', headers: Record<string, string> = {}): Promise<{ status: number; code: string | undefined }> {
  return new Promise((resolve, reject) => {
    const stream = session.request({ ':method': method, ':path': '/', ...headers });
    stream.on('response', (h) => resolve({ status: Number(h[':status']), code: h['ferry-result-code'] as string | undefined }));
    stream.on('error', reject);
    stream.resume();
    stream.end(method === 'POST' ? body : undefined);
  });
}

function writeMessage(set: string, key: number, value: number | Buffer, namespace = 'test'): Buffer {
  const w = new BufferWriter(256);
  encodeRecordRequest(
    {
      info1: Info1.Xdr,
      info2: Info2.Write,
      info3: Info3.CreateOrReplace,
      recordTtl: Ttl.NeverExpire,
      fields: [stringField(FieldType.Namespace, namespace), { type: FieldType.Digest, data: integerKeyDigest(set, key) }, stringField(FieldType.Set, set), lutField(lutFromUnixMs(Date.now()))],
      ops: [typeof value === 'number' ? { op: OpType.Write, particleType: 1, name: 'v', value: Buffer.from([0, 0, 0, 0, 0, 0, 0, value]) } : { op: OpType.Write, particleType: 4, name: 'v', value }],
    },
    w,
  );
  return w.finish();
}

const prefixed = (...messages: Buffer[]): Buffer => Buffer.concat([Buffer.from([H2_BODY_PREFIX]), ...messages]);

describe('HTTP/2 ingress', () => {
  const ctx = useDestination();

  it('xdr-load over HTTP/2: 30,000 changes, compressed, with deletes, every key at its last version', async () => {
    const ferry = await FerryProcess.start(testConfig(ctx.dest, { service: { protocol: 'HTTP_2' } }));
    try {
      const source = new XdrSource(loadOptions(ferry.port, { protocol: 'http2', keys: 5000, changes: 30_000, compress: true, deletePct: 10, set: 'h2-direct', connections: 4, pipeline: 128 }));
      const stats = await source.run();
      expect(stats.changes).toBe(30_000);
      expect([stats.abandons, stats.unacknowledged, stats.orderViolations]).toEqual([0, 0, 0]);
      expect(stats.probes).toBe(0);
      const { checked, mismatches } = await verifyFinalState(ctx.client, source);
      expect(mismatches.slice(0, 5)).toEqual([]);
      expect(checked).toBeGreaterThan(4900);
      expect(await ferry.metric('ferry_records_total{outcome="received"}')).toBeGreaterThanOrEqual(stats.acks);
    } finally {
      expect(await ferry.stop()).toBe(0);
    }
  });

  it('at the in-flight cap bodies wait and streams pause, then everything is taken: nothing lost', async () => {
    const ferry = await FerryProcess.start(testConfig(ctx.dest, { service: { protocol: 'HTTP_2', 'max-concurrent-records': 40, 'max-in-flight-per-connection': 16 } }));
    try {
      const source = new XdrSource(loadOptions(ferry.port, { protocol: 'http2', keys: 2000, changes: 8000, object: 'I,B:2000', set: 'h2-capped', connections: 3, pipeline: 200 }));
      const stats = await source.run();
      expect([stats.abandons, stats.unacknowledged]).toEqual([0, 0]);
      // Every record went through a window of 16 and a budget of 40, far below the 600 streams open.
      expect(await ferry.metric('ferry_source_read_pauses_total')).toBeGreaterThan(0);
      expect(await ferry.metric('ferry_records_in_flight')).toBe(0);
      const { mismatches } = await verifyFinalState(ctx.client, source);
      expect(mismatches.slice(0, 5)).toEqual([]);
    } finally {
      expect(await ferry.stop()).toBe(0);
    }
  });

  it('a body of several messages is answered once, after all of them; bad requests get 4xx and the connection lives on', async () => {
    const ferry = await FerryProcess.start(testConfig(ctx.dest, { service: { protocol: 'HTTP_2', 'max-frame-size': 4096 } }));
    const session = connect(`http://127.0.0.1:${ferry.port}`);
    try {
      expect(await post(session, prefixed(writeMessage('h2-batch', 1, 1), writeMessage('h2-batch', 2, 2)))).toEqual({ status: 200, code: '0' });
      expect((await ctx.client.get(['test', 'h2-batch', 2])).bins).toEqual({ v: 2 });
      // A permanent rejection (a namespace the destination lacks) is 422, carrying the code.
      expect(await post(session, prefixed(writeMessage('h2-batch', 3, 3, 'no-such-ns')))).toEqual({ status: 422, code: '20' });
      // Cut short, over the size cap, not a message at all, empty, and not a POST.
      const whole = writeMessage('h2-batch', 4, 4);
      expect((await post(session, prefixed(whole.subarray(0, whole.length - 1)))).status).toBe(400);
      expect((await post(session, prefixed(Buffer.alloc(5000)))).status).toBe(413);
      expect((await post(session, prefixed(Buffer.from('GET / HTTP/1.1\r\n\r\n')))).status).toBe(400);
      expect((await post(session, Buffer.alloc(0))).status).toBe(400);
      expect((await post(session, Buffer.alloc(0), 'GET')).status).toBe(405);
      // A gzip body (the connector's HTTP compression) is inflated, under the same size cap.
      const gzip = { 'content-encoding': 'gzip' };
      expect(await post(session, gzipSync(prefixed(writeMessage('h2-batch', 6, 6))), 'POST', gzip)).toEqual({ status: 200, code: '0' });
      expect((await ctx.client.get(['test', 'h2-batch', 6])).bins).toEqual({ v: 6 });
      expect((await post(session, gzipSync(prefixed(Buffer.alloc(5000))), 'POST', gzip)).status).toBe(413);
      expect((await post(session, prefixed(writeMessage('h2-batch', 7, 7)), 'POST', gzip)).status).toBe(400);
      expect(await ferry.metric('aerospike_xdr_proxy_requests{status="parse-error"}')).toBe(7);
      // The same connection still carries requests.
      expect(await post(session, prefixed(writeMessage('h2-batch', 5, 5)))).toEqual({ status: 200, code: '0' });
    } finally {
      session.close();
      expect(await ferry.stop()).toBe(0);
    }
  });

  it('bodies arriving at once are held to twice the body cap: past it only the oldest keeps sending', async () => {
    const ferry = await FerryProcess.start(testConfig(ctx.dest, { service: { protocol: 'HTTP_2', 'max-frame-size': 4096 } }));
    const session = connect(`http://127.0.0.1:${ferry.port}`);
    try {
      // Three bodies of ~3.6 KiB, each sent in two halves: the three first halves (9 KiB) pass the
      // 8 KiB a connection may hold half received, so the third stream is paused until the first ends.
      const bodies = [1, 2, 3].map((k) => prefixed(writeMessage('h2-arriving', k, Buffer.alloc(3500, k))));
      const streams = bodies.map(() => session.request({ ':method': 'POST', ':path': '/' }));
      const statuses = streams.map((st) => new Promise<number>((resolve) => st.on('response', (h) => resolve(Number(h[':status'])))));
      for (const st of streams) st.resume();
      streams.forEach((st, i) => st.write(bodies[i]!.subarray(0, 3000)));
      await until(async () => (await ferry.metric('ferry_source_read_pauses_total')) > 0, 10_000, 'a paused stream');
      streams.forEach((st, i) => st.end(bodies[i]!.subarray(3000)));
      expect(await Promise.all(statuses)).toEqual([200, 200, 200]);
      expect(Buffer.from((await ctx.client.get(['test', 'h2-arriving', 3])).bins['v'] as Uint8Array)).toEqual(Buffer.alloc(3500, 3));
    } finally {
      session.close();
      expect(await ferry.stop()).toBe(0);
    }
  });

  it('service.security with HTTP_2 is refused at start-up, naming the key (login is a TCP message)', async () => {
    const ferry = FerryProcess.launch(testConfig(ctx.dest, { service: { protocol: 'HTTP_2', security: { users: [{ username: 'xdr', 'password-file': '/nonexistent' }] } } }));
    expect(await ferry.exitCode()).toBe(2);
    expect(ferry.stderr.join('') + JSON.stringify(ferry.logs)).toContain('service.security: source login is part of service.protocol TCP');
  });

  it('with service.tls: h2 by ALPN, mutual TLS; a client without a certificate is refused', async () => {
    const fx = makeSourceTlsFixtures();
    const tls = { 'key-file': fx.files.serverKey, 'cert-chain-file': fx.files.serverCert, 'ca-file': fx.files.ca, 'require-client-cert': true };
    const ferry = await FerryProcess.start(testConfig(ctx.dest, { service: { protocol: 'HTTP_2', tls } }));
    try {
      const ca = fx.pem(fx.files.ca);
      const source = new XdrSource(loadOptions(ferry.port, { protocol: 'http2', keys: 1000, changes: 4000, set: 'h2-tls', tls: { ca, cert: fx.pem(fx.files.clientCert), key: fx.pem(fx.files.clientKey) } }));
      const stats = await source.run();
      expect([stats.abandons, stats.unacknowledged, stats.connectErrors]).toEqual([0, 0, 0]);
      const { mismatches } = await verifyFinalState(ctx.client, source);
      expect(mismatches.slice(0, 5)).toEqual([]);
      const refused = new XdrSource(loadOptions(ferry.port, { protocol: 'http2', keys: 10, changes: 10, set: 'h2-tls', tls: { ca }, drainMs: 1000 }));
      const r = await refused.run();
      expect(r.acks).toBe(0);
      expect(r.connectErrors).toBeGreaterThan(0);
      expect(r.tlsFailures).toBe(r.connectErrors);
      expect(r.unacknowledged).toBe(refused.version.filter((v) => v > 0).length);
      expect(ferry.logs.some((l) => l.msg === 'closing source connection: client certificate refused' && l['reason'] === 'no client certificate')).toBe(true);
    } finally {
      expect(await ferry.stop()).toBe(0);
    }
  });
});
