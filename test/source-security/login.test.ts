/**
 * Source authentication end to end, against the built daemon: LOGIN and AUTHENTICATE answered as a
 * server with security on answers them, records refused (80, in order) until a connection logs in,
 * brute-force protection, the metrics, and a load that logs in replicating into the double.
 */

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { XdrSource } from '../../src/cli/load/xdr-source.js';
import { OfficialClient } from '../double/official-client.js';
import { AerospikeDouble } from '../double/server.js';
import { FerryProcess, testConfig } from '../support/ferry-process.js';
import { until } from '../support/in-process.js';
import { loadOptions } from '../support/load.js';
import { verifyFinalState } from '../support/verify-state.js';
import { RawSource, authenticateRequest, loginRequest, recordRequest, sample, tempFile } from './helpers.js';

// Trailing spaces are part of the password: only the line ending is stripped from the file.
const PASSWORD = 'correct horse battery ';
const OTHER_PASSWORD = 'another-one';

function securityConfig(double: AerospikeDouble, ttl?: number): Record<string, unknown> {
  return testConfig(double, {
    service: {
      security: {
        users: [
          { username: 'xdr', 'password-file': tempFile('xdr.pass', `${PASSWORD}\r\nnot the password\n`) },
          { username: 'backup', 'password-file': tempFile('backup.pass', OTHER_PASSWORD) },
        ],
        ...(ttl === undefined ? {} : { 'session-ttl': ttl }),
      },
    },
  });
}

