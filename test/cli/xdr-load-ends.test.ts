/**
 * `ferry xdr-load` always ends, as a process: with nothing listening, with its TLS client
 * certificate refused, and with its login refused, it stops at `-d`, prints its summary (the
 * failures counted, also in the status lines) and exits 1 because changes were left
 * unacknowledged. SIGTERM ends it at once, summary included. The peers are real Ferry processes.
 */

import { type ChildProcess, spawn } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AerospikeDouble } from '../double/server.js';
import { freePort } from '../support/free-port.js';
import { FERRY_BIN, FerryProcess, testConfig } from '../support/ferry-process.js';
import { until } from '../support/in-process.js';
import { type SourceTlsFixtures, makeSourceTlsFixtures } from '../support/source-tls-fixtures.js';
import { tempFile } from '../source-security/helpers.js';

interface LoadRun {
  child: ChildProcess;
  stderr: () => string;
  /** exit code and the JSON summary printed on stdout */
  done: Promise<{ code: number | null; summary: Record<string, unknown> }>;
}

function xdrLoad(port: number, ...args: string[]): LoadRun {
  const child = spawn(process.execPath, [FERRY_BIN, 'xdr-load', '-h', `127.0.0.1:${port}`, '-k', '10', '-w', 'I', '-z', '1', '--drain-s', '2', '--no-health-checks', ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout!.on('data', (c: Buffer) => (out += c.toString('utf8')));
  child.stderr!.on('data', (c: Buffer) => (err += c.toString('utf8')));
  const done = new Promise<{ code: number | null; summary: Record<string, unknown> }>((resolve) =>
    child.once('close', (code) => resolve({ code, summary: JSON.parse(out.trim().split('\n').pop() ?? 'null') as Record<string, unknown> })),
  );
  return { child, stderr: () => err, done };
}

/** The counters of the last status line, e.g. `failures(connect=3 tls=3 login=0)`. */
function lastFailures(stderr: string): { connect: number; tls: number; login: number } {
  const lines = stderr.split('\n').filter((l) => l.includes(' xdr-load write('));
  const m = /failures\(connect=(\d+) tls=(\d+) login=(\d+)\)/.exec(lines.at(-1) ?? '');
  if (m === null) throw new Error(`no status line with failures in: ${stderr}`);
  return { connect: Number(m[1]), tls: Number(m[2]), login: Number(m[3]) };
}

describe('ferry xdr-load always ends', () => {
  let fx: SourceTlsFixtures;
  let otherCa: SourceTlsFixtures;
  let double: AerospikeDouble;

  beforeAll(async () => {
    fx = makeSourceTlsFixtures();
    otherCa = makeSourceTlsFixtures();
    double = await AerospikeDouble.start();
  });
  afterAll(async () => {
    await double?.close();
  });

  it('nothing listening: stops at -d with a summary counting the refused connections, exit 1', async () => {
    const port = await freePort();
    const run = xdrLoad(port, '-d', '2');
    const { code, summary } = await run.done;
    expect(code).toBe(1);
    expect(summary).toMatchObject({ changes: 10, acks: 0, unacknowledged: 10, tlsFailures: 0, loginFailures: 0 });
    expect(summary['connectErrors']).toBeGreaterThan(0);
    expect(summary['lastConnectError']).toContain('ECONNREFUSED');
    expect(lastFailures(run.stderr()).connect).toBeGreaterThan(0);
  });

  it('a client certificate from another CA: the TLS failures are counted, exit 1', async () => {
    const ferry = await FerryProcess.start(
      testConfig(double, { service: { tls: { 'key-file': fx.files.serverKey, 'cert-chain-file': fx.files.serverCert, 'ca-file': fx.files.ca, 'require-client-cert': true } } }),
    );
    try {
      const run = xdrLoad(ferry.port, '-d', '2', '--tls-cafile', fx.files.ca, '--tls-certfile', otherCa.files.clientCert, '--tls-keyfile', otherCa.files.clientKey);
      const { code, summary } = await run.done;
      expect(code).toBe(1);
      expect(summary).toMatchObject({ acks: 0, unacknowledged: 10 });
      expect(summary['tlsFailures']).toBeGreaterThan(0);
      expect(lastFailures(run.stderr()).tls).toBeGreaterThan(0);
    } finally {
      expect(await ferry.stop()).toBe(0);
    }
  });

  it('a refused login (62): the login failures are counted, in the status lines too, exit 1', async () => {
    const ferry = await FerryProcess.start(testConfig(double, { service: { security: { users: [{ username: 'xdr', 'password-file': tempFile('xdr.pass', 'the password\n') }] } } }));
    try {
      const run = xdrLoad(ferry.port, '-d', '2', '-U', 'xdr', '-P', 'not the password');
      const { code, summary } = await run.done;
      expect(code).toBe(1);
      expect(summary).toMatchObject({ acks: 0, unacknowledged: 10, securityCodes: { 62: expect.any(Number) } });
      expect(summary['loginFailures']).toBeGreaterThan(0);
      expect(summary['lastConnectError']).toBe('LOGIN_REFUSED: result 62');
      expect(lastFailures(run.stderr()).login).toBeGreaterThan(0);
    } finally {
      expect(await ferry.stop()).toBe(0);
    }
  });

  it('SIGTERM ends a run at once, long before -d, with the summary', async () => {
    const port = await freePort();
    const run = xdrLoad(port, '-d', '3600');
    // Running: a status line has been printed.
    await until(() => run.stderr().includes(' xdr-load write('), 10_000, 'a status line');
    run.child.kill('SIGTERM');
    const { code, summary } = await run.done;
    expect(code).toBe(1);
    expect(summary).toMatchObject({ changes: 10, acks: 0, unacknowledged: 10 });
  });
});
