/**
 * `service.security` and `service.tls`: the login checker on its own (with a clock the test moves),
 * every configuration mistake reported with its key path, and what `ferry run` and
 * `ferry check-config` say about bad files.
 */

import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { UsageError, parseXdrLoadArgs } from '../../src/cli/xdr-load-command.js';
import { ConfigError, buildConfig } from '../../src/config/index.js';
import { SourceAuth } from '../../src/source/source-auth.js';
import { loadSourceSecurity } from '../../src/source/source-security.js';
import { FERRY_BIN } from '../support/ferry-process.js';
import { makeSourceTlsFixtures } from '../support/source-tls-fixtures.js';
import { credential, tempFile } from './helpers.js';

function problemsOf(service: Record<string, unknown>, load = false): string[] {
  try {
    const config = buildConfig({ service, file: { path: '/tmp/ferry-unused.jsonl' } });
    if (load) loadSourceSecurity(config.service);
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  return [];
}

describe('SourceAuth', () => {
  let now = 1_800_000_000_000;
  const auth = new SourceAuth([{ username: 'xdr', password: 'pw' }], 60, () => now);

  it('LOGIN: 0 with a token and the TTL for the right credential; 60 for an unknown user; 62 for a wrong or missing credential', () => {
    const ok = auth.login('xdr', credential('pw'));
    expect(ok).toMatchObject({ code: 0, ttlS: 60, expiresAtMs: now + 60_000 });
    expect(auth.login('root', credential('pw'))).toEqual({ code: 60 });
    expect(auth.login('xdr', credential('pw '))).toEqual({ code: 62 });
    expect(auth.login('xdr', undefined)).toEqual({ code: 62 });
    expect(auth.login('xdr', Buffer.from('pw'))).toEqual({ code: 62 });
  });

  it('AUTHENTICATE: 0 until the token expires, then 66; a changed, truncated or moved token is 65', () => {
    const start = now;
    const r = auth.login('xdr', credential('pw'));
    if (r.code !== 0) throw new Error('login failed');
    expect(auth.authenticate('xdr', r.token)).toEqual({ code: 0, expiresAtMs: start + 60_000 });
    for (let i = 0; i < r.token.length; i++) {
      const t = Buffer.from(r.token);
      t[i]! ^= 0x01;
      expect(auth.authenticate('xdr', t).code, `byte ${i} changed`).toBe(65);
    }
    expect(auth.authenticate('xdr', r.token.subarray(0, 20)).code).toBe(65);
    expect(auth.authenticate('xdr', undefined).code).toBe(65);
    expect(auth.authenticate('someone', r.token).code).toBe(65);
    now = start + 59_999;
    expect(auth.authenticate('xdr', r.token).code).toBe(0);
    now = start + 60_000;
    expect(auth.authenticate('xdr', r.token).code).toBe(66);
    // Another process (another key) does not accept it.
    expect(new SourceAuth([{ username: 'xdr', password: 'pw' }], 60, () => start).authenticate('xdr', r.token).code).toBe(65);
  });
});

describe('service.security configuration', () => {
  it('a password file keeps trailing spaces and drops only the line ending', () => {
    const config = buildConfig({ service: { security: { users: [{ username: 'xdr', 'password-file': tempFile('p', 'pw \r\nsecond line\n') }] } }, file: { path: '/tmp/x.jsonl' } });
    const { auth } = loadSourceSecurity(config.service);
    expect(auth!.login('xdr', credential('pw ')).code).toBe(0);
    expect(auth!.login('xdr', credential('pw')).code).toBe(62);
    expect(auth!.sessionTtlS).toBe(86400);
  });

  it('names the key of a missing or empty password file, and of a user listed twice', () => {
    expect(problemsOf({ security: { users: [{ username: 'a', 'password-file': '/nonexistent/pass' }, { username: 'b', 'password-file': tempFile('e', '\nx\n') }] } }, true)).toEqual([
      'service.security.users.0.password-file: cannot read /nonexistent/pass (no such file)',
      expect.stringMatching(/^service\.security\.users\.1\.password-file: .* holds no password \(its first line is empty\)$/),
    ]);
    expect(problemsOf({ security: { users: [{ username: 'a', 'password-file': 'x' }, { username: 'a', 'password-file': 'y' }] } })).toEqual(["service.security.users.1.username: user 'a' is listed twice"]);
    expect(problemsOf({ security: { users: [], 'session-ttl': 0 } })).toEqual([expect.stringMatching(/^service\.security\.users: /), expect.stringMatching(/^service\.security\.session-ttl: /)]);
    expect(problemsOf({ security: { users: [{ username: 'a', passwordfile: 'x' }] } })).toContain("service.security.users.0.passwordfile: unknown key (did you mean 'password-file'?)");
  });

  it('check-config checks the password files too', () => {
    const file = tempFile('ferry.yml', stringify({ service: { security: { users: [{ username: 'xdr', 'password-file': '/nonexistent/xdr.pass' }] } }, file: { path: '/tmp/x.jsonl' } }));
    const r = spawnSync(process.execPath, [FERRY_BIN, 'check-config', file], { encoding: 'utf8' });
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('service.security.users.0.password-file: cannot read /nonexistent/xdr.pass (no such file)');
  });
});

describe('service.tls configuration', () => {
  it('refuses combinations it cannot serve, naming the key', () => {
    expect(problemsOf({ tls: { 'key-file': 'k', 'cert-chain-file': 'c', 'key-store-file': 's' } })).toEqual([
      'service.tls.key-store-file: give either key-file and cert-chain-file (PEM) or key-store-file (PKCS#12), not both',
    ]);
    expect(problemsOf({ tls: { 'key-file': 'k' } })).toEqual(['service.tls.cert-chain-file: key-file and cert-chain-file go together (the PEM private key and its certificate chain)']);
    expect(problemsOf({ tls: { 'ca-file': 'ca' } })).toEqual(['service.tls: the service port needs a certificate: key-file and cert-chain-file (PEM), or key-store-file (PKCS#12)']);
    expect(problemsOf({ tls: { 'key-store-file': 's', 'trust-store-file': 't', 'trust-store-password-file': 'tp' } })).toEqual([
      'service.tls.trust-store-file: not supported for the service port: give the CA certificates that sign client certificates as PEM in ca-file',
      'service.tls.trust-store-password-file: not supported for the service port: give the CA certificates that sign client certificates as PEM in ca-file',
    ]);
    expect(problemsOf({ tls: { 'key-store-file': 's', 'require-client-cert': true } })).toEqual(['service.tls.require-client-cert: needs ca-file, the CA certificates client certificates are checked against']);
    expect(problemsOf({ tls: { 'key-store-file': 's', 'ca-file': 'ca', 'allowed-peer-names': ['x'] } })).toEqual([
      'service.tls.allowed-peer-names: needs require-client-cert: true (names are checked on a verified client certificate)',
    ]);
    expect(problemsOf({ tls: { 'key-file': 'k', 'cert-chain-file': 'c', 'key-store-password-file': 'p' } })).toEqual(['service.tls.key-store-password-file: only meaningful with key-store-file']);
    expect(problemsOf({ tls: { 'key-store-file': 's', protocols: 'TLSv1.1 TLSv1.2' } })).toEqual(["service.tls.protocols: 'TLSv1.1' is not supported; use TLSv1.2 and/or TLSv1.3"]);
    expect(problemsOf({ tls: { 'key-store-file': 's', protocols: ['tlsv1.3'] } })).toEqual([]);
  });

  it('names the key of a file that is missing or holds bad material; `ferry run` exits 2 with it', () => {
    const fx = makeSourceTlsFixtures();
    expect(problemsOf({ tls: { 'key-file': '/nonexistent/k.pem', 'cert-chain-file': fx.files.serverCert, 'ca-file': '/nonexistent/ca.pem' } }, true)).toEqual([
      'service.tls.ca-file: cannot read /nonexistent/ca.pem (no such file)',
      'service.tls.key-file: cannot read /nonexistent/k.pem (no such file)',
    ]);
    expect(problemsOf({ tls: { 'key-file': fx.files.clientKey, 'cert-chain-file': fx.files.serverCert } }, true)).toEqual([
      expect.stringMatching(/^service\.tls\.key-file: cannot load: .*\(does the key match the first certificate of cert-chain-file\?\)$/),
    ]);
    expect(problemsOf({ tls: { 'key-store-file': fx.files.p12, 'key-store-password-file': tempFile('wrong', 'wrong\n') } }, true)).toEqual([expect.stringMatching(/^service\.tls\.key-store-file: cannot load: /)]);
    expect(problemsOf({ tls: { 'key-store-file': fx.files.p12, 'key-store-password-file': fx.files.p12PasswordFile, 'ca-file': fx.files.ca, 'require-client-cert': true } }, true)).toEqual([]);

    const file = tempFile('ferry.yml', stringify({ service: { port: 0, tls: { 'key-file': fx.files.serverKey, 'cert-chain-file': '/nonexistent/chain.pem' }, manage: { enabled: false } }, file: { path: '/tmp/x.jsonl' } }));
    const r = spawnSync(process.execPath, [FERRY_BIN, 'run', '--config', file], { encoding: 'utf8', timeout: 20_000 });
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('service.tls.cert-chain-file: cannot read /nonexistent/chain.pem (no such file)');
  });
});

describe('ferry xdr-load TLS and login flags', () => {
  it('reads the PEM files and takes the user and password; refuses half a pair', () => {
    const ca = tempFile('ca.pem', 'CA PEM');
    const cert = tempFile('c.pem', 'CERT PEM');
    const key = tempFile('k.pem', 'KEY PEM');
    const { opts } = parseXdrLoadArgs(['--changes', '1', '--tls-cafile', ca, '--tls-certfile', cert, '--tls-keyfile', key, '--tls-name', 'ferry.example', '-U', 'xdr', '-P', 'pw']);
    expect(opts.tls).toEqual({ ca: 'CA PEM', cert: 'CERT PEM', key: 'KEY PEM', servername: 'ferry.example' });
    expect([opts.user, opts.password]).toEqual(['xdr', 'pw']);
    const plain = parseXdrLoadArgs(['--changes', '1']).opts;
    expect([plain.tls, plain.user, plain.password]).toEqual([undefined, undefined, undefined]);
    expect(() => parseXdrLoadArgs(['--changes', '1', '-U', 'xdr'])).toThrow(UsageError);
    expect(() => parseXdrLoadArgs(['--changes', '1', '--tls-certfile', cert, '--tls-keyfile', key])).toThrow(/need --tls-cafile/);
    expect(() => parseXdrLoadArgs(['--changes', '1', '--tls-cafile', ca, '--tls-certfile', cert])).toThrow(/go together/);
    expect(() => parseXdrLoadArgs(['--changes', '1', '--tls-cafile', '/nonexistent/ca.pem'])).toThrow(/--tls-cafile: cannot read/);
  });
});
