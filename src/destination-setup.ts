/**
 * The Aerospike destination as the main thread sets it up, for `ferry run` and `ferry replay`: the
 * tender (cluster, login, partition map, session token) and the write policy of a configuration.
 */

import { X509Certificate } from 'node:crypto';
import { createSecureContext } from 'node:tls';
import type { Logger } from 'pino';
import { type AerospikeDestination, ConfigError, readConfigFile, readFirstLine } from './config/index.js';
import { Tender } from './destination/index.js';
import { PartitionMapWriter, type PolicySettings, SessionTokenShare, newPartitionMapBuffer, newSessionBuffer } from './threads/index.js';

export interface DestinationTender {
  tender: Tender;
  /** what the tender publishes: the partition map and the session token (shared with workers) */
  mapSab: SharedArrayBuffer;
  sessionSab: SharedArrayBuffer;
  /** the TLS files' PEM text, null without TLS */
  tlsText: { ca: string | undefined; cert: string | undefined; key: string | undefined } | null;
}

/** A tender for `d`, not started; its files (TLS, password) are read now (a bad one is a ConfigError). */
export function destinationTender(d: AerospikeDestination, log: Logger): DestinationTender {
  const mapSab = newPartitionMapBuffer();
  const sessionSab = newSessionBuffer();
  const tlsText = destinationTls(d.tls);
  const tender = new Tender(
    {
      seeds: d.seeds.map((seed) => ({ host: seed.host, port: seed.port, tlsName: seed.tlsName ?? d.tls?.tlsName })),
      clusterName: d.clusterName,
      ipMap: d.ipMap,
      servicesAlternate: d.servicesAlternate,
      tls: tlsText === null ? null : { ca: toBuffer(tlsText.ca), cert: toBuffer(tlsText.cert), key: toBuffer(tlsText.key) },
      credentials:
        d.credentials === null
          ? null
          : { user: d.credentials.user ?? '', password: d.credentials.passwordFile === undefined ? '' : passwordOf(d.credentials.passwordFile), mode: d.credentials.mode },
      intervalMs: d.tendIntervalMs,
      timeoutMs: d.connectTimeoutMs * 2,
      tombstones: d.lastWriteWins !== null && d.lastWriteWins.tombstoneTtl > 0,
    },
    new PartitionMapWriter(mapSab),
    new SessionTokenShare(sessionSab),
    log,
  );
  return { tender, mapSab, sessionSab, tlsText };
}

/**
 * The write policy of `d`, given the destination's edition (durable-delete: auto) and the
 * generation of its transform module (workers import it again when it changes).
 */
export function writePolicyOf(d: AerospikeDestination, edition: string, transformVersion: number): PolicySettings {
  const strip = d.durableDelete === 'strip' || (d.durableDelete === 'auto' && !/enterprise/i.test(edition));
  return {
    stripLut: d.lut === 'strip',
    stripDurableDelete: strip,
    routing: d.routing,
    transform: d.transform === null ? null : { url: d.transform, version: transformVersion },
    lastWriteWins: d.lastWriteWins === null ? null : { ...d.lastWriteWins },
  };
}

/**
 * The destination's TLS files, read and loaded now: a missing, unreadable or malformed one is a
 * configuration error naming its key, not a tender that retries a handshake that cannot work.
 */
export function destinationTls(tls: AerospikeDestination['tls']): { ca: string | undefined; cert: string | undefined; key: string | undefined } | null {
  if (tls === null) return null;
  const problems: string[] = [];
  const read = (path: string | undefined, key: string): string | undefined => (path === undefined ? undefined : readConfigFile(path, `aerospike.tls.${key}`, problems)?.toString('utf8'));
  const text = { ca: read(tls.caFile, 'ca-file'), cert: read(tls.certFile, 'cert-chain-file'), key: read(tls.keyFile, 'key-file') };
  if (text.ca !== undefined) {
    // A CA file without a certificate in it would only fail every handshake, later and less clearly.
    try {
      new X509Certificate(text.ca);
    } catch (err) {
      problems.push(`aerospike.tls.ca-file: not a PEM certificate (${(err as Error).message})`);
    }
  }
  if (problems.length === 0) {
    try {
      createSecureContext(text);
    } catch (err) {
      problems.push(`aerospike.tls: cannot load cert-chain-file and key-file (${(err as Error).message})`);
    }
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return text;
}

/** The destination password: the first line of its file; an unreadable file is a config error. */
export function passwordOf(path: string): string {
  const problems: string[] = [];
  const password = readFirstLine(path, 'aerospike.credentials.password-file', problems);
  if (password === undefined) throw new ConfigError(problems);
  return password;
}

function toBuffer(text: string | undefined): Buffer | undefined {
  return text === undefined ? undefined : Buffer.from(text);
}