describe('source authentication', () => {
  let double: AerospikeDouble;
  let ferry: FerryProcess;
  let metrics: () => Promise<string>;

  beforeAll(async () => {
    double = await AerospikeDouble.start();
    ferry = await FerryProcess.start(securityConfig(double));
    metrics = async () => (await fetch(`http://127.0.0.1:${ferry.managePort}/metrics`)).text();
  });
  afterAll(async () => {
    expect(await ferry?.stop()).toBe(0);
    await double?.close();
  });

  it('LOGIN with the right password: 0, a session token and its TTL; the records after it are written', async () => {
    const s = await RawSource.open(ferry.port);
    const reply = await s.login('xdr', PASSWORD);
    expect(reply.type).toBe(2);
    expect(reply.result).toBe(0);
    expect(reply.fields.get(5)!.length).toBeGreaterThan(16);
    expect(reply.fields.get(6)!.readUInt32BE(0)).toBe(86400);
    s.send(recordRequest(1), recordRequest(2));
    expect((await s.next(2)).map((r) => r.result)).toEqual([0, 0]);
    s.close();
    // The other user's password works for that user only.
    const t = await RawSource.open(ferry.port);
    expect((await t.login('backup', OTHER_PASSWORD)).result).toBe(0);
    expect((await t.login('xdr', OTHER_PASSWORD)).result).toBe(62);
    t.close();
  });

  it('a wrong password is 62, an unknown user 60, and records stay refused with 80', async () => {
    const s = await RawSource.open(ferry.port);
    const wrong = await s.login('xdr', 'correct horse battery');
    expect(wrong.result).toBe(62);
    // The refusal is the bare 24-byte security reply.
    expect(wrong.bytes.length).toBe(24);
    expect((await s.login('nobody', PASSWORD)).result).toBe(60);
    s.send(recordRequest(3));
    expect((await s.next())[0]!.result).toBe(80);
    s.close();
  });

  it('a connection that skips login gets 80 for every record, in order, and is counted', async () => {
    const before = await metrics();
    const s = await RawSource.open(ferry.port);
    // Records, then a LOGIN, then records: the first three are refused, the rest written, in order.
    s.send(recordRequest(10), recordRequest(11), recordRequest(12));
    expect((await s.next(3)).map((r) => [r.type, r.result])).toEqual([
      [3, 80],
      [3, 80],
      [3, 80],
    ]);
    s.send(recordRequest(13));
    s.send(loginRequest('xdr', PASSWORD), recordRequest(14), recordRequest(15));
    expect((await s.next(4)).map((r) => [r.type, r.result])).toEqual([
      [3, 80],
      [2, 0],
      [3, 0],
      [3, 0],
    ]);
    s.close();
    const after = await metrics();
    expect(sample(after, 'ferry_replies_total{code="80"}') - sample(before, 'ferry_replies_total{code="80"}')).toBe(4);
    expect(sample(after, 'ferry_source_logins_total{result="ok"}') - sample(before, 'ferry_source_logins_total{result="ok"}')).toBe(1);
    // 80 is a retry code: the XDR Proxy-compatible requests gauge counts it as retry, not error.
    expect(sample(after, 'aerospike_xdr_proxy_requests{status="error"}')).toBe(0);
  });

  it('AUTHENTICATE with a token from another connection is 0 in exactly 24 bytes; a forged or moved token is 65', async () => {
    const a = await RawSource.open(ferry.port);
    const token = (await a.login('xdr', PASSWORD)).fields.get(5)!;
    a.close();
    const b = await RawSource.open(ferry.port);
    b.send(authenticateRequest('xdr', token));
    const ok = (await b.next())[0]!;
    expect(ok.result).toBe(0);
    // proto v2, type 2, 16-byte body; scheme 0, result 0, command 0, no fields, 12 zero bytes
    expect(ok.bytes.toString('hex')).toBe('0202000000000010' + '00'.repeat(16));
    b.send(recordRequest(20));
    expect((await b.next())[0]!.result).toBe(0);
    const forged = Buffer.from(token);
    forged[forged.length - 1]! ^= 1;
    b.send(authenticateRequest('xdr', forged));
    expect((await b.next())[0]!.result).toBe(65);
    // A failed attempt ends the session the connection had.
    b.send(recordRequest(21));
    expect((await b.next())[0]!.result).toBe(80);
    b.send(authenticateRequest('backup', token));
    expect((await b.next())[0]!.result).toBe(65);
    b.close();
  });

  it('three failed attempts in a row close the connection, logged once with the peer', async () => {
    const s = await RawSource.open(ferry.port);
    const local = `${s.socket.localAddress}:${s.socket.localPort}`;
    expect((await s.login('xdr', 'guess-1')).result).toBe(62);
    expect((await s.login('xdr', 'guess-2')).result).toBe(62);
    // A fourth request sent with the third is never read: the connection ends after the third reply.
    s.send(loginRequest('xdr', 'guess-3'), loginRequest('xdr', PASSWORD));
    expect((await s.next())[0]!.result).toBe(62);
    await s.closed;
    await until(() => ferry.logs.some((l) => l.msg === 'closing source connection: too many failed logins' && l['peer'] === local), 5000, 'the warning');
    const lines = ferry.logs.filter((l) => l.msg === 'closing source connection: too many failed logins' && l['peer'] === local);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ level: 40, user: 'xdr', attempts: 3, result: 62 });
    // A success in between resets the count.
    const t = await RawSource.open(ferry.port);
    for (const password of ['x', 'y', PASSWORD, 'z', 'w']) await t.login('xdr', password);
    t.send(recordRequest(30));
    expect((await t.next())[0]!.result).toBe(80);
    t.close();
  });

  it('a load that logs in replicates end to end with zero abandons', async () => {
    const client = await OfficialClient.start();
    try {
      await client.connect(double.port);
      const before = await metrics();
      const source = new XdrSource(loadOptions(ferry.port, { keys: 3000, changes: 20_000, set: 'secure-load', user: 'xdr', password: PASSWORD }));
      const stats = await source.run();
      expect(stats.abandons).toBe(0);
      expect(stats.orderViolations).toBe(0);
      expect(stats.loginFailures).toBe(0);
      // One LOGIN per connection; no record was refused.
      expect(stats.logins).toBeGreaterThanOrEqual(8);
      expect(stats.byCode[80]).toBeUndefined();
      const { checked, mismatches } = await verifyFinalState(client, source);
      expect(mismatches.slice(0, 5)).toEqual([]);
      expect(checked).toBeGreaterThan(2900);
      const after = await metrics();
      expect(sample(after, 'ferry_source_logins_total{result="ok"}') - sample(before, 'ferry_source_logins_total{result="ok"}')).toBe(stats.logins);
    } finally {
      await client.stop();
    }
  });

  it('the wrong password on the load generator: refused, counted, nothing written', async () => {
    const before = double.stats.requests;
    const source = new XdrSource(loadOptions(ferry.port, { keys: 10, changes: 10, set: 'secure-wrong', user: 'xdr', password: 'wrong', healthChecks: false, connections: 1 }));
    const run = source.run();
    await until(() => source.stats.loginFailures >= 1, 5000, 'a refused login');
    source.abort();
    const stats = await run;
    expect(stats.securityCodes[62]).toBeGreaterThanOrEqual(1);
    expect(stats.acks).toBe(0);
    expect(double.stats.requests).toBe(before);
    const text = await metrics();
    expect(sample(text, 'ferry_source_logins_total{result="failed"}')).toBeGreaterThan(0);
  });
});

