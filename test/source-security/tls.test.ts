/**
 * TLS on the service port, against the built daemon: PEM and PKCS#12 server certificates, a
 * plaintext client refused, certificates the load generator must refuse (expired, untrusted), and
 * mutual TLS with allowed-peer-names. Certificates are made with openssl for each run.
 */

import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { XdrSource } from '../../src/cli/load/xdr-source.js';
import { OfficialClient } from '../double/official-client.js';
import { AerospikeDouble } from '../double/server.js';
import { FerryProcess, testConfig } from '../support/ferry-process.js';
import { until } from '../support/in-process.js';
import { loadOptions } from '../support/load.js';
import { type SourceTlsFixtures, makeSourceTlsFixtures } from '../support/source-tls-fixtures.js';
import { verifyFinalState } from '../support/verify-state.js';
import { RawSource, recordRequest, sample, tempFile } from './helpers.js';

describe('TLS on the service port', () => {
  let fx: SourceTlsFixtures;
  let double: AerospikeDouble;
  let client: OfficialClient;
  let ca: string;

  beforeAll(async () => {
    fx = makeSourceTlsFixtures();
    ca = fx.pem(fx.files.ca);
    double = await AerospikeDouble.start();
    client = await OfficialClient.start();
    await client.connect(double.port);
  });
  afterAll(async () => {
    await client?.stop();
    await double?.close();
  });

  const withTls = (tls: Record<string, unknown>, service: Record<string, unknown> = {}): Record<string, unknown> => testConfig(double, { service: { tls, ...service } });
  const pemServer = (): Record<string, unknown> => ({ 'key-file': fx.files.serverKey, 'cert-chain-file': fx.files.serverCert });
  const metricsOf = async (ferry: FerryProcess): Promise<string> => (await fetch(`http://127.0.0.1:${ferry.managePort}/metrics`)).text();

  /** Run a load that cannot get through: wait for a failed connection, then give up. */
  async function refusedLoad(source: XdrSource): Promise<XdrSource['stats']> {
    const run = source.run();
    await until(() => source.stats.connectErrors > 0, 10_000, 'a failed connection');
    source.abort();
    return run;
  }

  it('a TLS load (PEM key and certificate) replicates end to end; health checks stay quiet; a plaintext client is refused', async () => {
    const ferry = await FerryProcess.start(withTls(pemServer()));
    // What the load and the health check log from here (start-up may warn on a busy host that the
    // workers' destination connections came late; that is not what this test is about).
    const startedAt = ferry.logs.length;
    try {
      expect(ferry.logs.find((l) => l.msg === 'service port security')).toMatchObject({ tls: { protocols: 'TLSv1.2-TLSv1.3', clientCertificates: 'not asked for' } });
      const source = new XdrSource(loadOptions(ferry.port, { keys: 3000, changes: 20_000, set: 'tls-pem', tls: { ca } }));
      const stats = await source.run();
      expect(stats.abandons).toBe(0);
      expect(stats.orderViolations).toBe(0);
      expect(stats.connectErrors).toBe(0);
      const { checked, mismatches } = await verifyFinalState(client, source);
      expect(mismatches.slice(0, 5)).toEqual([]);
      expect(checked).toBeGreaterThan(2900);

      // XDR's health check: connect and close without a byte. Normal, so debug only.
      const before = await metricsOf(ferry);
      await new Promise<void>((resolve) => {
        const s = connect({ host: '127.0.0.1', port: ferry.port }, () => s.end());
        s.on('close', () => resolve());
      });
      let after = before;
      for (let i = 0; i < 100 && sample(after, 'ferry_source_connections_total{kind="health-check"}') === sample(before, 'ferry_source_connections_total{kind="health-check"}'); i++) {
        await new Promise((r) => setTimeout(r, 20));
        after = await metricsOf(ferry);
      }
      expect(sample(after, 'ferry_source_connections_total{kind="health-check"}') - sample(before, 'ferry_source_connections_total{kind="health-check"}')).toBe(1);
      expect(ferry.logs.slice(startedAt).filter((l) => l.level >= 40)).toEqual([]);

      // A plaintext source: its first bytes are not a TLS hello, so the handshake fails.
      const plain = await RawSource.open(ferry.port);
      const peer = `${plain.socket.localAddress}:${plain.socket.localPort}`;
      plain.send(recordRequest(1));
      await plain.closed;
      await until(() => ferry.logs.some((l) => l.msg === 'closing source connection: TLS handshake failed' && l['peer'] === peer), 5000, 'the handshake warning');
      expect(ferry.logs.filter((l) => l['peer'] === peer && l.level >= 40)).toHaveLength(1);
      after = await metricsOf(ferry);
      expect(sample(after, 'aerospike_xdr_proxy_requests{status="parse-error"}') - sample(before, 'aerospike_xdr_proxy_requests{status="parse-error"}')).toBe(1);
      // …and the load generator without TLS gets nothing through either.
      const noTls = await refusedLoad(new XdrSource(loadOptions(ferry.port, { keys: 10, changes: 10, set: 'tls-plain', healthChecks: false, connections: 1 })));
      expect(noTls.acks).toBe(0);
    } finally {
      expect(await ferry.stop()).toBe(0);
    }
  });

  it('the load generator refuses an expired server certificate, and an untrusted one', async () => {
    for (const [cert, key, error] of [
      [fx.files.expiredCert, fx.files.expiredKey, 'CERT_HAS_EXPIRED'],
      [fx.files.untrustedCert, fx.files.untrustedKey, 'DEPTH_ZERO_SELF_SIGNED_CERT'],
    ] as const) {
      const ferry = await FerryProcess.start(withTls({ 'key-file': key, 'cert-chain-file': cert }));
      try {
        const stats = await refusedLoad(new XdrSource(loadOptions(ferry.port, { keys: 10, changes: 10, set: 'tls-bad-cert', healthChecks: false, connections: 1, tls: { ca } })));
        expect(stats.lastConnectError).toContain(error);
        expect(stats.acks).toBe(0);
      } finally {
        expect(await ferry.stop()).toBe(0);
      }
    }
    // A certificate for another name is refused too (the server's certificate is for 127.0.0.1 and localhost).
    const ferry = await FerryProcess.start(withTls(pemServer()));
    try {
      const stats = await refusedLoad(new XdrSource(loadOptions(ferry.port, { keys: 10, changes: 10, healthChecks: false, connections: 1, tls: { ca, servername: 'xdr.example.com' } })));
      expect(stats.lastConnectError).toContain('ERR_TLS_CERT_ALTNAME_INVALID');
    } finally {
      expect(await ferry.stop()).toBe(0);
    }
  });

  it('mutual TLS: no client certificate is refused, the CA-signed one works, a name not allowed is refused', async () => {
    const ferry = await FerryProcess.start(withTls({ ...pemServer(), 'ca-file': fx.files.ca, 'require-client-cert': true, 'allowed-peer-names': ['xdr-source'] }));
    try {
      expect(ferry.logs.find((l) => l.msg === 'service port security')).toMatchObject({ tls: { clientCertificates: 'required', allowedPeerNames: ['xdr-source'] } });
      const before = await metricsOf(ferry);
      const anonymous = await refusedLoad(new XdrSource(loadOptions(ferry.port, { keys: 10, changes: 10, set: 'mtls-none', healthChecks: false, connections: 1, tls: { ca } })));
      expect(anonymous.acks).toBe(0);
      await until(() => ferry.logs.some((l) => l.msg === 'closing source connection: client certificate refused' && l['reason'] === 'no client certificate'), 5000, 'the missing-certificate warning');

      const intruder = await refusedLoad(
        new XdrSource(loadOptions(ferry.port, { keys: 10, changes: 10, set: 'mtls-other', healthChecks: false, connections: 1, tls: { ca, cert: fx.pem(fx.files.otherClientCert), key: fx.pem(fx.files.otherClientKey) } })),
      );
      expect(intruder.acks).toBe(0);
      const nameRefused = (l: { msg: string; [k: string]: unknown }): boolean => l.msg === 'closing source connection: client certificate refused' && String(l['reason']).includes('intruder');
      await until(() => ferry.logs.some(nameRefused), 5000, 'the peer-name warning');

      const source = new XdrSource(loadOptions(ferry.port, { keys: 1000, changes: 5000, set: 'mtls-ok', tls: { ca, cert: fx.pem(fx.files.clientCert), key: fx.pem(fx.files.clientKey) } }));
      const stats = await source.run();
      expect(stats.abandons).toBe(0);
      expect(stats.connectErrors).toBe(0);
      expect((await verifyFinalState(client, source)).mismatches.slice(0, 5)).toEqual([]);
      const after = await metricsOf(ferry);
      expect(sample(after, 'aerospike_xdr_proxy_requests{status="parse-error"}') - sample(before, 'aerospike_xdr_proxy_requests{status="parse-error"}')).toBeGreaterThanOrEqual(2);
    } finally {
      expect(await ferry.stop()).toBe(0);
    }
  });

  it('a PKCS#12 key store with a password file works, with source login on top', async () => {
    const password = 'tls-and-login';
    const ferry = await FerryProcess.start(
      withTls(
        { 'key-store-file': fx.files.p12, 'key-store-password-file': fx.files.p12PasswordFile, protocols: 'TLSv1.3' },
        { security: { users: [{ username: 'xdr', 'password-file': tempFile('pass', password) }] } },
      ),
    );
    try {
      expect(ferry.logs.find((l) => l.msg === 'service port security')).toMatchObject({ tls: { protocols: 'TLSv1.3-TLSv1.3' }, authentication: { sessionTtl: 86400 } });
      const source = new XdrSource(loadOptions(ferry.port, { keys: 1000, changes: 5000, set: 'tls-p12', tls: { ca, servername: 'localhost' }, user: 'xdr', password }));
      const stats = await source.run();
      expect(stats.abandons).toBe(0);
      expect(stats.logins).toBeGreaterThanOrEqual(8);
      expect((await verifyFinalState(client, source)).mismatches.slice(0, 5)).toEqual([]);
      // Over TLS, a connection that skips login is still refused with 80.
      const s = await RawSource.open(ferry.port, { ca, servername: 'localhost' });
      s.send(recordRequest(7));
      expect((await s.next())[0]!.result).toBe(80);
      s.close();
    } finally {
      expect(await ferry.stop()).toBe(0);
    }
  });
});
