/**
 * TLS on the service port: `service.tls` read into node:tls server options at start-up.
 *
 *   key-file + cert-chain-file (PEM)  ─┐
 *   key-store-file (PKCS#12)          ─┴▶ the server's key and certificate (exactly one of the two)
 *   key-store-password-file            ─▶ the PKCS#12 password (first line of the file)
 *   ca-file (PEM)                      ─▶ CAs client certificates are checked against
 *   require-client-cert                ─▶ refuse a client without a valid certificate (mutual TLS)
 *   allowed-peer-names                 ─▶ the client certificate's CN or a SAN must be listed
 *   protocols                          ─▶ TLS 1.2 and/or 1.3 (minVersion / maxVersion)
 *
 * Every file is read, and the key material loaded, here, once: a bad file is a configuration error
 * naming its key, before the port listens.
 */

import type { PeerCertificate, SecureContextOptions, TlsOptions } from 'node:tls';
import { createSecureContext } from 'node:tls';
import { ConfigError, type SourceTlsSettings } from '../config/index.js';
import { readConfigFile, readFirstLine } from '../config/index.js';

export interface SourceTls {
  /** what `tls.createServer` gets */
  readonly server: TlsOptions;
  /** lower-cased; empty = any verified client */
  readonly allowedPeerNames: readonly string[];
  /** refuse a client that presents no certificate */
  readonly requireClientCert: boolean;
}

/** A handshake that takes longer than this is dropped (node's default is 120 s). */
export const HANDSHAKE_TIMEOUT_MS = 10_000;

export function loadSourceTls(t: SourceTlsSettings): SourceTls {
  const problems: string[] = [];
  const read = (path: string | null, key: string): Buffer | undefined => (path === null ? undefined : readConfigFile(path, `service.tls.${key}`, problems));
  const ca = read(t.caFile, 'ca-file');
  const key = read(t.keyFile, 'key-file');
  const cert = read(t.certChainFile, 'cert-chain-file');
  const pfx = read(t.keyStoreFile, 'key-store-file');
  const passphrase = t.keyStorePasswordFile === null ? undefined : readFirstLine(t.keyStorePasswordFile, 'service.tls.key-store-password-file', problems);
  if (problems.length > 0) throw new ConfigError(problems);

  // Load each part on its own first, so an error names the key that holds the bad material.
  const tryLoad = (opts: SecureContextOptions, key: string, hint = ''): void => {
    try {
      createSecureContext({ minVersion: t.minVersion, maxVersion: t.maxVersion, ...opts });
    } catch (err) {
      problems.push(`service.tls.${key}: cannot load: ${(err as Error).message}${hint}`);
    }
  };
  if (ca !== undefined) tryLoad({ ca }, 'ca-file');
  if (pfx !== undefined) tryLoad({ pfx, passphrase }, 'key-store-file', ' (a PKCS#12 file is needed; convert a Java key store with keytool -importkeystore -deststoretype PKCS12)');
  if (key !== undefined && cert !== undefined) tryLoad({ key, cert }, 'key-file', ' (does the key match the first certificate of cert-chain-file?)');
  if (problems.length > 0) throw new ConfigError(problems);

  const verify = ca !== undefined;
  return {
    server: {
      ...(pfx !== undefined ? { pfx, passphrase } : { key, cert }),
      ...(ca !== undefined ? { ca } : {}),
      minVersion: t.minVersion,
      maxVersion: t.maxVersion,
      // With a CA file, client certificates are asked for. Every check is ours, after the
      // handshake (`clientCertProblem`): node's own rejectUnauthorized would close the connection
      // without a word about why (no tlsClientError), leaving the log to say only that it closed.
      requestCert: verify,
      rejectUnauthorized: false,
      handshakeTimeout: HANDSHAKE_TIMEOUT_MS,
    },
    allowedPeerNames: t.allowedPeerNames.map((n) => n.toLowerCase()),
    requireClientCert: t.requireClientCert,
  };
}

/** The names a certificate answers to: its subject CN(s) and every subject-alternative name. */
export function certificateNames(cert: PeerCertificate): string[] {
  const names: string[] = [];
  const cn = cert.subject?.CN as string | string[] | undefined;
  if (typeof cn === 'string') names.push(cn);
  else if (Array.isArray(cn)) names.push(...cn);
  for (const entry of (cert.subjectaltname ?? '').split(', ')) {
    const colon = entry.indexOf(':');
    if (colon > 0) names.push(entry.slice(colon + 1));
  }
  return names;
}

/**
 * Why a secured connection's client must be refused after the handshake, or null when it may stay:
 * no certificate when one is required, a presented certificate that does not verify (untrusted:
 * another CA, expired, …), or a name not in allowed-peer-names.
 *
 * `authorizationError` is node's verification error: typed as an Error, it is in fact the OpenSSL
 * code as a string (e.g. UNABLE_TO_GET_ISSUER_CERT_LOCALLY); both are handled.
 */
export function clientCertProblem(tls: SourceTls, authorized: boolean, authorizationError: Error | string | null, cert: PeerCertificate | null): string | null {
  const presented = cert !== null && Object.keys(cert).length > 0;
  if (presented && !authorized) {
    const why = typeof authorizationError === 'string' ? authorizationError : (authorizationError?.message ?? 'not verified');
    return `untrusted: ${why}`;
  }
  if (!presented && tls.requireClientCert) return 'no client certificate';
  if (tls.allowedPeerNames.length === 0) return null;
  if (!presented) return 'no client certificate';
  const names = certificateNames(cert);
  if (names.some((n) => tls.allowedPeerNames.includes(n.toLowerCase()))) return null;
  return `client certificate names (${names.join(', ')}) are not in allowed-peer-names`;
}
