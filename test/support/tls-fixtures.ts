/**
 * Throwaway TLS material for tests, made with the `openssl` command line in a fresh temporary
 * directory: a CA, certificates it signs, and two that must be refused. Every value is a file
 * path (PEM).
 *
 *   ca          self-signed CA, the one trust anchor
 *   server      signed by ca; CN = tlsName, SAN = DNS:localhost, DNS:<tlsName>, IP:127.0.0.1
 *   client      signed by ca; CN = ferry-client, for mutual TLS
 *   expired     like server, but its validity ended before it began (notAfter = now − 1 day)
 *   untrusted   like server, but self-signed: no chain to ca
 */

import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface KeyPair {
  key: string;
  cert: string;
}

export interface TlsFixtures {
  dir: string;
  /** The name servers are verified against (CN and SAN of server, expired and untrusted). */
  tlsName: string;
  ca: KeyPair;
  server: KeyPair;
  client: KeyPair;
  expired: KeyPair;
  untrusted: KeyPair;
  /** Removes the directory. */
  remove(): void;
}

const SERVER_EXTENSIONS = (tlsName: string): string =>
  [
    'basicConstraints = critical, CA:FALSE',
    'keyUsage = critical, digitalSignature, keyEncipherment',
    'extendedKeyUsage = serverAuth',
    `subjectAltName = DNS:localhost, DNS:${tlsName}, IP:127.0.0.1`,
  ].join('\n');

const CLIENT_EXTENSIONS = [
  'basicConstraints = critical, CA:FALSE',
  'keyUsage = critical, digitalSignature, keyEncipherment',
  'extendedKeyUsage = clientAuth',
].join('\n');

function openssl(args: string[]): void {
  execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'] });
}

export function createTlsFixtures(tlsName = 'ferry-test'): TlsFixtures {
  const dir = mkdtempSync(join(tmpdir(), 'ferry-tls-'));
  const path = (name: string): string => join(dir, name);
  try {
    writeFileSync(path('server.ext'), SERVER_EXTENSIONS(tlsName));
    writeFileSync(path('client.ext'), CLIENT_EXTENSIONS);

    const ca: KeyPair = { key: path('ca.key'), cert: path('ca.pem') };
    openssl([
      'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', ca.key, '-out', ca.cert, '-days', '2',
      '-subj', '/CN=Ferry Test CA',
      '-addext', 'basicConstraints = critical, CA:TRUE',
      '-addext', 'keyUsage = critical, keyCertSign, cRLSign',
    ]);

    const signed = (name: string, subject: string, extensions: string, days: string): KeyPair => {
      const pair: KeyPair = { key: path(`${name}.key`), cert: path(`${name}.pem`) };
      openssl(['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', pair.key, '-out', path(`${name}.csr`), '-subj', subject]);
      openssl([
        'x509', '-req', '-in', path(`${name}.csr`), '-CA', ca.cert, '-CAkey', ca.key, '-CAcreateserial',
        '-out', pair.cert, '-days', days, '-extfile', extensions,
      ]);
      return pair;
    };
    const server = signed('server', `/CN=${tlsName}`, path('server.ext'), '2');
    const client = signed('client', '/CN=ferry-client', path('client.ext'), '2');
    // A negative validity period puts notAfter a day before notBefore (now): expired on arrival.
    const expired = signed('expired', `/CN=${tlsName}`, path('server.ext'), '-1');

    const untrusted: KeyPair = { key: path('untrusted.key'), cert: path('untrusted.pem') };
    openssl([
      'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', untrusted.key, '-out', untrusted.cert, '-days', '2',
      '-subj', `/CN=${tlsName}`,
      '-addext', `subjectAltName = DNS:localhost, DNS:${tlsName}, IP:127.0.0.1`,
    ]);

    return { dir, tlsName, ca, server, client, expired, untrusted, remove: () => rmSync(dir, { recursive: true, force: true }) };
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
}