describe('source sessions expire', () => {
  let double: AerospikeDouble;
  let ferry: FerryProcess;

  beforeAll(async () => {
    double = await AerospikeDouble.start();
    ferry = await FerryProcess.start(securityConfig(double, 2));
  });
  afterAll(async () => {
    expect(await ferry?.stop()).toBe(0);
    await double?.close();
  });

  it('a stale session token is 66; a session past its TTL gets 80 until the source logs in again', async () => {
    const s = await RawSource.open(ferry.port);
    const login = await s.login('xdr', PASSWORD);
    expect(login.fields.get(6)!.readUInt32BE(0)).toBe(2);
    const token = login.fields.get(5)!;
    s.send(recordRequest(40));
    expect((await s.next())[0]!.result).toBe(0);
    await new Promise((r) => setTimeout(r, 2200));
    s.send(recordRequest(41));
    expect((await s.next())[0]!.result).toBe(80);
    s.send(authenticateRequest('xdr', token));
    expect((await s.next())[0]!.result).toBe(66);
    // Expiry is routine, not an attack: it does not count toward the three strikes.
    for (let i = 0; i < 3; i++) {
      s.send(authenticateRequest('xdr', token));
      expect((await s.next())[0]!.result).toBe(66);
    }
    expect((await s.login('xdr', PASSWORD)).result).toBe(0);
    s.send(recordRequest(42));
    expect((await s.next())[0]!.result).toBe(0);
    s.close();
    const text = await (await fetch(`http://127.0.0.1:${ferry.managePort}/metrics`)).text();
    expect(sample(text, 'ferry_source_logins_total{result="expired"}')).toBe(4);
  });

  it('a load that outlives its session logs in again on 80 and loses nothing', async () => {
    const source = new XdrSource(loadOptions(ferry.port, { keys: 2000, changes: 0, durationS: 5, throttle: 4000, set: 'secure-expiry', user: 'xdr', password: PASSWORD }));
    const stats = await source.run();
    expect(stats.abandons).toBe(0);
    expect(stats.orderViolations).toBe(0);
    expect(stats.byCode[80]).toBeGreaterThan(0);
    expect(stats.logins).toBeGreaterThan(8);
    expect(stats.loginFailures).toBe(0);
    expect(stats.acks).toBeGreaterThan(10_000);
    // Every key holds its last version.
    const client = await OfficialClient.start();
    try {
      await client.connect(double.port);
      const { mismatches } = await verifyFinalState(client, source);
      expect(mismatches.slice(0, 5)).toEqual([]);
    } finally {
      await client.stop();
    }
  });
});
