/**
 * Logging at the edges, against the built daemon on a TLS port with mutual TLS: a plaintext client
 * reconnecting in a tight loop for 10 s costs a bounded number of log lines (one at once, then one
 * per WARN_INTERVAL_MS for each cause and peer host), while the metrics count every connection; a
 * client certificate from another CA is logged as refused, with the reason.
 */

import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WARN_INTERVAL_MS } from '../../src/source/listener.js';
import { AerospikeDouble } from '../double/server.js';
import { FerryProcess, type LogLine, testConfig } from '../support/ferry-process.js';
import { until } from '../support/in-process.js';
import { type SourceTlsFixtures, makeSourceTlsFixtures } from '../support/source-tls-fixtures.js';
import { RawSource, recordRequest, sample } from './helpers.js';

const FLOOD_MS = 10_000;
const HANDSHAKE_FAILED = 'closing source connection: TLS handshake failed';
const CERT_REFUSED = 'closing source connection: client certificate refused';

/**
 * Connect, send a plaintext record and hang up (the TLS layer waits for a whole record, so Ferry
 * cannot tell garbage before the close); again and again until `ms` have passed.
 */
async function plaintextFlood(port: number, ms: number): Promise<number> {
  const end = performance.now() + ms;
  let connections = 0;
  while (performance.now() < end) {
    await new Promise<void>((resolve) => {
      const s = connect({ host: '127.0.0.1', port }, () => s.write(recordRequest(connections), () => s.destroy()));
      s.on('error', () => undefined);
      s.on('close', () => resolve());
    });
    connections++;
  }
  return connections;
}

describe('logging under a flood', () => {
  let fx: SourceTlsFixtures;
  let otherCa: SourceTlsFixtures;
  let double: AerospikeDouble;
  let ferry: FerryProcess;
  const metricsOf = async (): Promise<string> => (await fetch(`http://127.0.0.1:${ferry.managePort}/metrics`)).text();

  beforeAll(async () => {
    fx = makeSourceTlsFixtures();
    otherCa = makeSourceTlsFixtures();
    double = await AerospikeDouble.start();
    ferry = await FerryProcess.start(
      testConfig(double, { service: { tls: { 'key-file': fx.files.serverKey, 'cert-chain-file': fx.files.serverCert, 'ca-file': fx.files.ca, 'require-client-cert': true } } }),
    );
  });
  afterAll(async () => {
    expect(await ferry?.stop()).toBe(0);
    await double?.close();
  });

  it('a client certificate from another CA is refused as untrusted, and the log says so', async () => {
    const s = await RawSource.open(ferry.port, { ca: fx.pem(fx.files.ca), cert: fx.pem(otherCa.files.clientCert), key: fx.pem(otherCa.files.clientKey) });
    await s.closed;
    await until(() => ferry.logs.some((l) => l.msg === CERT_REFUSED), 5000, 'the refusal');
    const line = ferry.logs.find((l) => l.msg === CERT_REFUSED)!;
    expect(line['reason']).toMatch(/^untrusted: [A-Z_]+/);
    expect(ferry.logs.some((l) => l.msg === HANDSHAKE_FAILED)).toBe(false);
  });

  it('a plaintext client reconnecting in a loop for 10 s: a bounded number of lines, every connection counted', async () => {
    const before = await metricsOf();
    const first = ferry.logs.length;
    const started = performance.now();
    const connections = await plaintextFlood(ferry.port, FLOOD_MS);
    // Every connection reaches the metrics (a turn after its close), so every warning it could cause
    // has been decided by then.
    await until(
      async () => sample(await metricsOf(), 'aerospike_xdr_proxy_requests{status="parse-error"}') - sample(before, 'aerospike_xdr_proxy_requests{status="parse-error"}') >= connections,
      10_000,
      'every connection counted',
    );
    const windowMs = performance.now() - started;
    // The ticker logs on its own schedule; every other line is the flood's doing.
    const lines: LogLine[] = ferry.logs.slice(first).filter((l) => l['logger'] !== 'ticker');
    const warnings = lines.filter((l) => l.level >= 40);
    // A loop that made a handful of connections would prove nothing.
    expect(connections).toBeGreaterThan(50);
    expect(warnings.length).toBeGreaterThan(0);
    expect(warnings.every((l) => l.msg === HANDSHAKE_FAILED)).toBe(true);
    // Per cause and host: the first at once, then at most one per interval, over the window in which
    // the flood's lines were logged (the flood and the wait for its last connections).
    const perCause = Math.floor(windowMs / WARN_INTERVAL_MS) + 1;
    const byCause = new Map<string, number>();
    for (const w of warnings) byCause.set(String(w['reason']), (byCause.get(String(w['reason'])) ?? 0) + 1);
    for (const n of byCause.values()) expect(n).toBeLessThanOrEqual(perCause);
    // And those warnings are all the flood made Ferry print.
    expect(lines.length).toBe(warnings.length);
    // Suppressed lines are accounted for on the next line of their cause, when there is one.
    const later = warnings.filter((w) => typeof w['suppressed'] === 'number');
    for (const w of later) expect(w['suppressed']).toBeGreaterThan(0);
  });
});
