/**
 * TLS material for the source-side tests, made with the `openssl` CLI in a fresh temp dir:
 *
 *   ca.pem / ca.key          a test CA
 *   server.pem / server.key  server certificate for 127.0.0.1 and localhost, signed by the CA
 *   client.pem / client.key  client certificate (CN xdr-source), signed by the CA
 *   other-client.pem/.key    client certificate with another name (CN intruder), signed by the CA
 *   expired.pem / expired.key   server certificate signed by the CA, already expired
 *   untrusted.pem / untrusted.key  self-signed server certificate (no CA knows it)
 *   server.p12               server key + certificate + CA in a PKCS#12 bundle, password in p12.pass
 */

import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface SourceTlsFixtures {
  dir: string;
  /** absolute paths */
  files: {
    ca: string;
    caKey: string;
    serverCert: string;
    serverKey: string;
    clientCert: string;
    clientKey: string;
    otherClientCert: string;
    otherClientKey: string;
    expiredCert: string;
    expiredKey: string;
    untrustedCert: string;
    untrustedKey: string;
    p12: string;
    p12PasswordFile: string;
  };
  /** the PKCS#12 bundle's password */
  p12Password: string;
  /** PEM text, for clients */
  pem(path: string): string;
}

function openssl(dir: string, args: string[]): void {
  execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
}

/** A key and a CSR, then a certificate signed by the CA (or self-signed when `ca` is null). */
function issue(dir: string, name: string, subject: string, ext: string, ca: { cert: string; key: string } | null, days: string[]): void {
  openssl(dir, ['req', '-new', '-newkey', 'rsa:2048', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', subject]);
  writeFileSync(join(dir, `${name}.ext`), ext);
  const signer = ca === null ? ['-signkey', `${name}.key`] : ['-CA', ca.cert, '-CAkey', ca.key, '-CAcreateserial'];
  openssl(dir, ['x509', '-req', '-in', `${name}.csr`, ...signer, '-out', `${name}.pem`, '-extfile', `${name}.ext`, '-sha256', ...days]);
}

export function makeSourceTlsFixtures(): SourceTlsFixtures {
  const dir = mkdtempSync(join(tmpdir(), 'ferry-source-tls-'));
  openssl(dir, ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.pem', '-subj', '/CN=Ferry Test CA', '-days', '30', '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);
  const ca = { cert: 'ca.pem', key: 'ca.key' };
  const serverExt = 'basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1,DNS:localhost\n';
  const clientExt = (cn: string): string => `basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=clientAuth\nsubjectAltName=DNS:${cn}\n`;
  issue(dir, 'server', '/CN=localhost', serverExt, ca, ['-days', '30']);
  issue(dir, 'client', '/CN=xdr-source', clientExt('xdr-source'), ca, ['-days', '30']);
  issue(dir, 'other-client', '/CN=intruder', clientExt('intruder'), ca, ['-days', '30']);
  // `x509 -req` cannot backdate a certificate (before OpenSSL 3.4); `openssl ca` can.
  expired(dir, serverExt);
  issue(dir, 'untrusted', '/CN=localhost', serverExt, null, ['-days', '30']);
  const p12Password = 'p12 pass with spaces ';
  writeFileSync(join(dir, 'p12.pass'), `${p12Password}\n`);
  openssl(dir, ['pkcs12', '-export', '-inkey', 'server.key', '-in', 'server.pem', '-certfile', 'ca.pem', '-out', 'server.p12', '-passout', `file:p12.pass`, '-name', 'ferry']);
  const f = (name: string): string => join(dir, name);
  return {
    dir,
    files: {
      ca: f('ca.pem'),
      caKey: f('ca.key'),
      serverCert: f('server.pem'),
      serverKey: f('server.key'),
      clientCert: f('client.pem'),
      clientKey: f('client.key'),
      otherClientCert: f('other-client.pem'),
      otherClientKey: f('other-client.key'),
      expiredCert: f('expired.pem'),
      expiredKey: f('expired.key'),
      untrustedCert: f('untrusted.pem'),
      untrustedKey: f('untrusted.key'),
      p12: f('server.p12'),
      p12PasswordFile: f('p12.pass'),
    },
    p12Password,
    pem: (path) => readFileSync(path, 'utf8'),
  };
}

/** A server certificate signed by the CA whose validity ended yesterday (`openssl ca` sets both dates). */
function expired(dir: string, ext: string): void {
  openssl(dir, ['req', '-new', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'expired.key', '-out', 'expired.csr', '-subj', '/CN=localhost']);
  writeFileSync(join(dir, 'expired.ext'), ext);
  writeFileSync(join(dir, 'index.txt'), '');
  writeFileSync(join(dir, 'serial'), '1000\n');
  writeFileSync(
    join(dir, 'ca.cnf'),
    [
      '[ca]',
      'default_ca = test',
      '[test]',
      `dir = ${dir}`,
      'database = $dir/index.txt',
      'serial = $dir/serial',
      'new_certs_dir = $dir',
      'certificate = $dir/ca.pem',
      'private_key = $dir/ca.key',
      'default_md = sha256',
      'policy = any',
      'unique_subject = no',
      '[any]',
      'commonName = supplied',
      '',
    ].join('\n'),
  );
  const day = (offset: number): string => {
    const d = new Date(Date.now() + offset * 86_400_000);
    const p = (n: number): string => String(n).padStart(2, '0');
    return `${d.getUTCFullYear()}${p(d.getUTCMonth() + 1)}${p(d.getUTCDate())}000000Z`;
  };
  openssl(dir, ['ca', '-batch', '-config', 'ca.cnf', '-in', 'expired.csr', '-out', 'expired.pem', '-extfile', 'expired.ext', '-startdate', day(-3), '-enddate', day(-1), '-notext']);
}
